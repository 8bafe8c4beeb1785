"""The staff console at ``/staff``: case managers sign in, work the referral queue and take
over a conversation from the bot (``bot.handoff`` is the data and service layer).

Everything is rendered on the server (Jinja2 with autoescaping: what a user wrote is never
marked safe) and works on a phone; ``static/staff.js`` only refreshes the queue and runs the
live chat, adding every message as text. Safety rules kept here:

- a session is an HttpOnly, SameSite=Strict cookie (``Secure`` with HAVEN_STAFF_HTTPS); every
  POST carries the session's CSRF token (a form field or ``X-CSRF-Token``), the sign-in form a
  token of its own (a cookie and a hidden field that must match);
- sign-in attempts are limited per client address, in memory, besides the account lockout;
- contact details and the conversation are shown only to the claimant or a supervisor, and
  every view is audited (``bot.handoff.referrals``); nothing identifying is logged;
- the pages' content security policy allows this origin only and forms posting to it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hmac
import logging
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.handoff import referrals, relay, transcript
from bot.handoff import staff as accounts
from bot.handoff.crypto import UnreadableSecret
from bot.handoff.hours import StaffedHours
from bot.handoff.models import OUTCOMES
from bot.handoff.referrals import ReferralError, ReferralView
from bot.handoff.relay import MAX_STAFF_MESSAGE_CHARS, RelayError
from bot.handoff.staff import USERNAME_CHARS, Staff
from bot.languages import language_name_in
from bot.safety.log_ids import pseudonym
from bot.settings import get_settings

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates" / "staff"
STATIC = HERE / "static"
FILES = {  # name → content type: only these are served under /staff/static/
    "staff.css": "text/css; charset=utf-8",
    "staff.js": "text/javascript; charset=utf-8",
}
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

SESSION_COOKIE = "haven_staff"
LOGIN_COOKIE = "haven_login_csrf"
COOKIE_PATH = "/staff"
CSRF_HEADER = "X-CSRF-Token"
TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
NEXT_PATH = re.compile(r"^/staff/[A-Za-z0-9_/-]*$")

LOGIN_ATTEMPTS = 10  # failed sign-ins per client address...
LOGIN_WINDOW_SECONDS = 300  # ...in this many seconds
MAX_TRACKED_ADDRESSES = 10_000
MAX_PASSWORD_CHARS = 1024
MAX_ROW_ID = 2**63 - 1  # the largest id a database's integer column holds (SQLite: 64 bits)
POLL_SECONDS = 20.0  # the longest a message poll waits for a new line
POLL_INTERVAL_SECONDS = 0.1  # one indexed query per open chat: a user line shows within ~0.1 s
VIEWING_GAP_SECONDS = 60  # a poll this long after the last one starts a new, audited view
CHAT_METHODS = ("chat_now", "chat_later")

FORM_EXPIRED = "This form expired. Reload the page and try again."
SIGN_IN_AGAIN = "Your session ended. Sign in again."
RELAY_DOWN = "Haven's server could not be reached; nothing was sent. Try again in a moment."
WRONG = "Wrong username or password."
TOO_MANY = (
    "Too many sign-in attempts from this network. Wait 5 minutes, then try again. "
    "If you forgot your password, ask an admin to set a new one."
)

NEED_KINDS = {"topic": "Rights", "service": "Service", "roadmap": "Road map"}
FLAG_LABELS = {
    "crisis": "Crisis",
    "possible_danger": "Possible danger",
    "disclosure": "Disclosure",
}
CONTACT_LABELS = {
    "chat_now": "Chat now",
    "chat_later": "Chat later",
    "phone": "Phone call",
    "text": "Text message",
}
AGE_LABELS = {"minor": "Minor (under 18)", "adult": "Adult"}
STATUS_LABELS = {"waiting": "Waiting", "claimed": "Claimed", "closed": "Closed"}
OUTCOME_LABELS = {
    "helped": "Helped: needs met or a plan agreed",
    "referred_on": "Referred on to another service",
    "no_contact": "Could not reach the person",
    "declined": "The person did not want to go on",
    "duplicate": "Duplicate referral",
    "deleted_by_user": "The person deleted their data",
    "expired": "Closed by the retention period (no activity)",
}
CLOSING_OUTCOMES = tuple(o for o in OUTCOMES if o not in {"deleted_by_user", "expired"})
CONTACT_FIELDS = {
    "phone": "Phone",
    "times": "Safe times to call",
    "voicemail": "Voicemail",
    "code_word": "Code word",
}
ROLE_LABELS = {"case_manager": "case manager", "supervisor": "supervisor", "admin": "admin"}
DONE = {  # ?done=… after an action: fixed messages only, never text from the request
    "claimed": "You claimed this referral.",
    "released": "The referral is back in the queue.",
    "transferred": "The referral was transferred.",
    "closed": "The referral is closed.",
    "noted": "Note added.",
    "joined": "You joined the chat: Haven (automated) stays silent until you leave.",
    "left": "You left the chat: Haven (automated) answers again.",
    "sent": "Message sent.",
}

staff_console = Blueprint("haven_staff", url_prefix="/staff")


# --- presentation ---------------------------------------------------------------------


def need_label(need: str) -> str:
    """``topic:t_visa`` → "Rights: t visa", ``service:legal`` → "Service: legal"."""
    kind, _, key = need.partition(":")
    if not key:
        return FLAG_LABELS.get(kind) or kind.replace("_", " ").capitalize()
    name = NEED_KINDS.get(kind) or kind.replace("_", " ").capitalize()
    return f"{name}: {key.replace('_', ' ')}"


def language_label(code: str | None) -> str:
    if not code:
        return "Unknown"
    name = language_name_in(code, "en")
    return name if name != code else code


def duration(minutes: int) -> str:
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _zone() -> ZoneInfo:
    try:
        return ZoneInfo(get_settings().staff_timezone)
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


def when(moment: dt.datetime | None) -> str:
    """A stored (naive UTC) time in the staff's time zone."""
    if moment is None:
        return "—"
    local = moment.replace(tzinfo=dt.timezone.utc).astimezone(_zone())
    return local.strftime("%a %d %b %Y, %H:%M %Z")


def _wait_text(view: ReferralView) -> str:
    spent = duration(view.waiting_minutes())
    if view.status == "waiting":
        return f"Waiting {spent}"
    if view.status == "claimed":
        return f"Referred {spent} ago"
    return f"Closed after {spent}"


def queue_row(view: ReferralView, staff: Staff) -> dict[str, Any]:
    """What the queue shows of a referral (the page and ``queue.json``): no personal data
    but the coarse place, which the queue leaves out."""
    return {
        "id": view.id,
        "url": f"/staff/referrals/{view.id}",
        "urgent": view.urgency == "urgent",
        "urgency": "Urgent" if view.urgency == "urgent" else "Normal",
        "flags": [FLAG_LABELS.get(f, f.replace("_", " ")) for f in view.safety_flags],
        "language": language_label(view.language),
        "needs": [need_label(n) for n in view.needs],
        "age_group": AGE_LABELS.get(view.age_group or "", "Age not said"),
        "contact": CONTACT_LABELS.get(view.contact_method, view.contact_method),
        "waiting": _wait_text(view),
        "status": view.status,
        "status_label": STATUS_LABELS.get(view.status, view.status),
        "claimed_by": view.claimed_by_name,
        "mine": view.claimed_by == staff.id,
        "live": view.live,
        "outcome": OUTCOME_LABELS.get(view.outcome or "", view.outcome),
        "deleted": view.conversation_deleted,
    }


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, dict):
        return "; ".join(f"{k.replace('_', ' ')}: {_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    return "—" if value is None or value == "" else str(value)


def contact_items(contact: dict[str, Any]) -> list[dict[str, Any]]:
    items = []
    for key, value in contact.items():
        if value is None or value == "":
            continue
        text = _text(value)
        tel = re.sub(r"[^0-9+]", "", text) if key == "phone" else ""
        items.append(
            {
                "label": CONTACT_FIELDS.get(key, key.replace("_", " ").capitalize()),
                "value": text,
                "tel": tel if len(tel) >= 3 else "",
            }
        )
    return items


def consent_items(consent: dict[str, Any]) -> list[dict[str, Any]]:
    """The consent record as labelled lines (lists stay lists; nested values are text)."""
    items = []
    for key, value in consent.items():
        values = [_text(v) for v in value] if isinstance(value, list | tuple) else [_text(value)]
        items.append({"label": key.replace("_", " ").capitalize(), "values": values})
    return items


def hours_summary() -> dict[str, Any]:
    settings = get_settings()
    summary: dict[str, Any] = {
        "spec": settings.staff_hours,
        "zone": settings.staff_timezone,
        "open": False,
        "next": None,
        "error": None,
        "never": False,
    }
    try:
        hours = StaffedHours.from_settings()
    except (ValueError, KeyError):
        summary["error"] = "HAVEN_STAFF_HOURS or HAVEN_STAFF_TIMEZONE cannot be read."
        return summary
    summary["open"] = hours.is_open()
    opening = None if summary["open"] else hours.next_opening()
    summary["next"] = opening.strftime("%a %d %b, %H:%M") if opening else None
    summary["never"] = not hours.shifts
    return summary


_templates = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=True,  # everything; nothing a user wrote is ever marked safe
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.filters["when"] = when


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTTPResponse:
    context.setdefault("staff", getattr(request.ctx, "staff", None))
    context.setdefault("csrf", getattr(request.ctx, "csrf", None))
    page = _templates.get_template(name).render(**context)
    return response.html(page, status=status)


def message_page(request: Request, status: int, title: str, text: str) -> HTTPResponse:
    return render(request, "message.html", status=status, title=title, text=text)


# --- sessions, CSRF and the sign-in limit --------------------------------------------


async def _db(work: Callable[..., Any], *args: Any, **options: Any) -> Any:
    """Database (and password hashing) work off the event loop."""
    return await asyncio.to_thread(work, *args, **options)


def _same(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison of a token. Header bytes that are not UTF-8 arrive as
    surrogates, which a plain ``encode()`` refuses (a 500): they are encoded as they are,
    and never match."""
    if not given or not expected:
        return False
    sent = given.encode("utf-8", "surrogatepass")
    return hmac.compare_digest(sent, expected.encode("utf-8", "surrogatepass"))


def _csrf_ok(request: Request, expected: str) -> bool:
    given = request.headers.get(CSRF_HEADER) or request.form.get("csrf")
    return _same(given, expected)


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _set_cookie(resp: HTTPResponse, name: str, value: str) -> None:
    resp.cookies[name] = value
    cookie = resp.cookies[name]
    cookie["httponly"] = True
    cookie["samesite"] = "Strict"
    cookie["path"] = COOKIE_PATH
    if get_settings().staff_https:
        cookie["secure"] = True


def _drop_cookie(resp: HTTPResponse, name: str) -> None:
    _set_cookie(resp, name, "")
    resp.cookies[name]["max-age"] = 0


def _row_id(text: str | None) -> int | None:
    """A row id typed in a form or a query string: ASCII digits within 64 bits, else None
    (``"²".isdigit()`` is true but ``int("²")`` fails; SQLite cannot take a larger int)."""
    if not text or len(text) > 19 or not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value <= MAX_ROW_ID else None


def _next_path(value: str | None) -> str:
    """Where to go after signing in: a console path only (never another site)."""
    if value and NEXT_PATH.match(value) and "//" not in value:
        return value
    return "/staff/"


def signed_in(json: bool = False, background: bool = False) -> Callable:
    """Handlers for signed-in staff: ``request.ctx.staff`` and ``request.ctx.csrf`` are set;
    without a session a page redirects to the sign-in form (JSON: 401), and a POST without
    the session's CSRF token is refused (403). ``background`` requests (the script's polls)
    do not count as activity: an unattended page still signs out when the session idles."""

    def decorate(handler: Callable[..., Awaitable[HTTPResponse]]) -> Callable:
        @functools.wraps(handler)
        async def wrapper(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            as_json = json or _wants_json(request)
            check = accounts.peek_session if background else accounts.resume_session
            found = await _db(check, request.cookies.get(SESSION_COOKIE))
            if found is None:
                if as_json:
                    return response.json({"error": SIGN_IN_AGAIN}, status=401)
                target = "/staff/login"
                if request.method == "GET" and request.path != "/staff/":
                    target += "?next=" + quote(request.path, safe="/")
                return response.redirect(target, status=303)
            request.ctx.staff, request.ctx.csrf = found
            if request.method == "POST" and not _csrf_ok(request, request.ctx.csrf):
                if as_json:
                    return response.json({"error": FORM_EXPIRED}, status=403)
                return message_page(request, 403, "Form expired", FORM_EXPIRED)
            if any(type(v) is int and abs(v) > MAX_ROW_ID for v in kwargs.values()):
                if as_json:  # a path id no row can have: the database could not even compare it
                    return response.json({"error": "Not found."}, status=404)
                return message_page(request, 404, "Not found", "There is no such referral.")
            return await handler(request, *args, **kwargs)

        return wrapper

    return decorate


class LoginLimiter:
    """Failed sign-ins per client address in a sliding window, in this web process's memory
    (one machine; the addresses are never written anywhere)."""

    def __init__(self, limit: int = LOGIN_ATTEMPTS, window: float = LOGIN_WINDOW_SECONDS):
        self.limit, self.window = limit, window
        self.failures: dict[str, deque[float]] = {}

    def _recent(self, address: str, now: float) -> deque[float]:
        found = self.failures.get(address, deque())
        while found and found[0] <= now - self.window:
            found.popleft()
        if not found:
            self.failures.pop(address, None)
        return found

    async def blocked(self, address: str) -> bool:
        return len(self._recent(address, time.monotonic())) >= self.limit

    async def failed(self, address: str) -> None:
        now = time.monotonic()
        if len(self.failures) >= MAX_TRACKED_ADDRESSES:
            for stale in [a for a in self.failures if not self._recent(a, now)]:
                self.failures.pop(stale, None)
            if len(self.failures) >= MAX_TRACKED_ADDRESSES:  # still full: forget the oldest
                self.failures.pop(next(iter(self.failures)))
        recent = self._recent(address, now)
        recent.append(now)
        self.failures[address] = recent


class RedisLoginLimiter:
    """``LoginLimiter`` in Redis, shared by every web process (``HAVEN_REDIS_URL``). Keys
    hold a pseudonym of the address, never the address, and expire with the window. If
    Redis cannot be reached, the account lockout still applies and sign-in is not refused
    for that reason alone."""

    def __init__(self, url: str, limit: int = LOGIN_ATTEMPTS, window: float = LOGIN_WINDOW_SECONDS):
        import redis.asyncio

        self.redis = redis.asyncio.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.limit, self.window = limit, window

    def _key(self, address: str) -> str:
        return f"haven:login-failures:{pseudonym(address)}"

    async def blocked(self, address: str) -> bool:
        key, now = self._key(address), time.time()
        try:
            await self.redis.zremrangebyscore(key, "-inf", now - self.window)
            return int(await self.redis.zcard(key)) >= self.limit
        except Exception as error:  # noqa: BLE001 - Redis down: the account lockout remains
            logger.warning("Sign-in limit unavailable (%s)", type(error).__name__)
            return False

    async def failed(self, address: str) -> None:
        key, now = self._key(address), time.time()
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.zadd(key, {f"{now}:{secrets.token_hex(4)}": now})
                pipe.expire(key, int(self.window) + 1)
                await pipe.execute()
        except Exception as error:  # noqa: BLE001
            logger.warning("Sign-in limit unavailable (%s)", type(error).__name__)


def _limiter(app: Sanic) -> LoginLimiter | RedisLoginLimiter:
    if not hasattr(app.ctx, "staff_login_limiter"):
        url = get_settings().redis_url
        app.ctx.staff_login_limiter = RedisLoginLimiter(url) if url else LoginLimiter()
    return app.ctx.staff_login_limiter


def _client_address(request: Request) -> str:
    return request.remote_addr or request.ip or "unknown"


def _last_polls(app: Sanic) -> dict[tuple[int, int], float]:
    """(staff id, referral id) → when this process last answered their message poll: a
    poll with no other in the last ``VIEWING_GAP_SECONDS`` starts a new view (audited), so
    a client that never says ``first=1`` is audited all the same."""
    if not hasattr(app.ctx, "staff_message_polls"):
        app.ctx.staff_message_polls = {}
    return app.ctx.staff_message_polls


# --- routes: files, sign-in -----------------------------------------------------------


@staff_console.middleware("response")
async def console_policy(request: Request, resp: HTTPResponse) -> None:
    resp.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    resp.headers["Permissions-Policy"] = "geolocation=(), camera=(), microphone=()"
    resp.headers["X-Robots-Tag"] = "noindex, nofollow"


@staff_console.get("/static/<name>")
async def static(request: Request, name: str) -> HTTPResponse:
    if name not in FILES:
        return response.json({"error": "Not found."}, status=404)
    return response.raw((STATIC / name).read_bytes(), content_type=FILES[name])


def _login_page(request: Request, token: str, status: int = 200, **context: Any) -> HTTPResponse:
    context.setdefault("error", None)
    context.setdefault("locked_name", None)
    context.setdefault("username", "")
    context.setdefault("next", "/staff/")
    resp = render(request, "login.html", status=status, login_csrf=token, **context)
    _set_cookie(resp, LOGIN_COOKIE, token)
    return resp


@staff_console.get("/login")
async def login_form(request: Request) -> HTTPResponse:
    if await _db(accounts.resume_session, request.cookies.get(SESSION_COOKIE)):
        return response.redirect(_next_path(request.args.get("next")), status=303)
    token = request.cookies.get(LOGIN_COOKIE) or ""
    if not TOKEN.match(token):
        token = secrets.token_urlsafe(32)
    return _login_page(request, token, next=_next_path(request.args.get("next")))


@staff_console.post("/login")
async def login(request: Request) -> HTTPResponse:
    address = _client_address(request)
    limiter = _limiter(request.app)
    fresh = secrets.token_urlsafe(32)
    if await limiter.blocked(address):
        return _login_page(request, fresh, status=429, error=TOO_MANY)
    form = request.form
    username = (form.get("username") or "").strip()
    password = form.get("password") or ""
    target = _next_path(form.get("next"))
    cookie_token = request.cookies.get(LOGIN_COOKIE)
    if not _same(form.get("csrf"), cookie_token):
        await limiter.failed(address)
        return _login_page(request, fresh, status=403, error=FORM_EXPIRED, next=target)
    result = accounts.SignIn(None, "wrong")
    if username and password and len(password) <= MAX_PASSWORD_CHARS:
        result = await _db(accounts.sign_in, username, password)
    if result.staff is None:
        await limiter.failed(address)
        name = username.lower()[:64]
        valid_name = bool(name) and not set(name) - set(USERNAME_CHARS)
        # Only something shaped like a username is recorded (never a password typed in
        # the wrong box).
        await _db(referrals.record, None, "login_failed",
                  detail=name if valid_name else "(not a username)")  # fmt: skip
        if result.reason == "locked":
            return _login_page(request, cookie_token, status=401, username=username,
                               next=target, locked_name=name if valid_name else "NAME")  # fmt: skip
        return _login_page(request, cookie_token, status=401, error=WRONG, username=username,
                           next=target)  # fmt: skip
    token, _csrf = await _db(accounts.open_session, result.staff.id)
    await _db(referrals.record, result.staff, "login")
    resp = response.redirect(target, status=303)
    _set_cookie(resp, SESSION_COOKIE, token)
    _drop_cookie(resp, LOGIN_COOKIE)
    return resp


@staff_console.post("/logout")
@signed_in()
async def logout(request: Request) -> HTTPResponse:
    await _db(accounts.close_session, request.cookies.get(SESSION_COOKIE))
    await _db(referrals.record, request.ctx.staff, "logout")
    resp = response.redirect("/staff/login", status=303)
    _drop_cookie(resp, SESSION_COOKIE)
    return resp


# --- routes: the queue ----------------------------------------------------------------


@staff_console.get("/")
@signed_in()
async def queue(request: Request) -> HTTPResponse:
    include_closed = request.args.get("closed") == "1"
    views = await _db(referrals.queue, include_closed)
    staff = request.ctx.staff
    return render(
        request,
        "queue.html",
        rows=[queue_row(view, staff) for view in views],
        include_closed=include_closed,
        hours=hours_summary(),
    )


@staff_console.get("/queue.json")
@signed_in(json=True, background=True)
async def queue_data(request: Request) -> HTTPResponse:
    views = await _db(referrals.queue, request.args.get("closed") == "1")
    return response.json({"rows": [queue_row(view, request.ctx.staff) for view in views]})


@staff_console.post("/availability")
@signed_in()
async def availability(request: Request) -> HTTPResponse:
    available = request.form.get("available") == "1"
    await _db(accounts.set_available, request.ctx.staff.id, available)
    return response.redirect("/staff/", status=303)


# --- routes: one referral -------------------------------------------------------------


def _holds(view: ReferralView, staff: Staff) -> bool:
    return referrals.may_see_personal_data(view, staff)


def _has_chat(view: ReferralView, staff: Staff) -> bool:
    return (
        _holds(view, staff)
        and view.contact_method in CHAT_METHODS
        and not view.conversation_deleted
    )


def _language_warning(view: ReferralView, staff: Staff) -> str | None:
    """Said before the first message when no installed package can translate it."""
    if staff.language == view.language:
        return None
    if relay.for_user("ok", staff.language, view.language).untranslatable:
        return (
            f"The person writes in {language_label(view.language)}, you in "
            f"{language_label(staff.language)}, and no translation package for this pair is "
            "installed: they will receive your messages exactly as you write them."
        )
    return (
        f"The person writes in {language_label(view.language)}: your messages are "
        "machine-translated for them, with a notice saying so. Keep sentences short and plain."
    )


async def referral_page(
    request: Request,
    referral_id: int,
    error: str | None = None,
    status: int = 200,
) -> HTTPResponse:
    staff: Staff = request.ctx.staff
    view = await _db(referrals.get_referral, referral_id)
    if view is None:
        return message_page(request, 404, "Not found", "There is no such referral.")
    holds = _holds(view, staff)
    contact, contact_error = None, None
    if holds:
        try:
            contact = contact_items(await _db(referrals.contact_details, referral_id, staff))
        except ReferralError as problem:
            contact_error = str(problem)
        except UnreadableSecret:
            contact_error = "The contact details cannot be decrypted with the configured keys."
    notes = None
    if holds or staff.supervises:
        notes = await _db(referrals.notes, referral_id, staff)
    colleagues = []
    if holds:
        colleagues = [
            {"id": c.id, "name": c.display_name, "role": ROLE_LABELS.get(c.role, c.role)}
            for c in await _db(accounts.colleagues)
            if c.id != view.claimed_by
        ]
    chat = _has_chat(view, staff)
    return render(
        request,
        "referral.html",
        status=status,
        view=view,
        row=queue_row(view, staff),
        error=error,
        message=DONE.get(request.args.get("done", "")) if error is None else None,
        holds=holds,
        can_claim=view.status == "waiting" and not view.conversation_deleted,
        contact=contact,
        contact_error=contact_error,
        notes=notes,
        can_note=notes is not None and not view.conversation_deleted,
        colleagues=colleagues,
        outcomes=[(o, OUTCOME_LABELS[o]) for o in CLOSING_OUTCOMES],
        consent=consent_items(view.consent),
        chat=chat,
        language_warning=_language_warning(view, staff) if chat and view.live else None,
        max_message_chars=MAX_STAFF_MESSAGE_CHARS,
    )


@staff_console.get("/referrals/<referral_id:int>")
@signed_in()
async def referral(request: Request, referral_id: int) -> HTTPResponse:
    return await referral_page(request, referral_id)


async def _act(
    request: Request, referral_id: int, work: Callable[[], Awaitable[Any]], done: str
) -> HTTPResponse:
    """Run an action; its refusal is shown on the referral's page, never as a 500."""
    try:
        await work()
    except ReferralError as problem:
        return await referral_page(request, referral_id, error=str(problem), status=409)
    except RelayError:
        return await referral_page(request, referral_id, error=RELAY_DOWN, status=503)
    return response.redirect(f"/staff/referrals/{referral_id}?done={done}", status=303)


async def _view_or_fail(referral_id: int) -> ReferralView:
    view = await _db(referrals.get_referral, referral_id)
    if view is None:
        raise ReferralError("No such referral.")
    return view


async def _leave_if_live(request: Request, view: ReferralView) -> None:
    """Hand the conversation back to the bot before a live referral is released or closed."""
    if not view.live:
        return
    conversation = await _db(referrals.conversation_id_unaudited, view.id, request.ctx.staff)
    if conversation:
        await relay.staff_left(request.app.ctx.rasa, conversation)


@staff_console.post("/referrals/<referral_id:int>/claim")
@signed_in()
async def claim(request: Request, referral_id: int) -> HTTPResponse:
    async def work() -> None:
        await _db(referrals.claim, referral_id, request.ctx.staff)

    return await _act(request, referral_id, work, "claimed")


@staff_console.post("/referrals/<referral_id:int>/release")
@signed_in()
async def release(request: Request, referral_id: int) -> HTTPResponse:
    async def work() -> None:
        await _leave_if_live(request, await _view_or_fail(referral_id))
        await _db(referrals.release, referral_id, request.ctx.staff)

    return await _act(request, referral_id, work, "released")


@staff_console.post("/referrals/<referral_id:int>/transfer")
@signed_in()
async def transfer(request: Request, referral_id: int) -> HTTPResponse:
    async def work() -> None:
        chosen = _row_id(request.form.get("to"))
        if chosen is None:
            raise ReferralError("Choose an active colleague.")
        await _db(referrals.transfer, referral_id, request.ctx.staff, chosen)

    return await _act(request, referral_id, work, "transferred")


@staff_console.post("/referrals/<referral_id:int>/close")
@signed_in()
async def close(request: Request, referral_id: int) -> HTTPResponse:
    async def work() -> None:
        outcome = request.form.get("outcome") or ""
        if outcome not in CLOSING_OUTCOMES:
            raise ReferralError("Choose an outcome.")
        view = await _view_or_fail(referral_id)
        if not _holds(view, request.ctx.staff):
            raise ReferralError("Claim this referral first.")
        await _leave_if_live(request, view)
        await _db(referrals.close, referral_id, request.ctx.staff, outcome)

    return await _act(request, referral_id, work, "closed")


@staff_console.post("/referrals/<referral_id:int>/notes")
@signed_in()
async def add_note(request: Request, referral_id: int) -> HTTPResponse:
    async def work() -> None:
        view = await _view_or_fail(referral_id)
        staff = request.ctx.staff
        if not (_holds(view, staff) or staff.supervises) or view.conversation_deleted:
            raise ReferralError("Claim this referral to add notes.")
        await _db(referrals.add_note, referral_id, staff, request.form.get("body") or "")

    return await _act(request, referral_id, work, "noted")


@staff_console.post("/referrals/<referral_id:int>/join")
@signed_in()
async def join(request: Request, referral_id: int) -> HTTPResponse:
    async def work() -> None:
        staff = request.ctx.staff
        view = await _view_or_fail(referral_id)
        conversation = await _chat_conversation(view, staff)
        if view.live:
            raise ReferralError("A staff member is already in this chat.")
        await relay.staff_joined(request.app.ctx.rasa, conversation, staff)
        await _db(referrals.set_live, referral_id, staff, True)

    return await _act(request, referral_id, work, "joined")


@staff_console.post("/referrals/<referral_id:int>/leave")
@signed_in()
async def leave(request: Request, referral_id: int) -> HTTPResponse:
    async def work() -> None:
        staff = request.ctx.staff
        view = await _view_or_fail(referral_id)
        conversation = await _chat_conversation(view, staff)
        if not view.live:
            raise ReferralError("Nobody from the staff is in this chat.")
        await relay.staff_left(request.app.ctx.rasa, conversation)
        await _db(referrals.set_live, referral_id, staff, False)

    return await _act(request, referral_id, work, "left")


async def _chat_conversation(view: ReferralView, staff: Staff, purpose: str = "") -> str:
    """The conversation of a chat referral this staff member holds (``purpose``: audited
    as that; empty: not audited, the action itself is)."""
    if view.status == "closed":
        raise ReferralError("This referral is closed.")
    if view.conversation_deleted:
        raise ReferralError("The person deleted their data: the conversation is gone.")
    if view.contact_method not in CHAT_METHODS:
        raise ReferralError("The person asked to be reached by phone or text, not in the chat.")
    if purpose:
        conversation = await _db(referrals.conversation_id, view.id, staff, purpose)
    else:
        conversation = await _db(referrals.conversation_id_unaudited, view.id, staff)
    if not conversation:
        raise ReferralError("The person deleted their data: the conversation is gone.")
    return conversation


# --- routes: the live chat ------------------------------------------------------------


def _line(line: transcript.Line) -> dict[str, Any]:
    found = line.as_dict()
    found["language_name"] = language_label(line.language) if line.language else None
    found["flag_label"] = FLAG_LABELS.get(line.flag or "") if line.flag else None
    return found


@staff_console.get("/referrals/<referral_id:int>/messages")
@signed_in(json=True, background=True)
async def messages(request: Request, referral_id: int) -> HTTPResponse:
    """The conversation's lines after ``after`` (an event id), waiting up to ``wait``
    seconds (at most ``POLL_SECONDS``) for one. The page's first load (``after=0&first=1``)
    is audited as ``view_conversation``, and so is a poll after a gap; the polls in between
    are not (an empty conversation stays at ``after=0`` without a row per poll)."""
    staff: Staff = request.ctx.staff
    try:
        after = max(0, int(request.args.get("after", "0")))
        wait = min(POLL_SECONDS, max(0.0, float(request.args.get("wait", POLL_SECONDS))))
        if after > MAX_ROW_ID:
            raise ValueError("after is past any event id")
    except ValueError:
        return response.json({"error": "after and wait are numbers."}, status=400)
    view = await _db(referrals.get_referral, referral_id)
    if view is None:
        return response.json({"error": "There is no such referral."}, status=404)
    polls = _last_polls(request.app)
    key, now = (staff.id, referral_id), time.monotonic()
    for old in [k for k, t in polls.items() if now - t >= VIEWING_GAP_SECONDS]:
        polls.pop(old, None)
    first = (after == 0 and request.args.get("first") == "1") or key not in polls
    try:
        conversation = await _chat_conversation(view, staff, "view_conversation" if first else "")
    except ReferralError as problem:
        return response.json({"error": str(problem), "status": view.status}, status=403)
    since = None if view.share_transcript else transcript.epoch(view.consented_at) - 5
    deadline = time.monotonic() + wait
    while True:
        lines = await asyncio.to_thread(
            transcript.read_lines, conversation, after, since, staff.language, view.language
        )
        if lines or time.monotonic() >= deadline:
            break
        await asyncio.sleep(POLL_INTERVAL_SECONDS)
    polls[key] = time.monotonic()
    current = await _db(referrals.get_referral, referral_id) or view
    return response.json(
        {
            "lines": [_line(line) for line in lines],
            "last": max([after, *(line.id for line in lines)]),
            "live": current.live,
            "status": current.status,
            "user_language": language_label(view.language),
        }
    )


@staff_console.post("/referrals/<referral_id:int>/reply")
@signed_in()
async def reply(request: Request, referral_id: int) -> HTTPResponse:
    """A staff message to the person (JSON ``{"text"}`` from staff.js, or the form)."""
    staff: Staff = request.ctx.staff
    as_json = _wants_json(request) or request.content_type.startswith("application/json")
    if request.content_type.startswith("application/json"):
        body = request.json if isinstance(request.json, dict) else {}
        text = body.get("text")
    else:
        text = request.form.get("text")
    text = text.strip() if isinstance(text, str) else ""

    def refuse(problem: str, status: int) -> HTTPResponse:
        if as_json:
            return response.json({"ok": False, "error": problem}, status=status)
        return message_page(request, status, "Not sent", problem)

    if not text:
        return refuse("Write a message first.", 400)
    if len(text) > MAX_STAFF_MESSAGE_CHARS:
        return refuse(f"Messages have at most {MAX_STAFF_MESSAGE_CHARS} characters.", 400)
    try:
        view = await _view_or_fail(referral_id)
        # Audited as a message sent only when one will be; a refusal is audited either way.
        purpose = "send_message" if view.live or not _holds(view, staff) else ""
        conversation = await _chat_conversation(view, staff, purpose)
        if not view.live:
            raise ReferralError("Join the chat before writing to the person.")
        sent = await relay.send_staff_message(
            request.app.ctx.rasa, conversation, staff, text, view.language
        )
    except ReferralError as problem:
        return refuse(str(problem), 409)
    except RelayError:
        return refuse(RELAY_DOWN, 503)
    if not as_json:
        return response.redirect(f"/staff/referrals/{referral_id}?done=sent", status=303)
    return response.json(
        {"ok": True, "translated": sent.translated, "untranslatable": sent.untranslatable}
    )


# --- routes: the audit log ------------------------------------------------------------


@staff_console.get("/audit")
@signed_in()
async def audit_log(request: Request) -> HTTPResponse:
    if not request.ctx.staff.supervises:
        return message_page(
            request, 403, "Not allowed", "Only supervisors and admins can read the audit log."
        )
    referral_id = _row_id(request.args.get("referral"))
    entries = await _db(referrals.audit_entries, 200, referral_id)
    return render(request, "audit.html", entries=entries, referral_id=referral_id)
