"""Staff accounts, sign-in and sessions.

Accounts are made only with ``haven staff add``. Passwords are hashed with Argon2id
(argon2-cffi's defaults). Five wrong passwords in a row lock an account for 15 minutes
(the web process also limits attempts per client address). A session is a random token in
an HttpOnly cookie; only its SHA-256 is stored, with a CSRF token for the session's forms.
It ends after ``HAVEN_STAFF_SESSION_MINUTES`` without activity (30) and after 12 hours in
any case.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from bot.db.engine import session_scope
from bot.handoff.models import ROLES, StaffSession, StaffUser, utcnow
from bot.settings import get_settings

MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=15)
SESSION_LIFETIME = dt.timedelta(hours=12)
MIN_PASSWORD_CHARS = 12
USERNAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789._-"

_hasher = PasswordHasher()
# Verified when the username is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class StaffError(ValueError):
    """A staff account request that cannot be done, with the reason."""


@dataclass(frozen=True)
class Staff:
    """A signed-in staff member, as the console sees them."""

    id: int
    username: str
    display_name: str
    role: str
    language: str
    available: bool

    @property
    def supervises(self) -> bool:
        return self.role in {"supervisor", "admin"}


def _staff(user: StaffUser) -> Staff:
    return Staff(
        user.id, user.username, user.display_name, user.role, user.language, user.available
    )


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise StaffError(f"the password must have at least {MIN_PASSWORD_CHARS} characters")


def add_staff(
    username: str,
    password: str,
    display_name: str = "",
    role: str = "case_manager",
    language: str = "en",
    url: str | None = None,
) -> Staff:
    """Create an account; ``StaffError`` if the name is taken or a value is not allowed."""
    username = username.strip().lower()
    if not username or len(username) > 64 or set(username) - set(USERNAME_CHARS):
        raise StaffError("usernames use a-z, 0-9, '.', '_' and '-' (at most 64 characters)")
    if role not in ROLES:
        raise StaffError(f"role must be one of: {', '.join(ROLES)}")
    check_password_strength(password)
    with session_scope(url) as session:
        if session.execute(sa.select(StaffUser.id).filter_by(username=username)).first():
            raise StaffError(f'a staff account "{username}" already exists')
        user = StaffUser(
            username=username,
            display_name=(display_name.strip() or username)[:120],
            role=role,
            language=language,
            password_hash=_hasher.hash(password),
            active=True,
            available=True,
            failed_logins=0,
        )
        session.add(user)
        session.flush()
        return _staff(user)


def set_password(username: str, password: str, url: str | None = None) -> None:
    check_password_strength(password)
    with session_scope(url) as session:
        user = session.execute(sa.select(StaffUser).filter_by(username=username)).scalar()
        if user is None:
            raise StaffError(f'no staff account "{username}"')
        user.password_hash = _hasher.hash(password)
        user.failed_logins, user.locked_until = 0, None
        session.execute(sa.delete(StaffSession).filter_by(staff_id=user.id))


def set_active(username: str, active: bool, url: str | None = None) -> None:
    """Disable (signing out every session) or re-enable an account; unlocks it too."""
    with session_scope(url) as session:
        user = session.execute(sa.select(StaffUser).filter_by(username=username)).scalar()
        if user is None:
            raise StaffError(f'no staff account "{username}"')
        user.active, user.failed_logins, user.locked_until = active, 0, None
        if not active:
            session.execute(sa.delete(StaffSession).filter_by(staff_id=user.id))


def list_staff(url: str | None = None) -> list[tuple[Staff, bool]]:
    """Every account, with whether it is active."""
    with session_scope(url) as session:
        users = session.execute(sa.select(StaffUser).order_by(StaffUser.username)).scalars()
        return [(_staff(user), user.active) for user in users]


def staff_configured(url: str | None = None) -> bool:
    """Whether live referrals are on: HAVEN_HANDOFF is not "off" and an account exists."""
    if get_settings().handoff == "off":
        return False
    try:
        with session_scope(url) as session:
            return bool(session.execute(sa.select(StaffUser.id).filter_by(active=True)).first())
    except sa.exc.SQLAlchemyError:  # no tables yet (no `haven db upgrade`): no staff
        return False


def someone_available(url: str | None = None) -> bool:
    """Whether an active staff member has said they are taking chats now."""
    with session_scope(url) as session:
        found = session.execute(
            sa.select(StaffUser.id).filter_by(active=True, available=True)
        ).first()
        return found is not None


@dataclass(frozen=True)
class SignIn:
    staff: Staff | None  # None: refused
    reason: str = ""  # "locked", "wrong" (never says which of name or password was wrong)


def sign_in(username: str, password: str, url: str | None = None) -> SignIn:
    """Check a password, counting failures; an account locks after ``MAX_FAILED_LOGINS``."""
    now = utcnow()
    with session_scope(url) as session:
        user = session.execute(
            sa.select(StaffUser).filter_by(username=username.strip().lower())
        ).scalar()
        if user is None or not user.active:
            _verify(_DUMMY_HASH, password)
            return SignIn(None, "wrong")
        if user.locked_until and user.locked_until > now:
            return SignIn(None, "locked")
        if not _verify(user.password_hash, password):
            user.failed_logins += 1
            if user.failed_logins >= MAX_FAILED_LOGINS:
                user.locked_until, user.failed_logins = now + LOCKOUT, 0
                return SignIn(None, "locked")
            return SignIn(None, "wrong")
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
        user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
        return SignIn(_staff(user))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(staff_id: int, url: str | None = None) -> tuple[str, str]:
    """A new session: (cookie token, CSRF token)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = utcnow()
    with session_scope(url) as session:
        session.add(
            StaffSession(
                token_hash=_token_hash(token),
                staff_id=staff_id,
                csrf_token=csrf,
                created_at=now,
                last_seen_at=now,
                expires_at=now + SESSION_LIFETIME,
            )
        )
    return token, csrf


def resume_session(token: str | None, url: str | None = None) -> tuple[Staff, str] | None:
    """The staff member and CSRF token of a live session (its idle clock restarted), or
    None if the token is unknown, idle too long, past its lifetime or its account disabled."""
    return _live_session(token, url, touch=True)


def peek_session(token: str | None, url: str | None = None) -> tuple[Staff, str] | None:
    """Like ``resume_session`` but without restarting the idle clock: for the console's
    background requests (queue refresh, message polls), so an unattended open page still
    signs out after ``HAVEN_STAFF_SESSION_MINUTES``."""
    return _live_session(token, url, touch=False)


def _live_session(token: str | None, url: str | None, touch: bool) -> tuple[Staff, str] | None:
    if not token or len(token) > 128:
        return None
    now = utcnow()
    idle = dt.timedelta(minutes=get_settings().staff_session_minutes)
    with session_scope(url) as session:
        row = session.get(StaffSession, _token_hash(token))
        if row is None:
            return None
        user = session.get(StaffUser, row.staff_id)
        if row.expires_at <= now or row.last_seen_at + idle <= now or not user or not user.active:
            session.delete(row)
            return None
        if touch:
            row.last_seen_at = now
        return _staff(user), row.csrf_token


def close_session(token: str | None, url: str | None = None) -> None:
    if token:
        with session_scope(url) as session:
            session.execute(sa.delete(StaffSession).filter_by(token_hash=_token_hash(token)))


def set_available(staff_id: int, available: bool, url: str | None = None) -> None:
    with session_scope(url) as session:
        user = session.get(StaffUser, staff_id)
        if user is not None:
            user.available = available


def colleagues(url: str | None = None) -> list[Staff]:
    """Active staff, for transfers."""
    with session_scope(url) as session:
        users = session.execute(
            sa.select(StaffUser).filter_by(active=True).order_by(StaffUser.display_name)
        ).scalars()
        return [_staff(user) for user in users]
