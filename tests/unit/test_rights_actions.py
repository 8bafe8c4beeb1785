"""Know-your-rights actions, run the way rasa-sdk runs them, with the real entries and catalogs."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.common import Speaker, knowledge
from bot.actions.rights import (
    ActionAnswerTopic,
    ActionChildPath,
    ActionProviderMode,
    ActionSuggestTopics,
    ActionTopicMore,
    ActionTopicSources,
)
from bot.channels.payloads import allowed_payloads
from tests.rendering import render_reply, rendered


def run(action: Action, intent: str = "", ranking: list | None = None, **slots: Any):
    latest = {"intent": {"name": intent}, "intent_ranking": ranking or [], "entities": []}
    tracker = Tracker("someone", slots, latest, [], False, None, {}, "action_listen")
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, {}))
    return rendered(dispatcher.messages, slots.get("language") or "en"), events


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
    reviewed = knowledge()["t_visa"].reviewed  # the date the entry was checked, as written
    assert (
        "uscis.gov" in sources["text"]
        and f"{reviewed:%B} {reviewed.day}, {reviewed.year}" in sources["text"]
    )


def test_sources_say_when_the_rules_took_effect() -> None:
    entry = knowledge()["processing_times"]
    assert entry.policy_date is not None
    before = entry.policy_date - dt.timedelta(days=1)
    since = render_reply(Speaker.sources_text(entry, today=entry.policy_date))["text"]
    upcoming = render_reply(Speaker.sources_text(entry, today=before))["text"]
    assert "apply since" in since and "apply from" in upcoming
    no_date = render_reply(Speaker.sources_text(knowledge()["rights_at_work"]))["text"]
    assert "apply" not in no_date


def test_related_topics_fit_the_audience() -> None:
    """The survivor's self-check is offered to survivors, never to a provider."""
    assert "provider" not in knowledge()["signs_self_check"].audience
    [survivor], _ = run(ActionAnswerTopic(), "kb_what_is_trafficking", language="en")
    [provider], _ = run(
        ActionAnswerTopic(), "kb_what_is_trafficking", language="en", audience="provider"
    )
    assert "/kb_signs_self_check" in [b["payload"] for b in survivor["buttons"]]
    assert "/kb_signs_self_check" not in [b["payload"] for b in provider["buttons"]]


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
