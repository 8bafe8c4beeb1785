"""The button payloads the directory search shows (and so the channels let through)."""

from __future__ import annotations

import json

from bot.directory.vocabulary import Vocabulary

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
