"""Haven's SQL tracker store: Rasa's SQLTrackerStore plus deletion, retention and an index.

Deleting a conversation (SAFETY.md 16) must happen *after* Rasa has written the request that
asked for it: Rasa saves the tracker at the end of every request, and a row deleted earlier
(for example by a custom action) is written back then (the "delete race" in RASA-NOTES.md).
So ``action_delete_my_data`` only sets the ``delete_requested`` slot, and this store, when it
is asked to save a tracker with that slot set, deletes every stored event of the sender
instead. That runs at the end of the request, inside Rasa's per-conversation lock, so
nothing is written back. The next message starts a new, empty conversation.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import sqlalchemy as sa
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker

from bot.settings import get_settings

logger = logging.getLogger(__name__)

DELETE_REQUESTED_SLOT = "delete_requested"


def _url_parts(url: str) -> dict[str, Any]:
    """SQLTrackerStore's constructor arguments from one SQLAlchemy URL."""
    parsed = sa.engine.make_url(url)
    return {
        "dialect": parsed.drivername,
        "host": parsed.host,
        "port": parsed.port,
        "db": parsed.database or "",
        "username": parsed.username,
        "password": parsed.password,
        "query": dict(parsed.query) or None,
    }


def ensure_sqlite_directory(url: str) -> None:
    """Create the directory of a SQLite database file (var/ on a fresh checkout)."""
    parsed = sa.engine.make_url(url)
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        from pathlib import Path

        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(connection: Any, record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class HavenTrackerStore(SQLTrackerStore):
    """SQL tracker store that honours "delete my data" and can purge old conversations."""

    def __init__(
        self,
        domain: Domain | None = None,
        event_broker: EventBroker | None = None,
        url: str | None = None,
        **kwargs: Any,
    ) -> None:
        url = url or get_settings().tracker_store_url
        ensure_sqlite_directory(url)
        kwargs = {k: v for k, v in kwargs.items() if k not in {"host", "dialect", "db"}}
        super().__init__(domain=domain, event_broker=event_broker, **_url_parts(url), **kwargs)
        if self.engine.dialect.name == "sqlite":
            self._use_pooled_sqlite_engine(url)
        index = sa.Index(
            "ix_events_sender_id_timestamp", self.SQLEvent.sender_id, self.SQLEvent.timestamp
        )
        index.create(self.engine, checkfirst=True)

    def _use_pooled_sqlite_engine(self, url: str) -> None:
        """Keep SQLite connections open and write-ahead logged.

        SQLAlchemy 1.4 gives file-based SQLite a NullPool (a new connection per query) and
        the default journal syncs the disk on every commit; Rasa writes a conversation on
        every message, so both cost throughput for nothing.
        """
        self.engine.dispose()
        self.engine = sa.create_engine(
            url,
            poolclass=sa.pool.QueuePool,
            pool_size=5,
            connect_args={"check_same_thread": False},
        )
        sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessionmaker = sa.orm.sessionmaker(bind=self.engine)

    async def save(self, tracker: DialogueStateTracker) -> None:
        if tracker.get_slot(DELETE_REQUESTED_SLOT):
            deleted = self.delete_conversation(tracker.sender_id)
            logger.info("Deleted a conversation on request (%d events)", deleted)
            return
        await super().save(tracker)

    def delete_conversation(self, sender_id: str) -> int:
        """Remove every stored event of one conversation; returns how many rows went."""
        with self.session_scope() as session:
            deleted = (
                session.query(self.SQLEvent)
                .filter(self.SQLEvent.sender_id == sender_id)
                .delete(synchronize_session=False)
            )
            session.commit()
        return int(deleted or 0)

    def purge_older_than(self, days: int, now: float | None = None) -> int:
        """Delete conversations whose latest event is older than ``days``; returns how many."""
        cutoff = (now if now is not None else time.time()) - days * 86400
        event = self.SQLEvent
        with self.session_scope() as session:
            stale = (
                session.query(event.sender_id)
                .group_by(event.sender_id)
                .having(sa.func.max(event.timestamp) < cutoff)
                .all()
            )
            senders = [row[0] for row in stale]
            for start in range(0, len(senders), 500):
                chunk = senders[start : start + 500]
                session.query(event).filter(event.sender_id.in_(chunk)).delete(
                    synchronize_session=False
                )
            session.commit()
        return len(senders)
