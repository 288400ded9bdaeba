"""Prometheus metrics at /metrics, and one log line per web request.

Nothing here is counted in-process (gunicorn runs several processes): every scrape reads
- the database: recognitions and batches by status (GROUP BY on indexed columns), the age of
  the oldest open item, the images/s of the last finished batches;
- Redis: the Celery queue lengths (LLEN), and the counters the workers keep in Redis
  (store.stats): items finished by kind and status, digits found, and the end-to-end latency
  histogram (created_at -> finished_at).
If a source is down, its metrics are left out and `digits_metrics_source_up{source}` is 0.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from flask import Blueprint, Response, g, request
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import func, select

from config import current_settings
from store import DONE, FAILED, PROCESSING, QUEUED, Batch, Recognition, open_session, stats, utcnow
from web.security import metrics_allowed
from worker.queues import QUEUES, queue_depth

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)

STATUSES = (QUEUED, PROCESSING, DONE, FAILED)
RECENT_BATCHES = 10


class DatabaseCollector:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def collect(self):
        recs = GaugeMetricFamily(
            "digits_recognitions", "Stored recognitions by status", labels=["status"]
        )
        batches = GaugeMetricFamily("digits_batches", "Stored batches by status", labels=["status"])
        oldest = GaugeMetricFamily(
            "digits_oldest_open_age_seconds",
            "Age of the oldest recognition in this status (0 when there is none)",
            labels=["status"],
        )
        rate = GaugeMetricFamily(
            "digits_recent_batches_images_per_second",
            f"Images per second (created -> finished) over the last {RECENT_BATCHES} finished "
            "batches",
        )
        now = utcnow()
        with open_session(self.database_url) as session:
            rec_counts = dict(
                session.execute(
                    select(Recognition.status, func.count()).group_by(Recognition.status)
                ).all()
            )
            batch_counts = dict(
                session.execute(select(Batch.status, func.count()).group_by(Batch.status)).all()
            )
            oldest_open = {
                status: session.scalar(
                    select(func.min(Recognition.created_at)).where(Recognition.status == status)
                )
                for status in (QUEUED, PROCESSING)
            }
            recent = session.execute(
                select(Batch.total, Batch.created_at, Batch.finished_at)
                .where(Batch.finished_at.is_not(None))
                .order_by(Batch.created_at.desc())
                .limit(RECENT_BATCHES)
            ).all()
        for status in sorted(set(STATUSES) | set(rec_counts)):
            recs.add_metric([status], rec_counts.get(status, 0))
        for status in sorted(set(STATUSES) | set(batch_counts)):
            batches.add_metric([status], batch_counts.get(status, 0))
        for status, first in oldest_open.items():
            if first is not None and first.tzinfo is None:  # raw min() on SQLite is naive
                first = first.replace(tzinfo=now.tzinfo)
            oldest.add_metric([status], max(0.0, (now - first).total_seconds()) if first else 0)
        images = sum(r.total for r in recent)
        seconds = sum(
            max((r.finished_at - r.created_at), timedelta(0)).total_seconds() for r in recent
        )
        rate.add_metric([], images / seconds if seconds > 0 else 0.0)
        return [recs, batches, oldest, rate]


class RedisCollector:
    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url

    def collect(self):

        depth = GaugeMetricFamily(
            "digits_queue_length", "Messages waiting in each Celery queue", labels=["queue"]
        )
        for queue in QUEUES:
            depth.add_metric([queue], queue_depth(self.redis_url, queue))

        finished = CounterMetricFamily(
            "digits_items_finished",
            "Recognitions finished by the workers, by kind (single | batch) and status",
            labels=["kind", "status"],
        )
        counts = stats.read_hash(self.redis_url, stats.FINISHED_KEY)
        for kind in stats.KINDS:
            for status in (DONE, FAILED):
                finished.add_metric([kind, status], float(counts.get(f"{kind}:{status}", 0)))

        digits = CounterMetricFamily(
            "digits_digits_found", "Digits found by the workers, by kind", labels=["kind"]
        )
        found = stats.read_hash(self.redis_url, stats.DIGITS_KEY)
        for kind in stats.KINDS:
            digits.add_metric([kind], float(found.get(kind, 0)))

        latency = HistogramMetricFamily(
            "digits_recognition_latency_seconds",
            "End-to-end latency of finished recognitions (submitted -> result stored)",
            labels=["kind"],
        )
        for kind in stats.KINDS:
            raw = stats.read_hash(self.redis_url, stats.latency_key(kind))
            buckets, running = [], 0
            for le in stats.LATENCY_BUCKETS:
                running += int(raw.get(repr(float(le)), 0))
                buckets.append((_le(le), running))
            running += int(raw.get("+Inf", 0))
            buckets.append(("+Inf", running))
            latency.add_metric([kind], buckets, sum_value=float(raw.get("sum", 0)))
        return [depth, finished, digits, latency]


def _le(value: float) -> str:
    return str(float(value))


class SafeCollector:
    """Runs a collector; on failure reports the source as down instead of failing the scrape."""

    def __init__(self, source: str, inner, up: dict) -> None:
        self.source, self.inner, self.up = source, inner, up

    def collect(self):
        try:
            families = list(self.inner.collect())
        except Exception as exc:
            log.warning("metrics: %s unavailable: %s", self.source, exc)
            self.up[self.source] = 0
            return []
        self.up[self.source] = 1
        return families


class UpCollector:
    def __init__(self, up: dict) -> None:
        self.up = up

    def collect(self):
        family = GaugeMetricFamily(
            "digits_metrics_source_up",
            "1 if the source answered this scrape, 0 if not",
            labels=["source"],
        )
        for source, value in self.up.items():
            family.add_metric([source], value)
        return [family]


def build_registry(database_url: str, redis_url: str) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    up: dict[str, int] = {}
    registry.register(SafeCollector("database", DatabaseCollector(database_url), up))
    registry.register(SafeCollector("redis", RedisCollector(redis_url), up))
    registry.register(UpCollector(up))  # registered last: collected after the others
    return registry


@bp.get("/metrics")
def metrics():
    if not metrics_allowed():
        return Response(
            "/metrics needs Authorization: Bearer <METRICS_TOKEN>\n",
            status=401,
            mimetype="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    settings = current_settings()
    registry = build_registry(settings.database_url, settings.redis_url)
    return Response(
        generate_latest(registry),
        headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"},
    )


# ---------------------------------------------------------------- request log lines

QUIET_PATHS = ("/metrics", "/healthz", "/readyz", "/static/")


@bp.before_app_request
def _start_timer():
    g._request_started = time.perf_counter()


@bp.after_app_request
def _log_request(response: Response) -> Response:
    path = request.path
    if path.startswith(QUIET_PATHS):
        return response
    started = g.get("_request_started")
    extra: dict = {
        "method": request.method,
        "path": path,
        "status": response.status_code,
    }
    if started is not None:
        extra["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    args = request.view_args or {}
    if "recognition_id" in args:
        extra["recognition_id"] = args["recognition_id"]
    if "batch_id" in args:
        extra["batch_id"] = args["batch_id"]
    location = response.headers.get("Location", "")
    if "/recognitions/" in location:
        extra.setdefault("recognition_id", location.rstrip("/").rsplit("/", 1)[-1])
    elif "/batches/" in location:
        extra.setdefault("batch_id", location.rstrip("/").rsplit("/", 1)[-1])
    log.info(
        "%s %s %s %s ms",
        request.method,
        path,
        response.status_code,
        extra.get("duration_ms", "?"),
        extra=extra,
    )
    return response
