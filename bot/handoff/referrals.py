"""Referrals: made with the user's consent by the bot service, worked by staff in the console.

Every change and every view of personal data (contact details, the conversation) writes an
audit entry. Contact details are shown only to the staff member who claimed the referral
(or a supervisor) and are decrypted only for that view.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from bot.db.engine import session_scope
from bot.handoff import crypto
from bot.handoff.models import (
    OUTCOMES,
    AuditEntry,
    Referral,
    ReferralNote,
    StaffUser,
    utcnow,
)
from bot.handoff.staff import Staff

OPEN = ("waiting", "claimed")
# The outcome the retention purge gives an open referral nobody can act on any more
# (``bot.retention``). Not in ``OUTCOMES``: staff never choose it when closing.
EXPIRED = "expired"


class ReferralError(ValueError):
    """A console action that cannot be done now (someone else claimed it, it is closed…)."""


@dataclass(frozen=True)
class NewReferral:
    """What the user agreed to share (``consent`` lists the fields shown to them)."""

    conversation_id: str
    channel: str
    language: str
    needs: list[str]
    place: str | None
    age_group: str | None
    safety_flags: list[str]
    contact_method: str
    contact: dict[str, Any]  # phone, times, voicemail, code_word: only those given
    share_transcript: bool
    consent: dict[str, Any]

    @property
    def urgent(self) -> bool:
        return bool({"crisis", "possible_danger"} & set(self.safety_flags))


@dataclass(frozen=True)
class ReferralView:
    """A referral as the console lists it: no personal data but the coarse place."""

    id: int
    channel: str
    language: str
    needs: list[str]
    place: str | None
    age_group: str | None
    safety_flags: list[str]
    urgency: str
    contact_method: str
    share_transcript: bool
    status: str
    claimed_by: int | None
    claimed_by_name: str | None
    live: bool
    outcome: str | None
    created_at: dt.datetime
    consented_at: dt.datetime
    closed_at: dt.datetime | None
    consent: dict[str, Any] = field(default_factory=dict)
    conversation_deleted: bool = False  # the person deleted their data ("delete my data")
    personal_data_removed: bool = False  # wiped: by the person, or by the retention purge

    def waiting_minutes(self, now: dt.datetime | None = None) -> int:
        end = self.closed_at or now or utcnow()
        return max(0, int((end - self.created_at).total_seconds() // 60))


def audit(
    session: Any, staff: Staff | None, action: str, referral_id: int | None, detail: str = ""
) -> None:
    session.add(
        AuditEntry(
            staff_id=staff.id if staff else None,
            action=action,
            referral_id=referral_id,
            detail=detail[:200],
        )
    )


def record(staff: Staff | None, action: str, referral_id: int | None = None, detail: str = "",
           url: str | None = None) -> None:  # fmt: skip
    """An audit entry on its own (sign-in, sign-out, a refused login)."""
    with session_scope(url) as session:
        audit(session, staff, action, referral_id, detail)


def create_referral(new: NewReferral, url: str | None = None) -> int:
    """Store a consented referral; returns its number."""
    urgency = "urgent" if new.urgent else "normal"
    with session_scope(url) as session:
        referral = Referral(
            conversation_ref=crypto.conversation_ref(new.conversation_id),
            conversation_enc=crypto.encrypt(new.conversation_id),
            channel=new.channel,
            language=new.language,
            needs=list(new.needs),
            place=(new.place or None) and new.place[:120],
            age_group=new.age_group,
            safety_flags=sorted(set(new.safety_flags)),
            urgency=urgency,
            urgency_rank=0 if urgency == "urgent" else 1,
            contact_method=new.contact_method,
            contact_enc=crypto.encrypt(new.contact) if new.contact else None,
            share_transcript=new.share_transcript,
            consent=new.consent,
            consented_at=utcnow(),
            status="waiting",
            live=False,
        )
        session.add(referral)
        session.flush()
        version = new.consent.get("version")
        audit(session, None, "referral_created", referral.id, f"consent: {version}")
        return referral.id


def _view(referral: Referral, names: dict[int, str]) -> ReferralView:
    wiped = referral.conversation_enc is None  # every referral is made with one
    return ReferralView(
        id=referral.id,
        channel=referral.channel,
        language=referral.language,
        needs=list(referral.needs or []),
        place=referral.place,
        age_group=referral.age_group,
        safety_flags=list(referral.safety_flags or []),
        urgency=referral.urgency,
        contact_method=referral.contact_method,
        share_transcript=referral.share_transcript,
        status=referral.status,
        claimed_by=referral.claimed_by,
        claimed_by_name=names.get(referral.claimed_by) if referral.claimed_by else None,
        live=referral.live,
        outcome=referral.outcome,
        created_at=referral.created_at,
        consented_at=referral.consented_at,
        closed_at=referral.closed_at,
        consent=dict(referral.consent or {}),
        conversation_deleted=wiped and referral.outcome == "deleted_by_user",
        personal_data_removed=wiped,
    )


def _names(session: Any) -> dict[int, str]:
    return dict(session.execute(sa.select(StaffUser.id, StaffUser.display_name)).all())


def queue(include_closed: bool = False, url: str | None = None) -> list[ReferralView]:
    """Open referrals, urgent first, then the longest waiting (closed ones after, newest
    first, when asked)."""
    with session_scope(url) as session:
        names = _names(session)
        rows = session.execute(
            sa.select(Referral)
            .where(Referral.status.in_(OPEN))
            .order_by(Referral.urgency_rank, Referral.created_at, Referral.id)
        ).scalars()
        found = [_view(r, names) for r in rows]
        if include_closed:
            closed = session.execute(
                sa.select(Referral)
                .where(Referral.status == "closed")
                .order_by(Referral.closed_at.desc())
                .limit(50)
            ).scalars()
            found += [_view(r, names) for r in closed]
        return found


def get_referral(referral_id: int, url: str | None = None) -> ReferralView | None:
    with session_scope(url) as session:
        referral = session.get(Referral, referral_id)
        return _view(referral, _names(session)) if referral else None


def may_see_personal_data(view: ReferralView, staff: Staff) -> bool:
    """The claimant sees contact details and the conversation; supervisors too."""
    return view.status == "claimed" and (view.claimed_by == staff.id or staff.supervises)


def contact_details(referral_id: int, staff: Staff, url: str | None = None) -> dict[str, Any]:
    """The decrypted contact details, for the claimant (or a supervisor); audited."""
    with session_scope(url) as session:
        referral = session.get(Referral, referral_id)
        if referral is None:
            raise ReferralError("No such referral.")
        allowed = may_see_personal_data(_view(referral, {}), staff)
        if allowed:
            audit(session, staff, "view_contact", referral_id, referral.contact_method)
            return crypto.decrypt(referral.contact_enc) or {}
    record(staff, "contact_refused", referral_id, "not claimed by this user", url)
    raise ReferralError("Claim this referral to see how to reach the person.")


def conversation_id(referral_id: int, staff: Staff | None, purpose: str | None,
                    url: str | None = None) -> str | None:  # fmt: skip
    """The conversation's id, decrypted for the relay, or None when the user deleted it.
    Only the claimant or a supervisor (``ReferralError`` otherwise; ``staff`` None: Haven
    itself). Audited as ``purpose``, a refusal as ``<purpose>_refused``; ``purpose`` None:
    no audit row, for the console's repeated reads after an audited first view and for
    joining or leaving, which ``set_live`` audits."""
    with session_scope(url) as session:
        referral = session.get(Referral, referral_id)
        if referral is None or referral.conversation_enc is None:
            return None
        if staff is None or may_see_personal_data(_view(referral, {}), staff):
            if purpose:
                audit(session, staff, purpose, referral_id)
            return crypto.decrypt(referral.conversation_enc)
    if purpose:
        record(staff, f"{purpose}_refused"[:40], referral_id, "not claimed by this user", url)
    raise ReferralError("Claim this referral first.")


def conversation_id_unaudited(referral_id: int, staff: Staff,
                              url: str | None = None) -> str | None:  # fmt: skip
    """``conversation_id`` without an audit row (see there)."""
    return conversation_id(referral_id, staff, None, url)


def claim(referral_id: int, staff: Staff, url: str | None = None) -> None:
    with session_scope(url) as session:
        referral = _open_referral(session, referral_id)
        if referral.status == "claimed" and referral.claimed_by != staff.id:
            raise ReferralError("Someone else claimed this referral.")
        referral.status, referral.claimed_by, referral.claimed_at = "claimed", staff.id, utcnow()
        audit(session, staff, "claim", referral_id)


def release(referral_id: int, staff: Staff, url: str | None = None) -> None:
    """Back to the queue (the claimant or a supervisor)."""
    with session_scope(url) as session:
        referral = _held(session, referral_id, staff)
        referral.status, referral.claimed_by, referral.claimed_at = "waiting", None, None
        referral.live = False
        audit(session, staff, "release", referral_id)


def transfer(referral_id: int, staff: Staff, to_staff_id: int, url: str | None = None) -> str:
    """Hand a claimed referral to a colleague; returns their name."""
    with session_scope(url) as session:
        referral = _held(session, referral_id, staff)
        colleague = session.get(StaffUser, to_staff_id)
        if colleague is None or not colleague.active:
            raise ReferralError("Choose an active colleague.")
        referral.claimed_by, referral.claimed_at = colleague.id, utcnow()
        audit(session, staff, "transfer", referral_id, f"to {colleague.username}")
        return colleague.display_name


def close(referral_id: int, staff: Staff, outcome: str, url: str | None = None) -> None:
    if outcome not in OUTCOMES or outcome == "deleted_by_user":
        raise ReferralError("Choose an outcome.")
    with session_scope(url) as session:
        referral = _held(session, referral_id, staff)
        referral.status, referral.outcome, referral.closed_at = "closed", outcome, utcnow()
        referral.live = False
        audit(session, staff, "close", referral_id, outcome)


def set_live(referral_id: int, staff: Staff, live: bool, url: str | None = None) -> None:
    """Record that the claimant joined (or left) the user's chat."""
    with session_scope(url) as session:
        referral = _held(session, referral_id, staff)
        referral.live = live
        audit(session, staff, "join_chat" if live else "leave_chat", referral_id)


def add_note(referral_id: int, staff: Staff, body: str, url: str | None = None) -> None:
    body = body.strip()
    if not body:
        raise ReferralError("The note is empty.")
    with session_scope(url) as session:
        referral = session.get(Referral, referral_id)
        if referral is None:
            raise ReferralError("No such referral.")
        if referral.conversation_enc is None:  # wiped: nothing personal is kept about it
            raise ReferralError("This referral's personal data was removed; notes are closed.")
        session.add(ReferralNote(referral_id=referral_id, staff_id=staff.id, body=body[:5000]))
        audit(session, staff, "note", referral_id)


def notes(referral_id: int, staff: Staff, url: str | None = None) -> list[dict[str, Any]]:
    """A referral's notes, oldest first (personal data: audited)."""
    with session_scope(url) as session:
        names = _names(session)
        rows = session.execute(
            sa.select(ReferralNote).filter_by(referral_id=referral_id).order_by(ReferralNote.id)
        ).scalars()
        found = [
            {"by": names.get(n.staff_id, "—"), "at": n.created_at, "body": n.body} for n in rows
        ]
        if found:
            audit(session, staff, "view_notes", referral_id)
        return found


def audit_entries(limit: int = 200, referral_id: int | None = None,
                  url: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
    with session_scope(url) as session:
        names = dict(session.execute(sa.select(StaffUser.id, StaffUser.username)).all())
        query = sa.select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if referral_id is not None:
            query = query.filter_by(referral_id=referral_id)
        return [
            {
                "at": e.at,
                "staff": names.get(e.staff_id, "haven"),
                "action": e.action,
                "referral": e.referral_id,
                "detail": e.detail,
            }  # fmt: skip
            for e in session.execute(query).scalars()
        ]


def _open_referral(session: Any, referral_id: int) -> Referral:
    referral = session.get(Referral, referral_id)
    if referral is None:
        raise ReferralError("No such referral.")
    if referral.status == "closed":
        raise ReferralError("This referral is closed.")
    return referral


def _held(session: Any, referral_id: int, staff: Staff) -> Referral:
    referral = _open_referral(session, referral_id)
    if referral.status != "claimed" or not (referral.claimed_by == staff.id or staff.supervises):
        raise ReferralError("Claim this referral first.")
    return referral


# --- what the bot's side asks: by conversation ----------------------------------------


def open_referral_for(conversation: str, url: str | None = None) -> ReferralView | None:
    """The conversation's open referral, if any."""
    with session_scope(url) as session:
        referral = session.execute(
            sa.select(Referral)
            .where(
                Referral.conversation_ref == crypto.conversation_ref(conversation),
                Referral.status.in_(OPEN),
            )
            .order_by(Referral.id.desc())
        ).scalar()
        return _view(referral, _names(session)) if referral else None


def raise_urgency(conversation: str, flag: str = "crisis", url: str | None = None) -> int:
    """A crisis message makes the conversation's open referrals urgent; returns how many."""
    with session_scope(url) as session:
        rows = session.execute(
            sa.select(Referral).where(
                Referral.conversation_ref == crypto.conversation_ref(conversation),
                Referral.status.in_(OPEN),
            )
        ).scalars()
        changed = 0
        for referral in rows:
            referral.safety_flags = sorted({*(referral.safety_flags or []), flag})
            if referral.urgency != "urgent":
                referral.urgency, referral.urgency_rank = "urgent", 0
                audit(session, None, "urgency_raised", referral.id, flag)
            changed += 1
        return changed


def wipe_personal_data(session: Any, referral: Referral) -> int:
    """Remove a referral's personal data: the conversation id and its lookup key, contact
    details, place, age group, needs, safety flags, consent record and private notes.
    What stays (ids, times, status, outcome, urgency, channel, language, contact method)
    says only that a referral existed. The one wipe, used by "delete my data"
    (``forget_conversation``) and by the retention purge (``bot.retention``); returns how
    many notes went."""
    notes = session.execute(sa.delete(ReferralNote).filter_by(referral_id=referral.id))
    referral.conversation_ref = referral.conversation_enc = referral.contact_enc = None
    referral.place = referral.age_group = None
    referral.needs, referral.safety_flags, referral.consent = [], [], {}
    referral.share_transcript, referral.live = False, False
    return int(notes.rowcount or 0)


def forget_conversation(conversation: str, url: str | None = None) -> int:
    """ "Delete my data": every referral of the conversation loses its personal data
    (``wipe_personal_data``) and is closed as deleted by the user. What stays is that a
    referral existed, for the staff's records."""
    ref = crypto.conversation_ref(conversation)
    with session_scope(url) as session:
        rows = list(
            session.execute(sa.select(Referral).where(Referral.conversation_ref == ref)).scalars()
        )
        for referral in rows:
            wipe_personal_data(session, referral)
            if referral.status != "closed":
                referral.status, referral.closed_at = "closed", utcnow()
            referral.outcome = "deleted_by_user"
            audit(session, None, "deleted_by_user", referral.id)
        return len(rows)


def rotate_keys(url: str | None = None) -> int:
    """Re-encrypt every referral's secrets with the newest contact key."""
    with session_scope(url) as session:
        rows = list(session.execute(sa.select(Referral)).scalars())
        for referral in rows:
            referral.contact_enc = crypto.rotate(referral.contact_enc)
            referral.conversation_enc = crypto.rotate(referral.conversation_enc)
        return len(rows)
