"""The dialogue policy of the warm referral: routes the consent answers, and steps aside while
a case manager holds the conversation.

- While the consent questions run (``referral_step`` is set), every user message goes to
  ``action_referral_step``, which reads it as the answer (free text such as a phone number
  or a code word included), except the messages the rest of the dialogue must answer first:
  a crisis, the quick exit, "I am not safe", "delete my data", a language change. At the
  first question ("continue?") a message that is neither yes nor no ends the offer and is
  answered as usual.
- While a case manager holds the chat (``handoff`` is "human"), the bot says nothing: the
  message is stored (parsed, with its danger flag, for the console) and the turn ends.
  Crisis replies, the quick exit and deleting one's data still work.
- After its own actions (and ``action_staff_joined`` / ``action_staff_left``, which the
  console runs through Rasa's HTTP API) it listens.

It outranks the rule policy (priority 7) but predicts nothing outside these states.
"""

from __future__ import annotations

from typing import Any

from rasa.core.policies.policy import Policy, PolicyPrediction, SupportedData
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.handoff.flow import (
    ASK_ACTION,
    CANCEL_INTENT,
    HANDOFF_SLOT,
    HOLD_PASSES,
    INTERRUPTS,
    JOINED_ACTION,
    LEFT_ACTION,
    SKIP_INTENT,
    STEP_SLOT,
)

OFFER_ANSWERS = frozenset({"affirm", "deny", CANCEL_INTENT, SKIP_INTENT})
OWN_ACTIONS = frozenset({ASK_ACTION, JOINED_ACTION, LEFT_ACTION})
CONFIRM_DELETE = "utter_confirm_delete"


def previous_bot_action(tracker: DialogueStateTracker) -> str | None:
    """The last action before the latest user message, other than listening."""
    seen_user = False
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            if seen_user:
                return None
            seen_user = True
        elif seen_user and isinstance(event, ActionExecuted):
            if event.action_name != ACTION_LISTEN_NAME:
                return event.action_name
    return None


def user_just_spoke(tracker: DialogueStateTracker) -> bool:
    """Whether the newest message or action is a user message (nothing answered it yet).
    Not the same as "the latest action is action_listen": an action the console ran
    through the HTTP API (``execute``) is followed by no action_listen."""
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            return True
        if isinstance(event, ActionExecuted):
            return False
    return False


def decide(tracker: DialogueStateTracker) -> tuple[str | None, list[SlotSet]]:
    """The action to run now (None: leave it to the other policies) and slot events."""
    if not user_just_spoke(tracker):
        listen = tracker.latest_action_name in OWN_ACTIONS
        return (ACTION_LISTEN_NAME if listen else None), []
    if tracker.latest_message is None:
        return None, []
    intent = (tracker.latest_message.intent or {}).get("name")
    if tracker.get_slot(HANDOFF_SLOT) == "human":
        if intent in HOLD_PASSES or previous_bot_action(tracker) == CONFIRM_DELETE:
            return None, []
        return ACTION_LISTEN_NAME, []  # a person answers: the bot stays silent
    step = tracker.get_slot(STEP_SLOT)
    if not step or intent in INTERRUPTS:
        return None, []
    if step == "offer" and intent not in OFFER_ANSWERS:
        return None, [SlotSet(STEP_SLOT, None)]  # moved on: answer what they asked
    return ASK_ACTION, []


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT], is_trainable=True
)
class HandoffPolicy(Policy):
    """Consent answers to the referral action; silence while a person holds the chat."""

    @staticmethod
    def supported_data() -> SupportedData:
        return SupportedData.ML_AND_RULE_DATA

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"priority": 7}  # above the rule policy (6): these states decide

    def train(self, training_trackers: list[Any], domain: Domain, **kwargs: Any) -> Resource:
        return self._resource

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        action, events = decide(tracker)
        probabilities = self._default_predictions(domain)
        if action is not None:
            probabilities[domain.index_for_action(action)] = 1.0
        return self._prediction(probabilities, events=events or None)
