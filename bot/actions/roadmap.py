"""The eligibility road map action: ask the next question, or give the outcome."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.common import (
    AUDIENCE_SLOT,
    ROADMAP_PAYLOAD,
    SOURCES,
    contacts,
    menu_button,
    source_lines,
)
from bot.i18n.catalogs import N_
from bot.knowledge.roadmap import (
    AGE,
    COOPERATION,
    SLOTS,
    STAGE,
    STATUS,
    answer_payload,
    choose_outcome,
    load_outcomes,
    next_question,
)
from bot.knowledge.situation import read_situation
from bot.nlg.content import Button, Node, button, data, join, lines, msg, paragraphs, send
from bot.settings import get_settings

HEADINGS = {
    "use_now": N_("Can use now:"),
    "next_steps": N_("Next steps:"),
    "documents": N_("Documents to gather:"),
    "ineligible_if": N_("What could make the client ineligible:"),
}
WHOM_TO_CALL = N_("Whom to call:")
NOT_SURE = N_("Not sure")
QUESTIONS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    AGE: (
        N_("Eligibility road map. Is your client under 18?"),
        ((N_("Under 18"), "minor"), (N_("18 or older"), "adult")),
    ),
    STATUS: (
        N_("Is your client a foreign national, a US citizen or a permanent resident?"),
        (
            (N_("Foreign national"), "foreign_national"),
            (N_("US citizen"), "us_citizen"),
            (N_("Permanent resident"), "permanent_resident"),
        ),
    ),
    STAGE: (
        N_("Where is your client now?"),
        (
            (N_("No status yet"), "none"),
            (N_("Continued Presence"), "continued_presence"),
            (N_("T visa: bona fide"), "t_bona_fide"),
            (N_("T visa: approved"), "t_approved"),
            (N_("Already certified"), "certified"),
        ),
    ),
    COOPERATION: (
        N_("Is your client cooperating, or willing to cooperate, with law enforcement?"),
        ((N_("Yes"), "yes"), (N_("No, or unable"), "no")),
    ),
}
START_AGAIN = N_("Another client")
FROM_YOUR_MESSAGE = N_("From your message: {facts}.")


class ActionRoadmap(Action):
    """Walks the road map questions (buttons carry the answers as entities)."""

    def name(self) -> str:
        return "action_roadmap"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        entities = {e.get("entity") for e in tracker.latest_message.get("entities") or []}
        answering = bool(entities & set(SLOTS))
        answers = {slot: tracker.get_slot(slot) for slot in SLOTS} if answering else {}
        events: list[dict[str, Any]] = [SlotSet(AUDIENCE_SLOT, "provider")]
        stated: dict[str, str] = {}
        if not answering:  # a new road map: forget the previous client's answers
            text = tracker.latest_message.get("text") or ""
            if not text.startswith("/"):  # typed: take what the message already says
                stated = read_situation(text).roadmap_answers()
            answers = dict(stated)
            events += [SlotSet(slot, stated.get(slot)) for slot in SLOTS]
        heard = self.heard_line(stated)
        slot = next_question(answers)
        if slot is not None:
            question, options = QUESTIONS[slot]
            buttons = [button(msg(title), answer_payload(slot, value)) for title, value in options]
            buttons.append(button(msg(NOT_SURE), answer_payload(slot, "unknown")))
            send(dispatcher, paragraphs(heard, msg(question)), buttons)
            return events
        text, buttons = self.render(choose_outcome(self.outcomes(), answers))
        send(dispatcher, paragraphs(heard, text), buttons)
        return events

    @staticmethod
    def heard_line(stated: dict[str, str]) -> Node:
        """ "From your message: under 18, foreign national." so a misreading can be seen."""
        titles = []
        for slot in SLOTS:
            value = stated.get(slot)
            options = dict((v, t) for t, v in QUESTIONS[slot][1])
            if value in options:
                titles.append(msg(options[value]))
        if not titles:
            return None
        return msg(FROM_YOUR_MESSAGE, facts=join(*titles, sep=", "))

    @staticmethod
    def outcomes():
        return load_outcomes(get_settings().project_root / "data" / "knowledge" / "roadmap.yml")

    @staticmethod
    def render(outcome) -> tuple[Node, list[Button]]:
        sections = outcome.sections
        parts: list[Node] = [msg(sections["summary"])] if "summary" in sections else []
        for section, heading in HEADINGS.items():
            if section in sections:
                parts.append(lines(msg(heading), msg(sections[section])))
        registry = contacts()
        whom = []
        for contact_id in outcome.contacts:
            contact = registry[contact_id]
            reach = ", ".join(v for v in (contact.phone, contact.email) if v)
            whom.append(join("- ", msg(contact.name), ": " if reach else "", data(reach)))
        if whom:
            parts.append(lines(msg(WHOM_TO_CALL), *whom))
        parts.append(lines(join(msg(SOURCES), ":"), *source_lines(outcome.sources)))
        buttons = [button(msg(START_AGAIN), ROADMAP_PAYLOAD), menu_button()]
        return paragraphs(*parts), buttons
