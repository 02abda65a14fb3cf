"""Per-shop periodic work: each shop's run of a job is its own claimed unit, at its own moment in the interval.

A job that loops over 1,000 shops in one run lets one slow or failing shop delay all the
others, and firing every shop at the same second makes a burst of Shopify and supplier calls.
Here a `ShopJob` names the work for ONE shop; each shop's unit has a stable offset inside the
interval (a hash of job and domain, so every process computes the same one) and its own slot
(`slot_for` shifted by the offset), claimed through the same `job_runs` table as every other
job (`run_slot`): one clock, each unit once per slot however many schedulers see it due.
Shops with nothing to do are left out by one query per job (`ShopJob.with_work`), so idle
shops cost nothing but a row in that query's answer.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Callable, Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import aliased

from ..alerts import alert_job_failure
from ..db import read_only
from ..models import Shop, ShopStatus, utcnow
from .claims import OWNER, run_slot, slot_for
from .models import JobRun

log = logging.getLogger(__name__)

UNIT_RUNS_KEPT = 2  # intervals of a per-shop job's successful runs kept (at least UNIT_RUNS_MIN_KEEP); failures stay the week job_runs keeps
UNIT_RUNS_MIN_KEEP = dt.timedelta(hours=1)
FIRST_SLOT_GRACE = dt.timedelta(seconds=30)  # > the embedded tick (5 s); procrastinate defers the next slot ahead anyway


@dataclass(frozen=True)
class ShopJob:
    """A periodic job run per shop: `run(services, shop)` every `interval`, for the shops `with_work(services)` names (None: every installed shop)."""

    name: str
    interval: dt.timedelta
    run: Callable[..., object]
    with_work: Callable[..., Iterable[str]] | None = None
    first_run_now: bool = False  # a shop's first unit runs at once (its profile at install), not at its first slot start
    waits_on_network: bool = True  # mostly waits on Shopify or a supplier: the embedded pool's many-thread lane (False: database only)


@dataclass(frozen=True)
class Unit:
    """One shop's run of a job for one slot."""

    job: ShopJob
    shop: str
    slot: dt.datetime

    @cached_property
    def name(self) -> str:
        """The job_runs key: '<job>:<shop>' (metrics group them by the part before the colon)."""
        return unit_name(self.job.name, self.shop)


def unit_name(job: str, shop: str) -> str:
    """'<job>:<shop>', the claimed unit's name."""
    return f"{job}:{shop}"


@lru_cache(maxsize=65536)  # every tick asks again for every shop of every job: 9,000 hashes a tick at 1,000 shops
def shop_offset(job: str, shop: str, interval: dt.timedelta) -> dt.timedelta:
    """Where in the interval this shop's unit starts: stable across processes and restarts (a hash, not Python's salted hash())."""
    seconds = int(interval.total_seconds())
    digest = hashlib.blake2b(unit_name(job, shop).encode(), digest_size=8).digest()
    return dt.timedelta(seconds=int.from_bytes(digest, "big") % seconds)


def shop_slot(job: str, shop: str, interval: dt.timedelta, moment: dt.datetime) -> dt.datetime:
    """The start of this shop's slot holding `moment`: the epoch-aligned grid shifted by the shop's offset."""
    offset = shop_offset(job, shop, interval)
    return slot_for(moment - offset, interval) + offset


def installed_shops(session) -> list[str]:
    """Domains of installed shops (one query)."""
    return list(session.scalars(select(Shop.domain).where(Shop.status == ShopStatus.INSTALLED.value)))


def due_units(services, jobs: Iterable[ShopJob], now: dt.datetime, *, horizon: dt.timedelta = dt.timedelta(0)) -> list[Unit]:
    """Units whose slot has begun (or begins within `horizon`) and is not claimed yet, oldest slot first.

    Per job: one query for the shops with work, one for the slots already claimed; the shop
    list is intersected with the installed shops so an uninstalled shop's work stops at once.
    """
    units: list[Unit] = []
    with read_sessions(services)() as session:
        installed = set(installed_shops(session))
    for job in jobs:
        shops = installed if job.with_work is None else installed.intersection(job.with_work(services))
        if not shops:
            continue
        wanted: list[Unit] = []
        for shop in shops:
            current = shop_slot(job.name, shop, job.interval, now)
            wanted.append(Unit(job, shop, current))
            following = current + job.interval
            if horizon and following <= now + horizon:
                wanted.append(Unit(job, shop, following))
        claimed = claimed_slots(services, {u.name for u in wanted}, min(u.slot for u in wanted))
        ever = None if job.first_run_now else ever_claimed(services, {u.name for u in wanted})
        for unit in wanted:
            if (unit.name, unit.slot) in claimed:
                continue
            # A unit that never ran starts at a slot start seen while running, not at once: on a first
            # start (or a new shop) the shops still spread over the interval instead of all running now.
            if ever is not None and unit.name not in ever and unit.slot < now - FIRST_SLOT_GRACE:
                continue
            units.append(unit)
    return sorted(units, key=lambda u: (u.slot, u.job.name, u.shop))


def read_sessions(services):
    """The services' read-only session factory (SQLite: BEGIN DEFERRED; a plain session begins IMMEDIATE and would queue every tick's reads behind the writer)."""
    return getattr(services, "read_session_factory", None) or read_only(services.session_factory)


def claimed_slots(services, names: set[str], since: dt.datetime) -> set[tuple[str, dt.datetime]]:
    """(unit name, slot) pairs already claimed from `since` on (the unique (job, slot) index answers it)."""
    found: set[tuple[str, dt.datetime]] = set()
    ordered = sorted(names)
    with read_sessions(services)() as session:
        for start in range(0, len(ordered), 500):  # SQLite caps bound parameters per statement
            rows = session.execute(select(JobRun.job, JobRun.slot).where(JobRun.job.in_(ordered[start:start + 500]), JobRun.slot >= since))
            found.update((name, slot.astimezone(dt.timezone.utc)) for name, slot in rows)
    return found


def ever_claimed(services, names: set[str]) -> set[str]:
    """The units among `names` with any claimed run (an index lookup per name)."""
    found: set[str] = set()
    ordered = sorted(names)
    with read_sessions(services)() as session:
        for start in range(0, len(ordered), 500):
            found.update(session.scalars(select(JobRun.job).where(JobRun.job.in_(ordered[start:start + 500])).group_by(JobRun.job)))
    return found


def run_unit(services, unit: Unit, owner: str = OWNER) -> bool:
    """Claim and run one shop's unit; a failure is recorded on its run and alerted for that shop only. True when it ran here."""

    def body() -> None:
        try:
            unit.job.run(services, unit.shop)
        except Exception as exc:
            alert_job_failure(services.session_factory, unit.job.name, unit.shop, exc)
            raise  # recorded as the run's failure by run_slot

    return run_slot(services.session_factory, unit.name, unit.slot, body, owner=owner)


def run_due(services, jobs: Iterable[ShopJob], now: dt.datetime | None = None) -> int:
    """Run every due unit in this thread, one after the other (tests, the CLI); how many ran here."""
    return sum(run_unit(services, unit) for unit in due_units(services, jobs, now or utcnow()))


def purge_unit_runs(session_factory, jobs: Iterable[ShopJob], now: dt.datetime | None = None) -> int:
    """Forget per-shop units' successful runs older than two of their intervals (at least an hour); how many went.

    1,000 shops' stock feeds each minute are 1.44 M job_runs rows a day: a week of them
    (claims.KEEP_RUNS) would be 10 M rows for nothing. A unit's newest run is always younger
    than that, and a unit's newest run is kept however old (so `ever_claimed` still knows a unit
    that ran, e.g. a shop whose work comes and goes); failures stay for the week.
    """
    now = now or utcnow()
    deleted = 0
    newer = aliased(JobRun)
    for job in jobs:
        keep = max(job.interval * UNIT_RUNS_KEPT, UNIT_RUNS_MIN_KEEP)
        with session_factory.begin() as session:
            deleted += session.execute(delete(JobRun).where(JobRun.job.startswith(f"{job.name}:", autoescape=True), JobRun.status == "done",
                                                            JobRun.started_at < now - keep,
                                                            select(newer.id).where(newer.job == JobRun.job, newer.slot > JobRun.slot).exists())).rowcount
    return deleted
