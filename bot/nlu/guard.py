"""Input guard: deterministic intents for messages the model should not guess about.

Runs after the intent classifiers (and the FallbackClassifier):
- a message with no letters or digits (empty, emoji or punctuation only) → ``no_text``;
- a typed command that is not a Haven button ("/EXTERNAL_x{...}") → ``nlu_fallback``;
- a ``choose_language`` message that names a supported language gets a ``language``
  entity, so "en español" switches at once (``bot.nlu.language``); one that asks about
  other people's languages ("do any of them have Spanish speakers?") is a filter on the
  search (``refine_search``), never a switch of the conversation's language;
- a message that is only a ZIP code ("77002", "my zip is 10001") → ``inform_place``: the
  answer to the directory search's "where?" (the model cannot learn every number);
- an age is a fact about the person (``bot.knowledge.situation``): a message read as
  ``age_minor`` that states only adult ages ("I am 22", "tengo 25 años") goes to the next
  intent the model ranked, or ``age_adult``; ``age_adult`` with an age under 18 becomes
  ``age_minor``. The under-18 notice never reaches an adult.
Danger detection runs after this, in ``bot.nlu.danger``, and overrides everything.
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
from bot.knowledge.situation import ADULT_AGE, read_situation
from bot.languages import REGISTRY
from bot.safety.sanitize import CHANNEL_FLAGS_KEY

NO_TEXT_INTENT = "no_text"
CHOOSE_LANGUAGE_INTENT = "choose_language"
INFORM_PLACE_INTENT = "inform_place"
FIND_SERVICE_INTENT = "find_service"
ROADMAP_INTENT = "eligibility_roadmap"
REFINE_SEARCH_INTENT = "refine_search"
# Someone other than Haven speaking a language: the staff of the services found.
OTHERS_SPEAKING = re.compile(
    r"\b(?:speakers?|speaking|(?:who|that) speaks?|staff|them|any of them|anyone|someone|"
    r"people|lawyers?|doctors?|hablantes?|hispanohablantes?|que hablen|que hable|alguien|"
    r"alguno|algunos|personal|abogad[oa]s?|doctor[ea]s?)\b"
)
# ...unless the message speaks to Haven itself ("can you speak spanish?").
TO_HAVEN = re.compile(
    r"\b(?:you|u|ur|reply|respond|answer|write|talk to me|switch|change|hablas|puedes|"
    r"habla(?:me|r)|escrib\w*|respond\w*|contesta\w*|cambia\w*|prefiero|quiero)\b"
)
CASE_FACTS = 2  # a client described with this many road map facts is a road map question
# Intents a provider's one-message case may be read as (its need words, its story).
CASE_INTENTS = frozenset({FIND_SERVICE_INTENT, "disclosure"})
AGE_MINOR_INTENT = "age_minor"
AGE_ADULT_INTENT = "age_adult"
AGE_ONLY_WORDS = 6  # a message this short that states an age is about the age
AGE_OVERRIDE_BELOW = 0.6  # ...unless the model is sure it is about something else
LONG_NUMBER_IN = re.compile(r"\d{3,}")
NEXT_INTENT_CONFIDENCE = 0.2  # the model's second choice must be this sure to replace age_minor
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
        names = {code: language.names for code, language in REGISTRY.items()}
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
            if intent in CASE_INTENTS and self._is_a_case(text):
                set_intent(message, ROADMAP_INTENT, self.__class__.__name__)
                continue
            if intent in (AGE_MINOR_INTENT, AGE_ADULT_INTENT):
                self._check_age(message, intent, text)
            elif (
                len(text.split()) <= AGE_ONLY_WORDS  # "tengo 15", "i am 16 years old"
                and (message.get(INTENT) or {}).get("confidence", 0.0) < AGE_OVERRIDE_BELOW
            ):
                situation = read_situation(text)
                if situation.ages and not LONG_NUMBER_IN.search(text):
                    adult = min(situation.ages) >= ADULT_AGE
                    name = AGE_ADULT_INTENT if adult else AGE_MINOR_INTENT
                    set_intent(message, name, self.__class__.__name__)
            if intent == CHOOSE_LANGUAGE_INTENT and self._asks_about_others(text):
                set_intent(message, REFINE_SEARCH_INTENT, self.__class__.__name__)
                continue
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

    @staticmethod
    def _asks_about_others(text: str) -> bool:
        """ "Do any of them have Spanish speakers?": a language other people speak."""
        folded = fold(text)
        return bool(OTHERS_SPEAKING.search(folded)) and not TO_HAVEN.search(folded)

    @staticmethod
    def _is_a_case(text: str) -> bool:
        """A provider describing a client's situation ("mi cliente de 45 años ya tiene la visa T
        aprobada, ¿qué beneficios… vivienda, comida?"): the need words inside the story do not
        outrank what it asks, which is the road map."""
        situation = read_situation(text)
        return situation.about_a_client and situation.facts >= CASE_FACTS

    def _check_age(self, message: Message, intent: str, text: str) -> None:
        """Keep the age intents true to the ages the message states."""
        situation = read_situation(text)
        if intent == AGE_ADULT_INTENT and situation.age == "minor":
            set_intent(message, AGE_MINOR_INTENT, self.__class__.__name__)
            return
        adult = situation.age == "adult" and all(age >= ADULT_AGE for age in situation.ages)
        if intent != AGE_MINOR_INTENT or not adult:
            return
        ranking = message.get(INTENT_RANKING_KEY) or []
        for ranked in ranking:
            name = ranked.get("name")
            if name in (AGE_MINOR_INTENT, AGE_ADULT_INTENT, "nlu_fallback"):
                continue
            if ranked.get("confidence", 0.0) >= NEXT_INTENT_CONFIDENCE:
                message.set(
                    INTENT,
                    {**ranked, "source": self.__class__.__name__},
                    add_to_output=True,
                )
                message.set(
                    INTENT_RANKING_KEY,
                    [r for r in ranking if r.get("name") != AGE_MINOR_INTENT],
                    add_to_output=True,
                )
                return
            break
        set_intent(message, AGE_ADULT_INTENT, self.__class__.__name__)
