"""Redis pub/sub of finished work, so `?wait=` requests return the moment a result is stored."""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterable

import redis

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 2.0


@functools.cache
def redis_client(url: str, timeout: float | None = None) -> redis.Redis:
    """One client (and connection pool) per process, URL and timeout, created on first use.
    Every command and connect gives up after `timeout` s (a frozen Redis never hangs us)."""
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    return redis.Redis.from_url(
        url, socket_connect_timeout=timeout, socket_timeout=timeout, socket_keepalive=True
    )


def channel(recognition_id: object) -> str:
    return f"digits:recognition:{recognition_id}"


def publish_finished(url: str, recognition_ids: Iterable[object]) -> None:
    client = redis_client(url)
    with client.pipeline(transaction=False) as pipe:
        for rid in recognition_ids:
            pipe.publish(channel(rid), b"1")
        pipe.execute()


#: after a Redis error, waits poll the database alone for this long (no new Redis attempt)
REDIS_BACKOFF = 5.0
_redis_down_until = 0.0


def wait_until(
    url: str,
    recognition_id: object,
    is_finished: Callable[[], bool],
    timeout: float,
    *,
    redis_timeout: float | None = None,
    poll: float = 0.5,
) -> bool:
    """Block up to `timeout` s until `is_finished()` is true, woken by the worker's publish.

    Subscribes first, then checks, so a result stored in between is never missed. While Redis
    does not answer, the wait goes on by checking the database every `poll` s.
    """
    global _redis_down_until
    if is_finished():
        return True
    deadline = time.monotonic() + timeout
    if time.monotonic() >= _redis_down_until:
        try:
            return _wait_subscribed(url, recognition_id, is_finished, deadline, redis_timeout)
        except redis.RedisError:
            _redis_down_until = time.monotonic() + REDIS_BACKOFF
        except (OSError, ValueError):
            # Seen with 64 concurrent waits: redis-py's connect handshake read from a socket
            # buffer another thread had just closed. This wait goes on from the database.
            log.warning("wake-up subscription failed; polling the database", exc_info=True)
    while not is_finished():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(left, poll))
    return True


def _wait_subscribed(
    url: str,
    recognition_id: object,
    is_finished: Callable[[], bool],
    deadline: float,
    redis_timeout: float | None,
) -> bool:
    client = redis_client(url, redis_timeout)
    pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
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
        with contextlib.suppress(redis.RedisError, OSError):
            pubsub.close()
