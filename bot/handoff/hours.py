"""Staffed hours: when a person can answer, and when the next shift starts.

HAVEN_STAFF_HOURS lists day ranges with times, in HAVEN_STAFF_TIMEZONE:
``"mon-fri 09:00-17:00"``, ``"mon-fri 09:00-17:00; sat 10:00-14:00"``, ``"always"`` (a
24/7 team) or ``"never"`` (no live chat: referrals wait for a call back).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SHIFT = re.compile(
    r"^(?P<first>[a-z]{3})(?:-(?P<last>[a-z]{3}))?\s+"
    r"(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})$"
)


@dataclass(frozen=True)
class Shift:
    day: int  # 0 = Monday
    start: dt.time
    end: dt.time


def _time(text: str) -> dt.time:
    hours, minutes = (int(part) for part in text.split(":"))
    if hours == 24 and minutes == 0:
        return dt.time.max
    return dt.time(hours, minutes)


@lru_cache(maxsize=8)
def parse_hours(spec: str) -> tuple[Shift, ...]:
    """The weekly shifts ``spec`` describes; ``ValueError`` with the reason if malformed."""
    spec = spec.strip().lower()
    if spec == "always":
        return tuple(Shift(day, dt.time.min, dt.time.max) for day in range(7))
    if spec in {"never", ""}:
        return ()
    shifts = []
    for part in (p.strip() for p in spec.split(";") if p.strip()):
        match = SHIFT.match(part)
        if not match or match["first"] not in DAYS or (match["last"] or "mon") not in DAYS:
            raise ValueError(
                f'HAVEN_STAFF_HOURS: cannot read "{part}"; write e.g. "mon-fri 09:00-17:00"'
            )
        first = DAYS.index(match["first"])
        last = DAYS.index(match["last"]) if match["last"] else first
        start, end = _time(match["start"]), _time(match["end"])
        if end <= start:
            raise ValueError(f'HAVEN_STAFF_HOURS: "{part}" ends before it starts')
        for day in range(first, last + 1):
            shifts.append(Shift(day, start, end))
    return tuple(shifts)


@dataclass(frozen=True)
class StaffedHours:
    shifts: tuple[Shift, ...]
    zone: ZoneInfo

    @classmethod
    def from_settings(cls) -> StaffedHours:
        from bot.settings import get_settings

        settings = get_settings()
        return cls(parse_hours(settings.staff_hours), ZoneInfo(settings.staff_timezone))

    def local(self, now: dt.datetime | None = None) -> dt.datetime:
        return (now or dt.datetime.now(dt.timezone.utc)).astimezone(self.zone)

    def is_open(self, now: dt.datetime | None = None) -> bool:
        local = self.local(now)
        return any(
            s.day == local.weekday() and s.start <= local.time() < s.end for s in self.shifts
        )

    def next_opening(self, now: dt.datetime | None = None) -> dt.datetime | None:
        """The start of the next shift (local time), or None when there are none."""
        local = self.local(now)
        for offset in range(8):
            day = local.date() + dt.timedelta(days=offset)
            starts = sorted(
                dt.datetime.combine(day, s.start, tzinfo=self.zone)
                for s in self.shifts
                if s.day == day.weekday()
            )
            for start in starts:
                if start > local:
                    return start
        return None
