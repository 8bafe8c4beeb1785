"""Service search in the chat: understand the need, ask only for what is missing, show results.

One action serves every step. It reads the need, the place and any filters from the
message (``data/directory/needs.yml`` and offline geocoding), keeps the search in the
``search`` slot, asks "what do you need?" or "where?" only when that is missing (the place
can be skipped: then national resources answer), and shows results three at a time with
"more", refinements and "talk to a person". Confidential addresses never reach it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.common import TOPIC_SLOT, Speaker, latest_intent, menu_button
from bot.db.engine import session_scope
from bot.directory.geocode import KM_PER_MILE, Place, find_place
from bot.directory.payloads import (
    AWAITING_SLOT,
    FIND_SERVICE,
    MORE_RESULTS,
    OTHER_NEEDS,
    REQUEST_HUMAN,
    SEARCH_SLOT,
    need_payload,
    refine_payload,
    skip_place_payload,
)
from bot.directory.search import (
    DEFAULT_RADIUS_KM,
    SearchQuery,
    SearchResults,
    ServiceResult,
    search,
)
from bot.directory.vocabulary import load_vocabulary
from bot.i18n.catalogs import N_
from bot.i18n.text import fold
from bot.knowledge.situation import read_person, read_situation
from bot.languages import ORIGINAL_TEXT
from bot.nlg.content import (
    Button,
    Node,
    button,
    data,
    date,
    days,
    join,
    language,
    lines,
    msg,
    prose,
    send,
    time,
)
from bot.settings import get_settings

PAGE_SIZE = 3
FIRST_NEEDS = (
    "emergency_shelter", "food", "legal_aid", "medical", "mental_health", "employment",
    "case_management", "safety",
)  # fmt: skip
DESCRIPTION_CHARS = 160
MAX_PLACE_MISSES = 2  # unreadable replies to "where?" before Haven stops asking
# Typed instead of pressing "Skip" after "where?" (a "no" answers it the same way).
SKIP_WORDS = frozenset(
    "skip;anywhere;nationwide;national;no;none;i don't know;i dont know;dont know;idk;"
    "saltar;omitir;cualquier lugar;nacional;no se;no lo se;ninguno".split(";")
)
VOICE_TYPES = (None, "", "voice", "cell", "hotline")  # HSDS phone types a caller dials

ASK_NEED = N_("What do you need help with? Choose one or tell me in your own words.")
OTHER_NEEDS_TITLE = N_("Other needs")
ASK_PLACE = N_(
    "{need}: where should I look? Type a city or a ZIP code. "
    "I only use it for this search. You can also skip: then I show national services."
)
ASK_PLACE_AGAIN = N_(
    "I could not find that place. Please type a US city (for example Houston, TX) "
    "or a 5-digit ZIP code, or skip."
)
ASK_PLACE_LAST = N_(
    "I still could not read a place. A ZIP code alone works best (for example 10001), or a "
    "city and state (for example Miami, FL). Or see national services for {need} now. "
    "You can also ask me something else."
)
NEAR_ME = N_("{need}: to search near you, type your city or ZIP code.")
SKIP = N_("Skip: national services")
HEADER_LOCAL = N_("{need} near {place}:")
HEADER_NATIONAL = N_("National services for {need}:")
HEADER_NATIONAL_FALLBACK = N_(
    "I found nothing for {need} near {place}. These national services can help:"
)
LOCAL_ONLY = N_(
    "{need}: services are local. Type a city or a ZIP code and I will look near you. "
    "The National Human Trafficking Hotline can also help, 24/7: call 1-888-373-7888 "
    "or text 233733."
)
NOTHING_NEAR = N_(
    "I found nothing for {need} near {place}, not even a national service. Type another "
    "city or ZIP code, or talk to a person: the National Human Trafficking Hotline, 24/7, "
    "call 1-888-373-7888 or text 233733."
)
NO_MORE = N_("There are no more results. You can change the search below.")
SHOWING = N_("Showing {first}–{last} of {total}.")
PHONE = N_("Phone: {numbers}")
TEXT_LINE = N_("text {number}")
OPEN_NOW = N_("Open now")
CLOSED_NOW = N_("Closed now")
OPEN_24_7 = N_("Open 24/7")
HOURS = N_("Hours: {hours}")
CALL_FOR_HOURS = N_("call for hours")
SOME_WEEKS = N_("{hours} (some weeks only: call to check)")
SPEAKS = N_("Languages: {languages}")
AWAY = N_("{miles} miles away")
ADDRESS = N_("Address: {address}")
CONFIDENTIAL = N_("Address given by phone only (confidential location)")
LAST_CONFIRMED = N_("Last confirmed on {date}")
FREE = N_("Free")
SLIDING_SCALE = N_("Sliding scale")
BEDS = N_("Places available: {count}")
NATIONAL = N_("National service")
MORE_RESULTS_TITLE = N_("More results")
OPEN_NOW_TITLE = N_("Open now only")
FREE_TITLE = N_("Free only")
MY_LANGUAGE_TITLE = N_("Speaks my language")
TALK_TO_PERSON = N_("Talk to a person about this")
NEW_SEARCH = N_("Search for something else")
REFINED_NONE = N_("How should I narrow the results?")
ASK_NEED_FIRST = N_("Tell me first what you are looking for.")
PLACES_ON = N_("Places available: {count} (on {date})")
FULL = N_("Full: no places free")
FULL_ON = N_("Full: no places free (on {date})")
MAY_HAVE_CHANGED = N_("This figure may have changed: call first.")
FIT_NOTES = {
    "women_only": N_("For women only"),
    "men_only": N_("For men only"),
    "minors_only": N_("For under-18s only"),
    "adults_only": N_("For adults only"),
}
MAY_NOT_FIT = N_("May not be meant for you: ask them first.")
NOTHING_FITS = N_(
    "I found nothing near {place} that is clearly meant for you. The services below may "
    "still help; ask them first. The National Human Trafficking Hotline can also find a "
    "place that fits, 24/7: call 1-888-373-7888 or text 233733."
)
NATIONAL_SERVICES_TITLE = N_("National services")
AGE_GROUPS = {"minor": "youth", "adult": "adult"}


# Reading the user's message: a pure function of the message and the search so far.


def read_message(
    state: dict[str, Any],
    text: str,
    intent: str | None,
    entities: list[dict[str, Any]] | tuple = (),
    answering: str | None = None,
    conversation_language: str | None = None,
    original: str | None = None,
) -> dict[str, Any]:
    """The search state after this message: its need, place, filters and what it says
    about the person. ``answering`` names the question the message answers ("place",
    "need", "more") when the model did not read it as such. ``original`` is the user's
    own words when ``text`` is their English translation: a place is read from either
    (a translation may change a city's name)."""
    state = dict(state)
    payload = text.startswith("/")
    filters = dict(state.get("filters") or {})
    person = dict(state.get("person") or {})
    if intent == "find_service" or answering == "need":
        state.update(need=None, offset=0)
        filters = {}
    need = _entity(entities, "need")
    if not payload:
        matches = load_vocabulary().matches(text)
        needs = [m.value for m in matches if m.kind == "need"]
        need = need or (needs[0] if needs else None)
        for match in matches:
            if match.kind in ("open_now", "free", "low_cost"):
                filters[match.kind] = True
            elif match.kind in ("population", "language"):
                filters[match.kind] = match.value
            elif match.kind == "near_me":
                state["near_me"] = True
        person.update(read_person(text))
        age = read_situation(text).age
        if age:
            person["age_group"] = age
        awaiting_place = (
            state.get("awaiting") == "place" or intent == "inform_place" or answering == "place"
        )
        place = find_place(text, place_only=awaiting_place)
        if place is None and original and original != text:
            place = find_place(original, place_only=awaiting_place)
        if place is not None:
            state.update(place=place.as_slot(), skip_place=False, near_me=False)
        elif state.get("awaiting") == "place" and (
            intent in {"deny", "skip"} or fold(text) in SKIP_WORDS
        ):
            state.update(skip_place=True, place=None)
        elif awaiting_place and not needs:
            state["unknown_place"] = True
    if need == OTHER_NEEDS:
        state["show_other_needs"] = True
    elif need:
        state["need"] = need
        state["offset"] = 0
    if _entity(entities, "place") == "skip":
        state.update(skip_place=True, place=None)
    chosen = _entity(entities, "filter")
    if chosen == "language":
        filters["language"] = conversation_language or get_settings().default_language
    elif chosen in ("open_now", "free"):
        filters[chosen] = True
    if filters != (state.get("filters") or {}):
        state["offset"] = 0
    if (intent == "more_results" or answering == "more") and state.get("need"):
        state["offset"] = int(state.get("offset") or 0) + PAGE_SIZE
    state["filters"] = filters
    if person:
        state["person"] = person
    return state


def _entity(entities: list[dict[str, Any]] | tuple, name: str) -> str | None:
    for entity in entities or ():
        if entity.get("entity") == name and isinstance(entity.get("value"), str):
            return entity["value"]
    return None


def query_for(state: dict[str, Any], age_group: str | None = None) -> SearchQuery:
    """The directory query for a search state (``age_group``: the conversation's slot)."""
    place = Place.from_slot(state.get("place"))
    filters = state.get("filters") or {}
    person = state.get("person") or {}
    chosen_language = filters.get("language")
    cost = "free" if filters.get("free") else "low_cost" if filters.get("low_cost") else None
    return SearchQuery(
        need=state["need"],
        latitude=place.latitude if place else None,
        longitude=place.longitude if place else None,
        radius_km=place.radius_km if place else DEFAULT_RADIUS_KM,
        state=place.state if place else None,
        areas=place.areas if place else (),
        language=chosen_language if isinstance(chosen_language, str) else None,
        open_now=bool(filters.get("open_now")),
        population=filters.get("population"),
        cost=cost,
        gender=person.get("gender"),
        age_group=AGE_GROUPS.get(person.get("age_group") or age_group or ""),
        with_children=bool(person.get("with_children")),
    )


def database_url() -> str:
    return get_settings().database_url


def run_search(query: SearchQuery, offset: int) -> SearchResults:
    with session_scope(database_url()) as session:
        return search(session, query, offset=offset, limit=PAGE_SIZE)


# Rendering: structured content, put into words by the Rasa process.


def hours_content(result: ServiceResult) -> Node:
    """Opening hours; a schedule Haven cannot read says "call for hours", and one that is
    not every week (the first Monday, until a date) says so, never as if it were weekly."""
    parts: list[Node] = []
    if any(not h.understood for h in result.hours):
        parts.append(msg(CALL_FOR_HOURS))
    for h in result.hours:
        if not (h.understood and h.opens_at and h.closes_at):
            continue
        span = join(days(h.byday), join(time(h.opens_at), "–", time(h.closes_at)), sep=" ")
        parts.append(span if h.every_week else msg(SOME_WEEKS, hours=span))
    return join(*parts, sep="; ") if parts else None


def description(result: ServiceResult) -> Node:
    if not result.description:
        return None
    text = " ".join(result.description.split())
    if len(text) > DESCRIPTION_CHARS:
        text = text[: DESCRIPTION_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return prose(text)


def capacity_content(result: ServiceResult) -> Node:
    """Places free, always with the date they were counted; an old count is flagged."""
    if result.beds_available is None:
        return None
    when = date(result.capacity_updated.date()) if result.capacity_updated else None
    if result.full:
        figure = msg(FULL_ON, date=when) if when else msg(FULL)
    elif when:
        figure = msg(PLACES_ON, count=result.beds_available, date=when)
    else:
        figure = msg(BEDS, count=result.beds_available)
    return join(figure, msg(MAY_HAVE_CHANGED) if result.capacity_stale else None, sep=" ")


def result_content(result: ServiceResult) -> Node:
    """One service, as a few short lines a phone shows whole."""
    voice = [data(n) for n, kind in result.phones if kind in VOICE_TYPES]
    texts = [msg(TEXT_LINE, number=data(n)) for n, kind in result.phones if kind in ("text", "sms")]
    numbers = voice[:2] + texts[:1]
    if result.always_open:
        status = msg(OPEN_24_7)
    else:
        now = {True: msg(OPEN_NOW), False: msg(CLOSED_NOW)}.get(result.open_now)
        hours = hours_content(result)
        status = join(now, msg(HOURS, hours=hours) if hours else None, sep=" · ")
    where = None
    if result.confidential:
        where = msg(CONFIDENTIAL)
    elif result.address:
        away = None
        if result.distance_km is not None:
            away = msg(AWAY, miles=round(result.distance_km / KM_PER_MILE, 1))
        place = join(data(result.address), data(result.city), sep=", ")
        where = msg(ADDRESS, address=join(place, away, sep=" · "))
    cost = {"free": msg(FREE), "sliding_scale": msg(SLIDING_SCALE)}.get(result.cost or "")
    extras = join(msg(NATIONAL) if result.national else None, cost, sep=" · ")
    fit = None
    if not result.fits:
        fit = msg(FIT_NOTES.get(result.fit_note or "", MAY_NOT_FIT))
    confirmed = None
    if result.stale and result.assured_date:
        confirmed = msg(LAST_CONFIRMED, date=date(result.assured_date))
    return lines(
        data(result.name),
        fit,
        description(result),
        msg(PHONE, numbers=join(*numbers, sep=", ")) if numbers else None,
        status,
        msg(SPEAKS, languages=join(*(language(c) for c in result.languages[:4]), sep=", "))
        if result.languages
        else None,
        where,
        extras,
        capacity_content(result),
        confirmed,
    )


def need_buttons(categories: tuple[str, ...] | list[str]) -> list[Button]:
    return [button(Speaker.need_title(c), need_payload(c)) for c in categories]


def refine_buttons() -> list[Button]:
    return [
        Speaker.button(OPEN_NOW_TITLE, refine_payload("open_now")),
        Speaker.button(FREE_TITLE, refine_payload("free")),
        Speaker.button(MY_LANGUAGE_TITLE, refine_payload("language")),
    ]


def _remember(state: dict[str, Any], awaiting: str | None) -> list[dict[str, Any]]:
    """The search state, and what it waits for (a featurized slot the rules can see)."""
    return [
        SlotSet(SEARCH_SLOT, {**state, "awaiting": awaiting}),
        SlotSet(AWAITING_SLOT, awaiting),
    ]


def _state(tracker: Tracker) -> dict[str, Any]:
    value = tracker.get_slot(SEARCH_SLOT)
    return dict(value) if isinstance(value, dict) else {}


class ActionFindService(Action):
    """Finds services: asks for the need and the place when missing, then shows results."""

    def name(self) -> str:
        return "action_find_service"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        return await self.respond(dispatcher, tracker)

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, answering: str | None = None
    ) -> list[dict[str, Any]]:
        """Answer the latest message; ``answering`` names the question it answers when the
        model read it as something else (a place typed after "where?")."""
        intent = latest_intent(tracker)
        message = tracker.latest_message
        state = read_message(
            _state(tracker),
            message.get("text") or "",
            intent,
            message.get("entities") or [],
            answering,
            tracker.get_slot("language"),
            message.get(ORIGINAL_TEXT),
        )
        if state.pop("show_other_needs", False):
            others = [c for c in load_vocabulary().category_ids if c not in FIRST_NEEDS]
            send(dispatcher, msg(ASK_NEED), need_buttons(others))
            return _remember(state, "need")
        if not state.get("need"):
            paging = intent in ("more_results", "refine_search") or answering == "more"
            buttons = need_buttons(FIRST_NEEDS)
            buttons.append(Speaker.button(OTHER_NEEDS_TITLE, need_payload(OTHER_NEEDS)))
            send(dispatcher, msg(ASK_NEED_FIRST if paging else ASK_NEED), buttons)
            return _remember(state, "need")
        if not state.get("place") and not state.get("skip_place"):
            return self.ask_place(dispatcher, state)
        for key in ("unknown_place", "near_me", "place_misses"):
            state.pop(key, None)
        entities = message.get("entities") or []
        if intent == "refine_search" and not _entity(entities, "filter") and not state["filters"]:
            send(dispatcher, msg(REFINED_NONE), refine_buttons())
            return _remember(state, None)
        query = query_for(state, tracker.get_slot("age_group"))
        offset = int(state.get("offset") or 0)
        results = await asyncio.to_thread(run_search, query, offset)
        if not results.total:
            need = Speaker.need_title(state["need"])
            place = Place.from_slot(state.get("place"))
            if place is None:  # nothing national for this need (food, a dentist…)
                send(dispatcher, msg(LOCAL_ONLY, need=need))
            else:  # perhaps not the place they meant ("Huston" is in Idaho): ask again
                text = msg(NOTHING_NEAR, need=need, place=data(place.label))
                send(dispatcher, text, [Speaker.button(TALK_TO_PERSON, REQUEST_HUMAN)])
            return _remember({**state, "skip_place": False, "place": None}, "place")
        self.show(dispatcher, state, results)
        return _remember(state, None)

    @staticmethod
    def ask_place(dispatcher: CollectingDispatcher, state: dict[str, Any]) -> list[dict[str, Any]]:
        need = Speaker.need_title(state["need"])
        buttons = [Speaker.button(SKIP, skip_place_payload())]
        if state.pop("unknown_place", False):
            state["place_misses"] = int(state.get("place_misses") or 0) + 1
            if state["place_misses"] >= MAX_PLACE_MISSES:  # never trap: stop asking
                send(dispatcher, msg(ASK_PLACE_LAST, need=need), [*buttons, menu_button()])
                return _remember({**state, "place_misses": 0}, None)
            text = msg(ASK_PLACE_AGAIN)
        elif state.pop("near_me", False):
            text = msg(NEAR_ME, need=need)
        else:
            text = msg(ASK_PLACE, need=need)
        send(dispatcher, text, buttons)
        return _remember(state, "place")

    @staticmethod
    def show(
        dispatcher: CollectingDispatcher, state: dict[str, Any], results: SearchResults
    ) -> None:
        need = Speaker.need_title(state["need"])
        place = Place.from_slot(state.get("place"))
        if not results.results:  # paged past the end ("more" once too often)
            send(dispatcher, msg(NO_MORE), refine_buttons())
            return
        label = data(place.label) if place else None
        nothing_fits = not results.national_fallback and not results.results[0].fits
        if results.offset == 0:
            if nothing_fits and place:
                header = msg(NOTHING_FITS, place=label)
            elif results.national_fallback and place:
                header = msg(HEADER_NATIONAL_FALLBACK, need=need, place=label)
            elif results.national_fallback or not place:
                header = msg(HEADER_NATIONAL, need=need)
            else:
                header = msg(HEADER_LOCAL, need=need, place=label)
            send(dispatcher, header)
        for result in results.results:
            send(dispatcher, result_content(result))
        first, last = results.offset + 1, results.offset + len(results.results)
        buttons = [Speaker.button(MORE_RESULTS_TITLE, MORE_RESULTS)] if results.has_more else []
        buttons += refine_buttons()
        if nothing_fits and place:
            buttons.append(Speaker.button(NATIONAL_SERVICES_TITLE, skip_place_payload()))
        buttons.append(Speaker.button(TALK_TO_PERSON, REQUEST_HUMAN))
        buttons.append(Speaker.button(NEW_SEARCH, FIND_SERVICE))
        buttons.append(menu_button())
        send(dispatcher, msg(SHOWING, first=first, last=last, total=results.total), buttons)


# Follow-ups this capability claims (registered in bot.actions.common.follow_ups).


async def continue_search(
    dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
) -> list[dict[str, Any]] | None:
    """A message the model did not understand, right after "where?", is the answer (a
    place, or a typo the search asks about again); after "what do you need?" it is the
    answer when it names a need."""
    awaiting = _state(tracker).get("awaiting")
    text = tracker.latest_message.get("text") or ""
    if awaiting == "place":
        return await ActionFindService().respond(dispatcher, tracker, answering="place")
    if awaiting == "need" and load_vocabulary().needs(text):
        return await ActionFindService().respond(dispatcher, tracker, answering="need")
    return None


async def more_results_after_search(
    dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
) -> list[dict[str, Any]] | None:
    """ "More" right after search results means more results, not more about a topic."""
    for event in reversed(tracker.events):
        if event.get("event") == "slot" and event.get("name") == TOPIC_SLOT:
            return None
        if event.get("event") == "slot" and event.get("name") == SEARCH_SLOT:
            if not (event.get("value") or {}).get("need"):
                return None
            return await ActionFindService().respond(dispatcher, tracker, answering="more")
    return None
