"""Opening hours: HSDS schedule rows read into ``Hours``, and open, closed or unknown at a
moment.

An HSDS schedule is an RFC 5545 recurrence rule (``freq``, ``byday`` with ordinals such as
``1MO`` or ``-1FR``, ``interval``, ``bymonthday``, ``byweekno``, ``byyearday``, ``count``,
``until``, ``wkst``, ``dtstart``) with opening and closing times, valid between
``valid_from`` and ``valid_to``. Rules are evaluated with ``dateutil.rrule``. A row Haven
cannot read becomes ``Hours`` without times and with ``understood`` False: "call for
hours", never open.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import rrule

DAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
FREQUENCIES = {
    "DAILY": rrule.DAILY, "WEEKLY": rrule.WEEKLY,
    "MONTHLY": rrule.MONTHLY, "YEARLY": rrule.YEARLY,
}  # fmt: skip
# The rule fields of a schedule row: a value dropped from one changes which days it opens.
RULE_FIELDS = (
    "freq", "interval", "byday", "bymonthday", "byweekno", "byyearday", "count", "until",
    "wkst", "dtstart", "valid_from", "valid_to",
)  # fmt: skip
# Everything of a schedule row that says when it opens (its links to a service or place
# aside): what ``pack_schedule`` keeps.
SCHEDULE_FIELDS = (*RULE_FIELDS, "opens_at", "closes_at", "timezone", "description")
DATE_FIELDS = ("until", "dtstart", "valid_from", "valid_to")
TIME = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)(?::([0-5]\d)(?:\.\d+)?)?\s*(Z|[+-]\d\d:?\d\d)?$")
DAY = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
END_OF_DAY = 24 * 60
ONE_PERIOD = 120_000  # months or years: the next period is after the year 9999
NUMBER_RANGES = {"bymonthday": 31, "byweekno": 53, "byyearday": 366}


class ScheduleError(ValueError):
    """A schedule row Haven cannot read, naming the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Rule:
    """A recurrence more complex than "these days, every week" (``dateutil.rrule`` terms)."""

    freq: int
    interval: int = 1
    byweekday: tuple[tuple[int, int | None], ...] = ()  # (weekday, ordinal): (0, 1) = 1MO
    bymonthday: tuple[int, ...] = ()
    byweekno: tuple[int, ...] = ()
    byyearday: tuple[int, ...] = ()
    count: int | None = None
    until: dt.date | None = None
    wkst: int | None = None
    dtstart: dt.date | None = None


@dataclass(frozen=True)
class Hours:
    """One schedule row: on which days, from when to when (local "HH:MM"), and its text."""

    byday: tuple[str, ...]  # day codes without ordinals, for display
    opens_at: str | None
    closes_at: str | None
    description: str | None
    rule: Rule | None = None  # None: every week on ``byday``
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    utc_offset: dt.tzinfo | None = None  # given with the times ("09:00+05:00", "09:00Z")
    understood: bool = True  # False: "call for hours"

    @property
    def every_week(self) -> bool:
        """Open on ``byday`` every week, with no start or end date."""
        return self.rule is None and self.valid_from is None and self.valid_to is None

    @property
    def all_day(self) -> bool:
        """Open around the clock on its days, every week."""
        return (
            self.every_week
            and self.opens_at == "00:00"
            and self.closes_at in ("23:59", "24:00", "00:00")
        )

    def valid_on(self, day: dt.date) -> bool:
        return not (
            (self.valid_from and day < self.valid_from) or (self.valid_to and day > self.valid_to)
        )

    def occurs_on(self, day: dt.date) -> bool:
        """Whether an opening starts on ``day``."""
        if not self.valid_on(day):
            return False
        if self.rule is None:
            return DAY_CODES[day.weekday()] in self.byday
        return _rule_occurs(self.rule, day)


# ---------------------------------------------------------------- reading rows


def timezone_named(name: str | None) -> dt.tzinfo | None:
    """A UTC offset in hours ("-5", "5.5") or an IANA name ("America/Chicago"); else None."""
    if not name:
        return None
    try:
        hours = float(name)
        return dt.timezone(dt.timedelta(hours=hours))
    except (ValueError, OverflowError):
        pass
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def parse_time(text: Any) -> tuple[int, dt.tzinfo | None]:
    """Minutes after midnight and UTC offset of an HSDS time: ``09:00``, ``09:00:00``,
    ``09:00+05:00``, ``09:00:00Z``; ValueError otherwise."""
    match = TIME.match(str(text).strip().upper())
    if not match or (match[1] == "24" and (match[2] != "00" or int(match[3] or 0))):
        raise ValueError(f"{text!r} is not a time (HH:MM, HH:MM:SS, optionally Z or ±HH:MM)")
    offset = None
    if match[4] == "Z":
        offset = dt.timezone.utc
    elif match[4]:
        sign = -1 if match[4][0] == "-" else 1
        digits = match[4][1:].replace(":", "")
        delta = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        if delta > dt.timedelta(hours=14):
            raise ValueError(f"{text!r} has no real UTC offset (at most ±14:00)")
        offset = dt.timezone(sign * delta)
    return int(match[1]) * 60 + int(match[2]), offset


def minutes(text: str | None) -> int | None:
    """Minutes after midnight of an HSDS time, None when absent."""
    return parse_time(text)[0] if text else None


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _days(text: str | None) -> list[tuple[int | None, str]]:
    days = []
    for part in (text or "").split(","):
        match = DAY.match(part.strip().upper())
        if part.strip() and not match:
            raise ScheduleError("byday", f"{text!r} is not a list of days (MO..SU, or 1MO, -1FR)")
        if match:
            ordinal = int(match[1]) if match[1] else None
            if ordinal is not None and not 1 <= abs(ordinal) <= 53:
                raise ScheduleError("byday", f"{part.strip()!r} has no such ordinal")
            days.append((ordinal, match[2]))
    return days


def _numbers(row: Mapping[str, Any], field: str) -> tuple[int, ...]:
    text, limit = row.get(field), NUMBER_RANGES[field]
    numbers = []
    for part in str(text or "").split(","):
        if not part.strip():
            continue
        try:
            number = int(part.strip())
        except ValueError:
            number = 0
        if not 1 <= abs(number) <= limit:
            raise ScheduleError(field, f"{text!r} is not a list of numbers from 1 to {limit}")
        numbers.append(number)
    return tuple(numbers)


def _positive(row: Mapping[str, Any], field: str) -> int | None:
    value = row.get(field)
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1 or number != float(value):
        raise ScheduleError(field, f"{value!r} is not a whole number of 1 or more")
    return number


def _times(row: Mapping[str, Any]) -> tuple[int | None, int | None, dt.tzinfo | None]:
    parsed = []
    for field in ("opens_at", "closes_at"):
        try:
            parsed.append(parse_time(row[field]) if row.get(field) else (None, None))
        except ValueError as error:
            raise ScheduleError(field, str(error)) from None
    (opens, opens_offset), (closes, closes_offset) = parsed
    if opens_offset and closes_offset and opens_offset != closes_offset:
        raise ScheduleError("closes_at", "has another UTC offset than opens_at")
    return opens, closes, opens_offset or closes_offset


def _rule(row: Mapping[str, Any], days: list[tuple[int | None, str]], timed: bool) -> Rule | None:
    """The row's recurrence; None when it is simply "these days, every week", or when a
    row without times gives no days."""
    freq = str(row.get("freq") or "").strip().upper()
    ordinals = any(ordinal is not None for ordinal, _ in days)
    numbers = {field: _numbers(row, field) for field in NUMBER_RANGES}
    interval, count = _positive(row, "interval") or 1, _positive(row, "count")
    wkst = str(row.get("wkst") or "").strip().upper()
    dtstart = row.get("dtstart")
    if freq and freq not in FREQUENCIES:
        raise ScheduleError("freq", f"{row['freq']!r} is not one of {', '.join(FREQUENCIES)}")
    if wkst and wkst not in DAY_CODES:
        raise ScheduleError("wkst", f"{row['wkst']!r} is not a day (MO..SU)")
    if not freq:  # older data gives days only; "1MO" and month days only make sense monthly
        if numbers["byweekno"] or numbers["byyearday"]:
            raise ScheduleError("freq", "is needed with byweekno or byyearday")
        freq = "MONTHLY" if ordinals or numbers["bymonthday"] else "WEEKLY"
    if ordinals and freq not in ("MONTHLY", "YEARLY"):
        raise ScheduleError("byday", f"{row['byday']!r} has ordinals, which need MONTHLY")
    if (interval > 1 or count) and not dtstart:
        raise ScheduleError("dtstart", "is needed with an interval or a count")
    if not (days or any(numbers.values()) or dtstart or freq == "DAILY"):
        if timed:
            raise ScheduleError("byday", "no days given")
        return None
    every_week = freq == "WEEKLY" and days and not ordinals and not any(numbers.values())
    if every_week and interval == 1 and not count and not row.get("until"):
        return None
    rule = Rule(
        freq=FREQUENCIES[freq],
        interval=interval,
        byweekday=tuple((DAY_CODES.index(code), ordinal) for ordinal, code in days),
        bymonthday=numbers["bymonthday"],
        byweekno=numbers["byweekno"],
        byyearday=numbers["byyearday"],
        count=count,
        until=row.get("until"),
        wkst=DAY_CODES.index(wkst) if wkst else None,
        dtstart=dtstart,
    )
    try:
        _matches_days(rule, dt.date(2000, 1, 1))
    except (ValueError, TypeError) as error:
        raise ScheduleError("freq", f"is not a rule Haven can read ({error})") from None
    return rule


def read_schedule(row: Mapping[str, Any]) -> Hours:
    """The ``Hours`` of one schedule row (typed values, as stored); ScheduleError when Haven
    cannot read it."""
    opens, closes, offset = _times(row)
    days = _days(row.get("byday"))
    rule = _rule(row, days, timed=opens is not None or closes is not None)
    return Hours(
        byday=tuple(dict.fromkeys(code for _, code in days)),
        opens_at=None if opens is None else _hhmm(opens),
        closes_at=None if closes is None else _hhmm(closes),
        description=row.get("description"),
        rule=rule,
        valid_from=row.get("valid_from"),
        valid_to=row.get("valid_to"),
        utc_offset=offset,
    )


def schedule_problem(row: Mapping[str, Any]) -> ScheduleError | None:
    """Why Haven cannot read this schedule row, or None."""
    try:
        read_schedule(row)
    except ScheduleError as error:
        return error
    return None


def schedule_hours(rows: Iterable[Mapping[str, Any]]) -> tuple[Hours, ...]:
    """The ``Hours`` of schedule rows; a row Haven cannot read gives "call for hours"."""
    hours = []
    for row in rows:
        try:
            hours.append(read_schedule(row))
        except ScheduleError:
            hours.append(Hours((), None, None, row.get("description"), understood=False))
    return tuple(hours)


def pack_schedule(rows: Iterable[Mapping[str, Any]]) -> str:
    """Schedule rows as one text (JSON): equal hours give equal texts (``unpack_hours``)."""
    packed = []
    for row in rows:
        fields = {name: row.get(name) for name in SCHEDULE_FIELDS}
        for name in DATE_FIELDS:
            if fields[name] is not None:
                fields[name] = fields[name].isoformat()
        packed.append(fields)
    return json.dumps(packed, sort_keys=True, separators=(",", ":"))


@functools.lru_cache(maxsize=4096)
def unpack_hours(packed: str) -> tuple[Hours, ...]:
    """The ``Hours`` of a ``pack_schedule`` text (read once per distinct text)."""
    rows = json.loads(packed)
    for row in rows:
        for name in DATE_FIELDS:
            if row.get(name):
                row[name] = dt.date.fromisoformat(row[name])
    return schedule_hours(rows)


# ---------------------------------------------------------------- open at a moment


@functools.lru_cache(maxsize=4096)
def _rule_occurs(rule: Rule, day: dt.date) -> bool:
    if (rule.dtstart and day < rule.dtstart) or (rule.until and day > rule.until):
        return False
    if rule.interval > 1 and _periods_between(rule, rule.dtstart, day) % rule.interval:
        return False
    if not _matches_days(rule, day):
        return False
    if rule.count is None:
        return True
    for occurrence in _recurrence(rule):  # reaches ``day``: it matches the rule
        if occurrence.date() >= day:
            return occurrence.date() == day
    return False  # ``count`` occurrences were over before ``day``


def _periods_between(rule: Rule, start: dt.date, day: dt.date) -> int:
    if rule.freq == rrule.DAILY:
        return (day - start).days
    if rule.freq == rrule.WEEKLY:
        wkst = rule.wkst or 0
        weeks = [d - dt.timedelta(days=(d.weekday() - wkst) % 7) for d in (start, day)]
        return (weeks[1] - weeks[0]).days // 7
    if rule.freq == rrule.MONTHLY:
        return (day.year - start.year) * 12 + day.month - start.month
    return day.year - start.year


def _by_parts(rule: Rule) -> dict[str, Any]:
    """The rule's BYxxx parts for dateutil; without any, the days its start gives."""
    parts: dict[str, Any] = {
        "byweekday": [rrule.weekday(day, ordinal) for day, ordinal in rule.byweekday] or None,
        "bymonthday": rule.bymonthday or None,
        "byweekno": rule.byweekno or None,
        "byyearday": rule.byyearday or None,
    }
    if any(parts.values()):
        return parts
    if rule.freq == rrule.DAILY:
        return {"byweekday": tuple(range(7))}
    start = rule.dtstart
    if rule.freq == rrule.WEEKLY:
        return {"byweekday": (start.weekday(),)}
    if rule.freq == rrule.MONTHLY:
        return {"bymonthday": (start.day,)}
    return {"bymonth": (start.month,), "bymonthday": (start.day,)}


def _matches_days(rule: Rule, day: dt.date) -> bool:
    """Whether ``day`` passes the rule's day parts, ignoring its interval, start and end:
    dateutil expands one month (one year for YEARLY) and stops there, so a rule that never
    matches cannot make it search until the year 9999."""
    yearly = rule.freq == rrule.YEARLY
    first = dt.date(day.year, 1, 1) if yearly else day.replace(day=1)
    one_period = rrule.rrule(
        rrule.YEARLY if yearly else rrule.MONTHLY,
        dtstart=dt.datetime.combine(first, dt.time()),
        interval=ONE_PERIOD,
        wkst=rule.wkst,
        **_by_parts(rule),
    )
    return any(occurrence.date() == day for occurrence in one_period)


@functools.lru_cache(maxsize=256)
def _recurrence(rule: Rule) -> rrule.rrule:
    """The whole rule from its start (only used with a count, which needs a start)."""
    return rrule.rrule(
        rule.freq,
        dtstart=dt.datetime.combine(rule.dtstart, dt.time()),
        interval=rule.interval,
        wkst=rule.wkst,
        count=rule.count,
        cache=True,
        **_by_parts(rule),
    )


def _open_at(hours: Hours, local: dt.datetime) -> bool:
    opens, closes = minutes(hours.opens_at), minutes(hours.closes_at)
    if closes == END_OF_DAY - 1:  # 23:59 means until midnight
        closes = END_OF_DAY
    minute, today = local.hour * 60 + local.minute, local.date()
    if opens < closes:
        return opens <= minute < closes and hours.occurs_on(today)
    # overnight (20:00–08:00); 00:00–00:00 is the whole day
    yesterday = today - dt.timedelta(days=1)
    return (minute >= opens and hours.occurs_on(today)) or (
        minute < closes and hours.occurs_on(yesterday)
    )


def always_open(hours: tuple[Hours, ...]) -> bool:
    return bool(hours) and all(h.all_day and len(h.byday) == 7 for h in hours)


def is_open(hours: tuple[Hours, ...], tz: dt.tzinfo | None, now: dt.datetime) -> bool | None:
    """Open (True), closed (False) or unknown (None) at ``now``, in the service's time zone
    ``tz`` unless the times carry their own offset. Unknown: no hours, no time zone, or a
    row Haven cannot read. Rows outside their valid dates and rows without times do not
    count."""
    if always_open(hours):
        return True
    verdicts: list[bool | None] = []
    for h in hours:
        if not h.understood:
            verdicts.append(None)
            continue
        if not (h.opens_at and h.closes_at):
            continue
        zone = h.utc_offset or tz
        if zone is None:
            verdicts.append(None)
            continue
        local = now.astimezone(zone)
        if h.valid_on(local.date()) or h.valid_on(local.date() - dt.timedelta(days=1)):
            verdicts.append(_open_at(h, local))
    if True in verdicts:
        return True
    if not verdicts or None in verdicts:
        return None
    return False
