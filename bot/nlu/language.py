"""Which language a conversation is in: detection per message, stickiness per conversation.

``LanguageDetector`` runs first in the NLU pipeline and records the detected language
(value, confidence, evidence) in the message's parse data. ``LanguagePolicy`` runs with
the dialogue policies, where the tracker is at hand, and keeps the ``language`` slot
sticky: an explicit choice wins over detection; a message with little evidence (one word)
never flips an established language. It predicts no action; it only contributes
``SlotSet`` events, which Rasa applies from every policy before the next action (so the
response generator already sees them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rasa.core.policies.policy import Policy, PolicyPrediction, SupportedData
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.i18n.detect import detect_language
from bot.languages import DETECTION_KEY, is_supported
from bot.settings import get_settings

LANGUAGE_SLOT = "language"
LANGUAGE_SOURCE_SLOT = "language_source"
EXPLICIT_ENTITY = "language"
# Parse-data key of the detection (not an entity: it is about the message, not in it, and
# keeps end-to-end test stories free of annotations nobody typed).
# Message-metadata key the channel fills (server side, never from the client) with the
# conversation's language and its source, for the NLU components that need it before the
# dialogue runs (the English pivot).
CONVERSATION_METADATA = "haven_conversation"
# A detected language replaces an established one only with this much evidence.
MIN_WORDS_TO_SWITCH = 3
MIN_CONFIDENCE_TO_SWITCH = 0.75


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER], is_trainable=False)
class LanguageDetector(GraphComponent):
    """Adds the detected language to each user message's parse data (no-op on training data)."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LanguageDetector:
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            detection = detect_language(text)
            if detection.language is None:
                continue
            found = {
                "language": detection.language,
                "confidence": round(detection.confidence, 3),
                "evidence": detection.evidence,
            }
            message.set(DETECTION_KEY, found, add_to_output=True)
        return messages


@dataclass(frozen=True)
class LanguageState:
    """The conversation's language and where it came from."""

    language: str | None
    source: str | None  # explicit | detected | channel | default


def next_language_state(
    current: LanguageState,
    explicit: str | None,
    detected: str | None,
    detected_confidence: float,
    detected_evidence: int,
    channel_hint: str | None,
    default: str,
) -> LanguageState:
    """Decide the conversation's language after one user message.

    1. An explicit choice (button or "in Spanish please") always wins and sticks.
    2. After an explicit choice, detection never changes the language.
    3. With no evidence yet (new conversation, or only emoji so far), any detection counts,
       even one word ("hola"); else the channel's hint (Telegram language_code); else the
       default language.
    4. Otherwise a different language takes over only on a clear multi-word message.
    """
    if is_supported(explicit):
        return LanguageState(explicit, "explicit")
    if current.source == "explicit" and is_supported(current.language):
        return current
    if not is_supported(current.language) or current.source in (None, "default", "channel"):
        if is_supported(detected):
            return LanguageState(detected, "detected")
        if is_supported(channel_hint):
            return LanguageState(channel_hint, "channel")
        if is_supported(current.language):
            return current
        return LanguageState(default, "default")
    if (
        is_supported(detected)
        and detected != current.language
        and detected_evidence >= MIN_WORDS_TO_SWITCH
        and detected_confidence >= MIN_CONFIDENCE_TO_SWITCH
    ):
        return LanguageState(detected, "detected")
    return current


def language_state_after(tracker: DialogueStateTracker, default: str) -> LanguageState:
    """Apply ``next_language_state`` to the tracker's latest user message."""
    current = LanguageState(tracker.get_slot(LANGUAGE_SLOT), tracker.get_slot(LANGUAGE_SOURCE_SLOT))
    latest = tracker.latest_message
    if latest is None:
        return current
    explicit = None
    detected, confidence, evidence = None, 0.0, 0
    for entity in latest.entities or []:
        if entity.get("entity") == EXPLICIT_ENTITY and is_supported(entity.get("value")):
            explicit = entity["value"]
    found = (latest.parse_data or {}).get(DETECTION_KEY) or {}
    if isinstance(found, dict):
        detected = found.get("language")
        confidence = float(found.get("confidence") or 0.0)
        evidence = int(found.get("evidence") or 0)
    metadata = latest.metadata or {}
    hint = metadata.get("language") if isinstance(metadata, dict) else None
    hint = hint if isinstance(hint, str) and is_supported(hint) else None
    return next_language_state(current, explicit, detected, confidence, evidence, hint, default)


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT], is_trainable=True
)
class LanguagePolicy(Policy):
    """Keeps the ``language`` slot sticky; never predicts an action itself."""

    @staticmethod
    def supported_data() -> SupportedData:
        return SupportedData.ML_AND_RULE_DATA

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"priority": 0}

    def train(self, training_trackers: list[Any], domain: Domain, **kwargs: Any) -> Resource:
        return self._resource

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        state = language_state_after(tracker, get_settings().default_language)
        events = []
        if state.language != tracker.get_slot(LANGUAGE_SLOT):
            events.append(SlotSet(LANGUAGE_SLOT, state.language))
        if state.source != tracker.get_slot(LANGUAGE_SOURCE_SLOT):
            events.append(SlotSet(LANGUAGE_SOURCE_SLOT, state.source))
        return self._prediction(self._default_predictions(domain), events=events or None)
