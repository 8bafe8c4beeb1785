"""The chat's service search action, run the way rasa-sdk runs it, on the shipped data."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions import directory
from bot.actions.directory import ActionFindService
from bot.actions.rights import ActionSuggestTopics, ActionTopicMore
from bot.channels.payloads import allowed_payloads
from bot.db.migrate import upgrade
from bot.directory.hsds_io import import_directory
from tests.rendering import rendered

DATA = Path(__file__).resolve().parents[2] / "data" / "directory"


@pytest.fixture(scope="module", autouse=True)
def database(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('actions') / 'haven.db'}"
    upgrade(url)
    import_directory(DATA / "national.json", url)
    import_directory(DATA / "sample", url)
    original = directory.database_url
    directory.database_url = lambda: url
    yield url
    directory.database_url = original


def run(action, text: str, intent: str, entities: list | None = None, events=None, **slots: Any):
    latest = {"text": text, "intent": {"name": intent}, "entities": entities or []}
    tracker = Tracker("someone", slots, latest, events or [], False, None, {}, "action_listen")
    dispatcher = CollectingDispatcher()
    produced = asyncio.run(action.run(dispatcher, tracker, {}))
    search = next((e["value"] for e in produced if e.get("name") == "search"), None)
    return rendered(dispatcher.messages, slots.get("language") or "en"), search


def all_payloads(messages: list[dict]) -> set[str]:
    return {b["payload"] for m in messages for b in m.get("buttons") or []}


def test_need_and_place_in_one_message_search_at_once() -> None:
    messages, state = run(ActionFindService(), "I need a lawyer in Houston", "find_service",
                          language="en")  # fmt: skip
    assert messages[0]["text"] == "Legal help near Houston, TX:"
    assert len(messages) == 5  # header, three results, the "showing" line with buttons
    assert state["need"] == "legal_aid" and state["place"]["label"] == "Houston, TX"
    assert all_payloads(messages) <= allowed_payloads()


def test_missing_place_is_asked_and_can_be_skipped() -> None:
    [ask], state = run(ActionFindService(), "I need food", "find_service", language="en")
    assert "where should I look?" in ask["text"] and state["awaiting"] == "place"
    messages, _ = run(
        ActionFindService(), '/inform_place{"place": "skip"}', "inform_place",
        [{"entity": "place", "value": "skip"}], search=state, language="en",
    )  # fmt: skip
    assert "services are local" in messages[0]["text"]  # no national food service: ask again
    [ask], state = run(ActionFindService(), "I need a job", "find_service", language="en")
    messages, _ = run(
        ActionFindService(), '/inform_place{"place": "skip"}', "inform_place",
        [{"entity": "place", "value": "skip"}], search=state, language="en",
    )  # fmt: skip
    assert "National services" in messages[0]["text"]
    assert "1-866-487-9243" in "\n".join(m["text"] for m in messages)


def test_missing_need_is_asked_with_buttons() -> None:
    [ask], state = run(ActionFindService(), "Houston", "inform_place", language="es")
    assert "¿" in ask["text"] and state["awaiting"] == "need"
    assert '/find_service{"need": "food"}' in all_payloads([ask])
    messages, state = run(
        ActionFindService(), '/find_service{"need": "food"}', "find_service",
        [{"entity": "need", "value": "food"}], search=state, language="es",
    )  # fmt: skip
    assert state["need"] == "food" and "Houston" in messages[0]["text"]


def test_filters_from_words_and_buttons() -> None:
    _, state = run(ActionFindService(), "free food in Houston that speaks vietnamese",
                   "find_service", language="en")  # fmt: skip
    assert state["filters"] == {"free": True, "language": "vi"}
    messages, state = run(
        ActionFindService(), '/refine_search{"filter": "open_now"}', "refine_search",
        [{"entity": "filter", "value": "open_now"}], search=state, language="en",
    )  # fmt: skip
    assert state["filters"]["open_now"] is True


def test_more_after_results_pages_on_and_more_after_a_topic_does_not() -> None:
    _, state = run(ActionFindService(), "a lawyer in Houston", "find_service", language="en")
    after_search = [{"event": "slot", "name": "search", "value": state}]
    messages, later = run(ActionTopicMore(), "show more", "more", events=after_search,
                          search=state, language="en")  # fmt: skip
    assert later["offset"] == 3 and "Showing 4–" in messages[-1]["text"]
    after_topic = after_search + [{"event": "slot", "name": "kb_topic", "value": "t_visa"}]
    messages, _ = run(ActionTopicMore(), "more", "more", events=after_topic, search=state,
                      kb_topic="t_visa", language="en")  # fmt: skip
    assert "work permit" in messages[0]["text"]


def test_a_place_the_model_missed_still_answers_where() -> None:
    [ask], state = run(ActionFindService(), "I need a shelter", "find_service", language="en")
    messages, state = run(ActionSuggestTopics(), "Fort Worth", "nlu_fallback", search=state,
                          language="en")  # fmt: skip
    assert "Fort Worth, TX" in messages[0]["text"]  # understood (no sample shelter there)


def test_unknown_place_is_asked_again() -> None:
    [ask], state = run(ActionFindService(), "I need a shelter", "find_service", language="en")
    [again], state = run(ActionFindService(), "Xyzzyville", "out_of_scope", search=state,
                         language="en")  # fmt: skip
    assert "could not find that place" in again["text"]


def test_confidential_shelters_show_no_address() -> None:
    messages, _ = run(ActionFindService(), "emergency shelter for women in Houston",
                      "find_service", language="en")  # fmt: skip
    text = "\n".join(m["text"] for m in messages)
    assert "confidential" in text


@pytest.mark.parametrize(("text", "intent"), [("skip", "nlu_fallback"), ("no", "deny"),
                                              ("no sé", "out_of_scope")])  # fmt: skip
def test_typed_skip_or_no_answers_where(text: str, intent: str) -> None:
    [ask], state = run(ActionFindService(), "I need a job", "find_service", language="en")
    messages, state = run(ActionFindService(), text, intent, search=state, language="en")
    assert state["skip_place"] is True and "National services" in messages[0]["text"]


def test_a_place_with_nothing_near_asks_for_another() -> None:
    [ask], state = run(ActionFindService(), "I need food", "find_service", language="en")
    [nothing], state = run(ActionFindService(), "Huston", "out_of_scope", search=state,
                           language="en")  # fmt: skip
    assert "near Huston, ID" in nothing["text"] and "1-888-373-7888" in nothing["text"]
    assert state["awaiting"] == "place" and state["place"] is None


def test_an_unreadable_reply_to_where_is_asked_again_not_topics() -> None:
    [ask], state = run(ActionFindService(), "I need food", "find_service", language="en")
    [again], state = run(ActionSuggestTopics(), "Xyzzyville", "nlu_fallback", search=state,
                         language="en")  # fmt: skip
    assert "could not find that place" in again["text"] and state["awaiting"] == "place"


def test_what_the_person_said_ranks_the_services_meant_for_them_first() -> None:
    messages, state = run(ActionFindService(), "im 17 and need a shelter in houston",
                          "find_service", language="en")  # fmt: skip
    assert state["person"] == {"age_group": "minor"}
    results = messages[1:-1]
    labelled = [m["text"].split("\n")[:2] for m in results]
    assert ["Emergency Shelter for Men (sample)", "For adults only"] in labelled
    adults_only = [lines[1] == "For adults only" for lines in labelled]
    assert adults_only == sorted(adults_only)  # after every service that may take a minor
    assert not adults_only[0]


def test_capacity_always_carries_its_date() -> None:
    messages, _ = run(ActionFindService(), "I need a shelter in Houston", "find_service",
                      language="en")  # fmt: skip
    places = [line for m in messages for line in m["text"].split("\n") if "Places" in line]
    assert places and all(" (on " in line for line in places)


def test_typed_follow_ups_refine_the_search_in_place() -> None:
    everything, state = run(ActionFindService(), "I need a lawyer in Houston", "find_service")
    free, refined = run(ActionFindService(), "only free ones", "refine_search", search=state)
    assert refined["filters"] == {"free": True} and refined["place"] == state["place"]
    assert all("Sliding scale" not in m["text"] for m in free)
    spanish, refined = run(ActionFindService(), "do any of them have Spanish speakers?",
                           "refine_search", search=state, language="en")  # fmt: skip
    assert refined["filters"] == {"language": "es"}
    assert spanish[0]["text"] == "Legal help near Houston, TX:"  # still English
    # every legal service in the sample speaks Spanish: Vietnamese shows the filter works
    vietnamese, _ = run(ActionFindService(), "any lawyers who speak vietnamese?",
                        "refine_search", search=state, language="en")  # fmt: skip
    shown = vietnamese[1:-1]
    assert shown and all("Vietnamese" in m["text"] for m in shown)

    def total(messages: list[dict]) -> int:  # "Showing 1–3 of 4."
        return int(messages[-1]["text"].rstrip(".").rsplit(" ", 1)[1])

    assert total(vietnamese) == len(shown) < total(everything)
