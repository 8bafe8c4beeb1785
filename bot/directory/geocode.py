"""Offline geocoding of US places: ZIP codes, cities and states to coordinates.

Everything comes from the ``zipcodes`` package, which ships its data (about 42,000 ZIP
codes with city, state, coordinates and time zone); no network call is ever made. A city is
placed at the median of its ZIP codes; a name shared by several states ("Houston") goes to
the state where it has the most ZIP codes unless the text names the state.
"""

from __future__ import annotations

import functools
import math
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass

import zipcodes

from bot.i18n.text import CASED_TOKEN, TOKEN, fold, strip_accents

ZIP_CODE = re.compile(r"(?<!\d)(\d{5})(?:-\d{4})?(?!\d)")
CITY_RADIUS_KM = 40.0  # about 25 miles: "near" for a city or ZIP
KM_PER_MILE = 1.609344  # distances are shown in miles to US users
STATE_RADIUS_KM = 500.0
MAJOR_CITY_ZIPS = 15  # a city this size is recognised anywhere in a sentence
MAX_TOKENS = 400  # words of a message the place finder reads (a long message is cut first)

STATES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
    "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan",
    "MN": "Minnesota", "MS": "Mississippi", "MO": "Missouri", "MT": "Montana",
    "NE": "Nebraska", "NV": "Nevada", "NH": "New Hampshire", "NJ": "New Jersey",
    "NM": "New Mexico", "NY": "New York", "NC": "North Carolina", "ND": "North Dakota",
    "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon", "PA": "Pennsylvania",
    "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota", "TN": "Tennessee",
    "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia", "WA": "Washington",
    "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming", "PR": "Puerto Rico",
}  # fmt: skip
# Spanish (and common) names people type for states and cities.
STATE_ALIASES = {
    "nuevo mexico": "NM", "nueva jersey": "NJ", "carolina del norte": "NC",
    "carolina del sur": "SC", "dakota del norte": "ND", "dakota del sur": "SD",
    "virginia occidental": "WV", "pensilvania": "PA", "luisiana": "LA", "misisipi": "MS",
    "misuri": "MO", "hawai": "HI", "tejas": "TX", "florida": "FL", "california": "CA",
}  # fmt: skip
CITY_ALIASES = {
    "nueva york": "new york", "nyc": "new york", "ny city": "new york",
    "nueva orleans": "new orleans", "filadelfia": "philadelphia", "la": "los angeles",
    "san luis": "saint louis", "st louis": "saint louis", "washington dc": "washington",
}  # fmt: skip
# Everyday English and Spanish words that are also US place names ("can you tell me…" is not
# Tell, TX; "en casa" is not Casa, AR). Inside a sentence they are never a place unless the
# state follows ("Spring, TX", "hope arkansas"); as a reply to "where?" only when the reply is
# the place alone. tests/unit/test_content.py holds sentences that must name no place.
NOT_PLACES = frozenset(
    """
    a about accident agency alma alta amigo an and arma arriba at ayer banco barco be beach
    belt black blanca blanket blue bodega bono boss breaks brothers buena bunch burden burns
    cable call camino camp campo campus can capitan casa cash center central check chicken
    chico clear comer como cook cool cord cost couch counselor dairy dale day deal deport
    deposit descanso dice dinero do driver dulce early echo energy english era escondido
    fields fine for force foreman fork friend friendly from garden gas gate go gratis gray
    green guerra gulf guy guys hagan happy harvest hay help holder home hope house hurt i in
    industry iron is island it joy justice kinder lake lead liberty light loco malo man many
    may me means media mesa meta mio mode model moon my nada near need nice no normal north
    nuevo of ok okay on only or oral ordinary palo pana park pillow point portal post presto
    price protection pueblo reading refugio register rescue rio rule salida salud salvo saco
    section sells shade shepherd snow so solo spring start story street sunrise tell the tiro
    to tome traer una union up us valley vale van vida village wake wall we welcome white
    winter worth yes you young
    """.split()
)
# State codes that are everyday English or Spanish words.
WORD_CODES = frozenset("al co de hi id in la ma me mi mo ms ne oh ok or pa va".split())
LOCATIVES = frozenset("in near around at from to en cerca por desde de live vivo estoy".split())
# Words a reply to "where?" may carry around the place itself ("I live in Hope").
PLACE_FILLER = frozenset(
    "in near around en cerca de i im am live the city of town county yo vivo".split()
)


@dataclass(frozen=True)
class Place:
    """A resolved place: where to search from, how far, and how to name it back."""

    label: str
    latitude: float
    longitude: float
    kind: str  # "zip", "city", "state", "shared"
    state: str | None = None
    radius_km: float = CITY_RADIUS_KM
    timezone: str | None = None
    areas: tuple[str, ...] = ()  # local names a service area may use: city, counties

    def as_slot(self) -> dict:
        return {
            "label": self.label, "latitude": self.latitude, "longitude": self.longitude,
            "kind": self.kind, "state": self.state, "radius_km": self.radius_km,
            "areas": list(self.areas),
        }  # fmt: skip

    @classmethod
    def from_slot(cls, value: dict | None) -> Place | None:
        if not isinstance(value, dict):
            return None
        try:
            return cls(
                label=str(value["label"]),
                latitude=float(value["latitude"]),
                longitude=float(value["longitude"]),
                kind=str(value.get("kind") or "city"),
                state=value.get("state"),
                radius_km=float(value.get("radius_km") or CITY_RADIUS_KM),
                areas=tuple(str(a) for a in value.get("areas") or ()),
            )
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class _Index:
    zips: dict[str, dict]
    cities: dict[str, dict[str, list[tuple[float, float]]]]  # folded name → state → coords
    counties: dict[tuple[str, str], Counter]  # (folded city, state) → county names
    city_names: dict[tuple[str, str], str]  # (folded, state) → display name
    state_zips: dict[str, list[tuple[float, float]]]
    state_timezones: dict[str, str]
    longest_city: int


@functools.lru_cache(maxsize=1)
def _index() -> _Index:
    zips: dict[str, dict] = {}
    cities: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    names: dict[tuple[str, str], str] = {}
    state_zips: dict[str, list[tuple[float, float]]] = defaultdict(list)
    state_tz: dict[str, Counter] = defaultdict(Counter)
    counties: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for record in zipcodes.list_all():
        if record["zip_code_type"] == "MILITARY" or not record["lat"]:
            continue
        coords = (float(record["lat"]), float(record["long"]))
        state = record["state"]
        zips[record["zip_code"]] = record
        key = fold(record["city"])
        cities[key][state].append(coords)
        names[(key, state)] = record["city"]
        if record["county"]:
            counties[(key, state)][_county(record["county"])] += 1
        state_zips[state].append(coords)
        if record["timezone"]:
            state_tz[state][record["timezone"]] += 1
    longest = max(len(TOKEN.findall(name)) for name in cities)
    return _Index(
        zips=zips,
        cities={name: dict(states) for name, states in cities.items()},
        counties=dict(counties),
        city_names=names,
        state_zips=dict(state_zips),
        state_timezones={s: counts.most_common(1)[0][0] for s, counts in state_tz.items()},
        longest_city=longest,
    )


def _county(name: str) -> str:
    """ "Harris County" → "harris", "Miami-Dade County" → "miami-dade" (for service areas)."""
    folded = fold(name)
    for suffix in (" county", " parish", " borough", " city and borough", " municipality"):
        folded = folded.removesuffix(suffix)
    return folded


def _median(coords: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(c[0] for c in coords), statistics.median(c[1] for c in coords)


def geocode_zip(code: str) -> Place | None:
    record = _index().zips.get(code.strip()[:5])
    if record is None:
        return None
    county = (_county(record["county"]),) if record["county"] else ()
    return Place(
        label=f"{record['zip_code']} ({record['city']}, {record['state']})",
        latitude=float(record["lat"]),
        longitude=float(record["long"]),
        kind="zip",
        state=record["state"],
        timezone=record["timezone"] or None,
        areas=(fold(record["city"]), *county),
    )


SHARED_LOCATION_MAX_KM = 25.0  # farther from every ZIP code: not a place Haven can search


def nearest_zip(latitude: float, longitude: float) -> str | None:
    """The ZIP code whose centre is nearest to a shared location (offline), or None when
    none is within ``SHARED_LOCATION_MAX_KM`` (outside the United States). A chat channel
    searches from it instead of keeping the exact coordinates."""
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    squeeze = math.cos(math.radians(latitude)) ** 2
    best, best_distance = None, float("inf")
    for code, record in _index().zips.items():
        if record["zip_code_type"] != "STANDARD":  # PO boxes share a post office's centre
            continue
        dlat = float(record["lat"]) - latitude
        dlon = float(record["long"]) - longitude
        distance = dlat * dlat + squeeze * dlon * dlon  # squared degrees of latitude
        if distance < best_distance:
            best, best_distance = code, distance
    if best is None or math.sqrt(best_distance) * 111.2 > SHARED_LOCATION_MAX_KM:
        return None
    return best


def geocode_city(name: str, state: str | None = None) -> Place | None:
    index = _index()
    key = CITY_ALIASES.get(fold(name), fold(name))
    by_state = index.cities.get(key)
    if not by_state:
        return None
    if state not in by_state:
        if state is not None:
            return None
        state = max(by_state, key=lambda s: len(by_state[s]))
    latitude, longitude = _median(by_state[state])
    counties = [name for name, _ in index.counties.get((key, state), Counter()).most_common(3)]
    return Place(
        label=f"{index.city_names[(key, state)]}, {state}",
        latitude=latitude,
        longitude=longitude,
        kind="city",
        state=state,
        timezone=index.state_timezones.get(state),
        areas=(key, *counties),
    )


def local_names(city: str, state: str) -> frozenset[str]:
    """A city's folded name and every county it lies in: the names a service area or a
    search near a place may use for it ("houston", "harris", "fort bend", "montgomery")."""
    key = CITY_ALIASES.get(fold(city), fold(city))
    counties = _index().counties.get((key, (state or "").strip().upper()), Counter())
    return frozenset((key, *counties))


@functools.lru_cache(maxsize=1)
def _state_names() -> dict[str, str]:
    """Folded state name, alias or code → state code."""
    names = {fold(full): code for code, full in STATES.items()}
    names.update(STATE_ALIASES)
    names.update({code.lower(): code for code in STATES})
    return names


def state_code(name: str) -> str | None:
    return _state_names().get(fold(name))


def geocode_state(name: str) -> Place | None:
    code = state_code(name)
    coords = _index().state_zips.get(code or "")
    if not coords:
        return None
    latitude, longitude = _median(coords)
    return Place(
        label=STATES[code], latitude=latitude, longitude=longitude, kind="state", state=code,
        radius_km=STATE_RADIUS_KM, timezone=_index().state_timezones.get(code),
    )  # fmt: skip


def timezone_for(postal_code: str | None, state: str | None = None) -> str | None:
    """The IANA time zone of a US ZIP code (or, failing that, the state's usual one)."""
    record = _index().zips.get((postal_code or "").strip()[:5])
    if record and record["timezone"]:
        return record["timezone"]
    return _index().state_timezones.get((state or "").upper())


def _state_at(
    tokens: list[str], start: int, typed: list[str] | None = None
) -> tuple[str | None, int]:
    """A state named at ``tokens[start:]``: (code, tokens used). A two-letter code counts
    in lowercase unless it is also an everyday word ("me", "in", "or", "la", "mi"): those count
    only typed in capitals ("Hope, IN") when ``typed`` (the word as written) is given."""
    for size in (3, 2, 1):
        phrase = " ".join(tokens[start : start + size])
        if len(tokens) - start < size or not phrase:
            continue
        code = state_code(phrase)
        if code and size == 1 and len(phrase) == 2:
            if phrase.upper() not in STATES:
                continue
            if phrase in WORD_CODES and typed is not None and typed != [phrase.upper()]:
                continue
        if code:
            return code, size
    return None, 0


def find_place(text: str, *, place_only: bool = False) -> Place | None:
    """The place a message names: a ZIP code, "City[, ST]" or a state; None if there is none.

    ``place_only`` is for a reply to "where?": the whole message is taken as a place, so any
    US city name counts. Inside a longer sentence a city counts when it is a large city, is
    followed by its state, or follows "in", "near", "en", "cerca de"…, so that ordinary
    words that happen to be village names are not read as places.
    """
    zip_match = ZIP_CODE.search(text)
    if zip_match:
        place = geocode_zip(zip_match.group(1))
        if place:
            return place
    index = _index()
    tokens = TOKEN.findall(fold(text).replace(".", ""))[:MAX_TOKENS]
    cased = CASED_TOKEN.findall(strip_accents(text).replace(".", ""))[:MAX_TOKENS]
    if len(cased) != len(tokens):
        cased = tokens  # a script fold changes (ß, ligatures): read codes as lowercase
    best: tuple[int, Place] | None = None
    for size in range(min(index.longest_city, len(tokens)), 0, -1):
        for start in range(len(tokens) - size + 1):
            phrase = " ".join(tokens[start : start + size])
            phrase = CITY_ALIASES.get(phrase, phrase)
            by_state = index.cities.get(phrase)
            if not by_state:
                continue
            state, used = _state_at(tokens, start + size, cased[start + size : start + size + 1])
            if state not in by_state:
                state, used = None, 0  # "tell me": Maine has no Tell
            if phrase in NOT_PLACES and not used:
                rest = tokens[:start] + tokens[start + size :]
                if not place_only or any(t not in PLACE_FILLER for t in rest):
                    continue
            place = geocode_city(phrase, state if state in by_state else None)
            if place is None:
                continue
            zips = len(by_state.get(place.state or "", []))
            after_locative = start > 0 and tokens[start - 1] in LOCATIVES
            if not (place_only or used or zips >= MAJOR_CITY_ZIPS or (after_locative and zips > 1)):
                continue
            score = size * 10 + used * 5 + min(zips, 50)
            if best is None or score > best[0]:
                best = (score, place)
        if best:
            return best[1]
    for size in (3, 2, 1):
        for start in range(len(tokens) - size + 1):
            phrase = " ".join(tokens[start : start + size])
            typed_code = place_only and len(tokens) == 1 and text.strip().isupper()
            if size == 1 and len(phrase) == 2 and not typed_code:
                continue  # "in", "me", "ok" are state codes too: only "TX" typed alone counts
            place = geocode_state(phrase)
            if place:
                return place
    return None
