"""Crisis override in the NLU pipeline: a keyword match makes the intent ``crisis``.

The last component of the pipeline, so it wins over the model, the fallback and the
input guard. It checks the message text and, for translated languages, the original
text (a translating component keeps it under ``ORIGINAL_TEXT``). When the model itself
predicts ``crisis`` without a keyword match, the general ``danger`` type is used. The
``crisis_type`` entity selects the topic line of the static reply (``utter_crisis``).
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.guard import set_intent
from bot.safety.crisis import DEFAULT_CRISIS_TYPE, detect_crisis

CRISIS_INTENT = "crisis"
CRISIS_ENTITY = "crisis_type"
# Set on a message by a component that replaces its text (pivot translation).
ORIGINAL_TEXT = "haven_original_text"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class CrisisDetector(GraphComponent):
    """Overrides the intent with ``crisis`` when a crisis pattern matches."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> CrisisDetector:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            original = message.get(ORIGINAL_TEXT) or ""
            match = detect_crisis(message.get(TEXT) or "", original)
            predicted = (message.get(INTENT) or {}).get("name")
            if match is None and predicted != CRISIS_INTENT:
                continue
            crisis_type = match.crisis_type if match else DEFAULT_CRISIS_TYPE
            if match:
                set_intent(message, CRISIS_INTENT, self.__class__.__name__)
            entities = [e for e in message.get(ENTITIES, []) if e.get("entity") != CRISIS_ENTITY]
            entities.append(
                {
                    "entity": CRISIS_ENTITY,
                    "value": crisis_type,
                    "start": 0,
                    "end": len(message.get(TEXT) or ""),
                    "extractor": self.__class__.__name__,
                }
            )
            message.set(ENTITIES, entities, add_to_output=True)
        return messages
