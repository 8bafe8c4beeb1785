"""Know-your-rights actions: answer a topic, "more", "sources", closest topics, provider mode.

Answers come only from ``data/knowledge`` (curated, cited entries), rendered in the
conversation's language from the reviewed catalogs. Providers get the precise version and
always see the sources.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any

from babel.dates import format_date
from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.directory.payloads import need_payload
from bot.directory.vocabulary import load_vocabulary
from bot.i18n.catalogs import N_, Catalogs, load_catalogs
from bot.knowledge.entries import (
    KNOWLEDGE_INTENT_PREFIX,
    MORE_PAYLOAD,
    SOURCES_PAYLOAD,
    Contact,
    KnowledgeEntry,
    load_contacts,
    load_knowledge,
)
from bot.languages import LANGUAGES
from bot.settings import get_settings

TOPIC_SLOT = "kb_topic"
AUDIENCE_SLOT = "audience"
MENU_PAYLOAD = "/help"
MAX_RELATED_BUTTONS = 3
POLICY_CHANGES = "policy_changes_2025"  # the dated "what changed" entry
MAX_SUGGESTIONS = 3
MIN_SUGGESTION_CONFIDENCE = 0.05

TELL_ME_MORE = N_("Tell me more")
SOURCES = N_("Sources")
MAIN_MENU = N_("Main menu")
ROADMAP = N_("Eligibility road map")
FIND_NEAR_ME = N_("Find near me: {need}")
ROADMAP_PAYLOAD = "/eligibility_roadmap"
NOTHING_MORE = N_("That is all I have on this topic.")
NO_TOPIC_YET = N_("Ask me about a topic first, or choose one from the menu.")
SOURCES_HEADER = N_("Sources for \u201c{title}\u201d (checked {date}):")
DID_YOU_MEAN = N_("I am not sure I understood. Did you mean one of these?")
NEXT_CALL = N_("Next step: {name}, call {phone}.")
NEXT_CALL_OR_TEXT = N_("Next step: {name}, call {phone} or text {text}.")


def knowledge() -> dict[str, KnowledgeEntry]:
    return load_knowledge(get_settings().project_root / "data" / "knowledge")


def contacts() -> dict[str, Contact]:
    return load_contacts(get_settings().project_root / "data" / "contacts.yml")


def catalogs() -> Catalogs:
    return load_catalogs(get_settings().locales_dir)


class Speaker:
    """Renders knowledge for one conversation: its language and audience."""

    def __init__(self, tracker: Tracker) -> None:
        language = tracker.get_slot("language")
        self.language = language if language in LANGUAGES else get_settings().default_language
        self.provider = tracker.get_slot(AUDIENCE_SLOT) == "provider"
        self.catalogs = catalogs()

    def t(self, message: str, /, **values: Any) -> str:
        """Translate, then fill placeholders (Haven's configuration and the given values)."""
        translated = self.catalogs.translate(message.strip(), self.language)
        values = {"retention_days": get_settings().retention_days, **values}
        for name, value in values.items():
            translated = translated.replace("{" + name + "}", str(value))
        return translated

    def button(self, title: str, payload: str) -> dict[str, str]:
        return {"title": self.t(title), "payload": payload}

    def topic_button(self, entry: KnowledgeEntry) -> dict[str, str]:
        return self.button(entry.title, f"/{entry.intent}")

    def next_step_line(self, entry: KnowledgeEntry) -> str | None:
        step = entry.next_step
        contact = contacts().get(step.contact or "hotline") if step.kind != "topic" else None
        if contact is None or not contact.phone:
            return None
        name = self.t(contact.name)
        if contact.text:
            return self.t(NEXT_CALL_OR_TEXT, name=name, phone=contact.phone, text=contact.text)
        return self.t(NEXT_CALL, name=name, phone=contact.phone)

    def sources_text(self, entry: KnowledgeEntry) -> str:
        date = format_date(entry.reviewed, format="long", locale=self.language)
        lines = [self.t(SOURCES_HEADER, title=self.t(entry.title), date=date)]
        for source in entry.sources:
            lines.append(f"- {source.title}: {source.url}" if source.url else f"- {source.title}")
        return "\n".join(lines)

    def answer(self, entry: KnowledgeEntry) -> tuple[str, list[dict[str, str]]]:
        """The chat-sized answer (the precise one for providers) and its buttons."""
        body = entry.provider_answer if self.provider and entry.provider_answer else entry.answer
        parts = [self.t(body)]
        step = self.next_step_line(entry)
        if (
            step
            and entry.next_step.contact
            and contacts()[entry.next_step.contact].phone not in body
        ):
            parts.append(step)
        if self.provider:
            parts.append(self.sources_text(entry))
        return "\n\n".join(parts), self.buttons(entry, sources=not self.provider)

    def buttons(
        self, entry: KnowledgeEntry, sources: bool = True, more: bool = True
    ) -> list[dict[str, str]]:
        buttons = []
        if more and entry.more:
            buttons.append(self.button(TELL_ME_MORE, MORE_PAYLOAD))
        if sources:
            buttons.append(self.button(SOURCES, SOURCES_PAYLOAD))
        entries = knowledge()
        related = [entry.next_step.topic] if entry.next_step.topic else []
        related += [r for r in entry.related if r not in related]
        shown = related[:MAX_RELATED_BUTTONS]
        if POLICY_CHANGES in related and POLICY_CHANGES not in shown:
            shown.append(POLICY_CHANGES)  # what changed in 2025-26: always one tap away
        buttons += [self.topic_button(entries[r]) for r in shown]
        if entry.find:  # "talk to a lawyer first": the directory's free legal help
            category = load_vocabulary().category(entry.find)
            title = self.t(FIND_NEAR_ME, need=self.t(category.title) if category else entry.find)
            buttons.append({"title": title, "payload": need_payload(entry.find)})
        if self.provider:  # offered, never forced: a direct question gets its answer first
            buttons.append(self.button(ROADMAP, ROADMAP_PAYLOAD))
        buttons.append(self.button(MAIN_MENU, MENU_PAYLOAD))
        return buttons


def entry_for_intent(intent: str | None) -> KnowledgeEntry | None:
    if not intent or not intent.startswith(KNOWLEDGE_INTENT_PREFIX):
        return None
    return knowledge().get(intent.removeprefix(KNOWLEDGE_INTENT_PREFIX))


class ActionAnswerTopic(Action):
    """Answers the knowledge topic the user asked about (intent ``kb_<entry id>``)."""

    def name(self) -> str:
        return "action_answer_topic"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        entry = entry_for_intent((tracker.latest_message.get("intent") or {}).get("name"))
        if entry is None:
            dispatcher.utter_message(response="utter_rights_menu")
            return []
        text, buttons = Speaker(tracker).answer(entry)
        dispatcher.utter_message(text=text, buttons=buttons)
        return [SlotSet(TOPIC_SLOT, entry.id)]


# Other capabilities may claim a message the model did not understand before topics are
# suggested (the directory search takes "Houston" when it has just asked "where?").
# A handler returns the events it produced, or None to pass.
FallbackHandler = Callable[
    [CollectingDispatcher, Tracker, dict[str, Any]], Awaitable[list[dict[str, Any]] | None]
]
FALLBACK_HANDLERS: list[FallbackHandler] = []
# "More" after something other than a topic (the directory's results) is theirs to answer.
MORE_HANDLERS: list[FallbackHandler] = []


async def claimed_by(
    handlers: list[FallbackHandler],
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    domain: dict[str, Any],
) -> list[dict[str, Any]] | None:
    """The events of the first handler that takes the message, or None if none does."""
    for handler in handlers:
        events = await handler(dispatcher, tracker, domain)
        if events is not None:
            return events
    return None


class FollowUpAction(Action, ABC):
    """An action about the last topic answered ("more", "sources")."""

    @abstractmethod
    def follow_up(
        self, speaker: Speaker, entry: KnowledgeEntry
    ) -> tuple[str, list[dict[str, str]]]:
        raise NotImplementedError

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        speaker = Speaker(tracker)
        entry = knowledge().get(tracker.get_slot(TOPIC_SLOT) or "")
        if entry is None:
            text, buttons = speaker.t(NO_TOPIC_YET), [speaker.button(MAIN_MENU, MENU_PAYLOAD)]
        else:
            text, buttons = self.follow_up(speaker, entry)
        dispatcher.utter_message(text=text, buttons=buttons)
        return []


class ActionTopicMore(FollowUpAction):
    """ "Tell me more" about the last topic."""

    def name(self) -> str:
        return "action_topic_more"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        events = await claimed_by(MORE_HANDLERS, dispatcher, tracker, domain)
        return events if events is not None else await super().run(dispatcher, tracker, domain)

    def follow_up(
        self, speaker: Speaker, entry: KnowledgeEntry
    ) -> tuple[str, list[dict[str, str]]]:
        text = speaker.t(entry.more) if entry.more else speaker.t(NOTHING_MORE)
        return text, speaker.buttons(entry, more=False)


class ActionTopicSources(FollowUpAction):
    """The official sources of the last topic, with the date they were checked."""

    def name(self) -> str:
        return "action_topic_sources"

    def follow_up(
        self, speaker: Speaker, entry: KnowledgeEntry
    ) -> tuple[str, list[dict[str, str]]]:
        return speaker.sources_text(entry), speaker.buttons(entry, sources=False)


class ActionSuggestTopics(Action):
    """First fallback: the closest knowledge topics as buttons, rather than a guess."""

    def name(self) -> str:
        return "action_suggest_topics"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        events = await claimed_by(FALLBACK_HANDLERS, dispatcher, tracker, domain)
        if events is not None:
            return events
        ranking = tracker.latest_message.get("intent_ranking") or []
        candidates = []
        for ranked in ranking:
            entry = entry_for_intent(ranked.get("name"))
            if entry and ranked.get("confidence", 0) >= MIN_SUGGESTION_CONFIDENCE:
                candidates.append(entry)
        if not candidates:
            dispatcher.utter_message(response="utter_ask_rephrase")
            return []
        speaker = Speaker(tracker)
        buttons = [speaker.topic_button(e) for e in candidates[:MAX_SUGGESTIONS]]
        buttons.append(speaker.button(MAIN_MENU, MENU_PAYLOAD))
        dispatcher.utter_message(text=speaker.t(DID_YOU_MEAN), buttons=buttons)
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
        dispatcher.utter_message(text=speaker.t(child.answer))
        dispatcher.utter_message(text=speaker.t(notice.answer), buttons=speaker.buttons(child))
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
