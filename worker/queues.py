"""Queue and task names, and what is waiting in each queue: the one place they are spelled.

Registers no tasks and needs no app, so the web (sending tasks, `/metrics`) and logging can
import it without pulling in the worker side.
"""

from __future__ import annotations

from store.events import redis_client

INTERACTIVE_QUEUE = "interactive"
BULK_QUEUE = "bulk"
MAINTENANCE_QUEUE = "maintenance"
QUEUES = (INTERACTIVE_QUEUE, BULK_QUEUE, MAINTENANCE_QUEUE)

# Task names: the prefix routes each task to its queue.
RECOGNIZE = "recognitions.recognize"
RECOGNIZE_CHUNK = "batches.recognize_chunk"
CLEANUP = "maintenance.cleanup"
REQUEUE_STUCK = "maintenance.requeue_stuck"
RESUME = "maintenance.resume"  # not a task: the start-up re-send logs under this name

TASK_ROUTES = {
    "recognitions.*": {"queue": INTERACTIVE_QUEUE},
    "batches.*": {"queue": BULK_QUEUE},
    "maintenance.*": {"queue": MAINTENANCE_QUEUE},
}

# Kombu's Redis transport keeps messages sent with a priority in extra lists named
# "<queue>\x06\x16<priority>" (priority steps 0, 3, 6, 9); a queue's depth is their sum.
PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (3, 6, 9)


#: kombu's Redis hash of the messages workers have taken and not yet acknowledged
UNACKED_KEY = "unacked"


def queue_lists(queue: str) -> list[str]:
    """The Redis lists that hold `queue`'s messages."""
    return [queue] + [f"{queue}{PRIORITY_SEPARATOR}{p}" for p in PRIORITY_STEPS]


def queue_depth(redis_url: str, queue: str) -> int:
    """Messages waiting in `queue` (all priorities)."""
    client = redis_client(redis_url)
    with client.pipeline(transaction=False) as pipe:
        for name in queue_lists(queue):
            pipe.llen(name)
        return sum(int(n) for n in pipe.execute())
