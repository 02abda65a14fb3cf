"""When a file supplier's purchase orders go out: one file per order (the default) or batched at slots the merchant sets.

Settings key `po_batching`:
- `{"mode": "per_order"}` (or absent): each supplier order is its own PO file, at once;
- `{"mode": "batched", "times": ["10:00", "15:00"], "weekdays": ["mon", ..., "fri"]}`: at
  these times of day in the shop's time zone, on these weekdays (default: every day);
- `{"mode": "batched", "every_minutes": 120, "weekdays": [...]}`: every N minutes from local
  midnight (N divides a day, so the slots are the same every day: 00:00, 02:00, ...).

Slots are computed in the shop's IANA time zone with zoneinfo, so "10:00" stays 10:00 on the
wall clock across a daylight-saving change (08:00 UTC in Warsaw's summer, 09:00 in winter). A
time that does not exist on the day the clocks go forward falls to the same wall time after
the jump (zoneinfo's fold=0), a time that exists twice is taken once (its first occurrence).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MODES = ("per_order", "batched")
KEYS = {"mode", "times", "weekdays", "every_minutes"}
MAX_TIMES = 24
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_SEARCH_DAYS = 8  # a week and a day always holds the next slot when at least one weekday is chosen


class InvalidBatching(ValueError):
    """Batching settings a merchant may not save; the message starts with the field."""


@dataclass(frozen=True)
class BatchSchedule:
    """Checked batching settings: slot times of day (minutes after local midnight) on some weekdays."""

    minutes: tuple[int, ...]  # sorted, each 0..1439
    weekdays: frozenset[int]  # 0 = Monday
    every_minutes: int | None = None  # set when the merchant chose an interval (kept to show it back)

    def as_json(self) -> dict[str, Any]:
        """The settings as stored (and shown back to the merchant)."""
        days = [WEEKDAYS[d] for d in sorted(self.weekdays)]
        if self.every_minutes:
            return {"mode": "batched", "every_minutes": self.every_minutes, "weekdays": days}
        return {"mode": "batched", "times": [f"{m // 60:02d}:{m % 60:02d}" for m in self.minutes], "weekdays": days}

    def _slots_on(self, day: dt.date, zone: ZoneInfo):
        if day.weekday() not in self.weekdays:
            return
        seen = set()
        for minute in self.minutes:
            local = dt.datetime.combine(day, dt.time(minute // 60, minute % 60), tzinfo=zone)
            slot = local.astimezone(dt.timezone.utc)
            # A gap time maps onto a later wall time that may be a slot of its own: each instant once.
            if slot not in seen:
                seen.add(slot)
                yield slot

    def next_slot(self, after: dt.datetime, timezone: str | None) -> dt.datetime:
        """The first slot strictly after `after` (UTC, aware), in the shop's time zone (UTC when unknown)."""
        zone = shop_zone(timezone)
        after = _aware(after)
        start = after.astimezone(zone).date() - dt.timedelta(days=1)
        for offset in range(_SEARCH_DAYS + 1):
            for slot in self._slots_on(start + dt.timedelta(days=offset), zone):
                if slot > after:
                    return slot
        raise AssertionError("a schedule with a weekday always has a slot within a week")

    def last_slot(self, at_or_before: dt.datetime, timezone: str | None) -> dt.datetime | None:
        """The latest slot at or before the moment (None if there was none in the last week)."""
        zone = shop_zone(timezone)
        moment = _aware(at_or_before)
        end = moment.astimezone(zone).date() + dt.timedelta(days=1)
        for offset in range(_SEARCH_DAYS + 1):
            for slot in sorted(self._slots_on(end - dt.timedelta(days=offset), zone), reverse=True):
                if slot <= moment:
                    return slot
        return None


def shop_zone(timezone: str | None) -> ZoneInfo:
    """The shop's zone (UTC when the profile has none or an unknown one)."""
    try:
        return ZoneInfo(timezone) if timezone else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _aware(moment: dt.datetime) -> dt.datetime:
    # The app stores naive UTC datetimes.
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def parse_batching(raw: Any) -> BatchSchedule | None:
    """Check `po_batching`: None for one file per order, else the schedule; InvalidBatching names the field."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise InvalidBatching("po_batching must be an object with mode per_order or batched")
    unknown = sorted(set(raw) - KEYS)
    if unknown:
        raise InvalidBatching(f"po_batching: unknown key(s) {', '.join(unknown)}")
    mode = raw.get("mode", "per_order")
    if mode not in MODES:
        raise InvalidBatching("po_batching.mode must be per_order or batched")
    if mode == "per_order":
        if set(raw) - {"mode"}:
            raise InvalidBatching("po_batching: times, weekdays and every_minutes only go with mode batched")
        return None
    weekdays_raw = raw.get("weekdays", list(WEEKDAYS))
    if not isinstance(weekdays_raw, list) or not weekdays_raw or not all(isinstance(d, str) and d.lower() in WEEKDAYS for d in weekdays_raw):
        raise InvalidBatching(f"po_batching.weekdays must be a non-empty list of {', '.join(WEEKDAYS)}")
    weekdays = frozenset(WEEKDAYS.index(d.lower()) for d in weekdays_raw)
    times, every = raw.get("times"), raw.get("every_minutes")
    if (times is None) == (every is None):
        raise InvalidBatching("po_batching: give either times (e.g. [\"10:00\", \"15:00\"]) or every_minutes (e.g. 120), not both")
    if every is not None:
        if isinstance(every, bool) or not isinstance(every, int) or not 15 <= every <= 1440 or 1440 % every:
            raise InvalidBatching("po_batching.every_minutes must be a whole number of minutes from 15 to 1440 that divides a day "
                                  "(15, 20, 30, 60, 120, 180, 240, 360, 480, 720, 1440, ...)")
        return BatchSchedule(tuple(range(0, 1440, every)), weekdays, every)
    if not isinstance(times, list) or not 1 <= len(times) <= MAX_TIMES:
        raise InvalidBatching(f"po_batching.times must be a list of 1-{MAX_TIMES} times of day as HH:MM")
    minutes = set()
    for value in times:
        match = _TIME.match(value) if isinstance(value, str) else None
        if match is None:
            raise InvalidBatching(f"po_batching.times: {str(value)[:20]!r} is not a time of day as HH:MM (00:00-23:59)")
        minutes.add(int(match.group(1)) * 60 + int(match.group(2)))
    return BatchSchedule(tuple(sorted(minutes)), weekdays)
