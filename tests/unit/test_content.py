"""What a reader sees: every response, entry and road map outcome rendered in both languages,
with no internal name, no unfilled placeholder, and no benefit the 2025-26 law took away;
ages, places and one-message situations read the way the person meant them."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa.shared.core.domain import Domain
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.common import Speaker, knowledge
from bot.actions.directory import ActionFindService
from bot.actions.roadmap import ActionRoadmap
from bot.directory.geocode import find_place
from bot.knowledge.roadmap import load_outcomes
from bot.knowledge.situation import read_situation
from bot.nlg.content import msg
from bot.nlg.generator import LocalizedResponseGenerator
from bot.nlu.guard import InputGuard
from tests.rendering import render_reply, rendered

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = ("en", "es")
# A file name or an internal document: "002_0a84.txt", "DESIGN-BRIEF.md", "roadmap.yml", "seed".
INTERNAL = re.compile(
    r"\b[\w-]+\.(?:md|txt|py|ya?ml|json|po|pot|csv)\b|\bseeds?\b"
    r"|(?-i:SAFETY|CONTENT|DIRECTORY|RASA-NOTES|STYLE)\b",
    re.IGNORECASE,
)
PLACEHOLDER = re.compile(r"\{[a-z_]+\}|\{\{|\}\}")
BENEFIT_WORDS = re.compile(r"\b(?:SNAP|Medicaid|food stamps|cupones de alimentos)\b", re.I)
# A sentence naming SNAP or Medicaid must say it is narrowed, gone or to be checked.
NARROWED = re.compile(
    r"\b(?:no|not|no longer|ya no|narrowed|except|excepto|sin|reducid\w*|restrict\w*|"
    r"only|solo|sólo|"
    r"depends|depende|check|confirm\w*|verifi\w*|compruebe|consulte|revise|bar|"
    r"remain eligible|siguen|still|todavía|aún|may|puede|pueden|state|estado)\b",
    re.I,
)


def tracker(language: str, intent: str = "", text: str = "", **slots: Any) -> Tracker:
    latest = {"intent": {"name": intent}, "intent_ranking": [], "entities": [], "text": text}
    return Tracker("reader", {"language": language, **slots}, latest, [], False, None, {}, "")


def run(action: Action, language: str, intent: str, text: str = "", **slots: Any):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker(language, intent, text, **slots), {}))
    return rendered(dispatcher.messages, language), events


def domain_renderings() -> list[tuple[str, str]]:
    """(where, text) for every response variation, rendered in each language."""
    generator = LocalizedResponseGenerator(domain=Domain.load(str(ROOT / "domain.yml")))
    raw = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]
    crisis_types = raw and [None, "emergency", "self_harm", "child_abuse", "sexual_assault"]
    texts = []
    for language in LANGUAGES:
        for name in raw:
            for crisis_type in crisis_types if name == "utter_crisis" else [None]:
                slots = {"language": language, "crisis_type": crisis_type}
                reply = generator.render(name, slots, "rest") or {}
                buttons = " | ".join(b["title"] for b in reply.get("buttons") or [])
                texts.append((f"{language} {name}", f"{reply.get('text', '')}\n{buttons}"))
    return texts


def knowledge_renderings() -> list[tuple[str, str]]:
    """(where, text) for every entry (survivor and provider), its more and its sources."""
    texts = []
    for language in LANGUAGES:
        for audience in (None, "provider"):
            speaker = Speaker(tracker(language, audience=audience))
            for entry in knowledge().values():
                reply = render_reply(*speaker.answer(entry), language=language)
                titles = " | ".join(b["title"] for b in reply["buttons"])
                texts.append((f"{language} {entry.id}", f"{reply['text']}\n{titles}"))
                if entry.more:
                    more = render_reply(msg(entry.more), language=language)["text"]
                    texts.append((f"{language} {entry.id} more", more))
                sources = render_reply(speaker.sources_text(entry), language=language)["text"]
                texts.append((f"{language} {entry.id} sources", sources))
        for outcome in load_outcomes(ROOT / "data" / "knowledge" / "roadmap.yml"):
            reply = render_reply(*ActionRoadmap.render(outcome), language=language)
            texts.append((f"{language} roadmap {outcome.id}", reply["text"]))
    return texts


RENDERINGS = domain_renderings() + knowledge_renderings()


def test_every_reader_facing_text_is_rendered() -> None:
    entries = len(knowledge())
    assert len(RENDERINGS) > 2 * (entries * 4 + 13)


@pytest.mark.parametrize("pattern", [INTERNAL, PLACEHOLDER], ids=["internal names", "placeholders"])
def test_no_internal_name_or_unfilled_placeholder_reaches_a_reader(pattern: re.Pattern) -> None:
    found = [(where, pattern.search(text).group(0)) for where, text in RENDERINGS
             if pattern.search(text)]  # fmt: skip
    assert not found, found[:10]


def test_the_check_catches_a_file_name() -> None:
    assert INTERNAL.search("Source: 002_0a845e5c5961e2d1.txt")
    assert INTERNAL.search("see DESIGN-BRIEF.md rule 8")
    assert PLACEHOLDER.search("deleted after {retention_days} days")
    wrong = "Your Eligibility Letter gets you SNAP and Medicaid."
    assert BENEFIT_WORDS.search(wrong) and not NARROWED.search(wrong)


def test_snap_and_medicaid_are_never_offered_as_a_benefit() -> None:
    offending = []
    for where, text in RENDERINGS:
        if where.endswith("sources"):  # a source's title may name the program it is about
            continue
        for sentence in text.split("\n"):  # a line: one point of a list, or a short answer
            if "http" in sentence:  # a source line names the program it is about
                continue
            if BENEFIT_WORDS.search(sentence) and not NARROWED.search(sentence):
                offending.append((where, sentence))
    assert not offending, offending[:5]


def test_no_promise_the_hotline_keeps_police_out_and_no_person_promised() -> None:
    banned = re.compile(
        r"without your (?:ok|consent|permission)|sin tu (?:permiso|consentimiento)|"
        r"connect you with a person|never depends on|nunca depende|shares nothing|"
        r"protection from removal|press 3",
        re.I,
    )
    found = [(where, banned.search(text).group(0)) for where, text in RENDERINGS
             if banned.search(text)]  # fmt: skip
    assert not found, found


# --- places: everyday words that are also US place names --------------------------------

NOT_A_PLACE = [
    "can you tell me where to get food",
    "tell me about shelters",
    "what about a lawyer",
    "i hope you can help me find a clinic",
    "is there any hope for me",
    "necesito salud mental",
    "busco ayuda de salud",
    "estoy en casa y necesito comida",
    "i need help at home",
    "we need a lawyer, can you help",
    "may i ask about food banks",
    "is it free",
    "i have no money for a lawyer",
    "my boss took my passport",
    "where can i get some food, we are hungry",
]


@pytest.mark.parametrize("text", NOT_A_PLACE)
def test_everyday_words_are_not_places(text: str) -> None:
    assert find_place(text) is None


@pytest.mark.parametrize(
    ("text", "label"),
    [("food in Hope, AR", "Hope, AR"), ("hope arkansas", "Hope, AR"), ("katy tx", "Katy, TX"),
     ("shelter in houston", "Houston, TX"), ("spring, TX", "Spring, TX")],
)  # fmt: skip
def test_real_places_are_still_found(text: str, label: str) -> None:
    place = find_place(text)
    assert place is not None and place.label == label


def test_a_reply_to_where_may_be_the_place_alone() -> None:
    assert find_place("Hope", place_only=True).label == "Hope, AR"
    assert find_place("tell me more", place_only=True) is None
    assert find_place("estoy en casa", place_only=True) is None


# --- ages --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "age"),
    [("I am 22", "adult"), ("im 30", "adult"), ("soy mayor de edad", "adult"),
     ("tengo 25 años y me quitaron el pasaporte", "adult"), ("i'm 16", "minor"),
     ("tengo 15 años", "minor"),
     ("a 16-year-old student", "minor"), ("tengo 3 hijos", None), ("i work 12 hours", None),
     ("they pay me 5 dollars", None)],
)  # fmt: skip
def test_ages_are_read_as_facts(text: str, age: str | None) -> None:
    assert read_situation(text).age == age


def guard(text: str, intent: str, ranking: list[tuple[str, float]]) -> str:
    message = Message({TEXT: text})
    message.set(INTENT, {"name": intent, "confidence": ranking[0][1]})
    message.set(INTENT_RANKING_KEY, [{"name": n, "confidence": c} for n, c in ranking])
    [message] = InputGuard().process([message])
    return message.get(INTENT)["name"]


def test_an_adult_age_never_opens_the_under_18_path() -> None:
    assert guard("I am 30", "age_minor", [("age_minor", 0.6), ("greet", 0.1)]) == "age_adult"
    assert guard("tengo 25 años", "age_minor", [("age_minor", 0.5)]) == "age_adult"
    # the model's next reading wins when it is confident: the age is only a detail
    assert (
        guard(
            "im 24 and my boss keeps my passport",
            "age_minor",
            [("age_minor", 0.45), ("kb_passport_and_id", 0.4)],
        )
        == "kb_passport_and_id"
    )
    assert guard("im 16", "age_minor", [("age_minor", 0.9)]) == "age_minor"
    assert guard("tengo 15", "age_adult", [("age_adult", 0.9)]) == "age_minor"
    # a short message stating an age is about that age, when the model is unsure
    assert guard("i am 16 years old", "nlu_fallback", [("nlu_fallback", 0.3)]) == "age_minor"
    assert guard("tengo 40", "out_of_scope", [("out_of_scope", 0.4)]) == "age_adult"
    assert guard("my zip is 77002", "inform_place", [("inform_place", 1.0)]) == "inform_place"


def test_the_under_18_answer_never_assumes_a_sex_act() -> None:
    for language in LANGUAGES:
        for entry_id in ("minors_basics", "confidentiality_limits"):
            answer = msg(knowledge()[entry_id].answer)
            text = render_reply(answer, language=language)["text"].lower()
            for sentence in re.split(r"(?<=[.!?])\s+", text):
                if re.search(r"\bsex|\bsexo|\bsexual", sentence):
                    assert not re.search(r"\byou\b|\bcontigo\b|\bte\b|\bti\b", sentence)


def test_need_words_inside_a_case_do_not_outrank_the_case() -> None:
    case = (
        "soy trabajadora social, mi cliente es un señor de 45 años y ya le aprobaron la visa t. "
        "que beneficios puede recibir ahora, vivienda, comida, clases de ingles?"
    )
    assert guard(case, "find_service", [("find_service", 0.5)]) == "eligibility_roadmap"
    one_fact = "my client is 17 and needs a shelter in houston"
    assert guard(one_fact, "find_service", [("find_service", 0.7)]) == "find_service"
    assert (
        guard("i need food in houston", "find_service", [("find_service", 0.9)]) == "find_service"
    )


# --- one-message situations --------------------------------------------------------------


def test_a_provider_stating_the_whole_case_gets_the_outcome_at_once() -> None:
    text = "my client is 30, from honduras, her T visa was found bona fide last month. benefits?"
    [message], events = run(ActionRoadmap(), "en", "eligibility_roadmap", text)
    assert message["text"].startswith("From your message: 18 or older, Foreign national, T visa")
    assert "Can use now:" in message["text"]  # the outcome, not a question
    slots = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
    assert slots["audience"] == "provider" and slots["roadmap_stage"] == "t_bona_fide"


def test_a_partial_case_asks_only_for_what_is_missing() -> None:
    text = "mi clienta tiene la visa t aprobada, a que beneficios tiene derecho?"
    [message], _ = run(ActionRoadmap(), "es", "eligibility_roadmap", text)
    assert "18" in message["text"]  # asks the age (the only fact missing before the outcome)
    payloads = [b["payload"] for b in message["buttons"]]
    assert any("roadmap_age" in p for p in payloads)


def test_a_button_press_still_starts_a_new_road_map() -> None:
    [message], events = run(ActionRoadmap(), "en", "eligibility_roadmap", "/eligibility_roadmap")
    assert "under 18" in message["text"].lower() and "From your message" not in message["text"]
    assert all(e["value"] is None for e in events if e.get("name", "").startswith("roadmap_"))


# --- the directory's "where?" ------------------------------------------------------------


def test_the_place_question_echoes_the_need() -> None:
    [message], _ = run(ActionFindService(), "en", "find_service", "I need a lawyer")
    assert message["text"].startswith("Legal") and "where should I look" in message["text"]


def test_two_unreadable_places_stop_the_question_and_offer_national_services() -> None:
    search = {"need": "food", "awaiting": "place", "filters": {}, "place_misses": 1}
    [message], events = run(
        ActionFindService(),
        "en",
        "inform_place",
        "asdfgh qwerty",
        search=search,
        search_awaiting="place",
    )
    assert "still could not read a place" in message["text"]
    titles = [b["title"] for b in message["buttons"]]
    assert "Skip: national services" in titles and "Main menu" in titles
    awaiting = [e["value"] for e in events if e.get("name") == "search_awaiting"]
    assert awaiting == [None]


# --- buttons that answer "what next" ------------------------------------------------------


def test_immigration_answers_offer_free_legal_help_in_the_directory() -> None:
    for entry_id in ("t_visa", "u_visa", "processing_times", "immigration_legal_help"):
        assert knowledge()[entry_id].find == "legal_aid"
        buttons = render_reply(*Speaker(tracker("en")).answer(knowledge()[entry_id]))["buttons"]
        assert {
            "title": "Find near me: Legal help",
            "payload": '/find_service{"need": "legal_aid"}',
        } in buttons
    answer = Speaker(tracker("es")).answer(knowledge()["t_visa"])
    buttons = render_reply(*answer, language="es")["buttons"]
    assert any(b["payload"] == '/find_service{"need": "legal_aid"}' and "{" not in b["title"]
               for b in buttons)  # fmt: skip


def test_every_find_button_names_a_directory_need() -> None:
    from bot.directory.vocabulary import load_vocabulary

    categories = set(load_vocabulary().category_ids)
    assert all(e.find in categories for e in knowledge().values() if e.find)


def test_answers_that_depend_on_2025_26_changes_link_what_changed() -> None:
    dated = re.compile(r"\b(?:2025|2026)\b")
    for entry in knowledge().values():
        if entry.id == "policy_changes_2025":
            continue
        said = "\n".join(t for t in (entry.answer, entry.more, entry.provider_answer) if t)
        if dated.search(said):
            _, buttons = Speaker(tracker("en", audience="provider")).answer(entry)
            assert "/kb_policy_changes_2025" in [b["payload"] for b in buttons], entry.id


def test_providers_are_offered_the_road_map_not_forced_into_it() -> None:
    reply = render_reply(
        *Speaker(tracker("en", audience="provider")).answer(knowledge()["hhs_certification"])
    )
    assert "/eligibility_roadmap" in [b["payload"] for b in reply["buttons"]]
    assert "HHS" in reply["text"]
