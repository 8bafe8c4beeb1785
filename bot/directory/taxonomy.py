"""Haven's two HSDS taxonomies: need categories and the directory profile (docs/directory.md).

Services link to them with HSDS ``attribute`` rows, so Haven's extensions travel inside
plain HSDS: ``haven-need-<category>`` says what a service offers; ``haven-profile-<term>``
carries the profile (a confidential address, immigration eligibility, population, cost…).
"""

from __future__ import annotations

from bot.directory.vocabulary import Vocabulary

NEED_TAXONOMY = "haven-needs"
PROFILE_TAXONOMY = "haven-profile"
NEED_PREFIX = "haven-need-"
PROFILE_PREFIX = "haven-profile-"

# Profile term → the values it may carry (None: free text such as a URL).
PROFILE_TERMS: dict[str, tuple[str, ...] | None] = {
    "address_confidential": ("true", "false"),
    "immigration_eligibility": (
        "none_required", "qualified_immigrant", "hhs_certification", "t_u_cp_documents",
        "unknown",
    ),
    "population": (
        "all", "men", "women", "boys", "girls", "minors", "unaccompanied_minors", "lgbtq",
        "trafficking_specialized", "families",
    ),
    "cost": ("free", "sliding_scale", "fee"),
    "requires_id": ("true", "false"),
    "referral_method": ("warm_phone", "e_referral", "walk_in", "shepherd"),
    "source_url": None,
}  # fmt: skip
PROFILE_DESCRIPTIONS = {
    "address_confidential": "The location's address is never shown; give the intake phone.",
    "immigration_eligibility": "Immigration documents or status the service requires.",
    "population": "Who the service is for.",
    "cost": "Free, sliding scale or fee.",
    "requires_id": "Whether a photo ID is required.",
    "referral_method": "How a referral is made.",
    "source_url": "The official page the listing was checked against.",
}


def need_term(category: str) -> str:
    return NEED_PREFIX + category


def profile_term(term: str) -> str:
    return PROFILE_PREFIX + term


def taxonomy_rows(vocabulary: Vocabulary) -> dict[str, list[dict]]:
    """The taxonomy and taxonomy_term rows Haven's own data and search rely on."""
    taxonomies = [
        {"id": NEED_TAXONOMY, "name": "Haven need categories",
         "description": "Needs of trafficking survivors (HHS ASPE issue brief, August 2008), "
         "each named after the closest Open Eligibility term.", "uri": None, "version": "1"},
        {"id": PROFILE_TAXONOMY, "name": "Haven directory profile",
         "description": "Haven's HSDS profile extensions (docs/directory.md).", "uri": None,
         "version": "1"},
    ]  # fmt: skip
    terms = [
        {
            "id": need_term(category.id),
            "code": category.id,
            "name": category.title,
            "description": category.open_eligibility,
            "parent_id": None,
            "taxonomy": "Open Eligibility" if category.open_eligibility else None,
            "taxonomy_id": NEED_TAXONOMY,
            "language": "en",
            "term_uri": None,
        }
        for category in vocabulary.categories
    ]
    terms += [
        {
            "id": profile_term(term),
            "code": term,
            "name": term.replace("_", " "),
            "description": PROFILE_DESCRIPTIONS[term],
            "parent_id": None,
            "taxonomy": None,
            "taxonomy_id": PROFILE_TAXONOMY,
            "language": "en",
            "term_uri": None,
        }
        for term in PROFILE_TERMS
    ]
    return {"taxonomy": taxonomies, "taxonomy_term": terms}
