"""Retention: every kind of personal data Haven stores is deleted after its own period.

One function, ``purge_all``, run by the timer in ``haven run`` (``bot.stack.purge_once``)
and by ``haven purge``. What it removes (docs/safety-and-privacy.md, "Retention"):

- **conversations** (tracker store): events older than ``HAVEN_RETENTION_DAYS`` (30),
  except a session still going on (``HavenTrackerStore.purge_older_than``);
- **referrals** (app database), with ``HAVEN_REFERRAL_RETENTION_DAYS`` (90):
  - a closed referral loses its personal data that long after it was closed: the
    conversation id and its lookup key, contact details, place, age group, needs, safety
    flags, consent record and notes (``referrals.wipe_personal_data``, the same wipe as
    "delete my data"); the outcome, urgency and dates stay;
  - an open referral that nobody touched for that long (no change, note or audited view),
    or a chat referral whose conversation the tracker store no longer holds (so nobody can
    answer the person in the chat), is closed as ``expired`` and wiped at once. A referral a
    staff member holds in a live chat is not expired for idleness: it expires when its
    conversation is gone;
  - a closed referral's remaining row (no personal data) is deleted
    ``HAVEN_AUDIT_RETENTION_DAYS`` after closing;
- **the audit log**: rows older than ``HAVEN_AUDIT_RETENTION_DAYS`` (365);
- **staff sessions** that are past their lifetime or idle limit: at once.

Staff accounts are kept until an admin disables them; the service directory and the stored
machine translations hold no personal data. Deleted rows are overwritten on disk
(``secure_delete`` in ``bot.db.engine``) and, on SQLite, the write-ahead log is
checkpointed and emptied at the end of every run, so deleted text does not linger in the
files. Only counts are reported, never content or ids.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa

from bot.db.engine import get_engine, is_sqlite_file, session_scope
from bot.handoff import crypto
from bot.handoff.models import AuditEntry, Referral, ReferralNote, StaffSession
from bot.handoff.referrals import EXPIRED, OPEN, audit, wipe_personal_data
from bot.settings import Settings

logger = logging.getLogger(__name__)

CHAT_METHODS = ("chat_now", "chat_later")  # reached only in the conversation itself


@dataclass(frozen=True)
class RetentionReport:
    """What one run removed: counts only."""

    conversation_days: int
    referral_days: int
    audit_days: int
    events: int = 0  # conversation events deleted
    conversations: int = 0  # conversations with nothing left
    referrals_wiped: int = 0  # closed referrals whose personal data was removed
    referrals_expired: int = 0  # open referrals closed as expired (and wiped)
    referrals_removed: int = 0  # rows of long-closed referrals deleted
    notes: int = 0  # private notes deleted with their referral's personal data
    audit_entries: int = 0
    staff_sessions: int = 0
    unreadable: int = 0  # open chat referrals whose conversation id no key decrypts

    @property
    def _ies(self) -> str:
        return "y" if self.audit_entries == 1 else "ies"

    def lines(self) -> list[str]:
        """One line per kind, for ``haven purge``."""
        found = [
            f"Conversations: removed {self.events} event(s) older than "
            f"{self.conversation_days} day(s); {self.conversations} conversation(s) fully "
            "removed.",
            f"Referrals: personal data removed from {self.referrals_wiped} referral(s) closed "
            f"over {self.referral_days} day(s) ago; {self.referrals_expired} open referral(s) "
            f"expired; {self.notes} note(s) deleted; {self.referrals_removed} referral "
            f"record(s) closed over {self.audit_days} day(s) ago deleted.",
            f"Audit log: removed {self.audit_entries} entr{self._ies} older than "
            f"{self.audit_days} day(s).",
            f"Staff sessions: removed {self.staff_sessions} ended session(s).",
        ]
        if self.unreadable:
            found.append(
                f"{self.unreadable} open chat referral(s) could not be checked: no configured "
                "contact key decrypts them (HAVEN_CONTACT_KEYS)."
            )
        return found

    def summary(self) -> str:
        """One line for the log of ``haven run``."""
        line = (
            f"Retention: removed {self.events} event(s) older than {self.conversation_days} "
            f"day(s); {self.conversations} conversation(s) fully removed; referrals: "
            f"{self.referrals_wiped} wiped, {self.referrals_expired} expired, "
            f"{self.referrals_removed} deleted, {self.notes} note(s); "
            f"{self.audit_entries} audit entr{self._ies}; "
            f"{self.staff_sessions} staff session(s)."
        )
        if self.unreadable:
            line += f" {self.unreadable} chat referral(s) unreadable with the contact keys."
        return line


def with_periods(
    settings: Settings,
    conversation_days: int | None = None,
    referral_days: int | None = None,
    audit_days: int | None = None,
) -> Settings:
    """``settings`` with some retention periods overridden (``haven purge`` options)."""
    changes: dict[str, int] = {}
    if conversation_days is not None:
        changes["retention_days"] = conversation_days
    if referral_days is not None:
        changes["referral_retention_days"] = referral_days
    if audit_days is not None:
        changes["audit_retention_days"] = audit_days
    return replace(settings, **changes) if changes else settings


def _naive_utc(now: dt.datetime | float | None) -> dt.datetime:
    """The stored times are naive UTC (``bot.handoff.models.utcnow``)."""
    if now is None:
        return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    if isinstance(now, int | float):
        return dt.datetime.fromtimestamp(now, dt.timezone.utc).replace(tzinfo=None)
    if now.tzinfo is not None:
        return now.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return now


def _epoch(moment: dt.datetime) -> float:
    return moment.replace(tzinfo=dt.timezone.utc).timestamp()


def purge_all(settings: Settings, now: dt.datetime | float | None = None) -> RetentionReport:
    """Apply every retention period of ``settings`` as of ``now`` (default: now; a naive
    datetime is UTC, a number is epoch seconds)."""
    from bot.db.tracker_store import HavenTrackerStore

    moment = _naive_utc(now)
    store = HavenTrackerStore(url=settings.tracker_store_url)
    try:
        conversations = store.purge_older_than(settings.retention_days, now=_epoch(moment))
        found = _purge_app_database(settings, moment, store.engine)
        _empty_write_ahead_log(store.engine, settings.tracker_store_url)
    finally:
        store.engine.dispose()
    _empty_write_ahead_log(get_engine(settings.database_url), settings.database_url)
    return replace(found, events=conversations.events, conversations=conversations.conversations)


def _purge_app_database(
    settings: Settings, now: dt.datetime, tracker: sa.engine.Engine
) -> RetentionReport:
    url = settings.database_url
    referral_cutoff = now - dt.timedelta(days=settings.referral_retention_days)
    audit_cutoff = now - dt.timedelta(days=settings.audit_retention_days)
    conversation_cutoff = now - dt.timedelta(days=settings.retention_days)
    counts: dict[str, int] = {}
    with session_scope(url) as session:
        expired, notes, unreadable = _expire_open(
            session, now, referral_cutoff, conversation_cutoff, tracker, settings
        )
        wiped, more_notes = _wipe_closed(session, referral_cutoff, settings.referral_retention_days)
        counts["referrals_expired"], counts["unreadable"] = expired, unreadable
        counts["referrals_wiped"], counts["notes"] = wiped, notes + more_notes
    with session_scope(url) as session:
        # Rows of referrals closed before the audit period, with their notes (none by now).
        long_closed = sa.and_(Referral.status == "closed", Referral.closed_at < audit_cutoff)
        old = sa.select(Referral.id).where(long_closed)
        notes = sa.delete(ReferralNote).where(ReferralNote.referral_id.in_(old))
        counts["notes"] += _delete(session, notes)
        counts["referrals_removed"] = _delete(session, sa.delete(Referral).where(long_closed))
        counts["audit_entries"] = _delete(
            session, sa.delete(AuditEntry).where(AuditEntry.at < audit_cutoff)
        )
        idle_cutoff = now - dt.timedelta(minutes=settings.staff_session_minutes)
        ended = sa.or_(StaffSession.expires_at <= now, StaffSession.last_seen_at <= idle_cutoff)
        counts["staff_sessions"] = _delete(session, sa.delete(StaffSession).where(ended))
    return RetentionReport(
        conversation_days=settings.retention_days,
        referral_days=settings.referral_retention_days,
        audit_days=settings.audit_retention_days,
        **counts,
    )


def _delete(session: Any, statement: Any) -> int:
    """A bulk delete (no loaded objects to keep in step); how many rows went."""
    result = session.execute(statement, execution_options={"synchronize_session": False})
    return int(result.rowcount or 0)


def _expire_open(
    session: Any,
    now: dt.datetime,
    referral_cutoff: dt.datetime,
    conversation_cutoff: dt.datetime,
    tracker: sa.engine.Engine,
    settings: Settings,
) -> tuple[int, int, int]:
    """Close as ``expired`` (and wipe) the open referrals nobody can act on any more;
    returns (expired, notes deleted, chat referrals whose id no key decrypts)."""
    open_ids = sa.select(Referral.id).where(Referral.status.in_(OPEN))

    def latest(referral_id: Any, at: Any) -> dict[int, dt.datetime]:
        """The newest ``at`` per open referral (its last note, its last audited view)."""
        query = sa.select(referral_id, sa.func.max(at)).where(referral_id.in_(open_ids))
        return dict(session.execute(query.group_by(referral_id)).all())

    last_note = latest(ReferralNote.referral_id, ReferralNote.created_at)
    last_audit = latest(AuditEntry.referral_id, AuditEntry.at)
    expired = notes = unreadable = 0
    rows = session.execute(sa.select(Referral).where(Referral.status.in_(OPEN))).scalars()
    for referral in list(rows):
        touched = [referral.created_at, referral.updated_at, referral.claimed_at]
        touched += [last_note.get(referral.id), last_audit.get(referral.id)]
        last = max(moment for moment in touched if moment is not None)
        reason = None
        if last < referral_cutoff and not referral.live:
            reason = f"no activity for {settings.referral_retention_days} days"
        elif referral.contact_method in CHAT_METHODS and referral.created_at < conversation_cutoff:
            # Its conversation is older than the conversation period: is any of it left?
            try:
                gone = not _conversation_stored(tracker, referral)
            except crypto.UnreadableSecret:
                unreadable += 1
                continue
            if gone:
                reason = "its conversation was deleted (retention)"
        if reason is None:
            continue
        referral.status, referral.outcome, referral.closed_at = "closed", EXPIRED, now
        notes += wipe_personal_data(session, referral)
        audit(session, None, "expired", referral.id, reason)
        expired += 1
    return expired, notes, unreadable


def _conversation_stored(tracker: sa.engine.Engine, referral: Referral) -> bool:
    sender = crypto.decrypt(referral.conversation_enc)
    if sender is None:
        return False
    with tracker.connect() as connection:
        found = connection.execute(
            sa.text("SELECT 1 FROM events WHERE sender_id = :sender LIMIT 1"), {"sender": sender}
        ).first()
    return found is not None


def _wipe_closed(session: Any, cutoff: dt.datetime, days: int) -> tuple[int, int]:
    """Wipe closed referrals closed before ``cutoff`` that still hold personal data (or
    notes); returns (referrals wiped, notes deleted)."""
    has_notes = sa.exists().where(ReferralNote.referral_id == Referral.id)
    holds = sa.or_(
        Referral.conversation_ref.is_not(None),
        Referral.conversation_enc.is_not(None),
        Referral.contact_enc.is_not(None),
        Referral.place.is_not(None),
        Referral.age_group.is_not(None),
        sa.cast(Referral.needs, sa.Text) != "[]",
        sa.cast(Referral.safety_flags, sa.Text) != "[]",
        sa.cast(Referral.consent, sa.Text) != "{}",
        has_notes,
    )
    rows = session.execute(
        sa.select(Referral).where(Referral.status == "closed", Referral.closed_at < cutoff, holds)
    ).scalars()
    wiped = notes = 0
    for referral in list(rows):
        notes += wipe_personal_data(session, referral)
        audit(session, None, "retention_wipe", referral.id, f"closed over {days} days ago")
        wiped += 1
    return wiped, notes


def _empty_write_ahead_log(engine: sa.engine.Engine, url: str) -> None:
    """SQLite: copy the write-ahead log into the database and truncate it, so the frames
    that held deleted rows leave the disk (best effort: busy readers make it wait, then
    it gives up until the next run)."""
    if not is_sqlite_file(url):
        return
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    except sa.exc.SQLAlchemyError as error:
        logger.warning("Retention: the write-ahead log was not emptied (%s)", type(error).__name__)
