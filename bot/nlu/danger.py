"""The Rasa adapter of danger detection: the last NLU component, so its answer always wins.

For every user message, in every state of the conversation, it combines three readings:
the danger model (``bot.safety.danger_model``, trained on ``data/safety`` by ``rasa
train`` and stored in the model), the keyword floor (``bot.safety.crisis_rules``) and the
intent model's own opinion, and sets the intent the dialogue answers:

- ``crisis`` (present danger) with a ``crisis_type`` entity: the static crisis reply;
- ``danger_check`` (possible danger) with a ``crisis_type`` entity: "Are you in danger
  right now?" first; "no" then answers the message as it was meant;
- ``disclosure`` (exploitation described, no present danger): acknowledged first.

The intent the model saw is kept under ``haven_danger.held`` in the parse data, so the
dialogue can answer it after the check-in and the benchmarks can score it. Translated
messages are read twice: the text and the original (``ORIGINAL_TEXT``); the more
alarming reading wins.

One or two words carry too little for the model ("no" after a question is not despair):
for such a message the model can at most ask the check-in question, and only when the
intent model did not read it as an ordinary reply; the keyword floor still applies in full.
When in doubt the check-in comes first, even before a question the intent model
understood ("my boss took my passport"): "no" then answers it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.i18n.text import fold, words
from bot.languages import ORIGINAL_TEXT
from bot.nlu.guard import NO_TEXT_INTENT, set_intent
from bot.safety.crisis_rules import CHECK, DEFAULT_CRISIS_TYPE, detect_crisis
from bot.safety.danger_model import (
    CHECK_IN_THRESHOLD,
    DANGER_TYPES,
    NONE,
    Assessment,
    DangerModel,
    Example,
    data_fingerprint,
    load_examples,
)
from bot.settings import get_settings

CRISIS_INTENT = "crisis"
CHECK_IN_INTENT = "danger_check"
DISCLOSURE_INTENT = "disclosure"
CRISIS_ENTITY = "crisis_type"
DANGER_KEY = "haven_danger"  # parse-data key: the assessment and the held intent
# Set on a message by a component that replaces its text (pivot translation).
TIERS = ("none", "disclosure", "possible", "danger")  # in rising order
TIER_INTENTS = {
    "danger": CRISIS_INTENT,
    "possible": CHECK_IN_INTENT,
    "disclosure": DISCLOSURE_INTENT,
}
HELD_RANKING = 5
QUESTION = re.compile(
    r"^(?:what|how|can|could|do|does|is|are|should|who|where|when|why|which|will|would|"
    r"que|como|puedo|puede|pueden|es|hay|cuanto|cuanta|cual|cuales|donde|quien|cuando|"
    r"tengo que|debo)\b|.*\?\s*$"
)
MIN_WORDS_FOR_MODEL = 3
# Intent readings that make a short message an ordinary reply, not a cry for help.
UNCLEAR_INTENTS = frozenset({CRISIS_INTENT, CHECK_IN_INTENT, "nlu_fallback", "out_of_scope"})
# Intents whose own reply already says what to do in danger (911): a possible danger is
# answered by that reply ("my boss is coming, I can't talk" → close the chat now).
SAFETY_REPLY_INTENTS = frozenset({"not_safe"})
# Someone asking what to do about another person ("one of my students owes the people who
# brought her", a case worker describing a client's case for the road map): their answer
# already names 911 and the hotline. A disclosure or a possible danger read by the model
# alone is answered by it; a keyword hit still is not.
HELPER_INTENTS = frozenset({"kb_helping_someone", "eligibility_roadmap"})
HELPER_CONFIDENCE = 0.4
ORDINARY_REPLY_CONFIDENCE = 0.5


def _raise(tier: str, at_least: str) -> str:
    return max(tier, at_least, key=TIERS.index)


def ordinary_examples(
    training_data: TrainingData, intents: list[str], question_prefixes: list[str] = ()
) -> list[Example]:
    """The intent examples of everyday requests, as negatives for the danger model."""
    wanted = set(intents)
    found = []
    for message in training_data.intent_examples:
        intent, text = message.get(INTENT) or "", message.get(TEXT) or ""
        asked = intent.startswith(tuple(question_prefixes)) and QUESTION.match(fold(text))
        if text and (intent in wanted or asked):
            found.append(Example(text, NONE, "intent"))
    return found


def model_tier(
    assessment: Assessment, intent: dict[str, Any], word_count: int, is_question: bool = False
) -> str:
    """The danger model's tier, weighed against what the intent model understood."""
    name, confidence = intent.get("name") or "", intent.get("confidence", 0)
    understood = name not in UNCLEAR_INTENTS
    if word_count < MIN_WORDS_FOR_MODEL:
        if (understood and confidence >= ORDINARY_REPLY_CONFIDENCE) or (
            assessment.tier == "disclosure"
        ):
            return "none"
        return min(assessment.tier, "possible", key=TIERS.index)
    if assessment.tier == "possible" and name in SAFETY_REPLY_INTENTS:
        return "none"
    sure = understood and confidence >= ORDINARY_REPLY_CONFIDENCE
    if assessment.tier == "possible" and assessment.danger < CHECK_IN_THRESHOLD and sure:
        # Doubt words without danger ("i think what is happening to me might be
        # trafficking") in a message the intent model understood: answer it.
        return "none"
    if assessment.tier == "disclosure" and sure and is_question and name.startswith("kb_"):
        # A rights question about exploitation ("is it legal for an employer to hold my
        # passport?") is answered; a statement of it ("my employer took my passport") is
        # acknowledged first.
        return "none"
    if (
        assessment.tier in ("disclosure", "possible")
        and name in HELPER_INTENTS
        and confidence >= HELPER_CONFIDENCE
    ):
        return "none"
    if assessment.tier == "danger" and name in HELPER_INTENTS and sure and is_question:
        # Someone asking what to do about another person ("a 13-year-old at my neighbour's
        # never goes to school, whom do I call?"): the helper answer names 911 first; a
        # keyword hit ("he is beating her right now") still gives the crisis reply.
        return "none"
    return assessment.tier


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class DangerDetector(GraphComponent):
    """Sets ``crisis``, ``danger_check`` or ``disclosure`` when a message calls for it."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # ``ordinary_intents``: intents whose examples are also "none" for the danger model
        # (what people ask Haven every day: "only the ones open right now", "me duele una
        # muela", "yes delete it"), so a service request is never read as a cry for help.
        # ``ordinary_questions``: intent-name prefixes whose examples count as "none" when
        # phrased as a question ("do they have to pay overtime?" asks about rights; "they
        # never pay me" may be a disclosure).
        return {"data": "data/safety", "ordinary_intents": [], "ordinary_questions": []}

    @staticmethod
    def data_folder(config: dict[str, Any]) -> Path:
        return get_settings().project_root / config.get("data", "data/safety")

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        """Retrain when the danger data changes, even if the NLU data did not."""
        return data_fingerprint(cls.data_folder(config))

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: DangerModel | None = None,
    ) -> None:
        self.config = config
        self._model_storage = model_storage
        self._resource = resource
        self.model = model

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> DangerDetector:
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        """Trains on ``data/safety``, plus the examples of ``ordinary_intents`` as "none"."""
        examples = load_examples(self.data_folder(self.config))
        examples += ordinary_examples(
            training_data,
            self.config.get("ordinary_intents") or [],
            self.config.get("ordinary_questions") or [],
        )
        self.model = DangerModel.train(examples)
        with self._model_storage.write_to(self._resource) as directory:
            self.model.save(directory)
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> DangerDetector:
        with model_storage.read_from(resource) as directory:
            model = DangerModel.load(directory)
        return cls(config, model_storage, resource, model)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            self.assess(message)
        return messages

    def assess(self, message: Message) -> None:
        intent = message.get(INTENT) or {}
        if intent.get("name") == NO_TEXT_INTENT:
            return
        texts = [message.get(TEXT) or "", message.get(ORIGINAL_TEXT) or ""]
        assessment = self.model.assess(*texts)
        asked = any("?" in t or QUESTION.match(fold(t)) for t in texts if t)
        tier = model_tier(assessment, intent, max(len(words(t)) for t in texts), asked)
        crisis_type = assessment.danger_type
        model_unsure_of_kind = assessment.danger < CHECK_IN_THRESHOLD
        rule = detect_crisis(*texts)
        if rule is not None and rule.floor == CHECK:
            tier = _raise(tier, "possible")
        elif rule is not None:  # a generic rule hit keeps the model's more specific kind
            tier = "danger"
            if rule.crisis_type != DEFAULT_CRISIS_TYPE or model_unsure_of_kind:
                crisis_type = rule.crisis_type
        if intent.get("name") == CRISIS_INTENT:
            tier = _raise(tier, "possible")
        if crisis_type not in DANGER_TYPES or (model_unsure_of_kind and rule is None):
            crisis_type = DEFAULT_CRISIS_TYPE
        found = {
            **assessment.as_dict(),
            "tier": tier,
            "type": crisis_type if tier in ("danger", "possible") else None,
            "rule": rule.floor if rule else None,
            "held": {
                "intent": intent,
                "intent_ranking": (message.get(INTENT_RANKING_KEY) or [])[:HELD_RANKING],
                "entities": message.get(ENTITIES, []),
            },
        }
        message.set(DANGER_KEY, found, add_to_output=True)
        if tier not in TIER_INTENTS:
            return
        if intent.get("name") != TIER_INTENTS[tier]:
            set_intent(message, TIER_INTENTS[tier], type(self).__name__)
        entities = [e for e in message.get(ENTITIES, []) if e.get("entity") != CRISIS_ENTITY]
        if tier in ("danger", "possible"):
            entities.append(
                {
                    "entity": CRISIS_ENTITY,
                    "value": crisis_type,
                    "start": 0,
                    "end": len(message.get(TEXT) or ""),
                    "extractor": type(self).__name__,
                }
            )
        message.set(ENTITIES, entities, add_to_output=True)
