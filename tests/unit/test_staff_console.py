"""The staff console (``bot/web/staff.py``) through the web application, over ASGI.

A temporary app database (migrated), a temporary tracker store with an ``events`` table
like Rasa's, and a small aiohttp server on 127.0.0.1 standing in for Rasa's HTTP API (it
records what the relay sends). Covered: signing in (CSRF, wrong passwords, the lockout, the
per-address limit), sessions (expiry, logout), CSRF on every POST, the queue's order, who
sees contact details (and the audit rows), escaping of what users and staff wrote, the
live chat's calls to Rasa, the audit page and the page policy.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import jwt
import pytest
import sqlalchemy as sa
from aiohttp import web
from sanic import Sanic

from bot.db.engine import get_engine
from bot.db.migrate import upgrade
from bot.handoff import referrals, staff
from bot.handoff.models import AuditEntry, Referral, StaffSession, StaffUser
from bot.settings import get_settings
from bot.web import staff as console
from bot.web.app import create_app

PASSWORD = "correct horse battery"
CONTACT = {
    "phone": "+1 555 0100",
    "times": "after 6pm",
    "voicemail": False,
    "code_word": "bluebird",
}
EXPECTED_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
EVIL = "<script>alert(1)</script>"
BOLD = "<b>x</b>"


# --- a stand-in for Rasa's HTTP API --------------------------------------------------


@dataclass
class FakeRasa:
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail: bool = False
    action_fails: bool = False  # Rasa answers 200 but the action did not run (bot service down)
    handoff: dict[str, str | None] = field(default_factory=dict)  # stored slot per conversation

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        if request.method == "GET" and request.path.endswith("/tracker"):
            # The relay reads the handoff slot back after a join or leave (not recorded).
            conversation = request.path.split("/")[2]
            return web.json_response({"slots": {"handoff": self.handoff.get(conversation)}})
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "authorization": request.headers.get("Authorization", ""),
                "body": body,
            }
        )
        if self.fail:
            return web.json_response({"error": "down"}, status=500)
        if request.path.endswith("/execute") and not self.action_fails:
            # Rasa answers 200 whether or not the action ran; only the stored slot tells.
            joined = (body or {}).get("name") == "action_staff_joined"
            self.handoff[request.path.split("/")[2]] = "human" if joined else None
        return web.json_response({"ok": True})


@dataclass
class Harness:
    loop: asyncio.AbstractEventLoop
    app: Sanic
    url: str
    tracker: Path
    rasa: FakeRasa

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    folder = tmp_path_factory.mktemp("staff_console")
    url = f"sqlite:///{folder / 'haven.db'}"
    tracker = folder / "tracker.db"
    with sqlite3.connect(tracker) as connection:
        connection.execute(
            "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, sender_id TEXT, "
            "type_name TEXT, timestamp REAL, intent_name TEXT, action_name TEXT, data TEXT)"
        )
    loop = asyncio.new_event_loop()
    rasa = FakeRasa()
    server = web.Application()
    server.router.add_route("*", "/{tail:.*}", rasa.handle)
    runner = web.AppRunner(server)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HAVEN_DATABASE_URL", url)
        patch.setenv("HAVEN_VAR_DIR", str(folder / "var"))
        patch.setenv("HAVEN_TRACKER_STORE_URL", f"sqlite:///{tracker}")
        patch.setenv("HAVEN_RASA_URL", f"http://127.0.0.1:{port}")
        patch.setenv("HAVEN_STAFF_HOURS", "always")
        patch.setenv("HAVEN_STAFF_TIMEZONE", "UTC")
        patch.delenv("HAVEN_STAFF_HTTPS", raising=False)
        get_settings.cache_clear()
        upgrade(url)
        app = create_app("haven_staff_console_test")
        loop.run_until_complete(app._startup())

        async def client_session() -> aiohttp.ClientSession:
            return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

        app.ctx.rasa = loop.run_until_complete(client_session())
        yield Harness(loop, app, url, tracker, rasa)
        loop.run_until_complete(app.ctx.rasa.close())
        loop.run_until_complete(runner.cleanup())
        loop.close()
        Sanic._app_registry.pop("haven_staff_console_test", None)
        get_engine(url).dispose()
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def clean(harness: Harness) -> Iterator[None]:
    """Every test starts with no staff, referrals, audit rows, events or sign-in failures."""
    with get_engine(harness.url).begin() as connection:
        for table in ("referral_note", "audit_log", "referral", "staff_session", "staff_user"):
            connection.execute(sa.text(f"DELETE FROM {table}"))  # noqa: S608 (fixed names)
    with sqlite3.connect(harness.tracker) as connection:
        connection.execute("DELETE FROM events")
    harness.app.ctx.staff_login_limiter = console.LoginLimiter()
    harness.app.ctx.staff_message_polls = {}
    harness.rasa.requests.clear()
    harness.rasa.fail = False
    yield


# --- helpers -------------------------------------------------------------------------


class Browser:
    """One browser (its own cookies and client address) on the console."""

    def __init__(self, harness: Harness, address: str = "127.0.0.1", scheme: str = "http") -> None:
        self.harness = harness
        transport = httpx.ASGITransport(app=harness.app, client=(address, 40000))
        self.client = httpx.AsyncClient(transport=transport, base_url=f"{scheme}://haven.test")
        self.csrf = ""

    def get(self, path: str, **options: Any) -> httpx.Response:
        return self.harness.run(self.client.get(path, **options))

    def post(self, path: str, **options: Any) -> httpx.Response:
        return self.harness.run(self.client.post(path, **options))

    def login_token(self) -> str:
        page = self.get("/staff/login")
        assert page.status_code == 200
        return re.search(r'name="csrf" value="([^"]+)"', page.text)[1]

    def sign_in(self, username: str, password: str = PASSWORD) -> httpx.Response:
        token = self.login_token()
        return self.post(
            "/staff/login", data={"username": username, "password": password, "csrf": token}
        )

    def signed_in(self, username: str) -> Browser:
        reply = self.sign_in(username)
        assert reply.status_code == 303, reply.text
        page = self.get("/staff/")
        assert page.status_code == 200
        self.csrf = re.search(r'data-csrf="([^"]+)"', page.text)[1]
        return self

    def act(self, path: str, **data: Any) -> httpx.Response:
        return self.post(path, data={"csrf": self.csrf, **data})


def add(username: str, role: str = "case_manager", language: str = "en") -> staff.Staff:
    return staff.add_staff(username, PASSWORD, username.capitalize(), role, language)


def make_referral(
    conversation: str = "conv-1",
    urgent: bool = False,
    contact_method: str = "chat_now",
    language: str = "en",
    share_transcript: bool = True,
    place: str | None = "Houston",
    contact: dict[str, Any] | None = None,
) -> int:
    return referrals.create_referral(
        referrals.NewReferral(
            conversation_id=conversation,
            channel="webchat",
            language=language,
            needs=["topic:t_visa", "service:legal"],
            place=place,
            age_group="adult",
            safety_flags=["crisis"] if urgent else [],
            contact_method=contact_method,
            contact=CONTACT if contact is None else contact,
            share_transcript=share_transcript,
            consent={"version": "2026-11", "shown": ["needs", "language", "phone"]},
        )
    )


def audit_rows(harness: Harness, action: str | None = None) -> list[Any]:
    query = sa.select(AuditEntry).order_by(AuditEntry.id)
    if action:
        query = query.where(AuditEntry.action == action)
    with get_engine(harness.url).connect() as connection:
        return connection.execute(query).all()


def referral_row(harness: Harness, referral_id: int) -> Any:
    with get_engine(harness.url).connect() as connection:
        return connection.execute(sa.select(Referral).where(Referral.id == referral_id)).one()


def add_event(harness: Harness, sender: str, kind: str, data: dict[str, Any],
              at: float | None = None) -> int:  # fmt: skip
    with sqlite3.connect(harness.tracker) as connection:
        cursor = connection.execute(
            "INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name, "
            "data) VALUES (?, ?, ?, ?, ?, ?)",
            (sender, kind, at or time.time(), None, None, json.dumps(data)),
        )
        return int(cursor.lastrowid)


def user_event(text: str, intent: str = "inform") -> dict[str, Any]:
    return {"event": "user", "text": text, "parse_data": {"intent": {"name": intent}}}


def cookie_header(reply: httpx.Response, name: str) -> str:
    found = [c for c in reply.headers.get_list("set-cookie") if c.startswith(f"{name}=")]
    assert found, f"no {name} cookie"
    return found[0]


# --- signing in ----------------------------------------------------------------------


def test_login_ok_sets_strict_session_cookie(harness: Harness) -> None:
    add("ana")
    browser = Browser(harness)
    page = browser.get("/staff/login")
    login_cookie = cookie_header(page, "haven_login_csrf")
    assert "HttpOnly" in login_cookie and "SameSite=Strict" in login_cookie
    assert "Path=/staff" in login_cookie
    reply = browser.sign_in("ana")
    assert reply.status_code == 303 and reply.headers["location"] == "/staff/"
    session = cookie_header(reply, "haven_staff")
    assert "HttpOnly" in session and "SameSite=Strict" in session and "Path=/staff" in session
    assert "Secure" not in session
    queue = browser.get("/staff/")
    assert queue.status_code == 200 and "Ana" in queue.text
    assert [row.action for row in audit_rows(harness)] == ["login"]


def test_session_cookie_is_secure_behind_https(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    add("ana")
    monkeypatch.setenv("HAVEN_STAFF_HTTPS", "1")
    get_settings.cache_clear()
    try:
        reply = Browser(harness, scheme="https").sign_in("ana")
        assert reply.status_code == 303
        assert "Secure" in cookie_header(reply, "haven_staff")
    finally:
        monkeypatch.delenv("HAVEN_STAFF_HTTPS")
        get_settings.cache_clear()


def test_login_follows_next_to_console_paths_only(harness: Harness) -> None:
    add("ana")
    browser = Browser(harness)
    assert browser.get("/staff/audit").headers["location"] == "/staff/login?next=/staff/audit"
    token = browser.login_token()
    form = {"username": "ana", "password": PASSWORD, "csrf": token}
    reply = browser.post("/staff/login", data={**form, "next": "https://evil.example/"})
    assert reply.headers["location"] == "/staff/"
    other = Browser(harness)
    token = other.login_token()
    reply = other.post("/staff/login", data={**form, "csrf": token, "next": "/staff/audit"})
    assert reply.headers["location"] == "/staff/audit"


@pytest.mark.parametrize("username", ["ana", "nobody"])
def test_wrong_password_or_name_says_neither(harness: Harness, username: str) -> None:
    add("ana")
    reply = Browser(harness).sign_in(username, "not the password at all")
    assert reply.status_code == 401
    assert "Wrong username or password." in reply.text
    assert "haven_staff=" not in " ".join(reply.headers.get_list("set-cookie"))
    failed = audit_rows(harness, "login_failed")
    assert [(row.staff_id, row.detail) for row in failed] == [(None, username)]


def test_a_password_typed_as_the_username_is_not_audited(harness: Harness) -> None:
    Browser(harness).sign_in("My Secret Pass!", "whatever whatever")
    assert [row.detail for row in audit_rows(harness, "login_failed")] == ["(not a username)"]


def test_five_wrong_passwords_lock_the_account(harness: Harness) -> None:
    add("ana")
    browser = Browser(harness)
    for _ in range(4):
        reply = browser.sign_in("ana", "wrong wrong wrong")
        assert "Wrong username or password." in reply.text
    reply = browser.sign_in("ana", "wrong wrong wrong")
    assert reply.status_code == 401
    assert "locked for 15 minutes" in reply.text
    assert "haven staff unlock ana" in reply.text
    reply = browser.sign_in("ana")  # the right password does not open a locked account
    assert "locked for 15 minutes" in reply.text
    assert "haven_staff=" not in " ".join(reply.headers.get_list("set-cookie"))


def test_sign_in_attempts_are_limited_per_address(harness: Harness) -> None:
    add("ana")
    browser = Browser(harness, "10.9.9.9")
    for _ in range(console.LOGIN_ATTEMPTS):
        assert browser.sign_in("nobody", "wrong wrong wrong").status_code == 401
    reply = browser.sign_in("ana")
    assert reply.status_code == 429
    assert "Too many sign-in attempts" in reply.text
    assert "haven_staff=" not in " ".join(reply.headers.get_list("set-cookie"))
    assert Browser(harness, "10.9.9.10").sign_in("ana").status_code == 303


@pytest.mark.parametrize("case", ["missing", "wrong", "no cookie"])
def test_login_form_needs_its_csrf_token(harness: Harness, case: str) -> None:
    add("ana")
    browser = Browser(harness)
    token = browser.login_token()
    form = {"username": "ana", "password": PASSWORD}
    if case == "wrong":
        form["csrf"] = token[:-2] + "xx"
    elif case == "no cookie":
        form["csrf"] = token
        browser.client.cookies.clear()
    reply = browser.post("/staff/login", data=form)
    assert reply.status_code == 403
    assert "This form expired. Reload the page and try again." in reply.text
    assert "haven_staff=" not in " ".join(reply.headers.get_list("set-cookie"))
    assert not audit_rows(harness, "login")


# --- sessions and CSRF ---------------------------------------------------------------


def test_pages_need_a_session(harness: Harness) -> None:
    browser = Browser(harness)
    reply = browser.get("/staff/")
    assert reply.status_code == 303 and reply.headers["location"] == "/staff/login"
    reply = browser.get("/staff/referrals/7")
    assert reply.headers["location"] == "/staff/login?next=/staff/referrals/7"
    reply = browser.get("/staff/queue.json")
    assert reply.status_code == 401 and "error" in reply.json()
    assert browser.get("/staff/referrals/7/messages").status_code == 401


def _post_routes() -> list[str]:
    return [
        "/staff/logout",
        "/staff/availability",
        "/staff/referrals/{id}/claim",
        "/staff/referrals/{id}/release",
        "/staff/referrals/{id}/transfer",
        "/staff/referrals/{id}/close",
        "/staff/referrals/{id}/notes",
        "/staff/referrals/{id}/join",
        "/staff/referrals/{id}/leave",
        "/staff/referrals/{id}/reply",
    ]


@pytest.mark.parametrize("token", ["missing", "wrong"])
@pytest.mark.parametrize("route", _post_routes())
def test_every_post_needs_the_session_csrf_token(harness: Harness, route: str, token: str) -> None:
    ana = add("ana", "supervisor")
    other = add("ben")
    referral_id = make_referral()
    referrals.claim(referral_id, ana)
    browser = Browser(harness).signed_in("ana")
    form: dict[str, str] = {"outcome": "helped", "to": str(other.id), "body": "a note",
                            "text": "hello", "available": "0"}  # fmt: skip
    if token == "wrong":
        form["csrf"] = browser.csrf[:-2] + "xx"
    path = route.format(id=referral_id)
    reply = browser.post(path, data=form)
    assert reply.status_code == 403, path
    assert "This form expired. Reload the page and try again." in reply.text
    # A wrong header is refused too, and JSON callers get JSON.
    headers = {"X-CSRF-Token": "nope", "Accept": "application/json"}
    reply = browser.post(path, json={"text": "hello"}, headers=headers)
    assert reply.status_code == 403 and "This form expired" in reply.json()["error"]
    # Nothing happened.
    assert browser.get("/staff/").status_code == 200
    row = referral_row(harness, referral_id)
    assert (row.status, row.claimed_by, row.live) == ("claimed", ana.id, False)
    assert not harness.rasa.requests
    assert not {"logout", "note", "transfer", "close", "release"} & {
        r.action for r in audit_rows(harness)
    }


def test_idle_session_expires(harness: Harness) -> None:
    add("ana")
    browser = Browser(harness).signed_in("ana")
    assert browser.get("/staff/").status_code == 200
    idle = dt.timedelta(minutes=get_settings().staff_session_minutes + 1)
    with get_engine(harness.url).begin() as connection:
        seen = connection.execute(sa.select(StaffSession.last_seen_at)).scalar_one()
        connection.execute(sa.update(StaffSession).values(last_seen_at=seen - idle))
    reply = browser.get("/staff/")
    assert reply.status_code == 303 and reply.headers["location"] == "/staff/login"
    with get_engine(harness.url).connect() as connection:
        assert not connection.execute(sa.select(StaffSession)).all()


def test_background_polls_do_not_keep_a_session_alive(harness: Harness) -> None:
    add("ana")
    browser = Browser(harness).signed_in("ana")
    with get_engine(harness.url).begin() as connection:
        before = connection.execute(sa.select(StaffSession.last_seen_at)).scalar_one()
        before -= dt.timedelta(minutes=5)
        connection.execute(sa.update(StaffSession).values(last_seen_at=before))
    assert browser.get("/staff/queue.json").status_code == 200
    with get_engine(harness.url).connect() as connection:
        assert connection.execute(sa.select(StaffSession.last_seen_at)).scalar_one() == before


def test_logout_ends_the_session(harness: Harness) -> None:
    add("ana")
    browser = Browser(harness).signed_in("ana")
    token = browser.client.cookies.get("haven_staff")
    reply = browser.act("/staff/logout")
    assert reply.status_code == 303 and reply.headers["location"] == "/staff/login"
    assert "Max-Age=0" in cookie_header(reply, "haven_staff")
    assert staff.resume_session(token) is None
    stale = Browser(harness)
    stale.client.cookies.set("haven_staff", token, domain="haven.test", path="/staff")
    assert stale.get("/staff/").status_code == 303
    assert [r.action for r in audit_rows(harness)][-1] == "logout"


# --- the queue -----------------------------------------------------------------------


def test_queue_lists_urgent_first_then_the_longest_waiting(harness: Harness) -> None:
    add("ana")
    newer = make_referral("conv-a")
    older = make_referral("conv-b")
    urgent = make_referral("conv-c", urgent=True)
    now = dt.datetime.utcnow()
    with get_engine(harness.url).begin() as connection:
        for referral_id, minutes in ((newer, 5), (older, 50), (urgent, 1)):
            connection.execute(
                sa.update(Referral)
                .where(Referral.id == referral_id)
                .values(created_at=now - dt.timedelta(minutes=minutes))
            )
    browser = Browser(harness).signed_in("ana")
    rows = browser.get("/staff/queue.json").json()["rows"]
    assert [row["id"] for row in rows] == [urgent, older, newer]
    assert rows[0]["urgent"] and rows[0]["flags"] == ["Crisis"]
    assert rows[1]["waiting"] == "Waiting 50 min"
    page = browser.get("/staff/").text
    positions = [page.index(f'href="/staff/referrals/{i}"') for i in (urgent, older, newer)]
    assert positions == sorted(positions)


def test_queue_shows_readable_needs_language_and_hours(harness: Harness) -> None:
    add("ana")
    make_referral(language="es")
    page = Browser(harness).signed_in("ana").get("/staff/").text
    for text in ("Spanish", "Rights: t visa", "Service: legal", "Adult", "Chat now",
                 "Open now", "taking chats", "Show closed"):  # fmt: skip
        assert text in page, text
    assert "Houston" not in page  # the place is on the referral's page only


def test_show_closed_lists_closed_referrals(harness: Harness) -> None:
    ana = add("ana")
    referral_id = make_referral()
    referrals.claim(referral_id, ana)
    referrals.close(referral_id, ana, "helped")
    browser = Browser(harness).signed_in("ana")
    assert f"/staff/referrals/{referral_id}" not in browser.get("/staff/").text
    page = browser.get("/staff/?closed=1").text
    assert f"/staff/referrals/{referral_id}" in page and "Helped" in page


def test_availability_toggle(harness: Harness) -> None:
    ana = add("ana")
    browser = Browser(harness).signed_in("ana")
    assert browser.act("/staff/availability", available="0").status_code == 303
    with get_engine(harness.url).connect() as connection:
        available = connection.execute(
            sa.select(StaffUser.available).where(StaffUser.id == ana.id)
        ).scalar_one()
    assert available is False or available == 0
    assert "not taking chats" in browser.get("/staff/").text
    browser.act("/staff/availability", available="1")
    assert "You are <strong>taking chats</strong>" in browser.get("/staff/").text


# --- contact details: the claimant (or a supervisor) only, audited -------------------


def test_unclaimed_referral_shows_no_contact_details(harness: Harness) -> None:
    add("ana")
    referral_id = make_referral()
    page = Browser(harness).signed_in("ana").get(f"/staff/referrals/{referral_id}")
    assert page.status_code == 200
    assert "Claim this referral to see how to reach the person" in page.text
    for secret in ("555 0100", "bluebird", "after 6pm"):
        assert secret not in page.text
    assert "Rights: t visa" in page.text and "Houston" in page.text
    assert not audit_rows(harness, "view_contact")
    assert not audit_rows(harness, "contact_refused")


def test_claiming_shows_contact_details_and_audits_the_view(harness: Harness) -> None:
    ana = add("ana")
    referral_id = make_referral()
    browser = Browser(harness).signed_in("ana")
    reply = browser.act(f"/staff/referrals/{referral_id}/claim")
    assert reply.status_code == 303
    assert reply.headers["location"] == f"/staff/referrals/{referral_id}?done=claimed"
    page = browser.get(reply.headers["location"]).text
    assert "You claimed this referral." in page
    assert "+1 555 0100" in page and "bluebird" in page and 'href="tel:+15550100"' in page
    views = audit_rows(harness, "view_contact")
    assert [(row.staff_id, row.referral_id) for row in views] == [(ana.id, referral_id)]
    assert referral_row(harness, referral_id).claimed_by == ana.id


def test_another_case_manager_cannot_see_a_claimed_referrals_contact(harness: Harness) -> None:
    ana = add("ana")
    ben = add("ben")
    add("sue", "supervisor")
    referral_id = make_referral()
    referrals.claim(referral_id, ana)
    page = Browser(harness).signed_in("ben").get(f"/staff/referrals/{referral_id}").text
    assert "555 0100" not in page and "bluebird" not in page
    assert "only they (or a supervisor) can see how to reach the person" in page
    assert not [r for r in audit_rows(harness, "view_contact") if r.staff_id == ben.id]
    # Nor can they claim it, act on it or read its conversation.
    browser = Browser(harness).signed_in("ben")
    reply = browser.act(f"/staff/referrals/{referral_id}/claim")
    assert reply.status_code == 409 and "Someone else claimed this referral." in reply.text
    reply = browser.act(f"/staff/referrals/{referral_id}/close", outcome="helped")
    assert reply.status_code == 409 and "Claim this referral first." in reply.text
    reply = browser.get(f"/staff/referrals/{referral_id}/messages?after=0&wait=0")
    assert reply.status_code == 403
    assert not audit_rows(harness, "view_conversation")
    # A supervisor can.
    page = Browser(harness).signed_in("sue").get(f"/staff/referrals/{referral_id}").text
    assert "+1 555 0100" in page


def test_release_transfer_and_close(harness: Harness) -> None:
    add("ana")
    ben = add("ben")
    referral_id = make_referral()
    browser = Browser(harness).signed_in("ana")
    browser.act(f"/staff/referrals/{referral_id}/claim")
    reply = browser.act(f"/staff/referrals/{referral_id}/release")
    assert reply.status_code == 303 and referral_row(harness, referral_id).status == "waiting"
    browser.act(f"/staff/referrals/{referral_id}/claim")
    page = browser.get(f"/staff/referrals/{referral_id}").text
    assert f'<option value="{ben.id}">Ben (case manager)</option>' in page
    assert "deleted_by_user" not in page
    reply = browser.act(f"/staff/referrals/{referral_id}/transfer", to=str(ben.id))
    assert reply.status_code == 303 and referral_row(harness, referral_id).claimed_by == ben.id
    other = Browser(harness).signed_in("ben")
    reply = other.act(f"/staff/referrals/{referral_id}/close", outcome="deleted_by_user")
    assert reply.status_code == 409 and "Choose an outcome." in reply.text
    reply = other.act(f"/staff/referrals/{referral_id}/close", outcome="referred_on")
    assert reply.status_code == 303
    row = referral_row(harness, referral_id)
    assert (row.status, row.outcome) == ("closed", "referred_on")
    page = other.get(f"/staff/referrals/{referral_id}").text
    assert "555 0100" not in page and "This referral is closed." in page


def test_unknown_referral_is_a_404_page(harness: Harness) -> None:
    add("ana")
    browser = Browser(harness).signed_in("ana")
    assert browser.get("/staff/referrals/999").status_code == 404
    reply = browser.act("/staff/referrals/999/claim")
    assert reply.status_code == 404 and "There is no such referral." in reply.text


def test_a_deleted_conversation_shows_the_deletion_notice(harness: Harness) -> None:
    add("ana")
    referral_id = make_referral("conv-gone")
    referrals.forget_conversation("conv-gone")
    page = Browser(harness).signed_in("ana").get(f"/staff/referrals/{referral_id}").text
    assert "The person deleted their data." in page
    assert "Claim this referral</button>" not in page and "Houston" not in page
    assert 'id="chat"' not in page


# --- escaping ------------------------------------------------------------------------


def test_notes_and_what_users_wrote_are_escaped(harness: Harness) -> None:
    ana = add("ana")
    referral_id = make_referral(place=EVIL)
    referrals.claim(referral_id, ana)
    browser = Browser(harness).signed_in("ana")
    reply = browser.act(f"/staff/referrals/{referral_id}/notes", body=f"{EVIL} and {BOLD}")
    assert reply.status_code == 303
    page = browser.get(f"/staff/referrals/{referral_id}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page
    assert EVIL not in page and BOLD not in page
    assert "<script>" not in page.replace('<script src="/staff/static/staff.js" defer>', "")
    assert audit_rows(harness, "note") and audit_rows(harness, "view_notes")


def test_notes_are_for_the_claimant(harness: Harness) -> None:
    ana = add("ana")
    add("ben")
    referral_id = make_referral()
    referrals.claim(referral_id, ana)
    referrals.add_note(referral_id, ana, "called, no answer")
    browser = Browser(harness).signed_in("ben")
    page = browser.get(f"/staff/referrals/{referral_id}").text
    assert "called, no answer" not in page and "Claim this referral to read and add notes" in page
    reply = browser.act(f"/staff/referrals/{referral_id}/notes", body="sneaky")
    assert reply.status_code == 409


# --- the live chat -------------------------------------------------------------------


def _claimed_chat(harness: Harness, language: str = "en", **options: Any) -> tuple[int, Browser]:
    ana = add("ana", language="en")
    referral_id = make_referral("conv-live", language=language, **options)
    referrals.claim(referral_id, ana)
    return referral_id, Browser(harness).signed_in("ana")


def test_messages_are_raw_json_for_a_text_only_consumer(harness: Harness) -> None:
    referral_id, browser = _claimed_chat(harness)
    first = add_event(harness, "conv-live", "user", user_event(EVIL, "crisis"))
    add_event(harness, "conv-live", "bot", {"event": "bot", "text": "I hear you."})
    add_event(harness, "conv-live", "user", user_event(BOLD))
    add_event(harness, "conv-live", "user", user_event("EXTERNAL: staff joined"))
    add_event(harness, "someone-else", "user", user_event("not this conversation"))
    url = f"/staff/referrals/{referral_id}/messages"
    reply = browser.get(f"{url}?after=0&first=1&wait=0")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/json")
    body = reply.json()
    assert [(line["who"], line["text"]) for line in body["lines"]] == [
        ("user", EVIL), ("bot", "I hear you."), ("user", BOLD),
    ]  # fmt: skip
    assert body["lines"][0]["flag"] == "crisis" and body["lines"][0]["flag_label"] == "Crisis"
    assert body["last"] == first + 2 and body["live"] is False and body["status"] == "claimed"
    assert len(audit_rows(harness, "view_conversation")) == 1
    # Later polls are not audited, and only bring what is new.
    reply = browser.get(f"{url}?after={body['last']}&wait=0")
    assert reply.json()["lines"] == [] and reply.json()["last"] == body["last"]
    added = add_event(harness, "conv-live", "user", user_event("still there?"))
    lines = browser.get(f"{url}?after={body['last']}&wait=1").json()["lines"]
    assert [line["id"] for line in lines] == [added]
    assert len(audit_rows(harness, "view_conversation")) == 1
    # The page that hosts it shows none of it as HTML, and its script adds text only.
    page = browser.get(f"/staff/referrals/{referral_id}").text
    assert EVIL not in page and BOLD not in page
    script = browser.get("/staff/static/staff.js").text
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert "textContent" in script


def test_a_long_poll_answers_when_a_message_arrives(harness: Harness) -> None:
    referral_id, browser = _claimed_chat(harness)
    url = f"/staff/referrals/{referral_id}/messages?after=0&wait=5"

    async def later() -> int:
        await asyncio.sleep(0.5)
        return add_event(harness, "conv-live", "user", user_event("hello?"))

    async def both() -> tuple[httpx.Response, int]:
        reply, added = await asyncio.gather(browser.client.get(url), later())
        return reply, added

    started = time.monotonic()
    reply, added = harness.run(both())
    assert [line["id"] for line in reply.json()["lines"]] == [added]
    assert time.monotonic() - started < 4


def test_without_shared_transcript_only_messages_after_consent_show(harness: Harness) -> None:
    referral_id, browser = _claimed_chat(harness, share_transcript=False)
    add_event(harness, "conv-live", "user", user_event("my story before"), at=time.time() - 3600)
    after = add_event(harness, "conv-live", "user", user_event("after consent"))
    body = browser.get(f"/staff/referrals/{referral_id}/messages?after=0&wait=0").json()
    assert [line["id"] for line in body["lines"]] == [after]


def test_no_chat_for_phone_referrals(harness: Harness) -> None:
    referral_id, browser = _claimed_chat(harness, contact_method="phone")
    page = browser.get(f"/staff/referrals/{referral_id}").text
    assert 'id="chat"' not in page
    assert browser.get(f"/staff/referrals/{referral_id}/messages?wait=0").status_code == 403
    reply = browser.act(f"/staff/referrals/{referral_id}/join")
    assert reply.status_code == 409 and not harness.rasa.requests


def _assert_bearer(request: dict[str, Any]) -> None:
    scheme, _, token = request["authorization"].partition(" ")
    assert scheme == "Bearer"
    claims = jwt.decode(token, get_settings().rasa_token, algorithms=["HS256"])
    assert claims["user"]["role"] == "admin"


def test_join_reply_and_leave_go_through_rasa(harness: Harness) -> None:
    referral_id, browser = _claimed_chat(harness)
    page = browser.get(f"/staff/referrals/{referral_id}").text
    assert 'id="chat"' in page and "Join the chat" in page and 'id="reply"' not in page
    reply = browser.post(f"/staff/referrals/{referral_id}/reply", json={"text": "hello"},
                         headers={"X-CSRF-Token": browser.csrf})  # fmt: skip
    assert reply.status_code == 409 and "Join the chat" in reply.json()["error"]

    reply = browser.act(f"/staff/referrals/{referral_id}/join")
    assert reply.status_code == 303
    assert reply.headers["location"].endswith("?done=joined")
    assert referral_row(harness, referral_id).live
    joined = harness.rasa.requests[-1]
    assert joined["method"] == "POST"
    assert joined["path"] == "/conversations/conv-live/execute"
    assert joined["query"] == {"output_channel": "latest"}
    assert joined["body"] == {"name": "action_staff_joined"}
    _assert_bearer(joined)
    page = browser.get(f"/staff/referrals/{referral_id}").text
    assert 'id="reply"' in page and "Leave the chat" in page

    reply = browser.post(
        f"/staff/referrals/{referral_id}/reply",
        json={"text": "  I am here to help.  "},
        headers={"X-CSRF-Token": browser.csrf, "Accept": "application/json"},
    )
    assert reply.status_code == 200
    assert reply.json() == {"ok": True, "translated": False, "untranslatable": False}
    sent = harness.rasa.requests[-1]
    assert sent["path"] == "/conversations/conv-live/tracker/events"
    assert sent["query"] == {"output_channel": "latest", "execute_side_effects": "true"}
    _assert_bearer(sent)
    event = sent["body"]
    assert (event["event"], event["text"]) == ("bot", "I am here to help.")
    assert event["metadata"]["haven_staff"] == "Ana"
    assert event["metadata"]["haven_original"] == "I am here to help."
    assert audit_rows(harness, "send_message")

    for empty in ("", "   "):
        reply = browser.post(f"/staff/referrals/{referral_id}/reply", json={"text": empty},
                             headers={"X-CSRF-Token": browser.csrf})  # fmt: skip
        assert reply.status_code == 400
    count = len(harness.rasa.requests)
    reply = browser.act(f"/staff/referrals/{referral_id}/reply", text="from the form")
    assert reply.status_code == 303 and reply.headers["location"].endswith("?done=sent")
    assert len(harness.rasa.requests) == count + 1

    reply = browser.act(f"/staff/referrals/{referral_id}/leave")
    assert reply.status_code == 303
    left = harness.rasa.requests[-1]
    assert left["path"] == "/conversations/conv-live/execute"
    assert left["query"] == {"output_channel": "latest"}
    assert left["body"] == {"name": "action_staff_left"}
    _assert_bearer(left)
    assert not referral_row(harness, referral_id).live
    actions = [row.action for row in audit_rows(harness)]
    assert actions.count("join_chat") == 1 and actions.count("leave_chat") == 1


def test_a_reply_in_another_language_without_a_package_says_so(harness: Harness) -> None:
    referral_id, browser = _claimed_chat(harness, language="es")
    browser.act(f"/staff/referrals/{referral_id}/join")
    page = browser.get(f"/staff/referrals/{referral_id}").text
    assert "no translation package for this pair is installed" in page
    reply = browser.post(f"/staff/referrals/{referral_id}/reply", json={"text": "Hello"},
                         headers={"X-CSRF-Token": browser.csrf})  # fmt: skip
    assert reply.json() == {"ok": True, "translated": False, "untranslatable": True}


def test_closing_or_releasing_a_live_chat_hands_it_back_to_the_bot(harness: Harness) -> None:
    referral_id, browser = _claimed_chat(harness)
    browser.act(f"/staff/referrals/{referral_id}/join")
    reply = browser.act(f"/staff/referrals/{referral_id}/close", outcome="helped")
    assert reply.status_code == 303
    assert harness.rasa.requests[-1]["body"]["name"] == "action_staff_left"
    row = referral_row(harness, referral_id)
    assert (row.status, row.live) == ("closed", False)

    ana = staff.list_staff()[0][0]
    second = make_referral("conv-two")
    referrals.claim(second, ana)
    browser.act(f"/staff/referrals/{second}/join")
    browser.act(f"/staff/referrals/{second}/release")
    assert harness.rasa.requests[-1]["path"] == "/conversations/conv-two/execute"
    assert harness.rasa.requests[-1]["body"]["name"] == "action_staff_left"
    assert referral_row(harness, second).status == "waiting"


def test_rasa_down_is_a_clear_message(harness: Harness) -> None:
    referral_id, browser = _claimed_chat(harness)
    harness.rasa.fail = True
    reply = browser.act(f"/staff/referrals/{referral_id}/join")
    assert reply.status_code == 503
    assert "could not be reached; nothing was sent" in reply.text
    assert not referral_row(harness, referral_id).live
    harness.rasa.fail = False
    browser.act(f"/staff/referrals/{referral_id}/join")
    harness.rasa.fail = True
    reply = browser.post(f"/staff/referrals/{referral_id}/reply", json={"text": "hi"},
                         headers={"X-CSRF-Token": browser.csrf})  # fmt: skip
    assert reply.status_code == 503 and "nothing was sent" in reply.json()["error"]
    reply = browser.act(f"/staff/referrals/{referral_id}/close", outcome="helped")
    assert reply.status_code == 503  # the person is not left believing someone is there
    assert referral_row(harness, referral_id).status == "claimed"


def test_a_join_the_bot_service_could_not_run_is_not_taken_for_a_join(harness: Harness) -> None:
    """Rasa answers 200 even when the action failed (the bot service down): the console
    must not believe the case manager holds the chat while the bot still answers."""
    referral_id, browser = _claimed_chat(harness)
    harness.rasa.handoff.clear()  # other tests' chats used the same conversation id
    harness.rasa.action_fails = True
    reply = browser.act(f"/staff/referrals/{referral_id}/join")
    assert reply.status_code == 503 and "nothing was sent" in reply.text
    assert not referral_row(harness, referral_id).live
    harness.rasa.action_fails = False
    assert browser.act(f"/staff/referrals/{referral_id}/join").status_code == 303
    assert referral_row(harness, referral_id).live


# --- the audit log and the page policy -----------------------------------------------


def test_audit_page_is_for_supervisors(harness: Harness) -> None:
    add("ana")
    add("sue", "supervisor")
    reply = Browser(harness).signed_in("ana").get("/staff/audit")
    assert reply.status_code == 403
    referral_id = make_referral()
    reply = Browser(harness).signed_in("sue").get("/staff/audit")
    assert reply.status_code == 200
    assert "referral_created" in reply.text and "login" in reply.text
    assert f'href="/staff/referrals/{referral_id}"' in reply.text
    filtered = Browser(harness).signed_in("sue").get(f"/staff/audit?referral={referral_id}")
    assert "referral_created" in filtered.text and ">login<" not in filtered.text


def test_console_pages_have_their_own_policy(harness: Harness) -> None:
    add("ana")
    browser = Browser(harness)
    for path in ("/staff/login", "/staff/static/staff.css"):
        reply = browser.get(path)
        assert reply.headers["content-security-policy"] == EXPECTED_CSP, path
        assert reply.headers["x-frame-options"] == "DENY"
        assert reply.headers["cache-control"] == "no-store"
    browser.signed_in("ana")
    for path in ("/staff/", "/staff/queue.json", "/staff/referrals/1"):
        assert browser.get(path).headers["content-security-policy"] == EXPECTED_CSP, path
    chat = browser.get("/")
    assert "form-action 'none'" in chat.headers["content-security-policy"]
    assert (
        browser.get("/staff/static/staff.js").headers["content-type"].startswith("text/javascript")
    )
    assert browser.get("/staff/static/chat.js").status_code == 404
    assert browser.get("/staff/static/..%2Fstaff.py").status_code == 404
