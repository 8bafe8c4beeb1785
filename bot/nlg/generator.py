"""The in-process response generator: domain responses rendered in the conversation's language.

Named in ``endpoints.yml`` (``nlg: type: bot.nlg.generator.LocalizedResponseGenerator``) and
constructed by Rasa inside the Rasa server, so no reply (crisis replies above all) depends on
a second process. Rasa's own variation choice (conditions, channels) and placeholder syntax
are kept: a response is picked, its text and button titles are looked up in the reviewed
catalog of the conversation's ``language`` slot, and only then are ``{placeholders}`` filled.

Order of preference for each string: the reviewed catalog, else English (a later issue adds
offline machine translation between the two, marked as such).
"""

from __future__ import annotations

import copy
from typing import Any

from rasa.core.nlg import interpolator
from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot.i18n.catalogs import Catalogs, load_catalogs
from bot.languages import LANGUAGES, SOURCE_LANGUAGE, language_name_in_itself
from bot.settings import get_settings


def localize_response(
    response: dict[str, Any], language: str, catalogs: Catalogs
) -> dict[str, Any]:
    """Translate a response's text and button titles (before placeholders are filled)."""
    if language == SOURCE_LANGUAGE:
        return response
    localized = copy.deepcopy(response)
    if localized.get("text"):
        localized["text"] = catalogs.translate(localized["text"], language)
    for button in localized.get("buttons") or []:
        if button.get("title"):
            button["title"] = catalogs.translate(button["title"], language)
    return localized


def fill_placeholders(response: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
    """Fill ``{name}`` in the text and button titles; payloads are never touched.

    Rasa's own filling also runs over button payloads, where the JSON braces of
    ``/intent{"entity": "value"}`` read as placeholders and log an error on every reply.
    """
    if response.get("text"):
        response["text"] = interpolator.interpolate_text(response["text"], variables)
    for button in response.get("buttons") or []:
        if button.get("title"):
            button["title"] = interpolator.interpolate_text(button["title"], variables)
    return response


def response_variables(language: str) -> dict[str, Any]:
    """Values every response may use besides slots: configuration Haven must not repeat."""
    settings = get_settings()
    return {
        "language_name": language_name_in_itself(language),
        "retention_days": settings.retention_days,
        "max_message_chars": settings.max_message_chars,
    }


class LocalizedResponseGenerator(TemplatedNaturalLanguageGenerator):
    """Renders domain responses through Haven's catalogs in the conversation's language."""

    def __init__(
        self,
        endpoint_config: EndpointConfig | None = None,
        domain: Domain | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(domain.responses if domain else {})
        self.catalogs = load_catalogs(get_settings().locales_dir)

    def conversation_language(self, filled_slots: dict[str, Any]) -> str:
        language = filled_slots.get("language")
        return language if language in LANGUAGES else get_settings().default_language

    async def generate(
        self,
        utter_action: str,
        tracker: DialogueStateTracker,
        output_channel: str,
        **kwargs: Any,
    ) -> dict[str, Any] | None:
        filled_slots = tracker.current_slot_values()
        return self.render(utter_action, filled_slots, output_channel, **kwargs)

    def render(
        self,
        utter_action: str,
        filled_slots: dict[str, Any],
        output_channel: str,
        **kwargs: Any,
    ) -> dict[str, Any] | None:
        """Pick, localize and fill one response (synchronous; used by tests directly)."""
        language = self.conversation_language(filled_slots)
        response = self._random_response_for(utter_action, output_channel, filled_slots)
        if response is None:
            return None
        localized = localize_response(copy.deepcopy(response), language, self.catalogs)
        variables = {**filled_slots, **response_variables(language), **kwargs}
        return fill_placeholders(localized, variables)
