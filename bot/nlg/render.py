"""The one renderer: every string a user sees is made here, in the conversation's language.

Domain responses (``utter_*`` in ``domain.yml``) and the structured content actions send
(``bot.nlg.content``) both end here, inside the Rasa process, so there is one lookup
(``translate``), one placeholder filler (``fill``) and one set of variables
(``variables``). Later steps hook in at those points: machine translation in
``translate``, channel formatting on the finished reply.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time, get_day_names
from babel.numbers import format_decimal

from bot.directory.hours import DAY_CODES
from bot.i18n import machine
from bot.i18n.catalogs import N_, Catalogs, load_catalogs
from bot.languages import REGISTRY, SOURCE_LANGUAGE, language_name_in_itself
from bot.settings import get_settings

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
LETTER = re.compile(r"[^\W\d_]")

# Shown under a reply any part of which was machine-translated (itself machine-translated
# where no catalog has it; its English follows in brackets then).
MACHINE_NOTICE = N_("Machine-translated from English: it may contain mistakes.")


class RenderError(ValueError):
    """Content an action should never send (words outside a message or data node)."""


def fill(template: str, values: Mapping[str, str]) -> str:
    """Fill ``{name}`` once, from ``values`` only; unknown names stay as written.

    Values are never filled again, so a user's own braces ("{x}") cannot pull in a
    variable, and JSON in a button payload is never touched (titles only).
    """
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def variables(language: str) -> dict[str, str]:
    """What any message may name besides its own values: configuration Haven must not
    repeat in text."""
    settings = get_settings()
    return {
        "language_name": language_name_in_itself(language),
        "retention_days": str(settings.retention_days),
        "max_message_chars": str(settings.max_message_chars),
    }


class Renderer:
    """Renders structured content (``bot.nlg.content``) for one language.

    ``strict`` (tests) refuses words in a bare string: every word must come from a
    catalog message or be declared data.
    """

    def __init__(
        self,
        language: str,
        catalogs: Catalogs | None = None,
        strict: bool = False,
        reviewed_only: bool = False,
    ) -> None:
        self.language = language
        self.catalogs = catalogs or load_catalogs(get_settings().locales_dir)
        self.strict = strict
        # Crisis replies: a reviewed catalog or English, never a machine translation.
        self.reviewed_only = reviewed_only
        self.variables = variables(language)
        self.machine_translated = False  # some part came from Argos: the notice is due
        self.untranslated = False  # some part stayed English: the door line is due

    # The hooks: where a string comes from, per kind.
    def translate(self, key: str) -> str:
        """``key`` in the conversation's language: its catalog, else machine translation
        (never for a crisis reply), else the English key."""
        if self.language == SOURCE_LANGUAGE:
            return key
        found = self.catalogs.lookup(key, self.language)
        if self.reviewed_only:
            language = REGISTRY.get(self.language)
            if found is not None and language is not None and language.reviewed:
                return found
            self.untranslated = True
            return key
        if found is not None:
            return found
        return self._machine(key) or key

    def show_data(self, text: str, prose: bool = False) -> str:
        """Text from data as it is; prose (a service's description, written in English)
        machine-translated where the conversation's language has a package."""
        if not prose or self.language == SOURCE_LANGUAGE or self.reviewed_only:
            return text
        return self._machine(text) or text

    def _machine(self, english: str) -> str | None:
        if not LETTER.search(english):
            return english
        translated = machine.to_language(english, self.language)
        if translated is None:
            self.untranslated = True
            return None
        self.machine_translated = True
        return translated

    # The tree.
    def render(self, node: Any) -> str:
        if node is None:
            return ""
        if isinstance(node, str):
            if self.strict and LETTER.search(node):
                raise RenderError(f"words outside a message or data node: {node!r}")
            return node
        if not isinstance(node, dict):
            raise RenderError(f"not a content node: {node!r}")
        return self.render_node(node)

    def render_node(self, node: dict[str, Any]) -> str:
        if "msg" in node:
            values = {name: self.render(v) for name, v in (node.get("values") or {}).items()}
            return fill(self.translate(node["msg"]), {**self.variables, **values})
        if "data" in node:
            return self.show_data(node["data"], prose=bool(node.get("prose")))
        if "join" in node:
            parts = (self.render(part) for part in node["join"])
            return node.get("sep", "").join(p for p in parts if p)
        if "date" in node:
            day = dt.date.fromisoformat(node["date"])
            return format_date(day, format="long", locale=self.language)
        if "time" in node:
            hours, minutes = str(node["time"]).split(":")[:2]
            moment = dt.time(int(hours) % 24, int(minutes[:2]))
            return format_time(moment, "short", locale=self.language)
        if "number" in node:
            return format_decimal(node["number"], locale=self.language)
        if "days" in node:
            return self.days(node["days"])
        if "language" in node:
            return self.language_display_name(node["language"])
        raise RenderError(f"unknown content node: {sorted(node)}")

    def days(self, codes: list[str]) -> str:
        """ "" for every day, "Mon–Fri" for a run of three or more, else "Mon, Wed"."""
        wanted = [DAY_CODES.index(c) for c in DAY_CODES if c in codes]
        if len(wanted) == 7 or not wanted:
            return ""
        names = get_day_names("abbreviated", locale=self.language)
        if len(wanted) > 2 and wanted == list(range(wanted[0], wanted[0] + len(wanted))):
            return f"{names[wanted[0]]}–{names[wanted[-1]]}"
        return ", ".join(names[i] for i in wanted)

    def language_display_name(self, code: str) -> str:
        try:
            return Locale.parse(code).get_display_name(self.language) or code
        except (ValueError, UnknownLocaleError):
            return code

    def reply(self, content: Mapping[str, Any]) -> dict[str, Any]:
        """A finished reply: text and buttons (payloads untouched), then what the reader
        must know about its language: the machine-translation notice, or the door line."""
        rendered: dict[str, Any] = {"text": self.render(content.get("text")) or None}
        buttons = [
            {**b, "title": self.render(b.get("title"))} for b in content.get("buttons") or []
        ]
        if buttons:
            rendered["buttons"] = buttons
        note = self.language_note()
        if note and rendered["text"]:
            rendered["text"] = f"{rendered['text']}\n\n{note}"
        return rendered

    def language_note(self) -> str | None:
        """The machine-translation notice, or (English shown) the language's door line."""
        language = REGISTRY.get(self.language)
        if self.language == SOURCE_LANGUAGE or language is None:
            return None
        if self.untranslated and language.door and (self.reviewed_only or not language.has_catalog):
            return language.door
        if self.machine_translated:
            found = self.catalogs.lookup(MACHINE_NOTICE, self.language)
            if found is None:
                translated = machine.to_language(MACHINE_NOTICE, self.language)
                found = f"{translated} ({MACHINE_NOTICE})" if translated else MACHINE_NOTICE
            return f"ⓘ {found}"
        return None
