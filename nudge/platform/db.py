"""Engine and session factory for SQLite (default) and PostgreSQL."""

import os
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # A database that doesn't answer fails a request in seconds (a 503), not a minute.
        return create_engine(
            url,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=20,
            pool_timeout=10,
            connect_args={"connect_timeout": 5},
        )
    pool: dict[str, int] = {}
    if parsed.database and parsed.database != ":memory:":
        _private_file(Path(parsed.database))
        # As deep as the requests in flight: past the default 5 + 10, a connection was opened
        # (and its pragmas run) for each use.
        pool = {"pool_size": 20, "max_overflow": 20}
    # The API thread pool and the activity thread pool share one file.
    args = {"check_same_thread": False, "timeout": BUSY_SECONDS, "factory": _one_writer()}
    engine = create_engine(url, connect_args=args, **pool)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_SECONDS * 1000}")
        cur.close()

    return engine


BUSY_SECONDS = 30
_WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


def _one_writer() -> type[sqlite3.Connection]:
    """SQLite connections whose writers queue on a lock in this process.

    SQLite lets one connection write at a time and makes the others poll: its busy handler
    sleeps 1, 2, 5 … up to 100 ms between tries, so with 20 requests writing at once most of
    them sleep while the lock is free (the events path's threads spent three quarters of
    their time there). Here a connection takes its engine's lock (a process makes one engine
    per database) just before its first write, where SQLite takes its own, and gives it back
    once its transaction has ended, so the next writer starts the moment the last one
    commits. It is held only while SQLite's lock is (a little longer), so it adds no wait
    SQLite wouldn't; other engines and processes (API and worker) meet at SQLite's lock."""
    lock = threading.Lock()

    class Cursor(sqlite3.Cursor):
        def execute(self, sql: str, parameters: object = (), /) -> "Cursor":
            self.connection._take(sql)  # type: ignore[attr-defined]
            return super().execute(sql, parameters)  # type: ignore[arg-type]

        def executemany(self, sql: str, seq: object, /) -> "Cursor":
            self.connection._take(sql)  # type: ignore[attr-defined]
            return super().executemany(sql, seq)  # type: ignore[arg-type]

    class Connection(sqlite3.Connection):
        _writing = False

        def cursor(self, factory: object = Cursor) -> sqlite3.Cursor:  # type: ignore[override]
            return super().cursor(factory)  # type: ignore[call-overload]

        def _take(self, sql: str) -> None:
            if self._writing or not _WRITE.match(sql):
                return
            if not lock.acquire(timeout=BUSY_SECONDS):
                raise sqlite3.OperationalError(
                    f"database is locked: this process's other writers held it {BUSY_SECONDS} s"
                )
            self._writing = True

        def _give(self) -> None:
            if self._writing:
                self._writing = False
                lock.release()

        def commit(self) -> None:
            try:
                super().commit()
            finally:
                self._give()

        def rollback(self) -> None:
            try:
                super().rollback()
            finally:
                self._give()

        def close(self) -> None:
            try:
                super().close()
            finally:
                self._give()

    return Connection


def _private_file(path: Path) -> None:
    """Create the SQLite file readable by its owner only: it holds webhook secrets. SQLite
    gives its -wal and -shm files the same mode; a file that already exists is left as it is."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def unavailable(err: BaseException) -> bool:
    """The database couldn't be reached or used (down, dropped connection, full pool, SQLite
    locked), as opposed to a bug or a constraint: the same request may succeed later."""
    if isinstance(err, exc.DBAPIError) and err.connection_invalidated:
        return True
    return isinstance(err, exc.OperationalError | exc.InterfaceError | exc.TimeoutError)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session
