"""Know-your-rights answers and the provider road map over REST, with the real stack."""

from __future__ import annotations

import pytest

from tests.conftest import RunningStack
from tests.integration.chat import new_sender, payloads, say, texts

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("what is a T visa", "T visa"),
        ("¿qué es la visa T?", "visa T"),
        ("my boss took my passport", "passport"),
        ("mi patrón tiene mi pasaporte", "pasaporte"),
        ("do I have to talk to the police?", "police"),
    ],
)
def test_questions_get_the_curated_answer(
    stack: RunningStack, question: str, expected: str
) -> None:
    sender = new_sender()
    replies = say(stack.rasa_url, sender, question)
    if "/deny" in payloads(replies):  # "took my passport" may be danger: asked first
        assert "911" in texts(replies)
        replies = say(stack.rasa_url, sender, "/deny")
    assert expected.lower() in texts(replies).lower()
    assert "/sources" in payloads(replies)


def test_sources_on_request_after_an_answer(stack: RunningStack) -> None:
    sender = new_sender()
    say(stack.rasa_url, sender, "what is a T visa")
    text = texts(say(stack.rasa_url, sender, "/sources"))
    assert "https://www.uscis.gov" in text


def test_more_on_request_after_an_answer(stack: RunningStack) -> None:
    sender = new_sender()
    say(stack.rasa_url, sender, "what is a T visa")
    assert "work permit" in texts(say(stack.rasa_url, sender, "tell me more"))


def test_provider_road_map_adult_with_continued_presence(stack: RunningStack) -> None:
    sender = new_sender()
    assert "Provider mode" in texts(say(stack.rasa_url, sender, "I'm a case manager"))
    assert "under 18" in texts(say(stack.rasa_url, sender, "/eligibility_roadmap"))
    say(stack.rasa_url, sender, '/eligibility_roadmap{"roadmap_age": "adult"}')
    say(stack.rasa_url, sender, '/eligibility_roadmap{"roadmap_status": "foreign_national"}')
    result = texts(
        say(stack.rasa_url, sender, '/eligibility_roadmap{"roadmap_stage": "continued_presence"}')
    )
    assert (
        "Shepherd" in result and "refugee" in result.lower() and "certification" in result.lower()
    )


def test_under_18_anywhere_leads_to_the_child_path(stack: RunningStack) -> None:
    sender = new_sender()
    say(stack.rasa_url, sender, "hi")
    text = texts(say(stack.rasa_url, sender, "i'm 16"))
    assert "authorities" in text


def test_forged_road_map_answer_is_not_accepted(stack: RunningStack) -> None:
    replies = say(stack.rasa_url, new_sender(), '/eligibility_roadmap{"roadmap_age": "elder"}')
    assert "did not understand" in texts(replies)
