"""Bad input, fuzzed with hypothesis against the running stack (the session ``stack``).

Every public entry point gets generated input it was not written for: the REST channel
and its long poll, the web chat's endpoints, the Telegram webhook, the HSDS read API and
the staff console's forms. For every request:

- never a 5xx: a reply (a bot message) or a 4xx that says why (JSON ``error`` or a page);
- the three processes still answer their health checks afterwards;
- a refused request adds no event to the tracker store and no row to the app database;
  accepted text is stored only as the conversation's events, sanitized (no control or bidi
  characters, cut to the limit, never an intent Haven did not issue) and never logged;
- notes typed by staff are shown escaped.

Targeted cases live in test_hardening.py, test_telegram.py, test_webchat.py and the unit
tests (test_sanitize.py, test_api.py, test_staff_console.py); this file adds generated
input around them. The examples are derandomized (the same every run) and hypothesis keeps
no example database. Example counts are small: about 30 s once the stack is up.
"""

from __future__ import annotations

import http.client
import itertools
import json
import random
import re
import sqlite3
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from markupsafe import escape

from bot.channels.commands import command_of
from bot.channels.payloads import allowed_payloads
from bot.channels.telegram import payload_of
from bot.safety.sanitize import sanitize_text
from bot.web.staff import CLOSING_OUTCOMES
from tests.conftest import STAFF, STAFF_PASSWORD, TELEGRAM_SECRET, RunningStack
from tests.fake_telegram import FakeTelegram
from tests.integration.chat import texts
from tests.integration.test_handoff import CHAT_LATER, Console, consent, long_sender

pytestmark = pytest.mark.integration

MAX_MESSAGE_CHARS = 2000  # HAVEN_MAX_MESSAGE_CHARS (the stack's default)
REFUSED_UNREAD_CHARS = 4 * MAX_MESSAGE_CHARS  # longer text gets a 413 before it is read
MAX_REQUEST_BYTES = 64 * 1024  # HAVEN_MAX_REQUEST_BYTES
# What sanitizing removes (bot.safety.sanitize._CONTROL): none of it may be stored.
REMOVED = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\u202a-\u202e\u2066-\u2069\ufeff]")
POLLABLE = re.compile(r"[A-Za-z0-9_-]{22,64}")  # ids that may long-poll (bot.channels.pushed)
INTERNAL_INTENTS = {"session_start", "restart"}  # never from a user's words


class Quiet:
    """A fixture's value, named in hypothesis's reports instead of printed whole (the
    stack's environment, every call the fake Telegram server recorded)."""

    def __init__(self, wrapped: Any, name: str) -> None:
        self._wrapped, self._name = wrapped, name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._wrapped, attribute)

    def __repr__(self) -> str:
        return f"<{self._name}>"


@pytest.fixture(scope="module")
def stack(stack: RunningStack) -> RunningStack:
    return Quiet(stack, "the running stack")  # type: ignore[return-value]


@pytest.fixture(scope="module")
def telegram_api(fake_telegram: FakeTelegram) -> FakeTelegram:
    """The fake Bot API server the stack sends to (tests/fake_telegram.py)."""
    return Quiet(fake_telegram, "the fake Telegram server")  # type: ignore[return-value]


@pytest.fixture(autouse=True)
def still_healthy(stack: RunningStack) -> Iterator[None]:
    """After each test (all its examples), the three processes still answer."""
    yield
    assert_healthy(stack)


def fuzz(examples: int) -> settings:
    """Few examples (the stack answers ~5 turns a second), the same ones every run, and no
    example database in the repository."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=False,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


# --- HTTP, the databases and the properties every request must keep ----------------------


@dataclass
class Reply:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    base: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    source: str | None = None,
) -> Reply:
    """One request on a fresh connection (``source``: another loopback address to send
    from, so the per-address sign-in limit of one fuzz run never blocks another test)."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(
        host, int(port), timeout=90, source_address=(source, 0) if source else None
    )
    try:
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        return Reply(answer.status, answer.headers, answer.read())
    finally:
        connection.close()


def post_json(base: str, path: str, body: Any) -> Reply:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return call(base, "POST", path, data, {"Content-Type": "application/json"})


def query(params: dict[str, str]) -> str:
    return urllib.parse.urlencode(params)


def assert_clear(reply: Reply) -> None:
    """Never a 5xx; a 4xx says why: a JSON ``error`` (Haven's) or ``message`` (Sanic's own,
    for a body over the size limit), or a page or text that is not empty."""
    event(f"HTTP {reply.status}")  # counted by pytest --hypothesis-show-statistics
    assert reply.status < 500, (reply.status, reply.body[:500])
    if reply.status >= 400:
        if "json" in reply.headers.get("Content-Type", ""):
            found = reply.json()
            reason = found.get("error") or found.get("message")
            assert isinstance(reason, str) and reason.strip(), reply.body[:300]
        else:
            assert reply.body.strip(), reply.status


def assert_healthy(stack: RunningStack) -> None:
    assert call(stack.rasa_url, "GET", "/webhooks/rest/").status == 200
    assert call(stack.actions_url, "GET", "/health").status == 200
    assert call(stack.web_url, "GET", "/healthz").status == 200


def event_count(stack: RunningStack) -> int:
    with sqlite3.connect(stack.tracker_db) as connection:
        return connection.execute("SELECT COUNT(*) FROM events").fetchone()[0]


def user_events(stack: RunningStack, sender: str) -> list[dict]:
    with sqlite3.connect(stack.tracker_db) as connection:
        rows = connection.execute(
            "SELECT data FROM events WHERE sender_id = ? AND type_name = 'user' ORDER BY id",
            (sender,),
        ).fetchall()
    return [json.loads(row[0]) for row in rows]


def app_rows(stack: RunningStack) -> dict[str, int]:
    """Rows in every table of the app database (directory, referrals, staff, audit), the
    audit log without its ``view_*`` rows (a page that shows a refusal is a view, audited)."""
    with sqlite3.connect(stack.var_dir / "haven.db") as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite_%' AND name != 'alembic_version'"
            )
        ]
        # The names come from sqlite_master, not from any input.
        counts = {
            t: connection.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]  # noqa: S608
            for t in tables
        }
        counts["audit_log"] = connection.execute(
            "SELECT COUNT(*) FROM audit_log WHERE action NOT LIKE 'view%'"
        ).fetchone()[0]
        return counts


def stack_log(stack: RunningStack) -> str:
    return (stack.var_dir / "stack.log").read_text(errors="replace")


# --- what bad input looks like ------------------------------------------------------------

EMOJI = ["😀", "👍🏽", "🇺🇸", "👩‍👩‍👧", "❤️", "🔥", "🙏", "🏳️‍🌈", "\U0001fae0", "🤷‍♀️"]
RIGHT_TO_LEFT = ["مرحبا", "أحتاج مساعدة", "أخذ مديري جواز سفري", "שלום", "אני צריך עזרה", "سلام"]
BIDI = [
    "\u200e",
    "\u200f",
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\u061c",
]
INJECTIONS = [
    "/greet",
    '/greet{"language": "es"}',
    '/EXTERNAL_staff_message{"text": "hi"}',
    "/EXTERNAL_reminder",
    "/session_start",
    "/restart",
    "/action_restart",
    "//help",
    " /affirm ",
    '/referral_answer{"choice": "chat_now"}',
    '/referral_answer{"choice": "\'; DROP TABLE referral; --"}',
    '/choose_language{"language": "xx"}',
    '/nlu_fallback{"a": [1, 2]}',
    '/affirm{"',
    "/intent{" + "[" * 200,
    "/quick_exit",
    "/delete_my_data",
]
HTML = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    '"><svg onload=alert(1)>',
    "<b>bold</b>",
    "&lt;&amp;&#0;",
    "{{ 7*7 }}",
    "{% raw %}",
    "${7*7}",
    "javascript:alert(1)",
    "<!--",
    "]]>",
]
SQL = [
    "' OR '1'='1",
    "'; DROP TABLE events; --",
    '" OR 1=1 --',
    "1; DELETE FROM referral",
    "' UNION SELECT password_hash FROM staff_user --",
    "%",
    "_",
    "\\",
    "%%' --",
]
CONTROL = st.characters(max_codepoint=0x1F) | st.sampled_from(["\x7f", "\u200b", "\ufeff"])
MARKER = "qzx"  # text that logs must never hold: the fuzzed message text carries it


def markers() -> st.SearchStrategy[str]:
    return st.integers(10**8, 10**9 - 1).map(lambda n: f"{MARKER}{n}")


fragments = st.one_of(
    st.text(max_size=30),
    st.lists(st.sampled_from(EMOJI), min_size=1, max_size=5).map("".join),
    st.sampled_from(RIGHT_TO_LEFT),
    st.sampled_from(BIDI),
    st.sampled_from(INJECTIONS),
    st.sampled_from(HTML),
    st.sampled_from(SQL),
    st.text(alphabet=CONTROL, min_size=1, max_size=4),
    markers(),
)
# Text as people and attackers write it, up to a little over the limit.
message_texts = st.one_of(
    st.lists(fragments, max_size=6).map("".join),
    st.lists(st.sampled_from(EMOJI), min_size=1, max_size=12).map("".join),  # emoji only
    st.sampled_from(INJECTIONS),
    st.builds(
        lambda rtl, bidi, words: f"{bidi}{rtl}{bidi} {words}",
        st.sampled_from(RIGHT_TO_LEFT),
        st.sampled_from(BIDI),
        st.text(max_size=20),
    ),
    st.builds(  # around the cut, with a marker at the end (cut off when over)
        lambda size, char, mark: char * size + mark,
        st.integers(MAX_MESSAGE_CHARS - 20, MAX_MESSAGE_CHARS + 40),
        st.sampled_from(["a", "é", "😀", " ", "/", "\x00", "ب"]),
        markers(),
    ),
    st.just(""),
)
# Text the channels must refuse unread (413): over four times the limit.
huge_texts = st.builds(
    lambda size, char: char * size,
    st.integers(REFUSED_UNREAD_CHARS + 1, 3 * REFUSED_UNREAD_CHARS),
    st.sampled_from(["a", "😀", "/", " ", "\x00", "ب"]),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**40), 10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
odd_senders = st.one_of(
    st.text(max_size=140),
    st.sampled_from(
        [
            "../../etc/passwd",
            "default",
            " ",
            "\t\n",
            "a" * 128,
            "a" * 129,
            "%00",
            "<script>",
            "' OR 1=1 --",
            "١٢٣",
            "🙂",
            "null",
            "0",
            "-1",
            "9" * 40,
            "a\x00b",
            "\u202eevil",
        ]
    ),
    json_values,
)


def utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def valid_sender(sender: Any) -> bool:
    """What the REST channel accepts as a conversation id (bot.channels.rest): printable
    UTF-8 text, at most 128 characters, not only spaces."""
    return (
        isinstance(sender, str)
        and bool(sender.strip())
        and len(sender) <= 128
        and sender.isprintable()
        and utf8(sender)
    )


def expected_status(body: Any, pollable_only: bool = False) -> int:
    """What the REST (or web chat) channel must answer to a JSON body."""
    if not isinstance(body, dict) or not valid_sender(body.get("sender")):
        return 400
    message, metadata = body.get("message", ""), body.get("metadata")
    if message is not None and not isinstance(message, str):
        return 400
    if metadata is not None and not isinstance(metadata, dict):
        return 400
    if isinstance(message, str) and len(message) > REFUSED_UNREAD_CHARS:
        return 413
    if message and not utf8(message):
        return 400
    if pollable_only and not POLLABLE.fullmatch(body["sender"]):
        return 400
    return 200


def check_turn(
    stack: RunningStack,
    body: Any,
    reply: Reply,
    events_before: int,
    rows_before: dict[str, int],
    pollable_only: bool = False,
) -> None:
    """The properties of one message sent to the REST or web chat channel."""
    assert_clear(reply)
    expected = expected_status(body, pollable_only)
    if expected == 400 and reply.status == 413:  # a body over 64 KiB: refused unread first
        expected = 413
    assert reply.status == expected, (reply.status, reply.body[:300])
    assert app_rows(stack) == rows_before, "a chat message never writes to the app database"
    if expected != 200:
        assert event_count(stack) == events_before, "a refused request stored something"
        return
    replies = reply.json()
    assert isinstance(replies, list) and any(
        isinstance(r.get("text"), str) and r["text"].strip() for r in replies
    ), replies
    clean = sanitize_text(body.get("message") or "", allowed_payloads(), MAX_MESSAGE_CHARS)
    stored = user_events(stack, body["sender"])
    # The channel's message carries its flags; an action may hand the same text to the
    # model again (a disclosure, then the question that was asked): one more user event.
    assert stored and stored[-1]["text"] == clean.text.strip()  # Rasa strips the text
    assert [e for e in stored if "haven" in e["metadata"]][-1]["metadata"]["haven"] == {
        "rejected_command": clean.rejected_command,
        "truncated": clean.truncated,
    }
    for uttered in stored:
        text = uttered["text"]
        assert not REMOVED.search(text) and len(text) <= MAX_MESSAGE_CHARS
        if text.startswith("/"):
            assert text in allowed_payloads() or clean.is_payload
        intent = str(((uttered.get("parse_data") or {}).get("intent") or {}).get("name"))
        assert intent not in INTERNAL_INTENTS and not intent.startswith("EXTERNAL_"), intent


# --- the REST channel -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def sent_markers(stack: RunningStack) -> Iterator[list[str]]:
    """The marker words the fuzzed texts carried: at the end, none may be in the logs."""
    sent: list[str] = []
    yield sent
    log = stack_log(stack)
    assert not [m for m in sent if m in log], "a user's text reached the logs"


def remember_markers(sent: list[str], text: Any) -> None:
    if isinstance(text, str):
        sent.extend(re.findall(MARKER + r"\d{9}", text))


@fuzz(40)
@given(text=message_texts, language=st.none() | st.text(max_size=12) | json_values)
def test_rest_messages_of_every_shape(
    stack: RunningStack, sent_markers: list[str], text: str, language: Any
) -> None:
    body: dict[str, Any] = {"sender": f"fuzz-{uuid.uuid4().hex}", "message": text}
    if language is not None:
        body["metadata"] = {"language": language}
    events, rows = event_count(stack), app_rows(stack)
    reply = post_json(stack.rasa_url, "/webhooks/rest/webhook", body)
    check_turn(stack, body, reply, events, rows)
    remember_markers(sent_markers, text)


@fuzz(12)
@given(text=huge_texts)
def test_rest_text_far_over_the_limit_is_refused_unread(stack: RunningStack, text: str) -> None:
    body = {"sender": f"fuzz-{uuid.uuid4().hex}", "message": text}
    events, rows = event_count(stack), app_rows(stack)
    reply = post_json(stack.rasa_url, "/webhooks/rest/webhook", body)
    assert len(json.dumps(body)) > MAX_REQUEST_BYTES or reply.status == 413
    check_turn(stack, body, reply, events, rows)


@fuzz(40)
@given(
    body=st.one_of(
        st.fixed_dictionaries(  # a good envelope; odd text and metadata
            {"sender": st.uuids().map(lambda u: f"fuzz-{u.hex}")},
            optional={
                "message": message_texts | st.none(),
                "metadata": st.dictionaries(st.text(max_size=10), json_values, max_size=3),
            },
        ),
        st.fixed_dictionaries(
            {},
            optional={
                "sender": odd_senders,
                "message": st.one_of(message_texts, json_values),
                "metadata": json_values,
            },
        ),
        json_values,
    )
)
def test_rest_bodies_of_every_type(stack: RunningStack, body: Any) -> None:
    events, rows = event_count(stack), app_rows(stack)
    reply = post_json(stack.rasa_url, "/webhooks/rest/webhook", body)
    check_turn(stack, body, reply, events, rows)


@fuzz(25)
@given(sender=odd_senders)
def test_rest_conversation_ids_of_odd_shapes(stack: RunningStack, sender: Any) -> None:
    body = {"sender": sender, "message": "hello"}
    events, rows = event_count(stack), app_rows(stack)
    reply = post_json(stack.rasa_url, "/webhooks/rest/webhook", body)
    check_turn(stack, body, reply, events, rows)


@fuzz(30)
@given(
    raw=st.one_of(
        st.binary(max_size=300),
        st.builds(
            lambda junk: b'{"sender": "fuzz-bytes", "message": "' + junk + b'"}',
            st.binary(min_size=1, max_size=50),
        ),
    ),
    content_type=st.sampled_from(
        ["application/json", "text/plain", "", "application/x-www-form-urlencoded"]
    ),
)
def test_rest_random_bytes(stack: RunningStack, raw: bytes, content_type: str) -> None:
    body = lenient = None
    try:
        body = json.loads(raw)
    except ValueError:  # not JSON, or not UTF-8 (UnicodeDecodeError is a ValueError)
        for text in (raw, raw.decode("utf-8", "surrogateescape")):
            try:  # raw control characters or bytes that are not UTF-8 in a string
                lenient = json.loads(text, strict=False)
                break
            except ValueError:
                pass
    events, rows = event_count(stack), app_rows(stack)
    headers = {"Content-Type": content_type} if content_type else {}
    reply = call(stack.rasa_url, "POST", "/webhooks/rest/webhook", raw, headers)
    if lenient is not None and reply.status == 200:
        # Not JSON, but Sanic's parser (ujson) reads it: bytes that are not UTF-8 become
        # surrogates (test_json_that_is_not_utf8_is_refused). A reply all the same.
        assert expected_status(lenient) == 200 and reply.json()
        return
    check_turn(stack, body, reply, events, rows)


pollable_ids = st.text(alphabet="ABCdef019_-", min_size=22, max_size=64)


def events_params() -> st.SearchStrategy[dict[str, str]]:
    """Query parameters for a long poll; a pollable id always comes with wait=0 (else the
    poll would hold for 25 s)."""
    after = st.one_of(
        st.integers(-(10**30), 10**30).map(str),
        st.text(max_size=12),
        st.sampled_from(["1e3", "0x10", "1_000", "١٢", " 7 ", "-0", "9" * 5000, "NaN"]),
    )
    return st.one_of(
        st.fixed_dictionaries(
            {"sender": pollable_ids, "wait": st.just("0")}, optional={"after": after}
        ),
        st.dictionaries(
            st.sampled_from(["sender", "after", "wait", "unknown", "sender[]"]),
            st.text(max_size=70) | after,
            max_size=4,
        ).filter(lambda p: not POLLABLE.fullmatch(p.get("sender", "").strip())),
    )


def check_poll(reply: Reply, params: dict[str, str]) -> None:
    assert_clear(reply)
    sender = params.get("sender", "")
    if re.fullmatch(r"[A-Za-z0-9_-]{22,64}\n", sender):
        return  # accepted today: see test_a_web_chat_id_with_a_trailing_newline_is_refused
    if not POLLABLE.fullmatch(sender):
        assert reply.status == 400, reply.body
        return
    try:
        after = max(0, int(params.get("after") or 0))
    except ValueError:
        assert reply.status == 400, reply.body
        return
    assert reply.status == 200, reply.body
    assert reply.json() == {"messages": [], "last": after}


@fuzz(30)
@given(params=events_params())
def test_rest_long_poll_parameters(stack: RunningStack, params: dict[str, str]) -> None:
    reply = call(stack.rasa_url, "GET", f"/webhooks/rest/events?{query(params)}")
    check_poll(reply, params)


# --- the web chat (the web process forwards /chat/* to the Rasa server's webchat channel) ----


@fuzz(25)
@given(
    body=st.one_of(
        st.fixed_dictionaries({"sender": pollable_ids, "message": message_texts}),
        st.fixed_dictionaries({"sender": pollable_ids, "message": message_texts}),  # half
        st.fixed_dictionaries(
            {}, optional={"sender": odd_senders, "message": message_texts | json_values}
        ),
        json_values,
    )
)
def test_web_chat_messages(stack: RunningStack, sent_markers: list[str], body: Any) -> None:
    events, rows = event_count(stack), app_rows(stack)
    reply = post_json(stack.web_url, "/chat/message", body)
    remember_markers(sent_markers, body.get("message") if isinstance(body, dict) else None)
    check_turn(stack, body, reply, events, rows, pollable_only=True)
    if reply.status == 200:  # the page follows the conversation's language
        assert re.fullmatch(r"[a-z]{2,3}", reply.headers.get("X-Haven-Language", ""))
    assert "default-src 'none'" in reply.headers.get("Content-Security-Policy", "")


@fuzz(20)
@given(params=events_params())
def test_web_chat_long_poll_parameters(stack: RunningStack, params: dict[str, str]) -> None:
    reply = call(stack.web_url, "GET", f"/chat/events?{query(params)}")
    forwarded = {k: v for k, v in params.items() if k in ("sender", "after", "wait")}
    check_poll(reply, forwarded)


# --- Telegram (webhook mode, against tests/fake_telegram.py) ---------------------------------

_update_ids = itertools.count(10**12 + random.randrange(10**9) * 1000)  # unseen by the stack
_fresh_update_ids: set[int] = set()  # ids sent once (a repeated id is dropped on purpose)


def telegram_post(stack: RunningStack, body: bytes, secret: str | None = TELEGRAM_SECRET) -> Reply:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    return call(stack.rasa_url, "POST", "/webhooks/telegram/webhook", body, headers)


good_chat_ids = st.integers(-(2**70), 2**70) | st.integers(10**8, 10**12)
bad_chat_ids = st.one_of(
    st.text(max_size=10), st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none()
)
known_data = st.sampled_from(sorted(allowed_payloads()))
KINDS = ["message", "edited_message", "channel_post", "callback_query", "my_chat_member", None]


@st.composite
def telegram_updates(draw: st.DrawFn) -> dict:
    """A Telegram update: half well-typed (any text, chat type, language, huge ids), half
    broken (mistyped ids and fields, fields left out); the kinds Haven reads and those it
    ignores; callback queries with junk data."""
    broken = draw(st.booleans())
    chat = {
        "id": draw(bad_chat_ids | good_chat_ids if broken else good_chat_ids),
        "type": draw(st.sampled_from(["private", "group", "supergroup", "channel", "secret"])),
    }
    user = {
        "id": draw(st.integers(-(2**64), 2**64)),
        "is_bot": draw(st.booleans()),
        "first_name": draw(st.text(max_size=10)),
        "language_code": draw(st.none() | st.text(max_size=8) | st.sampled_from(["es", "ar"])),
    }
    message = {
        "message_id": draw(st.integers(-(2**40), 2**40)),
        "date": draw(st.integers(0, 2**31)),
        "chat": chat,
        "from": user,
        "text": draw(message_texts | st.none()),
    }
    kind = (
        draw(st.sampled_from(KINDS[:1] * 3 + KINDS[3:4] * 2 + KINDS[1:]))
        if not broken
        else draw(st.sampled_from(KINDS))
    )
    update: dict[str, Any] = {"update_id": None}
    if broken:
        mistyped = {
            "text": st.integers() | json_values,
            "message_id": st.text(max_size=3),
            "date": st.text(max_size=3) | st.integers(10**12, 10**20),
            "chat": json_values,
        }
        for field in draw(st.lists(st.sampled_from(sorted(mistyped)), max_size=2)):
            message[field] = draw(mistyped[field])
        for field in draw(
            st.lists(st.sampled_from(["message_id", "date", "chat", "from", "text"]), max_size=2)
        ):
            message.pop(field, None)
        update["update_id"] = draw(st.none() | st.integers() | st.text(max_size=4))
    if kind == "callback_query":
        junk = st.text(max_size=80) | st.text(max_size=30).map(lambda t: "#" + t)
        data = draw(known_data | junk | st.none() | st.integers() if broken else known_data | junk)
        update[kind] = {
            "id": draw(st.text(alphabet="abcdf0123456789", min_size=1, max_size=12)),
            "from": user,
            "chat_instance": "1",
            "data": data,
            "message": message,
        }
    elif kind is not None:
        update[kind] = message
    if update["update_id"] is None:
        update["update_id"] = next(_update_ids)
        _fresh_update_ids.add(update["update_id"])
    return update


def chat_id_of(message: Any) -> Any:
    """The chat id in a (maybe broken) message object, else None."""
    chat = message.get("chat") if isinstance(message, dict) else None
    return chat.get("id") if isinstance(chat, dict) else None


def answered(update: dict) -> bool:
    """Whether Haven must answer this update with a message: a new message in a chat with
    a numeric id (the quick exit says nothing)."""
    message = update.get("message")
    if update["update_id"] not in _fresh_update_ids or not isinstance(message, dict):
        return False
    if type(chat_id_of(message)) is not int:
        return False
    text = message.get("text")
    return not (isinstance(text, str) and command_of(text) == "exit")


def button_press(update: dict) -> dict | None:
    """The callback query of a new, well-typed button press, else None."""
    query = update.get("callback_query")
    if update["update_id"] not in _fresh_update_ids or not isinstance(query, dict):
        return None
    message = query["message"]
    if type(chat_id_of(message)) is not int or "date" not in message:
        return None
    return query if isinstance(query["data"], str) else None


@fuzz(40)
@given(update=telegram_updates())
def test_telegram_updates_of_every_shape(
    stack: RunningStack, telegram_api: FakeTelegram, sent_markers: list[str], update: dict
) -> None:
    message = update.get("message") or update.get("callback_query", {}).get("message") or {}
    remember_markers(sent_markers, message.get("text") if isinstance(message, dict) else None)
    chat = chat_id_of(message)
    sent_before = len(telegram_api.calls_of("sendMessage", chat))
    events, rows = event_count(stack), app_rows(stack)
    reply = telegram_post(stack, json.dumps(update).encode())
    assert_clear(reply)
    assert reply.status in (200, 400), reply.body
    assert app_rows(stack) == rows
    sent = telegram_api.calls_of("sendMessage", chat)[sent_before:]
    if reply.status == 400:
        assert event_count(stack) == events and not sent, "a refused update did something"
        return
    assert reply.json() == {"ok": True}
    if answered(update):
        event("a message, answered")
        assert sent, "a message Haven accepted (200) is answered"
        stored = user_events(stack, str(chat))[-1]["text"]
        assert not REMOVED.search(stored) and len(stored) <= MAX_MESSAGE_CHARS
    if "message" not in update and "callback_query" not in update:
        assert event_count(stack) == events and not sent, "an update Haven ignores stored something"
    query = button_press(update)
    if query is not None:
        event("a button press")
        calls = telegram_api.calls_of("answerCallbackQuery")
        assert [c for c in calls if str(c.params.get("callback_query_id")) == query["id"]], (
            "every button press is answered (the app stops its spinner)"
        )
        if payload_of(query["data"], allowed_payloads()) is None:  # a hash Haven never made
            event("a junk button")
            assert event_count(stack) == events and not sent, "a junk button did something"


@fuzz(15)
@given(secret=st.text(alphabet=st.characters(max_codepoint=0xFF), max_size=60) | st.none())
def test_telegram_secret_header(stack: RunningStack, telegram_api, secret: str | None) -> None:
    assume(secret != TELEGRAM_SECRET)
    assume(secret is None or secret.strip() == secret)  # http.client refuses edge spaces
    assume(secret is None or not re.search(r"[\x00-\x1f\x7f]", secret))
    chat = 10**9 + next(_update_ids) % 10**8
    update = {
        "update_id": next(_update_ids),
        "message": {
            "message_id": 1,
            "date": 1,
            "chat": {"id": chat, "type": "private"},
            "text": "hello",
        },
    }
    events = event_count(stack)
    try:
        reply = telegram_post(stack, json.dumps(update).encode(), secret)
    except ValueError:  # a value http.client will not send as a header
        return
    assert_clear(reply)
    assert reply.status == 403
    assert event_count(stack) == events and not telegram_api.calls_of("sendMessage", chat)


# --- the HSDS read API (/api on the web process) -----------------------------------------------

LISTS = [
    "/api/services",
    "/api/service_at_locations",
    "/api/organizations",
    "/api/taxonomies",
    "/api/taxonomy_terms",
]
API_PARAMETERS = [
    "page",
    "per_page",
    "search",
    "postcode",
    "proximity",
    "lat",
    "lon",
    "taxonomy_term_id",
    "taxonomy_id",
    "organization_id",
    "parent_id",
    "modified_after",
    "full",
    "full_service",
    "minimal",
    "top_only",
    "format",
    "unknown",
    "page[number]",
    "' OR 1=1 --",
]
api_values = st.one_of(
    st.text(max_size=30),
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(
        SQL
        + HTML
        + [
            "",
            "0",
            "-1",
            "1e999",
            "nan",
            "-inf",
            "true",
            "77002",
            "١٢٣٤٥",
            "29.76",
            "-95.36",
            "40000",
            "json",
            "ndjson",
        ]
    ),
    st.floats().map(str),
    st.builds(
        lambda moment, hours: moment.isoformat() + f"{hours:+03d}:00",
        st.datetimes(),
        st.integers(-23, 23),
    ),
)


@fuzz(70)
@given(
    path=st.sampled_from(LISTS),
    params=st.dictionaries(st.sampled_from(API_PARAMETERS), api_values, max_size=4),
)
def test_hsds_list_parameters(stack: RunningStack, path: str, params: dict[str, str]) -> None:
    rows = app_rows(stack)
    reply = call(stack.web_url, "GET", f"{path}?{query(params)}")
    assert_clear(reply)
    assert reply.status in (200, 400), reply.body
    assert app_rows(stack) == rows, "the API is read-only"
    if reply.status == 400:
        return
    page = reply.json()
    assert page["size"] == len(page["contents"]) <= 100
    assert page["empty"] == (not page["contents"])
    assert isinstance(page["total_items"], int) and page["total_items"] >= 0
    wanted = params.get("page", "").strip()
    if wanted:
        assert page["page_number"] == int(wanted)


@fuzz(30)
@given(
    path=st.sampled_from(LISTS),
    item=st.one_of(
        st.text(min_size=1, max_size=80),
        st.sampled_from(SQL),
        st.sampled_from(["national-988", "national-org-988"]),  # ids that exist
        st.sampled_from(["national-988", "national-org-988"]).map(lambda i: i + "%00"),
    ),
)
def test_hsds_item_ids(stack: RunningStack, path: str, item: str) -> None:
    reply = call(stack.web_url, "GET", f"{path}/{urllib.parse.quote(item, safe='')}")
    assert_clear(reply)
    assert reply.status in (200, 404), reply.body
    if reply.status == 200:
        assert reply.json()["id"] == item


# --- the staff console's forms --------------------------------------------------------------


@pytest.fixture(scope="module")
def console(stack: RunningStack) -> tuple[Console, int]:
    """A chat referral, claimed by a supervisor (who may act on it whoever holds it)."""
    # When (skipped), code word, age, place (skipped), share the conversation, send.
    replies = consent(
        stack, long_sender(), CHAT_LATER, "/skip", "/skip", "/skip", "/skip", "/affirm", "/affirm"
    )
    with sqlite3.connect(stack.var_dir / "haven.db") as connection:
        number, method = connection.execute(
            "SELECT id, contact_method FROM referral ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert method == "chat_later" and f"number is {number}" in texts(replies), texts(replies)
    sam = Console(stack, "sam")
    assert sam.act(number, "claim")[0] == 303
    return sam, number


def referral_row(stack: RunningStack, number: int) -> tuple:
    with sqlite3.connect(stack.var_dir / "haven.db") as connection:
        return connection.execute(
            "SELECT status, claimed_by, outcome, live FROM referral WHERE id = ?", (number,)
        ).fetchone()


def active_staff_ids(stack: RunningStack) -> set[int]:
    with sqlite3.connect(stack.var_dir / "haven.db") as connection:
        return {r[0] for r in connection.execute("SELECT id FROM staff_user WHERE active = 1")}


note_bodies = st.one_of(
    st.lists(fragments, max_size=5).map("".join),
    st.sampled_from(HTML),
    st.builds(
        lambda html, words: f"{words}{html}{words}", st.sampled_from(HTML), st.text(max_size=10)
    ),
    st.text(alphabet=" \t\r\n", max_size=5),  # nothing to save
    st.builds(lambda n: "<i>" * n, st.integers(1000, 1700)),  # over the 5,000-character note
)


@fuzz(15)
@given(body=note_bodies)
def test_staff_notes_are_stored_as_typed_and_shown_escaped(
    stack: RunningStack, console: tuple[Console, int], body: str
) -> None:
    sam, number = console
    rows = app_rows(stack)
    status, page = sam.act(number, "notes", body=body)
    assert status < 500
    saved = body.strip()[:5000]
    if not saved:
        assert status == 409 and "note is empty" in page
        assert app_rows(stack) == rows, "a refused note left a row"
        return
    assert status == 303
    after = app_rows(stack)
    assert after["referral_note"] == rows["referral_note"] + 1
    status, page = sam.get(f"/referrals/{number}")
    assert status == 200
    assert str(escape(saved)) in page, "the note is shown, escaped"
    for tag in HTML[:4]:  # the ones with markup
        if tag in saved:
            assert tag not in page, f"{tag!r} reached the page unescaped"


@fuzz(20)
@given(
    chosen=st.one_of(
        st.text(max_size=25),
        st.sampled_from(
            [
                "²",
                "١",
                "0",
                "-1",
                "1.0",
                " 1",
                "1 ",
                "9" * 19,
                "9" * 20,
                "9" * 5000,
                "0x1",
                "1e3",
                "+1",
            ]
            + SQL
        ),
        st.integers(-5, 12).map(str),
    )
)
def test_staff_transfer_to_anything(
    stack: RunningStack, console: tuple[Console, int], chosen: str
) -> None:
    sam, number = console
    rows = app_rows(stack)
    status, page = sam.act(number, "transfer", to=chosen)
    assert status < 500, page[:500]
    target = int(chosen) if chosen.isascii() and chosen.isdigit() and len(chosen) < 20 else None
    if target in active_staff_ids(stack):
        assert status == 303 and referral_row(stack, number)[1] == target
        return
    assert status == 409 and "Choose an active colleague" in page
    assert app_rows(stack) == rows


@fuzz(15)
@given(
    outcome=st.text(max_size=20)
    | st.sampled_from(
        ["Helped", "helped ", "deleted_by_user", "helped\x00", "referred_on;--", "<b>helped</b>"]
    )
)
def test_staff_close_with_an_outcome_it_does_not_offer(
    stack: RunningStack, console: tuple[Console, int], outcome: str
) -> None:
    assume(outcome not in CLOSING_OUTCOMES)
    sam, number = console
    rows, before = app_rows(stack), referral_row(stack, number)
    status, page = sam.act(number, "close", outcome=outcome)
    assert status == 409 and "Choose an outcome" in page
    assert app_rows(stack) == rows and referral_row(stack, number) == before


@fuzz(10)
@given(value=st.text(max_size=8) | st.sampled_from(["1", "0", "true", "on", "１", "1 "]))
def test_staff_taking_chats_switch(stack: RunningStack, console, value: str) -> None:
    sam, _ = console
    try:
        status, _ = sam.post("/availability", csrf=sam.csrf, available=value)
        assert status == 303
        with sqlite3.connect(stack.var_dir / "haven.db") as connection:
            available = connection.execute(
                "SELECT available FROM staff_user WHERE username = 'sam'"
            ).fetchone()[0]
        assert bool(available) == (value == "1")
    finally:
        sam.post("/availability", csrf=sam.csrf, available="1")


@fuzz(15)
@given(
    token=st.one_of(
        st.text(max_size=60),
        st.text(alphabet=st.characters(max_codepoint=0xFF), max_size=60),
        st.text(alphabet="ABCabc012_-", min_size=20, max_size=60),
    ),
    as_header=st.booleans(),
)
def test_staff_forms_without_the_sessions_token(
    stack: RunningStack, console: tuple[Console, int], token: str, as_header: bool
) -> None:
    sam, number = console
    assume(token != sam.csrf)
    rows = app_rows(stack)
    data = urllib.parse.urlencode({"body": "a note", **({} if as_header else {"csrf": token})})
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if as_header:  # latin-1 text goes out as bytes that are not UTF-8
        if token != token.strip() or re.search(r"[^\x20-\x7e\xa0-\xff]", token):
            return  # not something http.client sends as a header
        headers["X-CSRF-Token"] = token
    status, page = sam.request(f"/referrals/{number}/notes", data.encode(), headers)
    assert status == 403 and "expired" in page
    assert app_rows(stack) == rows


@fuzz(10)
@given(raw=st.binary(max_size=200))
def test_staff_form_of_random_bytes(stack: RunningStack, console, raw: bytes) -> None:
    """A body that is not a form (not UTF-8, or junk) is a form without fields."""
    sam, number = console
    rows = app_rows(stack)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": sam.csrf}
    status, page = sam.request(f"/referrals/{number}/notes", raw, headers)
    assert status in (303, 409), page[:300]
    if status == 409:
        assert app_rows(stack) == rows


JSON, FORM = "application/json", "application/x-www-form-urlencoded"


@fuzz(15)
@given(
    kind_and_body=st.one_of(
        st.tuples(st.just(JSON), st.fixed_dictionaries({"text": message_texts}).map(json.dumps)),
        st.tuples(st.just(FORM), message_texts.map(lambda t: query({"text": t}))),
        st.tuples(st.just(JSON), json_values.map(json.dumps)),
        st.tuples(st.sampled_from([JSON, FORM]), st.binary(max_size=100)),
    )
)
def test_staff_replies_to_a_chat_nobody_joined(
    stack: RunningStack, console: tuple[Console, int], kind_and_body: tuple[str, str | bytes]
) -> None:
    """Nothing reaches the person and nothing is recorded as sent, whatever the body."""
    sam, number = console
    events, rows = event_count(stack), app_rows(stack)
    kind, body = kind_and_body
    headers = {"Content-Type": kind, "X-CSRF-Token": sam.csrf, "Accept": "application/json"}
    data = body.encode() if isinstance(body, str) else body
    status, answer = sam.request(f"/referrals/{number}/reply", data, headers)
    assert status in (400, 409), answer[:300]
    assert json.loads(answer).get("error") or json.loads(answer).get("message")
    assert event_count(stack) == events and app_rows(stack) == rows


@fuzz(15)
@given(
    after=st.one_of(
        st.integers(-(10**30), 10**30).map(str),
        st.text(max_size=10),
        st.sampled_from(["9" * 5000, "1e3", "١٢", "nan"]),
    )
)
def test_staff_message_poll_positions(stack: RunningStack, console, after: str) -> None:
    sam, number = console
    path = f"/referrals/{number}/messages?{query({'after': after, 'wait': '0'})}"
    status, body = sam.get(path)
    try:
        position = max(0, int(after or "0"))  # an empty value is left out: "0"
    except ValueError:
        position = None
    if position is None or position > 2**63 - 1:  # past any event id a database holds
        assert status == 400 and json.loads(body)["error"], body[:300]
        return
    assert status == 200, body[:300]
    found = json.loads(body)
    assert found["last"] >= position and all(line["id"] > position for line in found["lines"])


@fuzz(10)
@given(cookie=st.binary(min_size=1, max_size=80), path=st.sampled_from(["/", "/queue.json"]))
def test_staff_session_cookies_of_random_bytes(stack: RunningStack, cookie: bytes, path: str):
    """Anything in the session cookie is no session: the sign-in page (or a JSON 401)."""
    host, port = stack.web_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.putrequest("GET", "/staff" + path)
        connection.putheader(
            "Cookie", b"haven_staff=" + cookie.replace(b"\r", b"").replace(b"\n", b"")
        )
        connection.endheaders()
        answer = connection.getresponse()
        reply = Reply(answer.status, answer.headers, answer.read())
    finally:
        connection.close()
    assert_clear(reply)
    assert reply.status == (401 if path == "/queue.json" else 303), reply.body[:200]


_sources = itertools.count(2)


def loopback_address() -> str:
    """A loopback address of its own for each sign-in attempt (127.0.0.2, …)."""
    n = next(_sources)
    return f"127.0.{n // 250}.{2 + n % 250}"


@fuzz(12)
@given(
    username=st.text(max_size=20) | st.sampled_from(["' OR 1=1 --", "admin", "ＳＡＭ", "sam\x00"]),
    password=st.text(max_size=30) | st.just(STAFF_PASSWORD) | st.just("x" * 1100),
    csrf_kind=st.sampled_from(["matching", "junk", "missing"]),
    next_path=st.none() | st.text(max_size=20) | st.sampled_from(["//evil.example", "/staff/x"]),
)
def test_staff_sign_in_with_anything(
    stack: RunningStack, username: str, password: str, csrf_kind: str, next_path: str | None
) -> None:
    assume(username.strip().lower() not in STAFF)  # never lock a real account
    source = loopback_address()
    form = call(stack.web_url, "GET", "/staff/login", source=source)
    cookie = re.search(r"haven_login_csrf=([^;]+)", form.headers.get("Set-Cookie", "")).group(1)
    fields = {"username": username, "password": password}
    if csrf_kind != "missing":
        fields["csrf"] = cookie if csrf_kind == "matching" else "junk-" + cookie[:10]
    if next_path is not None:
        fields["next"] = next_path
    rows = app_rows(stack)
    reply = call(
        stack.web_url,
        "POST",
        "/staff/login",
        urllib.parse.urlencode(fields).encode(),
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"haven_login_csrf={cookie}",
        },
        source=source,
    )
    assert_clear(reply)
    assert reply.status == (401 if csrf_kind == "matching" else 403), reply.status
    cookies = reply.headers.get_all("Set-Cookie") or []
    assert not [c for c in cookies if c.startswith("haven_staff=")], "no session"
    audited = 1 if csrf_kind == "matching" else 0  # a failed sign-in is audited; a stale form not
    assert app_rows(stack) == {**rows, "audit_log": rows["audit_log"] + audited}


def test_the_stack_is_healthy_after_the_fuzzing(stack: RunningStack) -> None:
    assert_healthy(stack)
    with sqlite3.connect(stack.var_dir / "haven.db") as connection:
        assert connection.execute("SELECT COUNT(*) FROM service").fetchone()[0] > 100


# --- regressions: what the fuzzing found -------------------------------------------------------


def test_a_conversation_id_the_database_cannot_store_does_not_stop_the_server(
    stack: RunningStack,
) -> None:
    """A lone surrogate in a sender raised UnicodeEncodeError in the tracker store, which
    Rasa reads as "PostgreSQL schema missing" and exits: one request stopped the stack."""
    url = "/webhooks/rest/webhook"
    reply = post_json(stack.rasa_url, url, b'{"sender": "\\ud800x", "message": "hi"}')
    assert reply.status in (200, 400), reply.body  # 400 once the channel refuses it
    assert_healthy(stack)
    reply = post_json(stack.rasa_url, url, {"sender": f"after-{uuid.uuid4().hex}", "message": "hi"})
    assert reply.status == 200 and reply.json()


def test_a_conversation_id_that_is_not_text_is_refused(stack: RunningStack) -> None:
    events = event_count(stack)
    for raw in (
        b'{"sender": "\\ud800x", "message": "hi"}',
        b'{"sender": "a\\u0000b", "message": "hi"}',
    ):
        reply = post_json(stack.rasa_url, "/webhooks/rest/webhook", raw)
        assert reply.status == 400 and "sender" in reply.json()["error"]
    assert event_count(stack) == events


def test_a_web_chat_id_with_a_trailing_newline_is_refused(stack: RunningStack) -> None:
    events = event_count(stack)
    reply = post_json(stack.web_url, "/chat/message", {"sender": "A" * 22 + "\n", "message": "hi"})
    assert reply.status == 400
    assert event_count(stack) == events


@pytest.mark.parametrize("chat", ['"abc"', "1.5", "true", '"12"'])
def test_a_telegram_chat_id_that_is_not_a_number_is_a_400(stack: RunningStack, chat: str) -> None:
    body = (
        f'{{"update_id": {next(_update_ids)}, "message": {{"message_id": 1, "date": 1,'
        f' "chat": {{"id": {chat}, "type": "private"}}, "text": "hello"}}}}'
    )
    events = event_count(stack)
    reply = telegram_post(stack, body.encode())
    assert reply.status == 400 and event_count(stack) == events


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_an_hsds_date_past_the_calendar_is_a_400(stack: RunningStack, moment: str) -> None:
    reply = call(stack.web_url, "GET", f"/api/services?{query({'modified_after': moment})}")
    assert reply.status == 400 and "modified_after is out of range" in reply.json()["error"]


def test_staff_ids_past_64_bits_or_in_other_digits_are_refused_clearly(
    stack: RunningStack, console: tuple[Console, int]
) -> None:
    sam, number = console
    huge = "9" * 25
    rows = app_rows(stack)
    assert sam.get(f"/referrals/{huge}")[0] == 404
    assert sam.act(huge, "claim")[0] == 404  # type: ignore[arg-type]
    assert sam.act(huge, "notes", body="x")[0] == 404  # type: ignore[arg-type]
    status, body = sam.get(f"/referrals/{huge}/messages?wait=0")
    assert status == 404 and json.loads(body)["error"]
    status, body = sam.get(f"/referrals/{number}/messages?after={huge}&wait=0")
    assert status == 400 and json.loads(body)["error"]
    for chosen in ("²", huge):
        status, page = sam.act(number, "transfer", to=chosen)
        assert status == 409 and "Choose an active colleague" in page
    assert app_rows(stack) == rows
    for referral in (urllib.parse.quote("²"), huge):
        assert sam.get(f"/audit?referral={referral}")[0] == 200


def test_json_that_is_not_utf8_is_refused(stack: RunningStack) -> None:
    events = event_count(stack)
    for raw in (b'{"sender": "\xa5x", "message": "hi"}', b'{"sender": "ok", "message": "\xff"}'):
        reply = call(stack.rasa_url, "POST", "/webhooks/rest/webhook", raw)
        assert reply.status == 400 and reply.json()["error"]
    assert event_count(stack) == events


def test_secrets_and_tokens_that_are_not_utf8_are_refused_not_a_500(stack: RunningStack, console):
    """Header bytes that are not UTF-8 reached ``str.encode()`` in the comparisons (a 500)."""
    reply = telegram_post(stack, b'{"update_id": 1, "message": {}}', secret="\x80\xff")
    assert reply.status == 403
    sam, number = console
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": "\xe9\xff"}
    status, page = sam.request(f"/referrals/{number}/notes", b"body=x", headers)
    assert status == 403 and "expired" in page


def test_a_refused_staff_reply_is_not_audited_as_sent(stack: RunningStack, console) -> None:
    """A reply to a chat nobody joined (409) was audited as ``send_message``."""
    sam, number = console
    rows = app_rows(stack)
    headers = {"Content-Type": "application/json", "X-CSRF-Token": sam.csrf}
    status, _ = sam.request(f"/referrals/{number}/reply", b'{"text": "hello"}', headers)
    assert status == 409 and app_rows(stack) == rows
