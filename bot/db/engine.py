"""Haven's databases: one SQLAlchemy engine per URL and a session helper.

SQLite (the default, ``var/haven.db`` and the tracker store's ``var/tracker.db``) gets one
setup for both: a private directory and files readable by their owner only, a
write-ahead log, foreign keys, deleted content overwritten (``secure_delete``) and a pool of
open connections. PostgreSQL is used as
configured by ``HAVEN_DATABASE_URL`` / ``HAVEN_TRACKER_STORE_URL``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.settings import ensure_private_dir, get_settings

SQLITE_FILE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def _sqlite_pragmas(connection: Any, record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Deleted rows are overwritten with zeros, not left in free space: a conversation or a
    # referral deleted (on request or by retention) must not stay readable in the file.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def is_sqlite_file(url: str) -> bool:
    parsed = sa.engine.make_url(url)
    return parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:")


def prepare_sqlite_file(url: str) -> None:
    """A private directory for a SQLite file, and the file (if it exists) owner-only."""
    if not is_sqlite_file(url):
        return
    database = Path(sa.engine.make_url(url).database)
    ensure_private_dir(database.parent)
    for suffix in SQLITE_FILE_SUFFIXES:
        path = database.with_name(database.name + suffix)
        if path.exists() and path.stat().st_mode & 0o077:
            path.chmod(0o600)


def sqlite_engine(url: str, **options: Any) -> Engine:
    """A pooled, write-ahead-logged SQLite engine with foreign keys on (both databases).

    SQLAlchemy 1.4 would give file-based SQLite a NullPool (a new connection per query) and
    the default journal syncs the disk on every commit; both cost throughput for nothing.
    """
    prepare_sqlite_file(url)
    engine = sa.create_engine(
        url,
        poolclass=sa.pool.QueuePool,
        pool_size=5,
        connect_args={"check_same_thread": False},
        **options,
    )
    sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def get_engine(url: str | None = None) -> Engine:
    """The engine for ``url`` (default: the configured app database), created once."""
    return _engine(url or get_settings().database_url)


@functools.lru_cache(maxsize=8)
def _engine(url: str) -> Engine:
    if sa.engine.make_url(url).drivername.startswith("sqlite"):
        return sqlite_engine(url, future=True)
    return sa.create_engine(url, future=True, pool_pre_ping=True)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    session = sessionmaker(bind=get_engine(url), future=True)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
