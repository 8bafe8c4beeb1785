"""Sanitizing user text before Rasa sees it (every channel calls this).

Rasa treats any text that starts with "/" as ``/intent{entities}`` and skips NLU, so a user
could trigger internal intents (``EXTERNAL_*``, ``session_start``) or fake button presses.
Only payloads Haven itself put on buttons (in ``domain.yml``) pass as payloads; any other
text loses its leading slashes and is understood as words ("/menu please" → "menu please").
A command-shaped rest ("/EXTERNAL_x{...}") is flagged so the bot answers that it did not
understand, instead of letting the model guess at it.
Control characters are removed and over-long text is cut to the configured limit.

The work per message is bounded: text far over the limit is refused before anything reads
it (``exceeds_raw_limit``), the rest is cut before any pattern runs, and leading slashes
and spaces are stripped in one pass.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

_PAYLOAD = re.compile(r"^/(?P<intent>[A-Za-z0-9_]+)(?P<entities>\{.*\})?$", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\u202a-\u202e\u2066-\u2069\ufeff]")
_LEADING_SLASHES = re.compile(r"^[\s/]+")
# Raw text longer than this many times the message limit is not read at all.
RAW_LIMIT_FACTOR = 4


def exceeds_raw_limit(raw: object, max_chars: int) -> bool:
    """Whether ``raw`` is so long that a channel refuses it before any processing."""
    return isinstance(raw, str) and len(raw) > RAW_LIMIT_FACTOR * max_chars


def canonical_payload(text: str) -> str | None:
    """``/intent{"k": "v"}`` in one canonical spelling, or None if it is not a payload."""
    match = _PAYLOAD.match(text.strip())
    if not match:
        return None
    entities = match.group("entities")
    if not entities:
        return f"/{match.group('intent')}"
    try:
        parsed = json.loads(entities)
    except (ValueError, RecursionError):  # RecursionError: "[[[[…" nested thousands deep
        return None
    if not isinstance(parsed, dict):
        return None
    return f"/{match.group('intent')}{json.dumps(parsed, sort_keys=True, ensure_ascii=False)}"


@lru_cache(maxsize=4)
def button_payloads(domain_path: Path) -> frozenset[str]:
    """Every button payload in the domain's responses, in canonical spelling."""
    domain = yaml.safe_load(domain_path.read_text(encoding="utf-8")) or {}
    payloads = set()
    for variations in (domain.get("responses") or {}).values():
        for variation in variations or []:
            for button in variation.get("buttons") or []:
                canonical = canonical_payload(str(button.get("payload", "")))
                if canonical:
                    payloads.add(canonical)
    return frozenset(payloads)


# Channels put what they changed under this metadata key (overwriting anything a client
# sent under it); bot.nlu.guard reads it.
CHANNEL_FLAGS_KEY = "haven"


@dataclass(frozen=True)
class SanitizedText:
    """What reaches Rasa, and what was changed on the way."""

    text: str
    is_payload: bool
    truncated: bool
    original_length: int
    rejected_command: bool = False  # "/something{...}" that is not a Haven button payload


def with_channel_flags(metadata: dict[str, Any], clean: SanitizedText) -> dict[str, Any]:
    """The message metadata to hand to Rasa: the client's, plus what sanitizing changed."""
    flags = {"rejected_command": clean.rejected_command, "truncated": clean.truncated}
    return {**metadata, CHANNEL_FLAGS_KEY: flags}


def sanitize_text(raw: object, allowed_payloads: frozenset[str], max_chars: int) -> SanitizedText:
    """Make user input safe to hand to Rasa (see the module docstring)."""
    text = raw if isinstance(raw, str) else ""
    original_length = len(text)
    # Cutting at twice the limit before anything else bounds all later work.
    read_limit = 2 * max_chars
    text = _CONTROL.sub("", text[:read_limit])
    stripped = text.strip()
    canonical = canonical_payload(stripped) if stripped.startswith("/") else None
    if canonical and canonical in allowed_payloads:
        return SanitizedText(stripped, True, False, original_length)
    rejected_command = False
    if stripped.startswith("/"):
        text = _LEADING_SLASHES.sub("", stripped)
        rejected_command = _PAYLOAD.match("/" + text) is not None
    truncated = len(text) > max_chars or original_length > read_limit
    text = text[:max_chars]
    return SanitizedText(text, False, truncated, original_length, rejected_command)
