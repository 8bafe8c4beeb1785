"""Reading a message into the directory search: a pure function, no tracker, no database."""

from __future__ import annotations

from bot.actions.directory import PAGE_SIZE, query_for, read_message

HOUSTON_SEARCH = {
    "need": "legal_aid",
    "place": {"label": "Houston, TX", "latitude": 29.76, "longitude": -95.37, "state": "TX"},
    "filters": {},
    "offset": 0,
    "awaiting": None,
}


def test_need_and_place_in_one_message() -> None:
    state = read_message({}, "I need a lawyer in Houston", "find_service")
    assert state["need"] == "legal_aid" and state["place"]["label"].startswith("Houston")
    assert state["filters"] == {} and state["offset"] == 0


def test_typed_follow_ups_refine_the_same_search() -> None:
    free = read_message(HOUSTON_SEARCH, "only free ones", "refine_search")
    assert free["filters"] == {"free": True} and free["need"] == "legal_aid"
    assert query_for(free).cost == "free"
    cheap = read_message(HOUSTON_SEARCH, "anything cheaper?", "refine_search")
    assert cheap["filters"] == {"low_cost": True} and query_for(cheap).cost == "low_cost"
    spanish = read_message(HOUSTON_SEARCH, "do any of them have Spanish speakers?", "refine_search")
    assert spanish["filters"] == {"language": "es"} and query_for(spanish).language == "es"
    open_now = read_message(HOUSTON_SEARCH, "any open now?", "refine_search")
    assert open_now["filters"] == {"open_now": True} and query_for(open_now).open_now
    assert spanish["place"] == HOUSTON_SEARCH["place"]  # the same search, refined


def test_more_pages_on_and_a_new_filter_starts_again() -> None:
    more = read_message({**HOUSTON_SEARCH, "offset": 3}, "more", "more", answering="more")
    assert more["offset"] == 3 + PAGE_SIZE
    refined = read_message({**HOUSTON_SEARCH, "offset": 6}, "only free ones", "refine_search")
    assert refined["offset"] == 0


def test_what_the_person_says_about_themselves_is_kept_for_the_search() -> None:
    state = read_message({}, "I am a man and need a shelter tonight in Houston", "find_service")
    assert state["person"] == {"gender": "man"}
    query = query_for(state)
    assert (query.gender, query.age_group, query.with_children) == ("man", None, False)
    family = read_message({}, "soy mujer y estoy con mis hijos, necesito refugio", "find_service")
    assert query_for(family).gender == "woman" and query_for(family).with_children
    teen = read_message({}, "im 16 and need somewhere to sleep", "find_service")
    assert query_for(teen).age_group == "youth"
    assert query_for(HOUSTON_SEARCH, age_group="adult").age_group == "adult"  # from the slot
    # a filter about someone else is a filter, not a fact about the writer
    sister = read_message({}, "a shelter for my sister", "find_service")
    assert "person" not in sister


def test_a_reply_to_where_is_read_as_a_place_or_asked_again() -> None:
    asked = {"need": "food", "awaiting": "place", "filters": {}}
    found = read_message(asked, "77002", "nlu_fallback", answering="place")
    assert found["place"]["label"] == "77002 (Houston, TX)"
    unreadable = read_message(asked, "asdfgh", "nlu_fallback", answering="place")
    assert unreadable.get("unknown_place") and not unreadable.get("place")
    skipped = read_message(asked, "skip", "nlu_fallback")
    assert skipped["skip_place"] and skipped["place"] is None


def test_buttons_carry_their_choice_as_entities() -> None:
    state = read_message(
        HOUSTON_SEARCH,
        '/refine_search{"filter": "language"}',
        "refine_search",
        [{"entity": "filter", "value": "language"}],
        conversation_language="es",
    )
    assert state["filters"] == {"language": "es"}  # "speaks my language": the chat's language
    need = read_message({}, '/find_service{"need": "food"}', "find_service",
                        [{"entity": "need", "value": "food"}])  # fmt: skip
    assert need["need"] == "food" and "person" not in need
