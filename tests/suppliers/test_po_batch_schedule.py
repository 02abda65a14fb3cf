"""The batching schedule in the shop's time zone (Warsaw) across both daylight-saving changes, and its checks."""
from __future__ import annotations

import datetime as dt

import pytest

from integrations.suppliers.files.batch_schedule import InvalidBatching, parse_batching
from integrations.suppliers.files.config import InvalidFileSettings, parse_settings

UTC = dt.timezone.utc
WARSAW = "Europe/Warsaw"
BUSINESS_DAYS = {"mode": "batched", "times": ["15:00", "10:00"], "weekdays": ["mon", "tue", "wed", "thu", "fri"]}


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def slots(schedule, start: dt.datetime, n: int, timezone: str = WARSAW) -> list[dt.datetime]:
    out, moment = [], start
    for _ in range(n):
        moment = schedule.next_slot(moment, timezone)
        out.append(moment)
    return out


def test_business_day_times_stay_on_the_wall_clock_across_the_autumn_change():
    schedule = parse_batching(BUSINESS_DAYS)
    # Friday 23 October 2026 is summer time (UTC+2); Sunday 25 October the clocks go back; Monday is UTC+1.
    assert slots(schedule, at(2026, 10, 23, 7, 0), 5) == [
        at(2026, 10, 23, 8, 0), at(2026, 10, 23, 13, 0),  # Friday 10:00 and 15:00 CEST
        at(2026, 10, 26, 9, 0), at(2026, 10, 26, 14, 0),  # the weekend skipped; Monday 10:00 and 15:00 CET
        at(2026, 10, 27, 9, 0),
    ]
    assert schedule.last_slot(at(2026, 10, 26, 8, 59), WARSAW) == at(2026, 10, 23, 13, 0)
    assert schedule.next_slot(at(2026, 10, 23, 8, 0), WARSAW) == at(2026, 10, 23, 13, 0)  # strictly after


def test_business_day_times_across_the_spring_change_and_the_same_times_in_utc():
    schedule = parse_batching(BUSINESS_DAYS)
    # Friday 27 March 2026 is winter time; Sunday 29 March the clocks go forward; Monday is UTC+2.
    assert slots(schedule, at(2026, 3, 27, 12, 0), 3) == [at(2026, 3, 27, 14, 0), at(2026, 3, 30, 8, 0), at(2026, 3, 30, 13, 0)]
    assert slots(schedule, at(2026, 3, 27, 12, 0), 2, timezone=None) == [at(2026, 3, 27, 15, 0), at(2026, 3, 30, 10, 0)]  # no time zone: UTC


def test_an_interval_on_the_nights_the_clocks_change():
    every_two_hours = parse_batching({"mode": "batched", "every_minutes": 120})
    # Spring: 02:00 local does not exist; it falls to 03:00 CEST (01:00 UTC), and 04:00 CEST follows.
    assert slots(every_two_hours, at(2026, 3, 28, 22, 30), 3) == [at(2026, 3, 28, 23, 0), at(2026, 3, 29, 1, 0), at(2026, 3, 29, 2, 0)]
    # Autumn: 02:00 local happens twice; the slot is taken once (its first time, 00:00 UTC).
    assert slots(every_two_hours, at(2026, 10, 24, 21, 30), 3) == [at(2026, 10, 24, 22, 0), at(2026, 10, 25, 0, 0), at(2026, 10, 25, 3, 0)]


@pytest.mark.parametrize("raw, field", [
    ("daily", "po_batching"),
    ({"mode": "sometimes"}, "po_batching.mode"),
    ({"mode": "batched"}, "po_batching"),
    ({"mode": "batched", "times": []}, "po_batching.times"),
    ({"mode": "batched", "times": ["24:00"]}, "po_batching.times"),
    ({"mode": "batched", "times": ["9"]}, "po_batching.times"),
    ({"mode": "batched", "times": [1000]}, "po_batching.times"),
    ({"mode": "batched", "every_minutes": 50}, "po_batching.every_minutes"),
    ({"mode": "batched", "every_minutes": True}, "po_batching.every_minutes"),
    ({"mode": "batched", "every_minutes": 60, "times": ["10:00"]}, "po_batching"),
    ({"mode": "batched", "every_minutes": 60, "weekdays": ["sunday"]}, "po_batching.weekdays"),
    ({"mode": "batched", "every_minutes": 60, "at": "noon"}, "po_batching"),
    ({"mode": "per_order", "every_minutes": 60}, "po_batching"),
])
def test_bad_schedules_are_refused_naming_the_field(raw, field):
    with pytest.raises(InvalidBatching) as refused:
        parse_batching(raw)
    assert str(refused.value).split(" ", 1)[0].rstrip(":") == field
    with pytest.raises(InvalidFileSettings, match=f"^settings.{field}"):
        parse_settings({"transport": "ftp", "host": "ftp.example.com", "username": "u", "po_batching": raw})


def test_per_order_is_the_default_and_schedules_read_back_as_saved():
    assert parse_batching(None) is None and parse_batching({"mode": "per_order"}) is None
    assert parse_settings({"transport": "ftp", "host": "ftp.example.com", "username": "u"}).batching is None
    schedule = parse_batching(BUSINESS_DAYS)
    assert schedule.as_json() == {"mode": "batched", "times": ["10:00", "15:00"], "weekdays": ["mon", "tue", "wed", "thu", "fri"]}
    assert parse_batching(schedule.as_json()) == schedule
    assert parse_batching({"mode": "batched", "times": ["9:30"]}).as_json()["times"] == ["09:30"]  # an hour without its leading zero
