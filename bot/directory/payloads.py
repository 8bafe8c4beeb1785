"""The directory search's conversation names: its slots and the button payloads it shows
(and so the channels let through)."""

from __future__ import annotations

import json

from bot.directory.vocabulary import Vocabulary

SEARCH_SLOT = "search"  # the search in progress: need, place, filters, page
AWAITING_SLOT = "search_awaiting"  # what it asked for ("need", "place"); rules can see it
# Intents that carry on a search; any other one ends it (and so forgets its place).
SEARCH_INTENTS = frozenset(
    "find_service inform_place refine_search more_results more affirm deny skip request_human "
    "crisis nlu_fallback out_of_scope no_text choose_language thanks".split()
)

FIND_SERVICE = "/find_service"
MORE_RESULTS = "/more_results"
REQUEST_HUMAN = "/request_human"
REFINE_FILTERS = ("open_now", "free", "language")
OTHER_NEEDS = "_other"  # "other needs": the categories not shown on the first buttons


def need_payload(category: str) -> str:
    return FIND_SERVICE + json.dumps({"need": category})


def skip_place_payload() -> str:
    return "/inform_place" + json.dumps({"place": "skip"})


def refine_payload(name: str) -> str:
    return "/refine_search" + json.dumps({"filter": name})


def directory_payloads(vocabulary: Vocabulary) -> frozenset[str]:
    needs = {need_payload(c) for c in (*vocabulary.category_ids, OTHER_NEEDS)}
    refine = {refine_payload(name) for name in REFINE_FILTERS}
    return frozenset(
        {FIND_SERVICE, MORE_RESULTS, REQUEST_HUMAN, skip_place_payload(), *needs, *refine}
    )
