"""A place typed for a search is used for that search only: it is forgotten when it ends.

The chat promises "I only use it for this search". The search keeps its need, place and
filters in a slot so that "more", "free only" or "talk to a person about this" can follow
up; the first message that is about something else ends the search, and this policy then
clears the slot. It predicts no action; like ``LanguagePolicy`` it only contributes
``SlotSet`` events, which Rasa applies from every policy before the next action.
"""

from __future__ import annotations

from typing import Any

from rasa.core.policies.policy import Policy, PolicyPrediction, SupportedData
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet
from rasa.shared.core.trackers import DialogueStateTracker

from bot.directory.payloads import AWAITING_SLOT, SEARCH_INTENTS, SEARCH_SLOT


def search_ended(tracker: DialogueStateTracker) -> bool:
    """A search is stored, and the user has just turned to something else."""
    if not tracker.get_slot(SEARCH_SLOT):
        return False
    if tracker.latest_action_name != "action_listen":
        return False  # only right after a user message, before anything answers it
    intent = (tracker.latest_message.intent or {}).get("name") if tracker.latest_message else None
    return bool(intent) and intent not in SEARCH_INTENTS


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT], is_trainable=True
)
class SearchScopePolicy(Policy):
    """Clears the search (and the place in it) when the conversation moves on."""

    @staticmethod
    def supported_data() -> SupportedData:
        return SupportedData.ML_AND_RULE_DATA

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"priority": -1}  # predicts no action; a priority of its own avoids a tie warning

    def train(self, training_trackers: list[Any], domain: Domain, **kwargs: Any) -> Resource:
        return self._resource

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        events = []
        if search_ended(tracker):
            events = [SlotSet(SEARCH_SLOT, None), SlotSet(AWAITING_SLOT, None)]
        return self._prediction(self._default_predictions(domain), events=events or None)
