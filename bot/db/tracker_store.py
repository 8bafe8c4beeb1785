"""Haven's SQL tracker store: Rasa's SQLTrackerStore plus deletion, retention and an index.

Deleting a conversation (docs/safety-and-privacy.md) must happen *after* Rasa has written
the request that asked for it: Rasa saves the tracker at the end of every request, and a row
deleted earlier (for example by a custom action) is written back then (the "delete race" in
docs/rasa-internals.md).
So ``action_delete_my_data`` only sets the ``delete_requested`` slot, and this store, when it
is asked to save a tracker with that slot set, deletes every stored event of the sender
instead. That runs at the end of the request, inside Rasa's per-conversation lock, so
nothing is written back. The next message starts a new, empty conversation. A delete that
fails (a locked or unreachable database) is retried; if it still fails, nothing of the
request is saved and the failure is reported to the channel that is ``watching_deletions``
(a context variable of the request's task: Rasa swallows exceptions from ``save`` and would
keep the tracker in memory instead), which tells the user instead of confirming.

Retention (``purge_older_than``) removes events by age: every event older than the period
goes, except those of a session that is still going on, which go when it ends (deleting
inside a live session would make Rasa write them back; see ``save``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker

from bot.db.engine import prepare_sqlite_file, sqlite_engine
from bot.settings import get_settings

logger = logging.getLogger(__name__)

DELETE_REQUESTED_SLOT = "delete_requested"
INDEXES = {
    "ix_events_sender_id_timestamp": "sender_id, timestamp",  # a conversation's events
    "ix_events_timestamp": "timestamp",  # the retention purge
}
DELETE_ATTEMPTS = 3
DELETE_RETRY_SECONDS = 0.5  # then 1 s: a locked SQLite file or a database failover


class DeletionFailed(RuntimeError):
    """A requested deletion could not be done; the conversation is still stored."""


_failed_deletions: ContextVar[list[str] | None] = ContextVar("haven_failed_deletions", default=None)


@contextmanager
def watching_deletions() -> Iterator[list[str]]:
    """Collect the conversations whose requested deletion failed while handling a request."""
    failed: list[str] = []
    token = _failed_deletions.set(failed)
    try:
        yield failed
    finally:
        _failed_deletions.reset(token)


@dataclass(frozen=True)
class PurgeReport:
    events: int  # rows removed
    conversations: int  # conversations with nothing left


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
        prepare_sqlite_file(url)
        kwargs = {k: v for k, v in kwargs.items() if k not in {"host", "dialect", "db"}}
        super().__init__(domain=domain, event_broker=event_broker, **_url_parts(url), **kwargs)
        if self.engine.dialect.name == "sqlite":
            self._use_pooled_sqlite_engine(url)
        # Plain DDL, not sa.Index objects: those would attach to Rasa's shared table
        # definition and make the next store's create_all try to build them twice.
        with self.engine.begin() as connection:
            for name, columns in INDEXES.items():
                connection.execute(
                    sa.text(f"CREATE INDEX IF NOT EXISTS {name} ON events ({columns})")
                )

    def _use_pooled_sqlite_engine(self, url: str) -> None:
        """Haven's SQLite setup (``bot.db.engine.sqlite_engine``) instead of Rasa's NullPool."""
        self.engine.dispose()
        self.engine = sqlite_engine(url)
        self.sessionmaker = sa.orm.sessionmaker(bind=self.engine)
        prepare_sqlite_file(url)  # the file Rasa just created: owner-only

    async def save(self, tracker: DialogueStateTracker) -> None:
        if tracker.get_slot(DELETE_REQUESTED_SLOT):
            try:
                await self.delete_with_retries(tracker.sender_id)
            except DeletionFailed:
                failed = _failed_deletions.get()
                if failed is not None:
                    failed.append(tracker.sender_id)
                logger.error("A requested deletion failed; the conversation is still stored")
            return
        await super().save(tracker)

    async def delete_with_retries(self, sender_id: str) -> int:
        """Delete a conversation, retrying a failed attempt; ``DeletionFailed`` at the end."""
        for attempt in range(1, DELETE_ATTEMPTS + 1):
            try:
                deleted = await asyncio.to_thread(self.delete_conversation, sender_id)
            except sa.exc.SQLAlchemyError as error:
                logger.warning(
                    "Deleting a conversation failed (attempt %d of %d): %s",
                    attempt, DELETE_ATTEMPTS, type(error).__name__,
                )  # fmt: skip
                if attempt < DELETE_ATTEMPTS:
                    await asyncio.sleep(DELETE_RETRY_SECONDS * attempt)
                continue
            logger.info("Deleted a conversation on request (%d events)", deleted)
            return deleted
        raise DeletionFailed("the conversation could not be deleted; it is still stored")

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

    def purge_older_than(self, days: float, now: float | None = None) -> PurgeReport:
        """Delete every event older than ``days`` that is not part of a live session."""
        cutoff = (now if now is not None else time.time()) - days * 86400
        events = self.SQLEvent.__table__
        later = events.alias("later")
        session_started = (
            sa.select(sa.func.max(later.c.timestamp))
            .where(later.c.sender_id == events.c.sender_id, later.c.type_name == "session_started")
            .scalar_subquery()
        )
        last_event = (
            sa.select(sa.func.max(later.c.timestamp))
            .where(later.c.sender_id == events.c.sender_id)
            .scalar_subquery()
        )
        with self.session_scope() as session:
            stale = session.execute(
                sa.select(sa.func.count(sa.distinct(events.c.sender_id))).where(
                    events.c.timestamp < cutoff, last_event < cutoff
                )
            ).scalar()
            removed = session.execute(
                events.delete().where(
                    events.c.timestamp < cutoff,
                    sa.or_(events.c.timestamp < session_started, last_event < cutoff),
                )
            ).rowcount
            session.commit()
        return PurgeReport(events=int(removed or 0), conversations=int(stale or 0))
