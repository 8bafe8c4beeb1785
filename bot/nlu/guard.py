"""Input guard: deterministic intents for messages the model should not guess about.

Runs after the intent classifiers (and the FallbackClassifier):
- a message with no letters or digits (empty, emoji or punctuation only) → ``no_text``;
- a typed command that is not a Haven button ("/EXTERNAL_x{...}") → ``nlu_fallback``;
- a ``choose_language`` message that names a supported language gets a ``language``
  entity, so "en español" switches at once (``bot.nlu.language``);
- a message that is only a ZIP code ("77002", "my zip is 10001") → ``inform_place``: the
  answer to the directory search's "where?" (the model cannot learn every number).
Crisis detection runs after this, in ``bot.nlu.crisis``, and overrides everything.
"""

from __future__ import annotations

import re
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.i18n.detect import mentioned_language
from bot.i18n.text import fold, has_letters_or_digits
from bot.languages import LANGUAGES
from bot.safety.sanitize import CHANNEL_FLAGS_KEY

NO_TEXT_INTENT = "no_text"
CHOOSE_LANGUAGE_INTENT = "choose_language"
INFORM_PLACE_INTENT = "inform_place"
ZIP_ONLY = re.compile(
    r"^(?:(?:my |the )?zip(?: ?code)?(?: is)?|(?:mi )?codigo postal(?: es)?|cp|zip)?"
    r"\s*:?\s*\d{5}(?:-\d{4})?\s*\.?$"
)


def channel_flags(message: Message) -> dict[str, Any]:
    """What the channel's sanitizer changed about this message (see bot.safety.sanitize)."""
    metadata = message.get("metadata")
    flags = metadata.get(CHANNEL_FLAGS_KEY) if isinstance(metadata, dict) else None
    return flags if isinstance(flags, dict) else {}


def set_intent(message: Message, name: str, source: str) -> None:
    """Replace a message's intent with a rule-based certainty (the model's ranking goes too,
    so nothing downstream offers the model's guesses for it)."""
    message.set(INTENT, {"name": name, "confidence": 1.0, "source": source}, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [{"name": name, "confidence": 1.0}], add_to_output=True)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class InputGuard(GraphComponent):
    """Rule-based intent corrections for unreadable messages and explicit language choices."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> InputGuard:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        names = {code: language.names for code, language in LANGUAGES.items()}
        for message in messages:
            text = message.get(TEXT) or ""
            if not has_letters_or_digits(text):
                set_intent(message, NO_TEXT_INTENT, self.__class__.__name__)
                continue
            if channel_flags(message).get("rejected_command"):
                set_intent(message, "nlu_fallback", self.__class__.__name__)
                continue
            if ZIP_ONLY.match(fold(text)):
                set_intent(message, INFORM_PLACE_INTENT, self.__class__.__name__)
                continue
            intent = (message.get(INTENT) or {}).get("name")
            if intent == CHOOSE_LANGUAGE_INTENT:
                mention = mentioned_language(text, names)
                if mention:
                    entity = {
                        "entity": "language",
                        "value": mention.language,
                        "start": mention.start,
                        "end": mention.end,
                        "extractor": self.__class__.__name__,
                    }
                    message.set(ENTITIES, [*message.get(ENTITIES, []), entity], add_to_output=True)
        return messages
