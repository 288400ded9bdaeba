"""Service counters kept in Redis, shared by every process.

gunicorn runs several web processes and Celery several workers, so in-process Prometheus
counters would each see a slice. Workers record here (HINCRBY, one pipeline per task) and the
web's /metrics renders the totals (web.metrics).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime

from store.events import redis_client

PREFIX = "digits:metrics"
FINISHED_KEY = f"{PREFIX}:finished"  # fields "<kind>:<status>" -> items
DIGITS_KEY = f"{PREFIX}:digits"  # fields "<kind>" -> digits found
# End-to-end latency (created_at -> finished_at) in seconds, per kind ("single" | "batch").
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600)
KINDS = ("single", "batch")


def latency_key(kind: str) -> str:
    return f"{PREFIX}:latency:{kind}"


def bucket_field(seconds: float) -> str:
    """The field of the first bucket holding `seconds` (counts are per bucket, not cumulative)."""
    for le in LATENCY_BUCKETS:
        if seconds <= le:
            return repr(float(le))
    return "+Inf"


def record_finished(
    redis_url: str,
    items: Iterable[tuple[str, str, datetime | None, datetime | None, int]],
) -> None:
    """Count finished items: (kind, status, created_at, finished_at, digits) per item.

    Summed in Python first, so a chunk of 64 items costs a handful of Redis commands.
    """
    counts: Counter[tuple[str, str]] = Counter()
    latency_sums: defaultdict[str, float] = defaultdict(float)
    for kind, status, created, finished, digits in items:
        counts[FINISHED_KEY, f"{kind}:{status}"] += 1
        if digits:
            counts[DIGITS_KEY, kind] += digits
        if created is not None and finished is not None:
            seconds = max(0.0, (finished - created).total_seconds())
            key = latency_key(kind)
            counts[key, bucket_field(seconds)] += 1
            counts[key, "count"] += 1
            latency_sums[key] += seconds
    if not counts:
        return
    with redis_client(redis_url).pipeline(transaction=False) as pipe:
        for (key, field), amount in counts.items():
            pipe.hincrby(key, field, amount)
        for key, seconds in latency_sums.items():
            pipe.hincrbyfloat(key, "sum", seconds)
        pipe.execute()


def read_hash(redis_url: str, key: str) -> dict[str, str]:
    raw = redis_client(redis_url).hgetall(key)
    return {_text(k): _text(v) for k, v in raw.items()}


def _text(value: bytes | str) -> str:
    """Our clients return bytes (no decode_responses); redis-py's types allow either."""
    return value.decode() if isinstance(value, bytes) else value
