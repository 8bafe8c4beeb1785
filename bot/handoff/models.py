"""The handoff's tables: staff accounts and sessions, referrals, notes and the audit log.

A referral holds structured needs, never the user's story: topics, service categories and
the road map's outcome as keys, the language, a coarse place, an age group, safety flags,
the urgency and the contact preference. The conversation id and the contact details
(phone, safe times, voicemail, code word) are encrypted at rest (``bot.handoff.crypto``);
the conversation is found again by an HMAC of its id, never by the id itself.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from bot.db.base import Base

ROLES = ("case_manager", "supervisor", "admin")
STATUSES = ("waiting", "claimed", "closed")
URGENCIES = ("urgent", "normal")  # ordered: urgent first
CONTACT_METHODS = ("chat_now", "chat_later", "phone", "text")
OUTCOMES = (
    "helped",  # needs met or a plan agreed
    "referred_on",  # sent to another service
    "no_contact",  # could not reach the person
    "declined",  # the person did not want to go on
    "duplicate",
    "deleted_by_user",  # the user deleted their data (set by Haven, not by staff)
)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class StaffUser(Base):
    """A staff account (``haven staff add``); the password is an Argon2 hash."""

    __tablename__ = "staff_user"

    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    username = sa.Column(sa.String(64), nullable=False, unique=True)
    display_name = sa.Column(sa.String(120), nullable=False)
    role = sa.Column(sa.String(16), nullable=False, default="case_manager")
    language = sa.Column(sa.String(16), nullable=False, default="en")  # the console's
    password_hash = sa.Column(sa.String(255), nullable=False)
    active = sa.Column(sa.Boolean, nullable=False, default=True)
    available = sa.Column(sa.Boolean, nullable=False, default=True)  # taking chats now
    failed_logins = sa.Column(sa.Integer, nullable=False, default=0)
    locked_until = sa.Column(sa.DateTime, nullable=True)
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    last_login_at = sa.Column(sa.DateTime, nullable=True)


class StaffSession(Base):
    """A signed-in browser: the cookie holds a random token, this row its SHA-256."""

    __tablename__ = "staff_session"

    token_hash = sa.Column(sa.String(64), primary_key=True)
    staff_id = sa.Column(
        sa.Integer, sa.ForeignKey("staff_user.id", ondelete="CASCADE"), nullable=False, index=True
    )
    csrf_token = sa.Column(sa.String(64), nullable=False)
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    last_seen_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    expires_at = sa.Column(sa.DateTime, nullable=False)  # absolute end, whatever the activity


class Referral(Base):
    """One consented request for a person."""

    __tablename__ = "referral"

    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    conversation_ref = sa.Column(sa.String(64), nullable=True, index=True)  # HMAC of the id
    conversation_enc = sa.Column(sa.Text, nullable=True)  # the id, encrypted (for the relay)
    channel = sa.Column(sa.String(32), nullable=False, default="rest")
    language = sa.Column(sa.String(16), nullable=False, default="en")
    needs = sa.Column(sa.JSON, nullable=False, default=list)  # ["topic:t_visa", "service:legal"]
    place = sa.Column(sa.String(120), nullable=True)  # coarse: a city, a state or a ZIP
    age_group = sa.Column(sa.String(16), nullable=True)  # minor | adult | None (not said)
    safety_flags = sa.Column(sa.JSON, nullable=False, default=list)  # crisis, possible_danger…
    urgency = sa.Column(sa.String(16), nullable=False, default="normal")
    urgency_rank = sa.Column(sa.Integer, nullable=False, default=1)  # 0 urgent, 1 normal
    contact_method = sa.Column(sa.String(16), nullable=False, default="chat_later")
    contact_enc = sa.Column(sa.Text, nullable=True)  # encrypted JSON: phone, times, voicemail…
    share_transcript = sa.Column(sa.Boolean, nullable=False, default=False)
    consent = sa.Column(sa.JSON, nullable=False, default=dict)  # what was shown and agreed
    consented_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    status = sa.Column(sa.String(16), nullable=False, default="waiting", index=True)
    claimed_by = sa.Column(
        sa.Integer, sa.ForeignKey("staff_user.id", ondelete="SET NULL"), nullable=True
    )
    claimed_at = sa.Column(sa.DateTime, nullable=True)
    live = sa.Column(sa.Boolean, nullable=False, default=False)  # a person holds the chat
    outcome = sa.Column(sa.String(32), nullable=True)
    closed_at = sa.Column(sa.DateTime, nullable=True)
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)
    updated_at = sa.Column(sa.DateTime, nullable=False, default=utcnow, onupdate=utcnow)


class ReferralNote(Base):
    """A private note on a referral, by a staff member (never shown to the user)."""

    __tablename__ = "referral_note"

    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    referral_id = sa.Column(
        sa.Integer, sa.ForeignKey("referral.id", ondelete="CASCADE"), nullable=False, index=True
    )
    staff_id = sa.Column(
        sa.Integer, sa.ForeignKey("staff_user.id", ondelete="SET NULL"), nullable=True
    )
    body = sa.Column(sa.Text, nullable=False)
    created_at = sa.Column(sa.DateTime, nullable=False, default=utcnow)


class AuditEntry(Base):
    """Who did what, when: every view of personal data and every change of a referral.
    ``detail`` never holds personal data (a field name, an outcome, a staff username)."""

    __tablename__ = "audit_log"

    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    at = sa.Column(sa.DateTime, nullable=False, default=utcnow, index=True)
    staff_id = sa.Column(
        sa.Integer, sa.ForeignKey("staff_user.id", ondelete="SET NULL"), nullable=True
    )
    action = sa.Column(sa.String(40), nullable=False)
    referral_id = sa.Column(sa.Integer, nullable=True, index=True)
    detail = sa.Column(sa.String(200), nullable=False, default="")
