"""SQLite writers of one process queue on a lock taken at a transaction's first write and
given back when it ends, however it ends; readers never wait for it."""

import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError

from nudge.platform.db import make_engine


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path}/w.db")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, who INTEGER)"))
    return engine


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM t")).scalar_one())


def _start(target) -> threading.Event:  # type: ignore[no-untyped-def]
    """target() in a thread of its own; the event is set once it has returned."""
    done = threading.Event()

    def run() -> None:
        target()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done


def _in_thread(target, seconds: float = 5) -> bool:  # type: ignore[no-untyped-def]
    """Whether target() finished within `seconds` (a writer left holding the lock would keep
    the next one waiting for 30 s)."""
    return _start(target).wait(seconds)


def _write(engine: Engine, who: int) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t (who) VALUES (:w)"), {"w": who})


def test_twenty_threads_of_writers_all_land(engine: Engine) -> None:
    def writer(who: int) -> None:
        for _ in range(25):
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t (who) VALUES (:w)"), {"w": who})
                conn.execute(text("UPDATE t SET who = who WHERE who = :w"), {"w": who})

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert _count(engine) == 500


def _write_on(conn: Connection, who: int) -> None:
    conn.execute(text("INSERT INTO t (who) VALUES (:w)"), {"w": who})
    conn.commit()


def test_a_failed_write_rolled_back_gives_the_lock_back(engine: Engine) -> None:
    _write(engine, 1)
    with engine.connect() as other:  # another connection, not the failed one back
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text("INSERT INTO t (id, who) VALUES (1, 2)"))  # the key is taken
        assert _in_thread(lambda: _write_on(other, 3))
    assert _count(engine) == 2


def test_a_connection_closed_mid_write_gives_the_lock_back(engine: Engine) -> None:
    raw = engine.raw_connection()  # the DB-API connection itself, closed for good
    raw.cursor().execute("INSERT INTO t (who) VALUES (1)")
    raw.invalidate()  # closed without a commit or a rollback from the pool
    with engine.connect() as other:
        assert _in_thread(lambda: _write_on(other, 2))
    assert _count(engine) == 1


def test_readers_do_not_wait_for_a_writer(engine: Engine) -> None:
    _write(engine, 1)
    with engine.connect() as writer:
        writer.execute(text("INSERT INTO t (who) VALUES (2)"))  # open, holding the lock
        assert _in_thread(lambda: _count(engine))
        second = _start(lambda: _write(engine, 3))
        assert not second.wait(0.5)  # the next writer queues behind the open one
        writer.commit()
        assert second.wait(5)  # and goes on the moment it commits
    assert _count(engine) == 3
