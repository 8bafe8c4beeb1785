"""Actions' messages as the Rasa process renders them, for tests that read the words.

Actions send structured content (``bot.nlg.content``) or a domain response's name; the
Rasa process renders both with ``bot.nlg.generator.LocalizedResponseGenerator``. Tests
render the same way, strictly: a word outside a catalog message or data node fails.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from rasa.shared.core.domain import Domain

from bot.nlg.content import CONTENT_KEY, HAVEN_RESPONSE
from bot.nlg.generator import LocalizedResponseGenerator
from bot.nlg.render import Renderer

ROOT = Path(__file__).resolve().parent.parent


@lru_cache(maxsize=1)
def generator() -> LocalizedResponseGenerator:
    return LocalizedResponseGenerator(domain=Domain.load(str(ROOT / "domain.yml")))


def render_message(message: dict[str, Any], language: str = "en") -> dict[str, Any]:
    """One dispatched message, rendered: ``text``, ``buttons`` and the ``response`` name."""
    name = message.get("response")
    if name == HAVEN_RESPONSE:
        renderer = Renderer(language, generator().catalogs, strict=True)
        rendered = renderer.reply(message[CONTENT_KEY])
    else:
        assert name, f"an action sent finished text instead of content: {message}"
        rendered = generator().render(name, {"language": language}, "rest") or {}
    return {"response": name, "buttons": [], **rendered}


def rendered(messages: list[dict[str, Any]], language: str = "en") -> list[dict[str, Any]]:
    return [render_message(m, language) for m in messages]


def render_reply(text: Any, buttons: Any = (), language: str = "en") -> dict[str, Any]:
    """Structured content (a text node and buttons), rendered strictly."""
    renderer = Renderer(language, generator().catalogs, strict=True)
    return {"buttons": [], **renderer.reply({"text": text, "buttons": list(buttons)})}
