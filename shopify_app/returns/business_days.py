"""Business days in the customer's country: weekends and public holidays from the `holidays` library.

A merchant's promise in business days ("report damage within 3 business days") counts the
working days of the country the goods were delivered to (Israel rests on Friday and
Saturday, Poland on Saturday and Sunday and its public holidays). A country the library does
not know counts Monday to Friday. Days are the shop's calendar days (its IANA time zone from
the shop profile), not UTC dates: a parcel delivered at 00:30 in Warsaw arrived on that
Warsaw date, although it is still the day before in UTC.
"""
from __future__ import annotations

import datetime as dt
import zoneinfo
from functools import lru_cache

import holidays


@lru_cache(maxsize=64)
def _calendar(country: str | None, year: int) -> holidays.HolidayBase:
    code = (country or "").strip().upper()
    if code in holidays.list_supported_countries():
        # Neighbouring years too: a count that starts in late December ends in January.
        return holidays.country_holidays(code, years=range(year - 1, year + 2))
    return holidays.HolidayBase(years=range(year - 1, year + 2))  # weekends only


def last_business_day(start: dt.date, business_days: int, country: str | None) -> dt.date:
    """The date `business_days` working days after `start` in `country` (start itself not counted)."""
    return _calendar(country, start.year).get_nth_working_day(start, business_days)


def _zone(timezone: str | None) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(timezone) if timezone else dt.timezone.utc
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.timezone.utc


def local_date(moment: dt.datetime, timezone: str | None) -> dt.date:
    """The calendar date of `moment` in the IANA zone `timezone` (UTC when unknown or not a zone)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)  # stored datetimes are UTC
    return moment.astimezone(_zone(timezone)).date()


def calendar_days_between(start: dt.datetime, end: dt.datetime, timezone: str | None) -> int:
    """Whole calendar days from `start` to `end` in the shop's dates (delivery day = day 0).

    The law counts periods in days that end at the end of the last day (EU Reg. 1182/71
    art. 3, Polish Civil Code art. 111, Israel's "14 days from receipt"), so the hour of
    delivery does not shorten the window, and a DST change inside it does not move its end.
    """
    return (local_date(end, timezone) - local_date(start, timezone)).days


def end_of_local_day(start: dt.datetime, days: int, timezone: str | None) -> dt.datetime:
    """The last moment (UTC) of the local date `days` calendar days after `start`."""
    zone = _zone(timezone)
    last = local_date(start, timezone) + dt.timedelta(days=days + 1)
    # Midnight that starts the next local date (fold/gap resolved by zoneinfo), minus a microsecond.
    midnight = dt.datetime.combine(last, dt.time(), tzinfo=zone)
    return midnight.astimezone(dt.timezone.utc) - dt.timedelta(microseconds=1)


def within_business_days(start: dt.datetime, business_days: int, country: str | None, now: dt.datetime, timezone: str | None = None) -> bool:
    """True while `now` is on or before the last of `business_days` working days after `start`, in the shop's dates."""
    return local_date(now, timezone) <= last_business_day(local_date(start, timezone), business_days, country)
