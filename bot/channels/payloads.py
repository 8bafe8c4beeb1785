"""The button payloads a user may send as intents: exactly those Haven itself issues."""

from __future__ import annotations

from functools import lru_cache

from bot.channels.commands import COMMAND_PAYLOADS
from bot.directory.payloads import directory_payloads
from bot.directory.vocabulary import load_vocabulary
from bot.handoff.flow import handoff_payloads
from bot.knowledge.entries import knowledge_payloads
from bot.knowledge.roadmap import roadmap_payloads
from bot.languages import REGISTRY
from bot.safety.sanitize import button_payloads, canonical_payload
from bot.settings import get_settings


@lru_cache(maxsize=1)
def allowed_payloads() -> frozenset[str]:
    """Domain buttons, the knowledge actions' buttons (topics, "more", "sources"), the
    road map's answer buttons, the directory search's buttons, the language menu (every
    language in the registry), the chat commands' payloads and the referral questions'
    answers, in canonical spelling."""
    root = get_settings().project_root
    knowledge = knowledge_payloads(root / "data" / "knowledge")
    directory = directory_payloads(load_vocabulary())
    return button_payloads(root / "domain.yml") | canonical(
        knowledge
        | roadmap_payloads()
        | directory
        | COMMAND_PAYLOADS
        | language_payloads()
        | handoff_payloads()
    )


def language_payloads() -> frozenset[str]:
    from bot.nlg.generator import CHOOSE_LANGUAGE

    return frozenset(CHOOSE_LANGUAGE.format(code=code) for code in REGISTRY)


def canonical(payloads: frozenset[str]) -> frozenset[str]:
    return frozenset(p for p in map(canonical_payload, payloads) if p)
