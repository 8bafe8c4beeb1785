"""The in-process response generator: every reply rendered in the conversation's language.

Named in ``endpoints.yml`` (``nlg: type: bot.nlg.generator.LocalizedResponseGenerator``) and
constructed by Rasa inside the Rasa server, so no reply (crisis replies above all) depends on
a second process. Two kinds of reply arrive here, and both go through the one renderer
(``bot.nlg.render``):

- a domain response (``utter_*``): Rasa's own variation choice (conditions, channels) is
  kept; its text and button titles are catalog messages;
- ``utter_haven``: the structured content an action sent (``bot.nlg.content``).
"""

from __future__ import annotations

import copy
from typing import Any

from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot.i18n.catalogs import load_catalogs
from bot.languages import is_supported, menu_languages
from bot.nlg.content import CONTENT_KEY, HAVEN_RESPONSE, button, data, msg, reply
from bot.nlg.render import Renderer
from bot.settings import get_settings

# Crisis replies come from a reviewed catalog or in English: never machine-translated.
REVIEWED_ONLY = frozenset({"utter_crisis"})
LANGUAGE_MENU = "utter_choose_language"
CHOOSE_LANGUAGE = '/choose_language{{"language": "{code}"}}'


def language_menu(response: dict[str, Any]) -> dict[str, Any]:
    """The language menu from the registry: each language Haven can answer in, by its own
    name (the domain's buttons are the fallback when the registry offers nothing)."""
    buttons = [
        button(data(language.native_name), CHOOSE_LANGUAGE.format(code=language.code))
        for language in menu_languages()
    ]
    content = domain_content(response)
    return reply(content["text"], buttons or content["buttons"])


def domain_content(response: dict[str, Any]) -> dict[str, Any]:
    """A domain response as structured content: its text and titles are catalog messages
    (their placeholders name the renderer's variables only)."""
    text = msg(response["text"]) if response.get("text") else None
    buttons = [
        button(msg(b["title"]) if b.get("title") else None, b.get("payload"))
        for b in response.get("buttons") or []
    ]
    return reply(text, buttons)


class LocalizedResponseGenerator(TemplatedNaturalLanguageGenerator):
    """Renders domain responses and actions' structured content in the user's language."""

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
        return language if is_supported(language) else get_settings().default_language

    def renderer(self, filled_slots: dict[str, Any], reviewed_only: bool = False) -> Renderer:
        language = self.conversation_language(filled_slots)
        return Renderer(language, self.catalogs, reviewed_only=reviewed_only)

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
        """Render one reply (synchronous; used by tests directly)."""
        renderer = self.renderer(filled_slots, reviewed_only=utter_action in REVIEWED_ONLY)
        if utter_action == HAVEN_RESPONSE:
            return renderer.reply(kwargs.get(CONTENT_KEY) or {})
        response = self._random_response_for(utter_action, output_channel, filled_slots)
        if response is None:
            return None
        rendered = copy.deepcopy(response)
        content = language_menu(response) if utter_action == LANGUAGE_MENU else None
        rendered.update(renderer.reply(content or domain_content(response)))
        if not response.get("buttons"):
            rendered.pop("buttons", None)
        return rendered
