"""The embedded database holds webhook secrets: it is created readable by its owner only."""

import stat
from pathlib import Path

from sqlalchemy import text

from nudge.platform.db import make_engine


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_sqlite_database_and_its_directory_are_private(tmp_path: Path) -> None:
    db = tmp_path / "data" / "nudge.db"
    engine = make_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
        wal = db.with_name("nudge.db-wal")
        assert wal.exists() and mode(wal) & 0o077 == 0, oct(mode(wal))
    engine.dispose()
    assert mode(db) == 0o600, oct(mode(db))
    assert mode(db.parent) & 0o077 == 0, oct(mode(db.parent))


def test_an_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    db = tmp_path / "nudge.db"
    db.touch(mode=0o640)
    db.chmod(0o640)
    make_engine(f"sqlite:///{db}").dispose()
    assert mode(db) == 0o640
