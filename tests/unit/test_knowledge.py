"""Knowledge entries are complete, cited, recently reviewed, and say only registered numbers."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import yaml

from bot.knowledge.entries import load_contacts, load_knowledge
from bot.knowledge.roadmap import load_outcomes

ROOT = Path(__file__).resolve().parents[2]
KNOWLEDGE = load_knowledge(ROOT / "data" / "knowledge")
CONTACTS = load_contacts(ROOT / "data" / "contacts.yml")
# Phone numbers (1-888-373-7888, 866-401-5510), text codes (233733, 88788), short numbers
# (911, 988, 711) -- but not form numbers (I-914), years, or "120 days".
PHONE_LIKE = re.compile(
    r"(?<![\w-])(?:\d-)?\d{3}-\d{3}-\d{4}(?![\w-])"
    r"|(?<![\w-])(?<!FR )\d{5,6}(?![\w-])"  # not Federal Register pages ("89 FR 34864")
    r"|(?<![\w-])\d{3}(?![\w-])(?!\s*[^\W\d_])"
)
WEB_LIKE = re.compile(
    r"(?<![\w@.])(?:https?://)?(?:www\.)?[\w-]+(?:\.[\w-]+)*\.(?:org|gov|com)(?:/[\w/.-]*\w)?"
)
REQUIRED_TOPICS = {
    "what_is_trafficking", "signs_self_check", "rights_at_work", "passport_and_id",
    "leaving_a_job", "hotline", "help_without_police", "t_visa", "u_visa", "t_and_u_compared",
    "continued_presence", "hhs_certification", "pre_certification_help", "minors_assistance",
    "minors_basics", "confidentiality_1367", "immigration_legal_help", "policy_changes_2025",
    "what_haven_stores", "confidentiality_limits",
}  # fmt: skip


def registered() -> set[str]:
    strings = set()
    for contact in CONTACTS.values():
        strings |= contact.sayable_strings()
    return {
        s.removeprefix("https://").removeprefix("http://").removeprefix("www.") for s in strings
    }


def sayable_texts() -> list[tuple[str, str]]:
    """(where, text) for every response and knowledge text the bot can say."""
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    texts = [
        (name, variation.get("text", ""))
        for name, variations in domain["responses"].items()
        for variation in variations
    ]
    for entry in KNOWLEDGE.values():
        texts += [(entry.id, t) for t in (entry.answer, entry.more, entry.provider_answer) if t]
    for outcome in load_outcomes(ROOT / "data" / "knowledge" / "roadmap.yml"):
        texts += [(outcome.id, t) for t in outcome.sections.values()]
    return texts


def test_required_topics_exist() -> None:
    assert REQUIRED_TOPICS <= set(KNOWLEDGE)


@pytest.mark.parametrize("entry_id", sorted(KNOWLEDGE))
def test_entry_has_an_official_source_and_a_recent_review(entry_id: str) -> None:
    entry = KNOWLEDGE[entry_id]
    assert any(s.url and s.url.startswith("https://") for s in entry.sources), entry_id
    assert dt.date.today() - dt.timedelta(days=365) <= entry.reviewed <= dt.date.today()


@pytest.mark.parametrize("entry_id", sorted(KNOWLEDGE))
def test_answer_fits_one_phone_screen(entry_id: str) -> None:
    assert len(KNOWLEDGE[entry_id].answer.split()) <= 110


def test_every_phone_number_and_address_said_is_in_the_registry() -> None:
    allowed = registered()
    for where, text in sayable_texts():
        for number in PHONE_LIKE.findall(text):
            assert number in allowed, f"{where}: {number} is not in data/contacts.yml"
        for address in WEB_LIKE.findall(text):
            bare = address.removeprefix("https://").removeprefix("http://").removeprefix("www.")
            assert bare in allowed, f"{where}: {address} is not in data/contacts.yml"


def test_registry_check_catches_an_unregistered_number() -> None:
    assert PHONE_LIKE.findall("call 1-800-555-0199 or text 12345, form I-914, 120 days") == [
        "1-800-555-0199",
        "12345",
    ]


@pytest.mark.parametrize("contact_id", sorted(CONTACTS))
def test_every_contact_has_an_official_source(contact_id: str) -> None:
    assert (CONTACTS[contact_id].source or "").startswith("https://")
