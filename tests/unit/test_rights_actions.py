"""Know-your-rights actions, run the way rasa-sdk runs them, with the real entries and catalogs."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.rights import (
    ActionAnswerTopic,
    ActionChildPath,
    ActionProviderMode,
    ActionSuggestTopics,
    ActionTopicMore,
    ActionTopicSources,
)
from bot.channels.payloads import allowed_payloads


def run(action: Action, intent: str = "", ranking: list | None = None, **slots: Any):
    latest = {"intent": {"name": intent}, "intent_ranking": ranking or [], "entities": []}
    tracker = Tracker("someone", slots, latest, [], False, None, {}, "action_listen")
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, {}))
    return dispatcher.messages, events


def test_topic_answer_in_english_with_next_steps_and_buttons() -> None:
    [message], events = run(ActionAnswerTopic(), "kb_t_visa", language="en")
    assert "T visa" in message["text"] and "1-888-373-7888" in message["text"]
    payloads = [b["payload"] for b in message["buttons"]]
    assert "/more" in payloads and "/sources" in payloads and "/kb_u_visa" in payloads
    assert set(payloads) <= allowed_payloads() | {"/help"}
    assert events == [{"event": "slot", "timestamp": None, "name": "kb_topic", "value": "t_visa"}]


def test_topic_answer_in_spanish() -> None:
    [message], _ = run(ActionAnswerTopic(), "kb_passport_and_id", language="es")
    assert "pasaporte" in message["text"].lower()
    assert "Fuentes" in [b["title"] for b in message["buttons"]]


def test_provider_gets_the_precise_answer_and_sources() -> None:
    [message], _ = run(ActionAnswerTopic(), "kb_t_visa", language="en", audience="provider")
    assert "I-914" in message["text"] and "https://www.uscis.gov" in message["text"]


def test_more_and_sources_follow_the_last_topic() -> None:
    [more], _ = run(ActionTopicMore(), "more", language="en", kb_topic="t_visa")
    assert "work permit" in more["text"]
    [sources], _ = run(ActionTopicSources(), "sources", language="en", kb_topic="t_visa")
    assert "uscis.gov" in sources["text"] and "2026" in sources["text"]


def test_more_without_a_topic_says_what_to_do() -> None:
    [message], _ = run(ActionTopicMore(), "more", language="en")
    assert "topic" in message["text"]


def test_low_confidence_offers_the_closest_topics() -> None:
    ranking = [
        {"name": "nlu_fallback", "confidence": 0.4},
        {"name": "kb_t_visa", "confidence": 0.3},
        {"name": "greet", "confidence": 0.2},
        {"name": "kb_u_visa", "confidence": 0.1},
    ]
    [message], _ = run(ActionSuggestTopics(), "nlu_fallback", ranking, language="en")
    assert [b["payload"] for b in message["buttons"]][:2] == ["/kb_t_visa", "/kb_u_visa"]


def test_no_close_topic_asks_to_rephrase() -> None:
    ranking = [{"name": "nlu_fallback", "confidence": 1.0}]
    [message], _ = run(ActionSuggestTopics(), "nlu_fallback", ranking, language="en")
    assert message["response"] == "utter_ask_rephrase"


def test_provider_mode_sets_the_audience() -> None:
    _, events = run(ActionProviderMode(), "i_am_provider")
    assert events[0]["name"] == "audience" and events[0]["value"] == "provider"


def test_under_18_gets_the_child_path_and_the_reporting_notice() -> None:
    messages, events = run(ActionChildPath(), "age_minor", language="en")
    text = "\n".join(m["text"] for m in messages)
    assert "under 18" in text.lower() and "authorities" in text
    assert {"event": "slot", "timestamp": None, "name": "age_group", "value": "minor"} in events
