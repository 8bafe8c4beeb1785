"""Opening hours: HSDS schedule rules read with dateutil, open / closed / unknown at a moment.

November 2026: Sunday the 1st, Monday the 2nd (the first Monday), Friday the 27th (the last
Friday). Every moment is fixed; none depends on today's date.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot.directory.hours import (
    DAY_CODES,
    Hours,
    always_open,
    is_open,
    parse_time,
    read_schedule,
    schedule_hours,
    schedule_problem,
    timezone_named,
)

CHICAGO = ZoneInfo("America/Chicago")


def at(day: int, hour: int = 10, minute: int = 0, month: int = 11) -> dt.datetime:
    """A moment in Chicago, November 2026 unless told."""
    return dt.datetime(2026, month, day, hour, minute, tzinfo=CHICAGO)


def open_on(days: range, **row) -> list[int]:
    """The days of November 2026 on which the schedule is open at 10:00 in Chicago."""
    hours = schedule_hours([{"opens_at": "09:00", "closes_at": "17:00", **row}])
    return [day for day in days if is_open(hours, CHICAGO, at(day))]


NOVEMBER = range(1, 31)


def test_first_monday_only() -> None:
    assert open_on(NOVEMBER, freq="MONTHLY", byday="1MO") == [2]
    assert open_on(NOVEMBER, byday="1MO") == [2]  # an ordinal without freq means monthly


def test_last_friday_only() -> None:
    assert open_on(NOVEMBER, freq="MONTHLY", byday="-1FR") == [27]
    assert open_on(NOVEMBER, freq="MONTHLY", byday="2TU,-1FR") == [10, 27]


def test_every_other_week_counts_from_dtstart() -> None:
    fortnight = {"freq": "WEEKLY", "interval": 2, "byday": "MO,WE"}
    assert open_on(NOVEMBER, **fortnight, dtstart=dt.date(2026, 11, 2)) == [2, 4, 16, 18, 30]
    assert open_on(NOVEMBER, **fortnight, dtstart=dt.date(2026, 11, 9)) == [9, 11, 23, 25]


def test_days_of_the_month_weeks_and_days_of_the_year() -> None:
    assert open_on(NOVEMBER, freq="MONTHLY", bymonthday="1,15,-1") == [1, 15, 30]
    # ISO week 46 of 2026 is 9-15 November
    assert open_on(NOVEMBER, freq="WEEKLY", byday="TU,TH", byweekno="46") == [10, 12]
    assert open_on(NOVEMBER, freq="YEARLY", byyearday="305,-32") == [1, 30]
    assert open_on(NOVEMBER, freq="DAILY") == list(NOVEMBER)


def test_count_and_until_end_a_rule() -> None:
    start = dt.date(2026, 11, 2)
    assert open_on(NOVEMBER, freq="WEEKLY", byday="MO", count=2, dtstart=start) == [2, 9]
    until = dt.date(2026, 11, 10)
    assert open_on(NOVEMBER, freq="WEEKLY", byday="MO", until=until) == [2, 9]


def test_valid_dates_limit_a_schedule() -> None:
    weekdays = {"freq": "WEEKLY", "byday": "MO,TU,WE,TH,FR"}
    ended = schedule_hours([{**weekdays, "opens_at": "09:00", "closes_at": "17:00",
                             "valid_to": dt.date(2025, 12, 31)}])  # fmt: skip
    assert is_open(ended, CHICAGO, at(2)) is None  # an old schedule says nothing about today
    assert open_on(NOVEMBER, **weekdays, valid_from=dt.date(2026, 11, 25)) == [25, 26, 27, 30]
    current = schedule_hours([{**weekdays, "opens_at": "09:00", "closes_at": "17:00"}])
    assert is_open(ended + current, CHICAGO, at(1)) is False  # Sunday: closed
    assert is_open(ended + current, CHICAGO, at(2)) is True


@pytest.mark.parametrize(
    ("opens_at", "closes_at", "utc_hour", "expected"),
    [
        ("09:00:00", "17:00:00", 15, True),  # 09:00 in Chicago (UTC-6 in November)
        ("09:00:00", "17:00:00", 14, False),
        ("09:00+05:00", "17:00+05:00", 4, True),  # the offset is the times' own zone
        ("09:00+05:00", "17:00+05:00", 15, False),
        ("09:00:00Z", "17:00:00Z", 9, True),
        ("09:00:00Z", "17:00:00Z", 17, False),
    ],
)
def test_times_with_seconds_or_a_utc_offset(
    opens_at: str, closes_at: str, utc_hour: int, expected: bool
) -> None:
    hours = schedule_hours([{"byday": "MO", "opens_at": opens_at, "closes_at": closes_at}])
    assert hours[0].opens_at == opens_at[:5]  # shown as HH:MM
    monday = dt.datetime(2026, 11, 2, utc_hour, 30, tzinfo=dt.timezone.utc)
    assert is_open(hours, CHICAGO, monday) is expected


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"freq": "HOURLY", "byday": "MO"}, "freq"),
        ({"freq": "WEEKLY", "byday": "MO,XX"}, "byday"),
        ({"freq": "WEEKLY", "byday": "1MO"}, "byday"),  # "first Monday" of a week
        ({"freq": "WEEKLY", "byday": "MO", "interval": 2}, "dtstart"),
        ({"freq": "MONTHLY", "bymonthday": "2,x"}, "bymonthday"),
        ({"freq": "MONTHLY", "bymonthday": "32"}, "bymonthday"),
        ({"freq": "WEEKLY", "byday": "MO", "wkst": "XX"}, "wkst"),
        ({}, "byday"),  # times without days
    ],
)
def test_a_rule_haven_cannot_read_is_unknown_never_open(row: dict, field: str) -> None:
    row = {"opens_at": "00:00", "closes_at": "23:59", **row}
    assert schedule_problem(row).field == field
    (hours,) = schedule_hours([row])
    assert not hours.understood and hours.opens_at is None and hours.closes_at is None
    for day in NOVEMBER:
        assert is_open((hours,), CHICAGO, at(day)) is None
    readable = schedule_hours([{"byday": "MO", "opens_at": "09:00", "closes_at": "17:00"}])
    assert is_open((hours, *readable), CHICAGO, at(2)) is True  # open by the row it can read
    assert is_open((hours, *readable), CHICAGO, at(3)) is None  # not "closed"


def test_a_rule_that_never_matches_is_answered_quickly() -> None:
    never = schedule_hours([{"freq": "WEEKLY", "byday": "TH,FR", "byweekno": "41,42",
                             "bymonthday": "2,3,4", "byyearday": "2,3,4",
                             "opens_at": "10:00", "closes_at": "18:00"}])  # fmt: skip
    started = dt.datetime.now()
    assert [is_open(never, CHICAGO, at(day, month=10)) for day in range(1, 32)] == [False] * 31
    assert (dt.datetime.now() - started).total_seconds() < 1


def test_overnight_all_day_and_24_7() -> None:
    overnight = schedule_hours([{"byday": "MO,TU", "opens_at": "20:00", "closes_at": "08:00"}])
    assert is_open(overnight, CHICAGO, at(2, 23)) is True  # Monday night
    assert is_open(overnight, CHICAGO, at(3, 7)) is True  # Tuesday, from Monday's opening
    assert is_open(overnight, CHICAGO, at(3, 12)) is False
    assert is_open(overnight, CHICAGO, at(5, 7)) is False  # Thursday: Wednesday was closed
    monthly = schedule_hours([{"byday": "1MO", "opens_at": "20:00", "closes_at": "08:00"}])
    assert (
        is_open(monthly, CHICAGO, at(3, 7)) is True
        and is_open(monthly, CHICAGO, at(10, 7)) is False
    )
    every_day = ",".join(DAY_CODES)
    always = schedule_hours([{"freq": "WEEKLY", "byday": every_day, "opens_at": "00:00",
                              "closes_at": "23:59"}])  # fmt: skip
    assert always_open(always) and is_open(always, None, at(2, 3)) is True  # no zone needed
    late = schedule_hours([{"byday": "SA", "opens_at": "18:00", "closes_at": "23:59"}])
    assert is_open(late, CHICAGO, at(7, 23, 59)) is True
    limited = schedule_hours([{"byday": every_day, "opens_at": "00:00", "closes_at": "23:59",
                               "valid_to": dt.date(2026, 1, 1)}])  # fmt: skip
    assert not always_open(limited) and is_open(limited, CHICAGO, at(2)) is None


def test_unknown_without_hours_or_zone_and_rows_without_times_do_not_count() -> None:
    hours = schedule_hours([{"byday": "MO", "opens_at": "09:00", "closes_at": "17:00"}])
    assert is_open((), CHICAGO, at(2)) is None
    assert is_open(hours, None, at(2)) is None
    text_only = schedule_hours([{"description": "Business hours"}])
    assert text_only[0].understood and is_open(text_only, CHICAGO, at(2)) is None
    assert is_open(hours + text_only, CHICAGO, at(3)) is False


def test_plain_weekly_rows_keep_their_shape_for_display() -> None:
    hours = read_schedule({"freq": "WEEKLY", "byday": "MO,TU,WE", "opens_at": "9:00",
                           "closes_at": "17:30:00", "description": "Weekdays"})  # fmt: skip
    assert hours == Hours(("MO", "TU", "WE"), "09:00", "17:30", "Weekdays")
    assert hours.every_week
    monthly = read_schedule({"byday": "1MO,-1MO", "opens_at": "09:00", "closes_at": "12:00"})
    assert monthly.byday == ("MO",) and not monthly.every_week


@pytest.mark.parametrize(
    ("text", "minutes", "offset"),
    [
        ("09:00", 540, None),
        ("9:30", 570, None),
        ("09:00:00", 540, None),
        ("17:45:30.5", 1065, None),
        ("09:00Z", 540, dt.timezone.utc),
        ("09:00:00-05:00", 540, dt.timezone(dt.timedelta(hours=-5))),
        ("09:00+0530", 540, dt.timezone(dt.timedelta(hours=5, minutes=30))),
        ("24:00", 1440, None),
    ],
)
def test_parse_time(text: str, minutes: int, offset: dt.tzinfo | None) -> None:
    assert parse_time(text) == (minutes, offset)


@pytest.mark.parametrize("text", ["9am", "25:00", "24:30", "09:60", "09:00+15:00", ""])
def test_parse_time_refuses_what_is_not_a_time(text: str) -> None:
    with pytest.raises(ValueError, match="is not a time|no real UTC offset"):
        parse_time(text)


def test_timezone_named() -> None:
    assert timezone_named("-5") == dt.timezone(dt.timedelta(hours=-5))
    assert timezone_named("3") == dt.timezone(dt.timedelta(hours=3))
    assert timezone_named("America/Chicago") == CHICAGO
    assert timezone_named("Mars/Olympus") is None and timezone_named("100") is None
    assert timezone_named(None) is None
