"""One engine per process and URL; engines inherited through fork are disposed in the child."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, Result, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_sessionmakers: dict[str, sessionmaker[Session]] = {}


def rowcount(result: Result[Any]) -> int:
    """The rows an UPDATE/DELETE run by Session.execute matched (its result is a CursorResult;
    the Session's signature only promises a Result)."""
    return cast(CursorResult[Any], result).rowcount


def redact_url(url: str) -> str:
    """A database URL fit to print or log: the password, if any, shown as ***."""
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    """WAL + busy timeout: web, workers and beat share one SQLite file safely."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


IDLE_IN_TRANSACTION_MS = 15_000


def _create_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # connect_timeout: an unreachable server fails a request in seconds (503), never hangs it.
    # A client cut off mid-transaction (its host partitioned) would otherwise hold its row locks,
    # the batch's counters among them, until TCP gives up (hours), and every other worker would
    # wait on them: the server ends such a session once it sits idle in its transaction
    # (ours last milliseconds) or its peer stops answering keepalives.
    options = " ".join(
        f"-c {name}={value}"
        for name, value in (
            ("idle_in_transaction_session_timeout", IDLE_IN_TRANSACTION_MS),
            ("tcp_keepalives_idle", 10),
            ("tcp_keepalives_interval", 5),
            ("tcp_keepalives_count", 3),
            ("tcp_user_timeout", 20_000),
        )
    )
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        pool_timeout=5,
        connect_args={"connect_timeout": 2, "options": options},
    )


def get_engine(url: str) -> Engine:
    """The process-wide engine for `url`, created on first use (never at import time)."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = _create_engine(url)
            _sessionmakers[url] = sessionmaker(engine, expire_on_commit=False)
        return engine


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    get_engine(url)
    with _sessionmakers[url]() as session, session.begin():
        yield session


def open_session(url: str) -> Session:
    get_engine(url)
    return _sessionmakers[url]()


def dispose_all(close: bool = True) -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose(close=close)


def _after_fork_in_child() -> None:
    # Pooled connections belong to the parent; drop them without closing the parent's sockets.
    for engine in list(_engines.values()):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork_in_child)
