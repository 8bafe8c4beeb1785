"""Safety follow-ups: answer a message after the danger check-in; next steps after a disclosure.

The crisis reply, the check-in question and the acknowledgement of a disclosure are static
domain responses rendered in the Rasa process; these actions only decide what comes after
them. Both can "answer the held
message": the intent the model read before danger detection took over is replayed as if
the user had just sent it (``action_listen`` + ``UserUttered``), so the usual rules answer
it exactly as they would have.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, UserUttered
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.common import Speaker, entry_for_intent, menu_button
from bot.directory.payloads import REQUEST_HUMAN, need_payload
from bot.i18n.catalogs import N_
from bot.nlg.content import msg, send
from bot.safety.danger_model import DISCLOSURE_THRESHOLD

DANGER_KEY = "haven_danger"  # as bot.nlu.danger sets it in the parse data
# A rights question inside a disclosure is answered right after the acknowledgement when
# the intent model is this sure of it; otherwise its closest topics are offered.
ANSWER_CONFIDENCE = 0.5
TOPIC_CONFIDENCE = 0.1
MAX_TOPICS = 2

WHAT_NEXT = N_("What would help now?")
SAFE_PLACE = N_("A safe place to stay")
TALK_TO_PERSON = N_("Talk to a person")


def held_message(tracker: Tracker, tier: str) -> dict[str, Any] | None:
    """The latest user message that danger detection answered with ``tier``."""
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        found = (event.get("parse_data") or {}).get(DANGER_KEY) or {}
        if found.get("tier") == tier:
            return event
    return None


def replay(event: dict[str, Any]) -> list[dict[str, Any]]:
    """Events that make the dialogue answer ``event`` as the intent model read it."""
    parse = event.get("parse_data") or {}
    held = (parse.get(DANGER_KEY) or {}).get("held") or {}
    text = event.get("text") or ""
    replayed = {
        "text": text,
        "intent": held.get("intent") or {"name": "nlu_fallback", "confidence": 1.0},
        "intent_ranking": held.get("intent_ranking") or [],
        "entities": held.get("entities") or [],
        DANGER_KEY: {**(parse.get(DANGER_KEY) or {}), "tier": "answered"},
    }
    return [
        ActionExecuted("action_listen"),
        UserUttered(text, parse_data=replayed, input_channel=event.get("input_channel")),
    ]


class ActionAnswerHeldMessage(Action):
    """After "Are you in danger right now?" → "no": answer what the user asked."""

    def name(self) -> str:
        return "action_answer_held_message"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        event = held_message(tracker, "possible")
        if event is None:
            dispatcher.utter_message(response="utter_menu")
            return []
        found = (event.get("parse_data") or {}).get(DANGER_KEY) or {}
        if found.get("disclosure", 0.0) >= DISCLOSURE_THRESHOLD:
            # Not in danger now, but what they wrote describes exploitation: acknowledge it
            # as a disclosure would have been ("what you describe may be trafficking").
            dispatcher.utter_message(response="utter_disclosure")
            return next_steps_after_disclosure(dispatcher, tracker, event)
        return replay(event)


class ActionDisclosureNextSteps(Action):
    """After the acknowledgement of a disclosure, the next steps that fit: the rights question
    asked, or the closest topics, a safe place, a person — never a directory search on a
    word pulled out of the story."""

    def name(self) -> str:
        return "action_disclosure_next_steps"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        return next_steps_after_disclosure(dispatcher, tracker, held_message(tracker, "disclosure"))


def next_steps_after_disclosure(
    dispatcher: CollectingDispatcher, tracker: Tracker, event: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The rights question asked inside the disclosure, or the closest topics, a safe place,
    a person and the menu."""
    held = ((event or {}).get("parse_data") or {}).get(DANGER_KEY, {}).get("held") or {}
    asked = held.get("intent") or {}
    if entry_for_intent(asked.get("name")) and asked.get("confidence", 0) >= ANSWER_CONFIDENCE:
        return replay(event)
    topics = [
        entry
        for ranked in held.get("intent_ranking") or []
        if ranked.get("confidence", 0) >= TOPIC_CONFIDENCE
        and (entry := entry_for_intent(ranked.get("name")))
    ]
    buttons = [Speaker.topic_button(entry) for entry in topics[:MAX_TOPICS]]
    buttons.append(Speaker.button(SAFE_PLACE, need_payload("emergency_shelter")))
    buttons.append(Speaker.button(TALK_TO_PERSON, REQUEST_HUMAN))
    send(dispatcher, msg(WHAT_NEXT), [*buttons, menu_button()])
    return []
