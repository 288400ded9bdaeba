"""Redis pub/sub of finished work, so `?wait=` requests return the moment a result is stored."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable

import redis


@functools.cache
def redis_client(url: str) -> redis.Redis:
    """One client (and connection pool) per process and URL, created on first use."""
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=15)


def channel(recognition_id: object) -> str:
    return f"digits:recognition:{recognition_id}"


def publish_finished(url: str, recognition_ids: Iterable[object]) -> None:
    client = redis_client(url)
    with client.pipeline(transaction=False) as pipe:
        for rid in recognition_ids:
            pipe.publish(channel(rid), b"1")
        pipe.execute()


def wait_until(
    url: str, recognition_id: object, is_finished: Callable[[], bool], timeout: float
) -> bool:
    """Block up to `timeout` s until `is_finished()` is true, woken by the worker's publish.

    Subscribes first, then checks, so a result stored in between is never missed.
    """
    if is_finished():
        return True
    deadline = time.monotonic() + timeout
    pubsub = redis_client(url).pubsub(ignore_subscribe_messages=True)
    try:
        pubsub.subscribe(channel(recognition_id))
        while True:
            if is_finished():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            pubsub.get_message(timeout=min(left, 1.0))
    finally:
        pubsub.close()
