"""The English pivot: a message in a language without native NLU examples is translated to
English before the model reads it.

``PivotTranslator`` runs after ``LanguageDetector`` and before the tokenizer (it is not a
tokenizer itself: Rasa allows one). It decides the message's language the way the
conversation's language will be decided (``bot.nlu.language.next_language_state``: an
explicit choice sticks, a short message never flips an established language), from the
detection, the channel's hint and the conversation's state that the channel put in the
metadata. For a language with native examples (English, Spanish) it does nothing. For
another, with an Argos package to English installed, the message's text becomes the
English translation, and the original is kept (``ORIGINAL_TEXT``) for what reads both:
danger detection, the directory's place reading. Without a package, the text is left
as it is and the parse data says so (``haven_pivot``), so replies can say why.

Training data passes through untouched (``process_training_data``).
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import METADATA, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.i18n import machine
from bot.languages import ORIGINAL_TEXT, PIVOT_KEY, REGISTRY
from bot.nlu.language import (
    CONVERSATION_METADATA,
    DETECTION_KEY,
    LanguageState,
    next_language_state,
)
from bot.settings import get_settings


def message_language(message: Message) -> str | None:
    """The language this message is in, as the conversation will see it."""
    metadata = message.get(METADATA) or {}
    conversation = metadata.get(CONVERSATION_METADATA) or {}
    current = LanguageState(conversation.get("language"), conversation.get("source"))
    found = message.get(DETECTION_KEY) or {}
    hint = metadata.get("language")
    state = next_language_state(
        current,
        None,
        found.get("language"),
        float(found.get("confidence") or 0.0),
        int(found.get("evidence") or 0),
        hint if isinstance(hint, str) else None,
        get_settings().default_language,
    )
    return state.language


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER], is_trainable=False)
class PivotTranslator(GraphComponent):
    """Translates messages in pivot languages to English at inference (never in training)."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> PivotTranslator:
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            self.pivot(message)
        return messages

    @staticmethod
    def pivot(message: Message) -> None:
        text = message.get(TEXT) or ""
        language = message_language(message)
        known = REGISTRY.get(language or "")
        if not text.strip() or text.startswith("/") or known is None or known.native_nlu:
            return  # a button's payload is read by Rasa's own handler, never translated
        english = machine.to_pivot(text, known.code)
        found = {"language": known.code, "translated": english is not None}
        message.set(PIVOT_KEY, found, add_to_output=True)
        if english is None:
            return
        message.set(ORIGINAL_TEXT, text, add_to_output=True)
        message.set(TEXT, english)
