"""Service search in the chat: understand the need, ask only for what is missing, show results.

One action serves every step. It reads the need, the place and any filters from the
message (``data/directory/needs.yml`` and offline geocoding), keeps the search in the
``search`` slot, asks "what do you need?" or "where?" only when that is missing (the place
can be skipped: then national resources answer), and shows results three at a time with
"more", refinements and "talk to a person". Confidential addresses never reach it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from babel.dates import format_date, format_time, get_day_names
from babel.numbers import format_decimal
from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.rights import (
    FALLBACK_HANDLERS,
    MAIN_MENU,
    MENU_PAYLOAD,
    MORE_HANDLERS,
    TOPIC_SLOT,
    Speaker,
)
from bot.db.engine import session_scope
from bot.directory.geocode import Place, find_place
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
from bot.directory.search import Hours, SearchQuery, SearchResults, ServiceResult, search
from bot.directory.vocabulary import load_vocabulary
from bot.i18n.catalogs import N_
from bot.i18n.text import fold
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


def _state(tracker: Tracker) -> dict[str, Any]:
    value = tracker.get_slot(SEARCH_SLOT)
    return dict(value) if isinstance(value, dict) else {}


def _remember(state: dict[str, Any], awaiting: str | None) -> list[dict[str, Any]]:
    """The search state, and what it waits for (a featurized slot the rules can see)."""
    return [
        SlotSet(SEARCH_SLOT, {**state, "awaiting": awaiting}),
        SlotSet(AWAITING_SLOT, awaiting),
    ]


def _entity(tracker: Tracker, name: str) -> str | None:
    for entity in tracker.latest_message.get("entities") or []:
        if entity.get("entity") == name and isinstance(entity.get("value"), str):
            return entity["value"]
    return None


def _is_payload(tracker: Tracker) -> bool:
    return (tracker.latest_message.get("text") or "").startswith("/")


class DirectorySpeaker(Speaker):
    """Renders search questions and results in the conversation's language."""

    def need_title(self, category: str) -> str:
        found = load_vocabulary().category(category)
        return self.t(found.title) if found else category

    def need_buttons(self, categories: tuple[str, ...] | list[str]) -> list[dict[str, str]]:
        return [
            self.button(load_vocabulary().category(c).title, need_payload(c)) for c in categories
        ]

    def hours_text(self, hours: tuple[Hours, ...]) -> str | None:
        names = get_day_names("abbreviated", locale=self.language)
        codes = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
        parts = []
        for h in hours:
            if not h.opens_at or not h.closes_at:
                continue
            days = [names[codes.index(d)] for d in codes if d in h.byday]
            if len(days) == 7:
                label = ""
            elif len(days) > 2 and [codes.index(d) for d in h.byday] == list(
                range(codes.index(h.byday[0]), codes.index(h.byday[0]) + len(h.byday))
            ):
                label = f"{days[0]}–{days[-1]} "
            else:
                label = ", ".join(days) + " "
            opens = format_time(
                dt.time.fromisoformat(_hhmm(h.opens_at)), "short", locale=self.language
            )
            closes = format_time(
                dt.time.fromisoformat(_hhmm(h.closes_at)), "short", locale=self.language
            )
            parts.append(f"{label}{opens}–{closes}")
        return "; ".join(parts) or None

    def result_text(self, result: ServiceResult) -> str:
        lines = [result.name]
        if result.description:
            description = " ".join(result.description.split())
            if len(description) > DESCRIPTION_CHARS:
                description = description[: DESCRIPTION_CHARS - 1].rsplit(" ", 1)[0] + "…"
            lines.append(description)
        voice = [n for n, kind in result.phones if kind in VOICE_TYPES]
        texts = [n for n, kind in result.phones if kind in ("text", "sms")]
        numbers = voice[:2] + [self.t(TEXT_LINE, number=n) for n in texts[:1]]
        if numbers:
            lines.append(self.t(PHONE, numbers=", ".join(numbers)))
        status = []
        if result.always_open:
            status.append(self.t(OPEN_24_7))
        else:
            if result.open_now is True:
                status.append(self.t(OPEN_NOW))
            elif result.open_now is False:
                status.append(self.t(CLOSED_NOW))
            hours = self.hours_text(result.hours)
            if hours:
                status.append(self.t(HOURS, hours=hours))
        if status:
            lines.append(" · ".join(status))
        if result.languages:
            lines.append(self.t(SPEAKS, languages=", ".join(self.language_names(result.languages))))
        if result.confidential:
            lines.append(self.t(CONFIDENTIAL))
        elif result.address:
            where = ", ".join(p for p in (result.address, result.city) if p)
            if result.distance_km is not None:
                miles = format_decimal(
                    round(result.distance_km / 1.609344, 1), locale=self.language
                )
                where += " · " + self.t(AWAY, miles=miles)
            lines.append(self.t(ADDRESS, address=where))
        extras = []
        if result.national:
            extras.append(self.t(NATIONAL))
        if result.cost == "free":
            extras.append(self.t(FREE))
        elif result.cost == "sliding_scale":
            extras.append(self.t(SLIDING_SCALE))
        if result.beds_available is not None:
            extras.append(self.t(BEDS, count=result.beds_available))
        if extras:
            lines.append(" · ".join(extras))
        if result.stale and result.assured_date:
            date = format_date(result.assured_date, format="long", locale=self.language)
            lines.append(self.t(LAST_CONFIRMED, date=date))
        return "\n".join(lines)

    def language_names(self, codes: tuple[str, ...]) -> list[str]:
        from babel import Locale, UnknownLocaleError

        names = []
        for code in codes[:4]:
            try:
                names.append(Locale.parse(code).get_display_name(self.language) or code)
            except (ValueError, UnknownLocaleError):
                names.append(code)
        return names


def _hhmm(text: str) -> str:
    hours, minutes = text.split(":")[:2]
    return f"{int(hours) % 24:02d}:{int(minutes):02d}"


def _read_message(tracker: Tracker, state: dict[str, Any]) -> None:
    """Fold the latest message's need, place and filters into the search state."""
    intent = (tracker.latest_message.get("intent") or {}).get("name")
    text = tracker.latest_message.get("text") or ""
    payload = _is_payload(tracker)
    filters = dict(state.get("filters") or {})
    if intent == "find_service":
        state.update(need=None, offset=0)
        filters = {}
    need = _entity(tracker, "need")
    if not payload:
        vocabulary = load_vocabulary()
        matches = vocabulary.matches(text)
        needs = [m.value for m in matches if m.kind == "need"]
        need = need or (needs[0] if needs else None)
        for match in matches:
            if match.kind in ("open_now", "free"):
                filters[match.kind] = True
            elif match.kind in ("population", "language"):
                filters[match.kind] = match.value
            elif match.kind == "near_me":
                state["near_me"] = True
        awaiting_place = state.get("awaiting") == "place" or intent == "inform_place"
        place = find_place(text, place_only=awaiting_place)
        if place is not None:
            state.update(place=place.as_slot(), skip_place=False, near_me=False)
        elif state.get("awaiting") == "place" and (intent == "deny" or fold(text) in SKIP_WORDS):
            state.update(skip_place=True, place=None)
        elif awaiting_place and not needs:
            state["unknown_place"] = True
    if need == OTHER_NEEDS:
        state["show_other_needs"] = True
    elif need:
        state["need"] = need
        state["offset"] = 0
    if _entity(tracker, "place") == "skip":
        state.update(skip_place=True, place=None)
    chosen = _entity(tracker, "filter")
    if chosen == "language":
        filters["language"] = tracker.get_slot("language") or get_settings().default_language
    elif chosen in ("open_now", "free"):
        filters[chosen] = True
    if filters != (state.get("filters") or {}):
        state["offset"] = 0
    state["filters"] = filters


def _query(state: dict[str, Any]) -> SearchQuery:
    place = Place.from_slot(state.get("place"))
    filters = state.get("filters") or {}
    language = filters.get("language")
    return SearchQuery(
        need=state["need"],
        latitude=place.latitude if place else None,
        longitude=place.longitude if place else None,
        radius_km=place.radius_km if place else 40.0,
        state=place.state if place else None,
        areas=place.areas if place else (),
        language=language if isinstance(language, str) else None,
        open_now=bool(filters.get("open_now")),
        population=filters.get("population"),
        cost="free" if filters.get("free") else None,
    )


def database_url() -> str:
    return get_settings().database_url


def run_search(state: dict[str, Any]) -> SearchResults:
    with session_scope(database_url()) as session:
        return search(session, _query(state), offset=int(state.get("offset") or 0), limit=PAGE_SIZE)


class ActionFindService(Action):
    """Finds services: asks for the need and the place when missing, then shows results."""

    def name(self) -> str:
        return "action_find_service"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        return await self.respond(dispatcher, tracker, intent)

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, intent: str | None
    ) -> list[dict[str, Any]]:
        speaker = DirectorySpeaker(tracker)
        state = _state(tracker)
        _read_message(tracker, state)
        if intent == "more_results" and state.get("need"):
            state["offset"] = int(state.get("offset") or 0) + PAGE_SIZE
        if state.pop("show_other_needs", False):
            others = [c for c in load_vocabulary().category_ids if c not in FIRST_NEEDS]
            dispatcher.utter_message(text=speaker.t(ASK_NEED), buttons=speaker.need_buttons(others))
            return _remember(state, "need")
        if not state.get("need"):
            message = ASK_NEED_FIRST if intent in ("more_results", "refine_search") else ASK_NEED
            buttons = speaker.need_buttons(FIRST_NEEDS)
            buttons.append(speaker.button(OTHER_NEEDS_TITLE, need_payload(OTHER_NEEDS)))
            dispatcher.utter_message(text=speaker.t(message), buttons=buttons)
            return _remember(state, "need")
        if not state.get("place") and not state.get("skip_place"):
            need = speaker.need_title(state["need"])
            buttons = [speaker.button(SKIP, skip_place_payload())]
            if state.pop("unknown_place", False):
                state["place_misses"] = int(state.get("place_misses") or 0) + 1
                if state["place_misses"] >= MAX_PLACE_MISSES:  # never trap: stop asking
                    buttons.append(speaker.button(MAIN_MENU, MENU_PAYLOAD))
                    text = speaker.t(ASK_PLACE_LAST, need=need)
                    dispatcher.utter_message(text=text, buttons=buttons)
                    return _remember({**state, "place_misses": 0}, None)
                text = speaker.t(ASK_PLACE_AGAIN)
            elif state.pop("near_me", False):
                text = speaker.t(NEAR_ME, need=need)
            else:
                text = speaker.t(ASK_PLACE, need=need)
            dispatcher.utter_message(text=text, buttons=buttons)
            return _remember(state, "place")
        state.pop("unknown_place", None)
        state.pop("near_me", None)
        state.pop("place_misses", None)
        if intent == "refine_search" and not _entity(tracker, "filter") and not state["filters"]:
            dispatcher.utter_message(
                text=speaker.t(REFINED_NONE), buttons=self.refine_buttons(speaker)
            )
            return _remember(state, None)
        results = await asyncio.to_thread(run_search, state)
        if not results.total:
            need = speaker.need_title(state["need"])
            place = Place.from_slot(state.get("place"))
            if place is None:  # nothing national for this need (food, a dentist…)
                dispatcher.utter_message(text=speaker.t(LOCAL_ONLY, need=need))
            else:  # perhaps not the place they meant ("Huston" is in Idaho): ask again
                dispatcher.utter_message(
                    text=speaker.t(NOTHING_NEAR, need=need, place=place.label),
                    buttons=[speaker.button(TALK_TO_PERSON, REQUEST_HUMAN)],
                )
            return _remember({**state, "skip_place": False, "place": None}, "place")
        self.show(dispatcher, speaker, state, results)
        return _remember(state, None)

    @staticmethod
    def refine_buttons(speaker: DirectorySpeaker) -> list[dict[str, str]]:
        return [
            speaker.button(OPEN_NOW_TITLE, refine_payload("open_now")),
            speaker.button(FREE_TITLE, refine_payload("free")),
            speaker.button(MY_LANGUAGE_TITLE, refine_payload("language")),
        ]

    def show(
        self,
        dispatcher: CollectingDispatcher,
        speaker: DirectorySpeaker,
        state: dict[str, Any],
        results: SearchResults,
    ) -> None:
        need = speaker.need_title(state["need"])
        place = Place.from_slot(state.get("place"))
        if not results.results:  # paged past the end ("more" once too often)
            dispatcher.utter_message(text=speaker.t(NO_MORE), buttons=self.refine_buttons(speaker))
            return
        if results.national_fallback and place:
            header = speaker.t(HEADER_NATIONAL_FALLBACK, need=need, place=place.label)
        elif results.national_fallback or not place:
            header = speaker.t(HEADER_NATIONAL, need=need)
        else:
            header = speaker.t(HEADER_LOCAL, need=need, place=place.label)
        if results.offset == 0:
            dispatcher.utter_message(text=header)
        for result in results.results:
            dispatcher.utter_message(text=speaker.result_text(result))
        first = results.offset + 1
        last = results.offset + len(results.results)
        buttons = []
        if results.has_more:
            buttons.append(speaker.button(MORE_RESULTS_TITLE, MORE_RESULTS))
        buttons += self.refine_buttons(speaker)
        buttons.append(speaker.button(TALK_TO_PERSON, REQUEST_HUMAN))
        buttons.append(speaker.button(NEW_SEARCH, FIND_SERVICE))
        buttons.append(speaker.button(MAIN_MENU, MENU_PAYLOAD))
        dispatcher.utter_message(
            text=speaker.t(SHOWING, first=first, last=last, total=results.total), buttons=buttons
        )


async def continue_search(
    dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
) -> list[dict[str, Any]] | None:
    """A message the model did not understand, right after "where?", is the answer (a
    place, or a typo the search asks about again); after "what do you need?" it is the
    answer when it names a need."""
    awaiting = _state(tracker).get("awaiting")
    text = tracker.latest_message.get("text") or ""
    if awaiting == "place":
        return await ActionFindService().respond(dispatcher, tracker, "inform_place")
    if awaiting == "need" and load_vocabulary().needs(text):
        return await ActionFindService().respond(dispatcher, tracker, "find_service")
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
            return await ActionFindService().respond(dispatcher, tracker, "more_results")
    return None


FALLBACK_HANDLERS.append(continue_search)
MORE_HANDLERS.append(more_results_after_search)
