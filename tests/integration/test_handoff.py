"""The warm referral through the real stack: consent over each channel, the referral in the
database with exactly the consented fields, a case manager in the staff console (over HTTP
here; in a real browser in test_handoff_browser.py) claiming, joining, replying and
closing, the bot stepping aside and coming back, interpretation both ways with the tiny
Argos packages, deletion and urgency."""

from __future__ import annotations

import http.cookiejar
import json
import re
import secrets
import sqlite3
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest
from cryptography.fernet import Fernet

from tests.conftest import STAFF_PASSWORD, STAFF_TELEGRAM_CHAT, RunningStack
from tests.integration.chat import payloads, say, texts
from tests.integration.test_telegram import (
    callback_update,
    message_update,
    new_chat,
    post_update,
    sent_texts,
)

pytestmark = pytest.mark.integration


def long_sender() -> str:
    """A conversation id a REST client may poll with (128 random bits)."""
    return secrets.token_urlsafe(16)


def referral_rows(stack: RunningStack) -> list[dict[str, Any]]:
    with sqlite3.connect(stack.var_dir / "haven.db") as connection:
        connection.row_factory = sqlite3.Row
        return [dict(r) for r in connection.execute("SELECT * FROM referral ORDER BY id")]


def audit_rows(stack: RunningStack, referral_id: int) -> list[tuple[str, str | None]]:
    with sqlite3.connect(stack.var_dir / "haven.db") as connection:
        return connection.execute(
            "SELECT a.action, s.username FROM audit_log a LEFT JOIN staff_user s"
            " ON s.id = a.staff_id WHERE a.referral_id = ? ORDER BY a.id",
            (referral_id,),
        ).fetchall()


def decrypt(stack: RunningStack, token: str | None) -> Any:
    key = (stack.var_dir / "contact-key").read_text().strip()
    return None if token is None else json.loads(Fernet(key.encode()).decrypt(token.encode()))


def newest_referral(stack: RunningStack) -> dict[str, Any]:
    return referral_rows(stack)[-1]


class Console:
    """A case manager's browser, reduced to HTTP: cookies, forms and the CSRF token."""

    def __init__(self, stack: RunningStack, username: str) -> None:
        self.base = stack.web_url + "/staff"
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), NoRedirect()
        )
        self.csrf = ""
        status, page = self.get("/login")
        login_csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        status, _ = self.post("/login", username=username, password=STAFF_PASSWORD,
                              csrf=login_csrf)  # fmt: skip
        assert status == 303, f"sign-in failed ({status})"
        self.refresh_csrf("/")

    def request(self, path: str, data: bytes | None = None, headers: dict | None = None):
        request = urllib.request.Request(self.base + path, data=data, headers=headers or {})
        try:
            with self.opener.open(request, timeout=60) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def get(self, path: str) -> tuple[int, str]:
        return self.request(path)

    def post(self, path: str, **form: str) -> tuple[int, str]:
        data = urllib.parse.urlencode(form).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return self.request(path, data, headers)

    def refresh_csrf(self, path: str) -> str:
        status, page = self.get(path)
        assert status == 200, page[:500]
        self.csrf = re.search(r'data-csrf="([^"]+)"', page).group(1)
        return page

    def act(self, referral: int, action: str, **form: str) -> tuple[int, str]:
        return self.post(f"/referrals/{referral}/{action}", csrf=self.csrf, **form)

    def reply(self, referral: int, text: str) -> dict:
        status, body = self.request(
            f"/referrals/{referral}/reply",
            json.dumps({"text": text}).encode(),
            {"Content-Type": "application/json", "X-CSRF-Token": self.csrf,
             "Accept": "application/json"},
        )  # fmt: skip
        assert status == 200, body
        return json.loads(body)

    def lines(self, referral: int, after: int = 0, wait: float = 0) -> dict:
        status, body = self.get(f"/referrals/{referral}/messages?after={after}&wait={wait}")
        assert status == 200, body
        return json.loads(body)

    def wait_for_line(self, referral: int, contains: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines(referral, wait=2)["lines"]:
                if contains in line["text"]:
                    return line
        raise AssertionError(f"{contains!r} never reached the console")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None

    def http_error_303(self, request, reply, code, message, headers):  # noqa: ANN001
        return reply

    http_error_302 = http_error_301 = http_error_303


def consent(stack: RunningStack, sender: str, *answers: str, metadata: dict | None = None):
    """Ask for a person and answer the questions; the replies of the last answer."""
    replies = say(stack.rasa_url, sender, "/request_human", metadata)
    assert "/affirm" in payloads(replies), texts(replies)
    for answer in ("/affirm", *answers):
        replies = say(stack.rasa_url, sender, answer, metadata)
    return replies


CHAT_LATER = '/referral_answer{"choice": "chat_later"}'
CHAT_NOW = '/referral_answer{"choice": "chat_now"}'
TEXT_ME = '/referral_answer{"choice": "text"}'
ADULT = '/referral_answer{"choice": "adult"}'


def poll_rest(stack: RunningStack, sender: str, after: int, contains: str) -> tuple[str, int]:
    """Long-poll the REST channel's events until a message contains ``contains``."""
    deadline = time.monotonic() + 30
    seen = []
    while time.monotonic() < deadline:
        url = f"{stack.rasa_url}/webhooks/rest/events?sender={sender}&after={after}&wait=1"
        with urllib.request.urlopen(url, timeout=40) as reply:
            body = json.loads(reply.read())
        after = body["last"]
        seen += [m.get("text") or "" for m in body["messages"]]
        for text in seen:
            if contains in text:
                return text, after
    raise AssertionError(f"{contains!r} never reached the REST client: {seen}")


# --- consent and what is stored -----------------------------------------------------------


def test_consent_stores_exactly_what_the_summary_showed_and_notifies_staff(
    stack: RunningStack, fake_telegram
) -> None:
    sender = long_sender()
    say(stack.rasa_url, sender, "hi")
    say(stack.rasa_url, sender, "what is a t visa")
    before = len(referral_rows(stack))
    summary = consent(
        stack, sender, TEXT_ME, "713-555-0142", "/skip", "sunflower", ADULT, "Houston, TX",
        "/deny",
    )  # fmt: skip
    shown = texts(summary)
    for part in ("713-555-0142", "sunflower", "Houston, TX", "T visa", "18 or older",
                 "A text message", "not shared"):  # fmt: skip
        assert part in shown, part
    assert len(referral_rows(stack)) == before  # nothing before "Send"
    sent = texts(say(stack.rasa_url, sender, "/affirm"))
    row = newest_referral(stack)
    assert f"request number is {row['id']}" in sent and "sunflower" in sent
    assert json.loads(row["needs"]) == ["topic:t_visa"]
    assert row["place"] == "Houston, TX" and row["age_group"] == "adult"
    assert row["contact_method"] == "text" and row["share_transcript"] == 0
    assert decrypt(stack, row["contact_enc"]) == {"phone": "713-555-0142", "code_word": "sunflower"}
    assert decrypt(stack, row["conversation_enc"]) == sender
    assert sender not in json.dumps(row) and "713-555" not in json.dumps(row)
    assert sorted(json.loads(row["consent"])["fields"]) == sorted(
        ["needs", "language", "contact_method", "phone", "code_word", "share_transcript",
         "place", "age_group"]
    )  # fmt: skip
    # The staff group hears of it, with a link and nothing personal.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        sent_to_staff = sent_texts(fake_telegram, STAFF_TELEGRAM_CHAT)
        notices = [t for t in sent_to_staff if f"#{row['id']}," in t]
        if notices:
            break
        time.sleep(0.3)
    assert notices and "/staff/referrals/" in notices[0]
    assert not any(p in notices[0] for p in ("713", "sunflower", "Houston"))


def test_cancel_sends_nothing(stack: RunningStack) -> None:
    sender = long_sender()
    before = len(referral_rows(stack))
    replies = consent(stack, sender, TEXT_ME, "never mind")
    assert "did not send anything" in texts(replies)
    assert len(referral_rows(stack)) == before


# --- the console and the live relay ----------------------------------------------------


def test_rest_takeover_both_ways_then_the_bot_resumes(stack: RunningStack) -> None:
    sender = long_sender()
    consent(stack, sender, CHAT_NOW, "/skip", "/skip", "/skip", "/deny", "/affirm")
    number = newest_referral(stack)["id"]
    console = Console(stack, "casey")
    status, queue = console.get("/")
    assert status == 200 and f"#{number}" in queue
    # Not claimed: no conversation for this case manager.
    status, _ = console.get(f"/referrals/{number}/messages?after=0&wait=0")
    assert status == 403
    assert console.act(number, "claim")[0] == 303
    console.refresh_csrf(f"/referrals/{number}")
    assert console.act(number, "join")[0] == 303
    joined, last = poll_rest(stack, sender, 0, "has joined this chat")
    assert "Casey" in joined
    assert console.reply(number, "Hi, I am Casey. How can I help?")["ok"]
    text, last = poll_rest(stack, sender, last, "I am Casey")
    # The bot stays silent while a person holds the chat; the console sees the message.
    assert say(stack.rasa_url, sender, "<script>alert(1)</script> i need a lawyer") == []
    line = console.wait_for_line(number, "i need a lawyer")
    assert line["who"] == "user" and line["text"].startswith("<script>")
    status, page = console.get(f"/referrals/{number}")
    assert "<script>alert(1)</script>" not in page  # escaped wherever a page shows it
    # Crisis replies still come through.
    crisis = texts(say(stack.rasa_url, sender, "he is outside my door with a knife"))
    assert "911" in crisis
    assert console.act(number, "close", outcome="helped")[0] == 303
    text, last = poll_rest(stack, sender, last, "has left the chat")
    assert "anything else" in text
    assert "T visa" in texts(say(stack.rasa_url, sender, "what is a t visa"))
    actions = [a for a, _ in audit_rows(stack, number)]
    for expected in ("claim", "join_chat", "view_conversation", "send_message", "close"):
        assert expected in actions, expected


def test_a_rest_client_gets_staff_messages_with_its_next_turn(stack: RunningStack) -> None:
    sender = f"rest-{secrets.token_hex(4)}"  # short: may not poll, gets them in its next turn
    consent(stack, sender, CHAT_LATER, "/skip", "/skip", "/skip", "/skip", "/deny", "/affirm")
    number = newest_referral(stack)["id"]
    console = Console(stack, "casey")
    console.act(number, "claim")
    console.refresh_csrf(f"/referrals/{number}")
    console.act(number, "join")
    console.reply(number, "Casey here: are you safe to talk?")
    replies = say(stack.rasa_url, sender, "yes")
    assert "has joined" in texts(replies) and "are you safe to talk" in texts(replies)
    url = f"{stack.rasa_url}/webhooks/rest/events?sender={sender}&after=0&wait=0"
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            status = reply.status
    except urllib.error.HTTPError as error:
        status = error.code
    assert status == 400  # a short id cannot read a conversation by polling
    console.act(number, "close", outcome="helped")


def test_telegram_takeover_both_ways(stack: RunningStack, fake_telegram) -> None:
    chat = new_chat()
    post_update(stack, message_update(chat, "hello"))
    post_update(stack, message_update(chat, "i want to talk to a person"))
    for data in ("/affirm", CHAT_LATER, "/skip", "/skip", "/skip", "/skip", "/deny", "/affirm"):
        from bot.channels.telegram import callback_data

        post_update(stack, callback_update(chat, callback_data(data)))
    assert "request number is" in sent_texts(fake_telegram, chat)[-1]
    row = newest_referral(stack)
    assert row["channel"] == "telegram" and decrypt(stack, row["conversation_enc"]) == str(chat)
    console = Console(stack, "casey")
    console.act(row["id"], "claim")
    console.refresh_csrf(f"/referrals/{row['id']}")
    console.act(row["id"], "join")
    console.reply(row["id"], "Hello from Casey on Telegram")
    assert "Hello from Casey on Telegram" in sent_texts(fake_telegram, chat)[-1]
    before = len(sent_texts(fake_telegram, chat))
    post_update(stack, message_update(chat, "thank you, i work at a farm"))
    console.wait_for_line(row["id"], "i work at a farm")
    assert len(sent_texts(fake_telegram, chat)) == before  # the bot said nothing
    console.act(row["id"], "close", outcome="helped")
    assert "has left the chat" in sent_texts(fake_telegram, chat)[-1]


def test_interpretation_both_ways_with_the_notice(stack: RunningStack) -> None:
    """German (tiny de↔en packages): the console reads English beside the original; the
    person reads the case manager's English in German, marked machine-translated."""
    sender = long_sender()
    german = {"language": "de"}
    consent(stack, sender, CHAT_LATER, "/skip", "/skip", "/skip", "/skip", "/deny", "/affirm",
            metadata=german)  # fmt: skip
    row = newest_referral(stack)
    assert row["language"] == "de"
    console = Console(stack, "casey")
    console.act(row["id"], "claim")
    page = console.refresh_csrf(f"/referrals/{row['id']}")
    assert "German" in page
    console.act(row["id"], "join")
    _, last = poll_rest(stack, sender, 0, "Casey")
    say(stack.rasa_url, sender, "ich brauche essen", german)
    line = console.wait_for_line(row["id"], "ich brauche essen")
    assert line["translated"] == "i need food" and line["language"] == "de"
    sent = console.reply(row["id"], "i can help you here")
    assert sent["translated"] is True
    text, _ = poll_rest(stack, sender, last, "hilfe")
    assert text.startswith("ich kann hilfe du hier") and "ⓘ" in text
    staff_line = console.wait_for_line(row["id"], "i can help you here")
    assert staff_line["who"] == "staff" and staff_line["translated"].startswith("ich kann")
    console.act(row["id"], "close", outcome="helped")


# --- safety and privacy -----------------------------------------------------------------


def test_a_crisis_makes_the_open_referral_urgent(stack: RunningStack) -> None:
    sender = long_sender()
    consent(stack, sender, CHAT_LATER, "/skip", "/skip", "/skip", "/skip", "/deny", "/affirm")
    row = newest_referral(stack)
    assert row["urgency"] == "normal"
    assert "911" in texts(say(stack.rasa_url, sender, "he is outside my door with a bat"))
    row = referral_rows(stack)[row["id"] - 1]
    assert row["urgency"] == "urgent" and "crisis" in json.loads(row["safety_flags"])


def test_delete_my_data_removes_the_referrals_personal_data(stack: RunningStack) -> None:
    sender = long_sender()
    consent(stack, sender, TEXT_ME, "713 555 0100", "/skip", "blue", "/skip", "Austin", "/deny",
            "/affirm")  # fmt: skip
    number = newest_referral(stack)["id"]
    console = Console(stack, "casey")
    console.act(number, "claim")
    console.refresh_csrf(f"/referrals/{number}")
    console.act(number, "notes", body="left a message")
    say(stack.rasa_url, sender, "delete my data")
    assert "deleted" in texts(say(stack.rasa_url, sender, "yes")).lower()
    row = referral_rows(stack)[number - 1]
    for field in ("conversation_ref", "conversation_enc", "contact_enc", "place", "age_group"):
        assert row[field] is None, field
    assert row["status"] == "closed" and row["outcome"] == "deleted_by_user"
    with sqlite3.connect(stack.var_dir / "haven.db") as connection:
        notes = connection.execute(
            "SELECT COUNT(*) FROM referral_note WHERE referral_id = ?", (number,)
        ).fetchone()[0]
    assert notes == 0
    status, page = console.get(f"/referrals/{number}")
    assert "deleted their data" in page and "713 555" not in page


def test_contact_details_need_a_claim_and_every_view_is_audited(stack: RunningStack) -> None:
    sender = long_sender()
    consent(stack, sender, TEXT_ME, "713 555 0177", "/skip", "/skip", "/skip", "/skip", "/deny",
            "/affirm")  # fmt: skip
    number = newest_referral(stack)["id"]
    sofia = Console(stack, "sofia")
    status, page = sofia.get(f"/referrals/{number}")
    assert status == 200 and "713 555 0177" not in page and "Claim" in page
    casey = Console(stack, "casey")
    casey.act(number, "claim")
    status, page = casey.get(f"/referrals/{number}")
    assert "713 555 0177" in page
    status, page = sofia.get(f"/referrals/{number}")
    assert "713 555 0177" not in page  # claimed by someone else
    assert ("view_contact", "casey") in audit_rows(stack, number)
    casey.act(number, "close", outcome="no_contact")


def test_csrf_and_lockout(stack: RunningStack) -> None:
    sender = long_sender()
    consent(stack, sender, TEXT_ME, "/skip", "/skip", "/skip", "/skip", "/skip", "/deny", "/affirm")
    number = newest_referral(stack)["id"]
    casey = Console(stack, "casey")
    assert casey.post(f"/referrals/{number}/claim")[0] == 403  # no token
    assert casey.post(f"/referrals/{number}/claim", csrf="forged")[0] == 403
    assert newest_referral(stack)["status"] == "waiting"
    # Five wrong passwords lock the account; the right one is then refused too.
    probe = Console.__new__(Console)
    probe.base, probe.jar = stack.web_url + "/staff", http.cookiejar.CookieJar()
    probe.opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(probe.jar), NoRedirect()
    )
    for password in ["wrong"] * 5 + [STAFF_PASSWORD]:
        _, page = probe.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        status, page = probe.post("/login", username="sam", password=password, csrf=token)
    assert status in (401, 429) and "locked" in page.lower()
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "bot.cli", "staff", "unlock", "sam"], env=stack.env,
                   check=True, capture_output=True)  # fmt: skip
    Console(stack, "sam")  # signs in again
