"""Conversations over the REST channel with the real, running stack (`haven run`)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from tests.conftest import ROOT, RunningStack
from tests.integration.chat import new_sender, payloads, post, say, stored_events, texts, tracker

pytestmark = pytest.mark.integration


def test_all_three_processes_are_healthy(stack: RunningStack) -> None:
    for url in (
        f"{stack.rasa_url}/webhooks/rest/",
        f"{stack.actions_url}/health",
        f"{stack.web_url}/healthz",
    ):
        with urllib.request.urlopen(url, timeout=10) as reply:
            assert reply.status == 200, url


def test_web_process_marks_responses_no_store(stack: RunningStack) -> None:
    with urllib.request.urlopen(f"{stack.web_url}/healthz", timeout=10) as reply:
        assert reply.headers["Cache-Control"] == "no-store"


def test_english_greeting_is_the_safety_check(stack: RunningStack) -> None:
    replies = say(stack.rasa_url, new_sender(), "hi")
    assert "safe for you to chat" in texts(replies)
    assert "/not_safe" in payloads(replies) and "/quick_exit" in payloads(replies)


def test_spanish_greeting_is_the_spanish_safety_check(stack: RunningStack) -> None:
    replies = say(stack.rasa_url, new_sender(), "hola")
    assert "¿es seguro para ti chatear ahora?" in texts(replies).lower()


def test_safe_then_menu_in_spanish(stack: RunningStack) -> None:
    sender = new_sender()
    say(stack.rasa_url, sender, "hola")
    replies = say(stack.rasa_url, sender, "si")
    assert "Borrar mis datos" in [b["title"] for r in replies for b in r.get("buttons", [])]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("I'm in danger", "call 911"),
        ("estoy en peligro", "llama al 911"),
        ("i want to kill myself", "988"),
        ("me quiero morir", "988"),
    ],
)
def test_crisis_gets_911_first(stack: RunningStack, message: str, expected: str) -> None:
    text = texts(say(stack.rasa_url, new_sender(), message))
    assert expected in text
    assert text.index("911") < text.index("1-888-373-7888")


def test_crisis_interrupts_a_conversation_in_progress(stack: RunningStack) -> None:
    sender = new_sender()
    say(stack.rasa_url, sender, "borra mis datos")
    text = texts(say(stack.rasa_url, sender, "me van a matar"))
    assert "911" in text


def test_not_safe_gets_a_calm_way_out(stack: RunningStack) -> None:
    sender = new_sender()
    say(stack.rasa_url, sender, "hello")
    text = texts(say(stack.rasa_url, sender, "no"))
    assert "233733" in text and "Close this chat" in text


def test_delete_my_data_removes_tracker_events_after_the_request(stack: RunningStack) -> None:
    sender = new_sender()
    say(stack.rasa_url, sender, "hi")
    say(stack.rasa_url, sender, "what is haven")
    assert stored_events(stack.tracker_db, sender) > 0
    assert "/affirm" in payloads(say(stack.rasa_url, sender, "delete my data"))
    replies = say(stack.rasa_url, sender, "/affirm")
    assert "deleted" in texts(replies)
    # The request that asked for deletion has ended (its reply arrived); Rasa has written
    # the conversation back by now if it was going to. Nothing may remain.
    time.sleep(1.0)
    assert stored_events(stack.tracker_db, sender) == 0
    # The next message starts a fresh conversation and still works.
    assert "safe for you to chat" in texts(say(stack.rasa_url, sender, "hi"))


def test_delete_declined_keeps_the_conversation(stack: RunningStack) -> None:
    sender = new_sender()
    say(stack.rasa_url, sender, "borra mis datos")
    assert "nada" in texts(say(stack.rasa_url, sender, "no")).lower()
    assert stored_events(stack.tracker_db, sender) > 0


@pytest.mark.parametrize(
    "typed",
    ['/EXTERNAL_anything{"x": 1}', "/session_start", '/delete_my_data{"now": true}', "/restart"],
)
def test_typed_intent_is_answered_as_text(stack: RunningStack, typed: str) -> None:
    sender = new_sender()
    replies = say(stack.rasa_url, sender, typed)
    assert "did not understand" in texts(replies)
    events = tracker(stack.rasa_url, stack.token, sender)["events"]
    intents = [e["parse_data"]["intent"]["name"] for e in events if e["event"] == "user"]
    assert intents == ["nlu_fallback"]
    assert not any(e["event"] == "restart" for e in events)


def test_second_misunderstanding_offers_a_person(stack: RunningStack) -> None:
    sender = new_sender()
    say(stack.rasa_url, sender, "/EXTERNAL_one")
    text = texts(say(stack.rasa_url, sender, "/EXTERNAL_two"))
    assert "1-888-373-7888" in text and "233733" in text


def test_button_payload_still_works(stack: RunningStack) -> None:
    sender = new_sender()
    text = texts(say(stack.rasa_url, sender, '/choose_language{"language": "es"}'))
    assert "español" in text
    assert "seguro" in texts(say(stack.rasa_url, sender, "hi"))  # explicit choice sticks


def test_five_thousand_characters_are_cut_with_a_note_and_the_next_message_works(
    stack: RunningStack,
) -> None:
    sender = new_sender()
    replies = say(stack.rasa_url, sender, "I need help with my job. " * 200)
    assert "very long" in texts(replies)
    assert "safe for you to chat" in texts(say(stack.rasa_url, sender, "hi"))


def test_twenty_thousand_characters_are_refused_unread_with_a_reason(stack: RunningStack) -> None:
    sender = new_sender()
    body = json.dumps({"sender": sender, "message": "I need help with my job. " * 800})
    status, reply = post(f"{stack.rasa_url}/webhooks/rest/webhook", body.encode())
    assert status == 413 and "2000 characters" in reply["error"]
    assert stored_events(stack.tracker_db, sender) == 0
    assert "safe for you to chat" in texts(say(stack.rasa_url, sender, "hi"))


def test_long_message_note_is_in_spanish_for_a_spanish_conversation(stack: RunningStack) -> None:
    sender = new_sender()
    say(stack.rasa_url, sender, "hola")
    assert "muy largo" in texts(say(stack.rasa_url, sender, "necesito ayuda " * 300))


@pytest.mark.parametrize("message", ["", "   ", "👍👍", "🙏"])
def test_empty_and_emoji_only_messages_get_a_clear_reply(stack: RunningStack, message: str) -> None:
    assert "only read words" in texts(say(stack.rasa_url, new_sender(), message))


@pytest.mark.parametrize(
    "message",
    [
        "<script>alert(1)</script>",
        "'; DROP TABLE events; --",
        "مرحبا، أحتاج مساعدة",
        "שלום, אני צריך עזרה",
        "\x00\x01binary\x02",
    ],
)
def test_hostile_or_unusual_text_gets_a_reply_and_loses_nothing(
    stack: RunningStack, message: str
) -> None:
    sender = new_sender()
    say(stack.rasa_url, sender, "hi")
    assert texts(say(stack.rasa_url, sender, message))
    follow = texts(say(stack.rasa_url, sender, "hi"))
    # Three words of Arabic make the conversation Arabic (a short "hi" never flips it back).
    language = tracker(stack.rasa_url, stack.token, sender)["slots"]["language"]
    expected = {"en": "safe for you to chat", "ar": "الآمن"}[language]
    assert expected in follow
    assert stored_events(stack.tracker_db, sender) > 0


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"sender": 5, "message": "hi"}',
        b'{"sender": "x", "message": 5}',
        b'{"sender": "x", "message": "hi", "metadata": []}',
        b"\xff\xfe\x00binary",
    ],
)
def test_malformed_webhook_gets_a_400_with_a_reason(stack: RunningStack, body: bytes) -> None:
    status, reply = post(f"{stack.rasa_url}/webhooks/rest/webhook", body)
    assert status == 400 and reply["error"]


def test_language_is_sticky_and_one_word_does_not_flip_it(stack: RunningStack) -> None:
    sender = new_sender()
    say(stack.rasa_url, sender, "hola")
    menu = say(stack.rasa_url, sender, "ok")
    assert "Borrar mis datos" in [b["title"] for r in menu for b in r.get("buttons", [])]
    assert "welcome" not in texts(say(stack.rasa_url, sender, "thanks")).lower()
    assert tracker(stack.rasa_url, stack.token, sender)["slots"]["language"] == "es"


def test_clear_english_sentence_switches_a_detected_spanish_conversation(
    stack: RunningStack,
) -> None:
    sender = new_sender()
    say(stack.rasa_url, sender, "hola")
    text = texts(say(stack.rasa_url, sender, "what can you help me with please"))
    assert "Here is what I can help with" in text


def test_channel_language_hint_is_used_when_the_text_says_nothing(stack: RunningStack) -> None:
    replies = say(stack.rasa_url, new_sender(), "👍", metadata={"language": "es"})
    assert "palabras" in texts(replies)


def test_user_text_is_not_logged(stack: RunningStack) -> None:
    secret = f"my name is Zyxwv{uuid.uuid4().hex[:6]}"
    say(stack.rasa_url, new_sender(), secret)
    time.sleep(0.5)
    assert secret not in (stack.var_dir / "stack.log").read_text(errors="replace")
    assert json.dumps(secret)[1:-1] not in (stack.var_dir / "stack.log").read_text(errors="replace")


def test_haven_chat_talks_through_the_full_stack(stack: RunningStack) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat", "--url", stack.rasa_url],
        input="hola\n1\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "¿es seguro para ti chatear ahora?" in result.stdout.lower()
    assert "Hoy te puedo ayudar" in result.stdout  # button 1 ("Sí, es seguro") was pressed
