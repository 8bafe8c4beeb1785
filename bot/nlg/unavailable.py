"""What a user reads when a custom action cannot run: the bot service is down, does not
answer in time or fails (a database it needs is away, a bug).

Rasa would log the failure and say nothing. Instead the Rasa process (``bot.rasa_patches``)
answers with this one static message: try again in a few minutes, the hotline for a person
now, 911 in danger. It is rendered here, in the Rasa process, from the catalogs alone:
never machine-translated (the translation packages may be what is broken, and a wrong
translation of 911 or the hotline must never reach a user), and in English with the
language's door line where no catalog has it. The user's message stays stored; the next
one is answered normally once the bot service is back.
"""

from __future__ import annotations

from typing import Any

from bot.i18n.catalogs import N_, load_catalogs
from bot.languages import is_supported
from bot.nlg.content import msg
from bot.nlg.render import Renderer
from bot.settings import get_settings

ACTION_UNAVAILABLE = N_(
    "Sorry, I cannot answer that right now. Please try again in a few minutes.\n"
    "To talk to a person now: National Human Trafficking Hotline, 24/7, call 1-888-373-7888 "
    "or text 233733.\n"
    "If you are in danger, call 911."
)


class CatalogOnlyRenderer(Renderer):
    """The renderer without machine translation: the catalog, else English (and the door
    line for a language that has no catalog)."""

    def _machine(self, english: str) -> str | None:
        self.untranslated = True
        return None


def conversation_language(slots: dict[str, Any]) -> str:
    language = slots.get("language")
    return language if is_supported(language) else get_settings().default_language


def unavailable_text(language: str) -> str:
    """The static message in ``language`` (its catalog), else in English."""
    renderer = CatalogOnlyRenderer(language, load_catalogs(get_settings().locales_dir))
    return renderer.reply({"text": msg(ACTION_UNAVAILABLE)})["text"]
