"""What every capability's actions share: the curated data, the Speaker, the follow-up registry.

Actions never write finished text. ``Speaker`` builds structured content
(``bot.nlg.content``) for one conversation's audience; the Rasa process renders it in the
user's language (``bot.nlg.render``).

Some messages belong to whichever capability asked the last question: a place typed after
the directory asked "where?" reaches the fallback, and "more" after search results reaches
the topic action. ``FOLLOW_UPS`` lists, in one place, who may claim them, in order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.directory.payloads import need_payload
from bot.directory.vocabulary import load_vocabulary
from bot.i18n.catalogs import N_
from bot.knowledge.entries import (
    KNOWLEDGE_INTENT_PREFIX,
    MORE_PAYLOAD,
    SOURCES_PAYLOAD,
    Contact,
    KnowledgeEntry,
    load_contacts,
    load_knowledge,
)
from bot.nlg.content import Button, Node, button, data, date, join, lines, msg, paragraphs
from bot.settings import get_settings

TOPIC_SLOT = "kb_topic"
AUDIENCE_SLOT = "audience"
MENU_PAYLOAD = "/help"
ROADMAP_PAYLOAD = "/eligibility_roadmap"
MAX_RELATED_BUTTONS = 3
POLICY_CHANGES = "policy_changes_2025"  # the dated "what changed" entry

TELL_ME_MORE = N_("Tell me more")
SOURCES = N_("Sources")
MAIN_MENU = N_("Main menu")
ROADMAP = N_("Eligibility road map")
FIND_NEAR_ME = N_("Find near me: {need}")
SOURCES_HEADER = N_("Sources for \u201c{title}\u201d (checked {date}):")
NEXT_CALL = N_("Next step: {name}, call {phone}.")
NEXT_CALL_OR_TEXT = N_("Next step: {name}, call {phone} or text {text}.")
RULES_APPLY_SINCE = N_("The rules described here apply since {date}.")
RULES_APPLY_FROM = N_("The rules described here apply from {date}.")


def knowledge() -> dict[str, KnowledgeEntry]:
    return load_knowledge(get_settings().project_root / "data" / "knowledge")


def contacts() -> dict[str, Contact]:
    return load_contacts(get_settings().project_root / "data" / "contacts.yml")


def entry_for_intent(intent: str | None) -> KnowledgeEntry | None:
    if not intent or not intent.startswith(KNOWLEDGE_INTENT_PREFIX):
        return None
    return knowledge().get(intent.removeprefix(KNOWLEDGE_INTENT_PREFIX))


def latest_intent(tracker: Tracker) -> str | None:
    return (tracker.latest_message.get("intent") or {}).get("name")


def source_lines(sources: Any) -> list[Node]:
    """ "- title: url" per official source (titles are data: documents keep their names)."""
    return [join("- ", data(s.title), ": " if s.url else "", data(s.url)) for s in sources]


def menu_button() -> Button:
    return button(msg(MAIN_MENU), MENU_PAYLOAD)


class Speaker:
    """Builds the replies of one conversation: providers get the precise version and
    always see the sources."""

    def __init__(self, tracker: Tracker) -> None:
        self.provider = tracker.get_slot(AUDIENCE_SLOT) == "provider"

    @staticmethod
    def button(title: str, payload: str) -> Button:
        return button(msg(title), payload)

    @staticmethod
    def topic_button(entry: KnowledgeEntry) -> Button:
        return button(msg(entry.title), f"/{entry.intent}")

    @staticmethod
    def need_title(category: str) -> Node:
        found = load_vocabulary().category(category)
        return msg(found.title) if found else data(category)

    @staticmethod
    def next_step_line(entry: KnowledgeEntry) -> Node:
        step = entry.next_step
        contact = contacts().get(step.contact or "hotline") if step.kind != "topic" else None
        if contact is None or not contact.phone:
            return None
        values = {"name": msg(contact.name), "phone": data(contact.phone)}
        if contact.text:
            return msg(NEXT_CALL_OR_TEXT, **values, text=data(contact.text))
        return msg(NEXT_CALL, **values)

    @staticmethod
    def sources_text(entry: KnowledgeEntry, today: dt.date | None = None) -> Node:
        """The official sources, the date they were checked, and when the rules described
        took (or take) effect."""
        header = msg(SOURCES_HEADER, title=msg(entry.title), date=date(entry.reviewed))
        effective = None
        if entry.policy_date:
            upcoming = entry.policy_date > (today or dt.date.today())
            rule = RULES_APPLY_FROM if upcoming else RULES_APPLY_SINCE
            effective = msg(rule, date=date(entry.policy_date))
        return lines(header, *source_lines(entry.sources), effective)

    def suits(self, entry: KnowledgeEntry) -> bool:
        """Whether an entry is written for this conversation's audience (a provider is not
        offered the survivor's self-check, nor a survivor a provider-only entry)."""
        wanted = {"provider"} if self.provider else {"survivor", "minor"}
        return bool(wanted & set(entry.audience))

    def answer(self, entry: KnowledgeEntry) -> tuple[Node, list[Button]]:
        """The chat-sized answer (the precise one for providers) and its buttons."""
        body = entry.provider_answer if self.provider and entry.provider_answer else entry.answer
        step = None
        if entry.next_step.contact and contacts()[entry.next_step.contact].phone not in body:
            step = self.next_step_line(entry)
        sources = self.sources_text(entry) if self.provider else None
        return paragraphs(msg(body), step, sources), self.buttons(entry, sources=not self.provider)

    def buttons(
        self, entry: KnowledgeEntry, sources: bool = True, more: bool = True
    ) -> list[Button]:
        buttons = []
        if more and entry.more:
            buttons.append(self.button(TELL_ME_MORE, MORE_PAYLOAD))
        if sources:
            buttons.append(self.button(SOURCES, SOURCES_PAYLOAD))
        entries = knowledge()
        related = [entry.next_step.topic] if entry.next_step.topic else []
        related += [r for r in entry.related if r not in related]
        related = [r for r in related if self.suits(entries[r])]
        shown = related[:MAX_RELATED_BUTTONS]
        if POLICY_CHANGES in related and POLICY_CHANGES not in shown:
            shown.append(POLICY_CHANGES)  # what changed in 2025-26: always one tap away
        buttons += [self.topic_button(entries[r]) for r in shown]
        if entry.find:  # "talk to a lawyer first": the directory's free legal help
            title = msg(FIND_NEAR_ME, need=self.need_title(entry.find))
            buttons.append(button(title, need_payload(entry.find)))
        if self.provider:  # offered, never forced: a direct question gets its answer first
            buttons.append(self.button(ROADMAP, ROADMAP_PAYLOAD))
        buttons.append(menu_button())
        return buttons


# A follow-up handler takes a message that another capability's question was waiting for,
# and returns the events it produced, or None to pass.
FollowUpHandler = Callable[
    [CollectingDispatcher, Tracker, dict[str, Any]], Awaitable[list[dict[str, Any]] | None]
]


def follow_ups() -> dict[str, tuple[FollowUpHandler, ...]]:
    """Who may claim a message before the default answer, per kind of message, in order:
    ``unclear`` (before closest topics are suggested) and ``more`` (before "tell me more"
    about the last topic)."""
    from bot.actions import directory  # directory's actions import this module

    return {
        "unclear": (directory.continue_search,),
        "more": (directory.more_results_after_search,),
    }


async def claimed_by(
    kind: str, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
) -> list[dict[str, Any]] | None:
    """The events of the first handler of ``kind`` that takes the message, or None."""
    for handler in follow_ups()[kind]:
        events = await handler(dispatcher, tracker, domain)
        if events is not None:
            return events
    return None
