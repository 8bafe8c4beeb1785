"""What actions send instead of finished text: message keys, values and structure.

An action never translates or formats a string. It builds a small tree and sends it with
``send``; the Rasa process renders it in the conversation's language with
``bot.nlg.render.Renderer``, the one place every user-visible string passes through (the
reviewed catalogs now; machine translation and channel formatting hook in there).

A node is one of:
- ``msg(key, **values)``: a catalog message (its English text is the key) with
  ``{placeholders}`` filled from rendered values;
- ``data(text)``: text from data (a service's name, a phone number, a source's title),
  shown as it is; ``prose(text)``: sentences from data (a description), machine-translated
  where a package allows;
- ``join(*nodes, sep=...)`` / ``lines`` / ``paragraphs``: parts put together, empty ones
  left out; the separator is punctuation or white space, never words;
- ``date``, ``time``, ``number``, ``days``, ``language``: values formatted for the
  conversation's language;
- a bare ``str`` only as punctuation ("- ", ": "); words in one are a defect the tests catch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

Node = str | dict[str, Any] | None
Button = dict[str, Any]

# The response name actions utter with structured content (``send``); the generator
# renders it instead of looking it up in the domain.
HAVEN_RESPONSE = "utter_haven"
CONTENT_KEY = "haven"


def msg(key: str, /, **values: Any) -> dict[str, Any]:
    """A catalog message with placeholder values (nodes, or plain numbers)."""
    return {"msg": key.strip(), "values": {name: _node(v) for name, v in values.items()}}


def data(text: Any) -> dict[str, Any]:
    """Text from data, shown as it is (never looked up in a catalog)."""
    return {"data": "" if text is None else str(text)}


def prose(text: Any) -> dict[str, Any]:
    """Sentences from data written in English (a service's description): shown as they are,
    or machine-translated, with the notice, where the conversation's language has a
    package. Names, addresses and numbers are ``data``: never translated."""
    return {"data": "" if text is None else str(text), "prose": True}


def join(*parts: Node, sep: str = "") -> dict[str, Any]:
    """``parts`` one after the other, separated by ``sep``; empty parts are left out."""
    return {"join": [p for p in parts if p], "sep": sep}


def lines(*parts: Node) -> dict[str, Any]:
    return join(*parts, sep="\n")


def paragraphs(*parts: Node) -> dict[str, Any]:
    return join(*parts, sep="\n\n")


def date(value: dt.date) -> dict[str, Any]:
    """A calendar date, written out in the conversation's language."""
    return {"date": value.isoformat()}


def time(hhmm: str) -> dict[str, Any]:
    """A time of day given as "HH:MM" (seconds ignored), written in the language's style."""
    return {"time": hhmm}


def number(value: float | int) -> dict[str, Any]:
    """A number with the language's decimal mark."""
    return {"number": value}


def days(codes: Iterable[str]) -> dict[str, Any]:
    """Week days (HSDS codes "MO".."SU") as a short label: a range, a list, or nothing for
    every day."""
    return {"days": list(codes)}


def language(code: str) -> dict[str, Any]:
    """A language's name, in the conversation's language."""
    return {"language": code}


def button(title: Node, payload: str) -> Button:
    return {"title": title, "payload": payload}


def reply(text: Node = None, buttons: Iterable[Button] = ()) -> dict[str, Any]:
    return {"text": text, "buttons": list(buttons)}


def send(dispatcher: Any, text: Node = None, buttons: Iterable[Button] = ()) -> None:
    """Utter structured content; the Rasa process renders it in the user's language."""
    dispatcher.utter_message(response=HAVEN_RESPONSE, **{CONTENT_KEY: reply(text, buttons)})


def _node(value: Any) -> Node:
    if isinstance(value, bool):
        raise TypeError("a placeholder value cannot be a bool")
    if isinstance(value, int | float):
        return number(value)
    return value
