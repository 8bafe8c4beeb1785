"""Know-your-rights actions: answer a topic, "more", "sources", closest topics, provider mode.

Answers come only from ``data/knowledge`` (curated, cited entries), rendered in the
conversation's language from the reviewed catalogs. Providers get the precise version and
always see the sources.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.common import (
    AUDIENCE_SLOT,
    TOPIC_SLOT,
    Speaker,
    claimed_by,
    entry_for_intent,
    knowledge,
    latest_intent,
    menu_button,
)
from bot.i18n.catalogs import N_
from bot.knowledge.entries import KnowledgeEntry
from bot.nlg.content import Button, Node, msg, send

MAX_SUGGESTIONS = 3
MIN_SUGGESTION_CONFIDENCE = 0.05

NOTHING_MORE = N_("That is all I have on this topic.")
NO_TOPIC_YET = N_("Ask me about a topic first, or choose one from the menu.")
DID_YOU_MEAN = N_("I am not sure I understood. Did you mean one of these?")


class ActionAnswerTopic(Action):
    """Answers the knowledge topic the user asked about (intent ``kb_<entry id>``)."""

    def name(self) -> str:
        return "action_answer_topic"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        entry = entry_for_intent(latest_intent(tracker))
        if entry is None:
            dispatcher.utter_message(response="utter_rights_menu")
            return []
        send(dispatcher, *Speaker(tracker).answer(entry))
        return [SlotSet(TOPIC_SLOT, entry.id)]


class FollowUpAction(Action, ABC):
    """An action about the last topic answered ("more", "sources")."""

    @abstractmethod
    def follow_up(self, speaker: Speaker, entry: KnowledgeEntry) -> tuple[Node, list[Button]]:
        raise NotImplementedError

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        speaker = Speaker(tracker)
        entry = knowledge().get(tracker.get_slot(TOPIC_SLOT) or "")
        if entry is None:
            send(dispatcher, msg(NO_TOPIC_YET), [menu_button()])
        else:
            send(dispatcher, *self.follow_up(speaker, entry))
        return []


class ActionTopicMore(FollowUpAction):
    """ "Tell me more" about the last topic."""

    def name(self) -> str:
        return "action_topic_more"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        events = await claimed_by("more", dispatcher, tracker, domain)
        return events if events is not None else await super().run(dispatcher, tracker, domain)

    def follow_up(self, speaker: Speaker, entry: KnowledgeEntry) -> tuple[Node, list[Button]]:
        return msg(entry.more or NOTHING_MORE), speaker.buttons(entry, more=False)


class ActionTopicSources(FollowUpAction):
    """The official sources of the last topic, with the date they were checked."""

    def name(self) -> str:
        return "action_topic_sources"

    def follow_up(self, speaker: Speaker, entry: KnowledgeEntry) -> tuple[Node, list[Button]]:
        return speaker.sources_text(entry), speaker.buttons(entry, sources=False)


class ActionSuggestTopics(Action):
    """First fallback: the closest knowledge topics as buttons, rather than a guess."""

    def name(self) -> str:
        return "action_suggest_topics"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        events = await claimed_by("unclear", dispatcher, tracker, domain)
        if events is not None:
            return events
        ranking = tracker.latest_message.get("intent_ranking") or []
        speaker = Speaker(tracker)
        candidates = []
        for ranked in ranking:
            entry = entry_for_intent(ranked.get("name"))
            confident = ranked.get("confidence", 0) >= MIN_SUGGESTION_CONFIDENCE
            if entry and confident and speaker.suits(entry):
                candidates.append(entry)
        if not candidates:
            dispatcher.utter_message(response="utter_ask_rephrase")
            return []
        buttons = [Speaker.topic_button(e) for e in candidates[:MAX_SUGGESTIONS]]
        send(dispatcher, msg(DID_YOU_MEAN), [*buttons, menu_button()])
        return []


class ActionProviderMode(Action):
    """Switches the conversation to provider answers (precise terms, sources always shown);
    the rule then says so with ``utter_provider_mode``."""

    def name(self) -> str:
        return "action_provider_mode"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        return [SlotSet(AUDIENCE_SLOT, "provider")]


class ActionChildPath(Action):
    """An under-18 answer: the child path and the reporting notice (docs/safety-and-privacy.md)."""

    def name(self) -> str:
        return "action_child_path"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        speaker = Speaker(tracker)
        entries = knowledge()
        child = entries["minors_assistance" if speaker.provider else "minors_basics"]
        notice = entries["confidentiality_limits"]
        send(dispatcher, msg(child.answer))
        send(dispatcher, msg(notice.answer), speaker.buttons(child))
        return [SlotSet(TOPIC_SLOT, child.id), SlotSet("age_group", "minor")]


class ActionAgeAdult(Action):
    """An adult age ("I am 30"): noted, never the under-18 path; the topics are offered."""

    def name(self) -> str:
        return "action_age_adult"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(response="utter_age_adult")
        return [SlotSet("age_group", "adult")]
