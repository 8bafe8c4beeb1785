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

A database that is away for a moment (PostgreSQL restarting or failing over, a connection
that died, a locked SQLite file) must not cost a message. Rasa wraps the store in its
``FailSafeTrackerStore``, which on any error reads "no conversation" and keeps the save in
memory only: the message would be answered out of context and never stored. So reads and
writes (``retrieve``, ``retrieve_full_tracker``, ``save``, ``keys``) are retried with backoff
for up to ``STORE_RETRY_SECONDS`` while the error is one that waiting can cure; the user's
reply is late, not lost. PostgreSQL connections are checked before use (``pool_pre_ping``),
so a restarted server costs no failed attempt at all, and a connection attempt gives up
after ``CONNECT_TIMEOUT_SECONDS``, so an unreachable host cannot hold the server for long.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
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
# Reads and writes wait this long in all for the database to come back (then Rasa's own
# fallback applies, see the module text), pausing 0.1 s, 0.2 s, … up to 2 s between attempts.
STORE_RETRY_SECONDS = 10.0
FIRST_RETRY_PAUSE = 0.1
LONGEST_RETRY_PAUSE = 2.0
CONNECT_TIMEOUT_SECONDS = 5  # PostgreSQL (psycopg2): a new connection gives up after this

T = TypeVar("T")


class DeletionFailed(RuntimeError):
    """A requested deletion could not be done; the conversation is still stored."""


class UnstorableValue(RuntimeError):
    """The database driver refused a value (a ``ValueError``: a lone surrogate in a
    conversation id, a NUL byte on PostgreSQL); raised instead, see ``session_scope``."""


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


def transient(error: BaseException) -> bool:
    """Whether waiting may cure a database error: the server unreachable or restarting, a
    connection that died, a locked SQLite file, no free connection in the pool. Not a
    refused value or a schema problem."""
    if isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(
        error,
        sa.exc.OperationalError
        | sa.exc.InterfaceError
        | sa.exc.DisconnectionError
        | sa.exc.TimeoutError,
    )


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
        else:
            self._use_checked_engine()
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

    def _use_checked_engine(self) -> None:
        """Rasa's engine (PostgreSQL and others), with each connection checked before use and
        a bounded connection attempt."""
        url = self.engine.url
        options = create_engine_kwargs(url)
        if url.drivername in {"postgresql", "postgresql+psycopg2"}:
            connect_args = dict(options.get("connect_args") or {})
            if "connect_timeout" not in url.query:
                connect_args.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)
            options["connect_args"] = connect_args
        self.engine.dispose()
        self.engine = sa.create_engine(url, pool_pre_ping=True, **options)
        self.sessionmaker = sa.orm.sessionmaker(bind=self.engine)

    async def _retrying(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """``call()``, again after a transient database error, for up to
        ``STORE_RETRY_SECONDS`` (logged without any conversation id)."""
        deadline = time.monotonic() + STORE_RETRY_SECONDS
        pause = FIRST_RETRY_PAUSE
        failures = 0
        while True:
            try:
                result = await call()
            except sa.exc.SQLAlchemyError as error:
                if not transient(error) or time.monotonic() + pause > deadline:
                    if failures:
                        logger.error(
                            "Tracker store %s still failing after %d attempt(s): %s",
                            what, failures + 1, type(error).__name__,
                        )  # fmt: skip
                    raise
                failures += 1
                logger.warning(
                    "Tracker store %s failed (%s); retrying in %.1f s",
                    what, type(error).__name__, pause,
                )  # fmt: skip
                await asyncio.sleep(pause)
                pause = min(pause * 2, LONGEST_RETRY_PAUSE)
                continue
            if failures:
                logger.info("Tracker store %s succeeded after %d retry(ies)", what, failures)
            return result

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        parent = super()
        return await self._retrying("read", lambda: parent.retrieve(sender_id))

    async def retrieve_full_tracker(self, conversation_id: str) -> DialogueStateTracker | None:
        parent = super()
        return await self._retrying("read", lambda: parent.retrieve_full_tracker(conversation_id))

    async def keys(self) -> Iterable[str]:
        parent = super()
        return await self._retrying("listing", parent.keys)

    @contextmanager
    def session_scope(self) -> Iterator[sa.orm.Session]:
        """Rasa's session scope, minus its exit on any ``ValueError``: Rasa reads every
        ``ValueError`` as "the PostgreSQL schema is missing" and stops the whole server, but
        the driver raises one for a value it cannot store too (a lone surrogate in a
        conversation id sent over a channel). Such a request fails; the server keeps
        running. The schema check before the session is Rasa's, unchanged."""
        with super().session_scope() as session:
            try:
                yield session
            except ValueError as error:
                raise UnstorableValue(type(error).__name__) from error

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
        # Retrying a whole save is safe: it writes only the events not stored yet (Rasa
        # counts them first), and Haven has no event broker that would hear them twice.
        parent = super()
        await self._retrying("write", lambda: parent.save(tracker))

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
