"""How late each per-shop job is for the shops that have work, read at scrape time from the claims in job_runs.

DropshipJobLagging compares a job kind's newest success with its interval. For a per-shop job
that is one series for all shops, so a single shop whose unit stopped running hid behind the
others, and jobs that skip idle shops (`ShopJob.with_work`: stock feeds, tokens due, PO
batches...) could not carry it at all: a shop with nothing to do rightly runs nothing for days.
Here each job's work probe (the same one query per job the dispatcher asks every tick; our
database only, no shop is called) names the shops with work, and each busy shop's lag comes
from its unit's claims in the current and the previous slot:

- the current slot claimed (running or done): on time, 0;
- else the previous slot claimed: late by the time since the current slot began (normal for
  the seconds until a thread takes it);
- else, when the unit ran before: late since the previous slot began (a slot missed while
  the shop had work), at least one interval;
- else (a shop's first run waits for its first slot start): late since the current slot began.

The work probe says whether a shop has work now, not since when: a shop that ran before and
gets work again mid-slot shows more than an interval until the dispatcher's next tick takes it
(seconds), which the alert's `for:` rides out. A stopped clock, or a shop's unit the pool never
reaches, stays above one interval and fires DropshipShopJobLagging.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable

from ..jobs.fanout import ShopJob, cached_installed_shops, claimed_slots, ever_claimed, read_sessions, shop_slot, shops_with_work, unit_name


@dataclass(frozen=True)
class ShopJobLag:
    """One per-shop job's lag over the shops that have work now."""

    job: str
    interval: float  # seconds
    with_work: int  # installed shops the job has work for
    behind: int  # of those, more than one interval late
    lag: float  # seconds, the latest of them (0 when all are on time)
    shop: str | None  # that shop


def shop_job_lags(services, jobs: Iterable[ShopJob], now: dt.datetime) -> list[ShopJobLag]:
    """Each job's lag for the installed shops its work probe names (every installed shop when it has none)."""
    with read_sessions(services)() as session:
        installed = cached_installed_shops(services, session)
    asked: dict = {}
    return [_job_lag(services, job, shops_with_work(services, job, installed, asked), now) for job in jobs]


def _job_lag(services, job: ShopJob, with_work: frozenset[str], now: dt.datetime) -> ShopJobLag:
    shops = sorted(with_work)
    interval = job.interval
    if not shops:
        return ShopJobLag(job.name, interval.total_seconds(), 0, 0, 0.0, None)
    current = {shop: shop_slot(job.name, shop, interval, now) for shop in shops}
    names = {shop: unit_name(job.name, shop) for shop in shops}
    claims = claimed_slots(services, set(names.values()), min(current.values()) - interval)
    idle_before = {names[s] for s in shops if (names[s], current[s]) not in claims and (names[s], current[s] - interval) not in claims}
    ran_before = ever_claimed(services, idle_before) if idle_before else set()
    lags: dict[str, float] = {}
    for shop in shops:
        name, slot = names[shop], current[shop]
        if (name, slot) in claims:
            lags[shop] = 0.0
        elif (name, slot - interval) in claims or name not in ran_before:
            lags[shop] = (now - slot).total_seconds()
        else:
            lags[shop] = (now - (slot - interval)).total_seconds()
    worst = max(shops, key=lambda s: (lags[s], s))
    limit = interval.total_seconds()
    return ShopJobLag(job.name, limit, len(shops), sum(1 for lag in lags.values() if lag > limit), lags[worst], worst if lags[worst] > 0 else None)
