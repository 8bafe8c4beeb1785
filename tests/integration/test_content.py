"""The right answer for the person, through the real server: helpers, honest limits, direct
answers, ages and places read as meant, in English and Spanish."""

from __future__ import annotations

import re

import pytest

from tests.conftest import RunningStack
from tests.integration.chat import new_sender, payloads, say, texts

pytestmark = pytest.mark.integration
UNDER_18 = re.compile(r"under 18|menor de 18|menores de 18", re.I)


def chat(stack: RunningStack, *messages: str) -> str:
    sender = new_sender()
    reply = ""
    for message in messages:
        reply = texts(say(stack.rasa_url, sender, message))
    return reply


@pytest.mark.parametrize(
    "message",
    [
        "i think a student in my class is being trafficked, she is 16, what do i do",
        "creo que una alumna de mi clase es victima de trata, que debo hacer?",
    ],
)
def test_a_teacher_gets_the_helper_path(stack: RunningStack, message: str) -> None:
    reply = chat(stack, message)
    assert "911" in reply and "1-888-373-7888" in reply
    assert re.search(r"child protection|protección (?:de menores|infantil)", reply, re.I), reply


def test_the_menu_offers_the_new_paths(stack: RunningStack) -> None:
    sender = new_sender()
    menu = payloads(say(stack.rasa_url, sender, "/help"))
    assert {"/find_service", "/kb_helping_someone", "/i_am_provider"} <= set(menu)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("will you report me to ice?", "does not report you"),
        ("me van a reportar a inmigracion?", "no te (?:denuncia|reporta)"),
        ("if i call 911 will they deport me", "911"),
        ("how long does a t visa take", "lawyer"),
        ("cuanto tarda la visa t", "abogad"),
    ],
)
def test_fears_and_limits_get_a_plain_answer(
    stack: RunningStack, message: str, expected: str
) -> None:
    reply = chat(stack, message)
    assert re.search(expected, reply, re.I), reply


@pytest.mark.parametrize(
    "message",
    [
        "my client's T visa application was found bona fide last month, he is 34 from "
        "honduras. what benefits can he get now?",
        "mi cliente tiene 34 años, es de honduras y su visa t fue declarada bona fide el mes "
        "pasado. que beneficios puede recibir?",
    ],
)
def test_a_provider_stating_the_case_gets_the_outcome_in_one_reply(
    stack: RunningStack, message: str
) -> None:
    replies = say(stack.rasa_url, new_sender(), message)
    reply = texts(replies)
    assert "bona fide" in reply.lower() and ("Can use now" in reply or "Puede usar" in reply)
    assert "/eligibility_roadmap" in payloads(replies)  # "Another client"


@pytest.mark.parametrize("message", ["I am 30", "tengo 25 años", "im 22 years old"])
def test_an_adult_age_never_gets_the_under_18_text(stack: RunningStack, message: str) -> None:
    reply = chat(stack, message)
    assert not UNDER_18.search(reply), reply


def test_everyday_words_are_not_places(stack: RunningStack) -> None:
    reply = chat(stack, "can you tell me where to get food")
    assert "Tell" not in reply and "where should I look" in reply
    assert "Houston, TX" in chat(stack, "can you tell me where to get food", "Houston")


def test_an_unreadable_place_never_traps_the_user(stack: RunningStack) -> None:
    sender = new_sender()
    say(stack.rasa_url, sender, "I need food")
    first = texts(say(stack.rasa_url, sender, "zzzz qqqq"))
    second = texts(say(stack.rasa_url, sender, "xxyy wwvv"))
    assert "could not find that place" in first
    assert "still could not read a place" in second
    after = texts(say(stack.rasa_url, sender, "what is a t visa"))
    assert "T visa" in after and "place" not in after


def test_no_reply_names_a_file_or_offers_snap(stack: RunningStack) -> None:
    sender = new_sender()
    seen = ""
    for message in ["/kb_hhs_certification", "/sources", "/kb_policy_changes_2025", "/more"]:
        seen += texts(say(stack.rasa_url, sender, message))
    assert not re.search(r"\.(?:txt|md)\b|seed", seen)
    assert "SNAP" in seen  # said, but only as something the letter no longer opens
    for line in seen.split("\n"):
        if "SNAP" in line and "http" not in line:
            assert re.search(r"\bno\b|\bnot\b|no longer|narrowed", line), line
