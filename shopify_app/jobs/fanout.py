"""Per-shop periodic work: each shop's run of a job is its own claimed unit, at its own moment in the interval.

A job that loops over 1,000 shops in one run lets one slow or failing shop delay all the
others, and firing every shop at the same second makes a burst of Shopify and supplier calls.
Here a `ShopJob` names the work for ONE shop; each shop's unit has a stable offset inside the
interval (a hash of job and domain, so every process computes the same one) and its own slot
(`slot_for` shifted by the offset), claimed through the same `job_runs` table as every other
job (`run_slot`): one clock, each unit once per slot however many schedulers see it due.
Shops with nothing to do are left out by one query per job (`ShopJob.with_work`), so idle
shops cost nothing but a row in that query's answer.

At 1,000 shops x 10 jobs the tick itself must stay cheap (it runs every 5 s): the process
remembers what it has seen claimed (`FanoutMemory`: a unit's newest claimed slot, units that
ever ran, the installed shops behind a one-row fingerprint), so a tick only asks the database
about the units whose slot began since they were last seen claimed, and a `with_work` function
shared by several jobs is asked once per tick. Only claims are remembered, and a claim is never
undone, so a remembered answer is never wrong; another process's claims are still read.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import threading
import weakref
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Callable, Iterable

from sqlalchemy import case, delete, func, select
from sqlalchemy.orm import aliased

from ..alerts import alert_job_failure
from ..db import read_only
from ..models import Shop, ShopStatus, utcnow
from .claims import EPOCH, OWNER, run_slot, slot_for
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
    first_run_now: bool = False  # a shop's first unit runs at once (a token about to expire), not at its first slot start
    first_run_now_if_new: bool = False  # ... only for a shop installed within the last interval (its profile at install); older shops' first units spread
    waits_on_network: bool = True  # mostly waits on Shopify or a supplier: the embedded pool's many-thread lane (False: database only)
    lane: str | None = None  # the embedded pool's lane by name (None: "network" or "local" from waits_on_network); "bulk": long units (catalog exports) that must never hold the short ones' threads
    one_off: bool = False  # a shop's unit runs until its work is done, then `with_work` leaves the shop out (e.g. the first catalog mirror)

    @property
    def lane_name(self) -> str:
        """The embedded pool lane this job's units run on."""
        return self.lane or ("network" if self.waits_on_network else "local")


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
def offset_seconds(job: str, shop: str, seconds: int) -> int:
    """Where in an interval of `seconds` this shop's unit starts, in whole seconds: stable across processes and restarts (a hash, not Python's salted hash())."""
    digest = hashlib.blake2b(unit_name(job, shop).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % seconds


def shop_offset(job: str, shop: str, interval: dt.timedelta) -> dt.timedelta:
    """Where in the interval this shop's unit starts (see offset_seconds)."""
    return dt.timedelta(seconds=offset_seconds(job, shop, int(interval.total_seconds())))


def shop_slot(job: str, shop: str, interval: dt.timedelta, moment: dt.datetime) -> dt.datetime:
    """The start of this shop's slot holding `moment`: the epoch-aligned grid shifted by the shop's offset."""
    offset = shop_offset(job, shop, interval)
    return slot_for(moment - offset, interval) + offset


def _slot_seconds(job: str, shop: str, seconds: int, moment: int) -> int:
    """shop_slot in whole epoch seconds (the tick's hot loop: no datetime arithmetic per shop)."""
    offset = offset_seconds(job, shop, seconds)
    elapsed = moment - offset
    return elapsed - elapsed % seconds + offset


def installed_shops(session) -> list[str]:
    """Domains of installed shops (one query)."""
    return list(session.scalars(select(Shop.domain).where(Shop.status == ShopStatus.INSTALLED.value)))


# One row that changes whenever a shop installs, uninstalls or changes status: the tick reads it
# instead of the 1,000 domains, and re-reads the domains only when it moved (in any process).
_SHOPS_FINGERPRINT = select(func.count(), func.sum(case((Shop.status == ShopStatus.INSTALLED.value, 1), else_=0)),
                            func.max(Shop.installed_at), func.max(Shop.uninstalled_at))


@dataclass
class FanoutMemory:
    """What this process has seen of the per-shop units of one database (only claims, which are never undone)."""

    # unit name -> newest slot (epoch seconds) that needs nothing more from this process: seen
    # claimed (by anyone), or a never-run unit's first slot that began before this process saw it
    settled_upto: dict[str, int] = field(default_factory=dict)
    ran: set[str] = field(default_factory=set)  # units that ever ran (any claimed run)
    installed: frozenset[str] = frozenset()
    installed_at: dict[str, dt.datetime] = field(default_factory=dict)
    fingerprint: tuple | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw_claimed(self, name: str, slot: dt.datetime) -> None:
        """Remember that `slot` of unit `name` is claimed (by anyone)."""
        with self.lock:
            self.ran.add(name)
            self._settle(name, int(slot.timestamp()))

    def passed_over(self, name: str, slot: dt.datetime) -> None:
        """A never-run unit's slot that began before it was seen: it waits for its next slot (no need to ask again until then)."""
        with self.lock:
            self._settle(name, int(slot.timestamp()))

    def _settle(self, name: str, slot: int) -> None:
        seen = self.settled_upto.get(name)
        if seen is None or slot > seen:
            self.settled_upto[name] = slot

    def forget_installed(self) -> None:
        """A shop installed or uninstalled here: read the installed shops again on the next tick."""
        with self.lock:
            self.fingerprint = None


_memories: "weakref.WeakKeyDictionary[object, FanoutMemory]" = weakref.WeakKeyDictionary()
_memories_lock = threading.Lock()


def fanout_memory(services) -> FanoutMemory:
    """This process's memory of the units of these services' database (one per session factory)."""
    key = services.session_factory
    with _memories_lock:
        memory = _memories.get(key)
        if memory is None:
            memory = _memories[key] = FanoutMemory()
        return memory


def forget_installed_shops(services) -> None:
    """Call on install and uninstall: the next tick reads the installed shops again (other processes see the fingerprint move)."""
    fanout_memory(services).forget_installed()


def shops_with_work(services, job: ShopJob, installed: frozenset[str], asked: dict[Callable, frozenset[str]]) -> frozenset[str]:
    """The installed shops `job` has work for; jobs sharing a work probe ask it once per `asked` (one tick, one scrape)."""
    if job.with_work is None:
        return installed
    if job.with_work not in asked:
        token = _TICK.set(asked)  # probes' shared reads (`once_per_tick`) are kept in the same memo
        try:
            asked[job.with_work] = frozenset(job.with_work(services))
        finally:
            _TICK.reset(token)
    return installed.intersection(asked[job.with_work])


_TICK: ContextVar[dict | None] = ContextVar("fanout_tick", default=None)


def once_per_tick(read: Callable):
    """A read several work probes split (`read(services)`): run once per tick (`shops_with_work`'s memo), on every call outside one."""

    @functools.wraps(read)
    def shared(services):
        memo = _TICK.get()
        if memo is None:
            return read(services)
        if shared not in memo:
            memo[shared] = read(services)
        return memo[shared]

    return shared


def cached_installed_shops(services, session) -> frozenset[str]:
    """The installed shops, read again only when the shops' fingerprint moved (one small row a tick instead of every domain)."""
    memory = fanout_memory(services)
    fingerprint = tuple(session.execute(_SHOPS_FINGERPRINT).one())
    if fingerprint != memory.fingerprint:
        rows = session.execute(select(Shop.domain, Shop.installed_at).where(Shop.status == ShopStatus.INSTALLED.value)).all()
        with memory.lock:
            memory.installed, memory.fingerprint = frozenset(domain for domain, _ in rows), fingerprint
            memory.installed_at = {domain: at for domain, at in rows if at is not None}
    return memory.installed


def due_units(services, jobs: Iterable[ShopJob], now: dt.datetime, *, horizon: dt.timedelta = dt.timedelta(0)) -> list[Unit]:
    """Units whose slot has begun (or begins within `horizon`) and is not claimed yet, oldest slot first.

    Per job: one query for the shops with work (a function shared by several jobs is asked
    once), intersected with the installed shops so an uninstalled shop's work stops at once;
    units this process has already seen claimed for their current slot cost a dictionary
    look-up; the rest are checked in one query per job (and, for units never seen running,
    whether they ever ran).
    """
    memory = fanout_memory(services)
    units: list[Unit] = []
    with read_sessions(services)() as session:
        installed = cached_installed_shops(services, session)
    asked: dict[Callable, frozenset[str]] = {}
    for job in jobs:
        shops = shops_with_work(services, job, installed, asked)
        if not shops:
            continue
        wanted: list[Unit] = []
        settled = memory.settled_upto
        seconds = int(job.interval.total_seconds())
        moment, ahead = int(now.timestamp()), int((now + horizon).timestamp())
        for shop in shops:
            name = unit_name(job.name, shop)
            current = _slot_seconds(job.name, shop, seconds, moment)
            seen = settled.get(name)
            if seen is None or seen < current:
                wanted.append(Unit(job, shop, EPOCH + dt.timedelta(seconds=current)))
            following = current + seconds
            if horizon and following <= ahead and (seen is None or seen < following):
                wanted.append(Unit(job, shop, EPOCH + dt.timedelta(seconds=following)))
        if not wanted:
            continue
        for name, slot in claimed_slots(services, {u.name for u in wanted}, min(u.slot for u in wanted)):
            memory.saw_claimed(name, slot)
        at_once = _first_runs_at_once(job, memory, now)
        if not job.first_run_now:
            never_seen = {u.name for u in wanted if u.name not in memory.ran and u.slot < now - FIRST_SLOT_GRACE and not at_once(u.shop)}
            if never_seen:
                ever = ever_claimed(services, never_seen)
                with memory.lock:
                    memory.ran.update(ever)
        for unit in wanted:
            seen = settled.get(unit.name)
            if seen is not None and seen >= int(unit.slot.timestamp()):
                continue
            # A unit that never ran starts at a slot start seen while running, not at once: on a first
            # start (or a new shop) the shops still spread over the interval instead of all running now.
            if unit.name not in memory.ran and unit.slot < now - FIRST_SLOT_GRACE and not at_once(unit.shop):
                memory.passed_over(unit.name, unit.slot)
                continue
            units.append(unit)
    return sorted(units, key=lambda u: (u.slot, u.job.name, u.shop))


def _first_runs_at_once(job: ShopJob, memory: FanoutMemory, now: dt.datetime) -> Callable[[str], bool]:
    """Whether a shop's never-run unit of `job` runs at once rather than at its next slot start."""
    if job.first_run_now:
        return lambda shop: True
    if not job.first_run_now_if_new:
        return lambda shop: False
    newer_than = now - job.interval
    installed_at = memory.installed_at
    return lambda shop: (installed_at.get(shop) or dt.datetime.min.replace(tzinfo=dt.timezone.utc)) > newer_than


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

    ran = run_slot(services.session_factory, unit.name, unit.slot, body, owner=owner)
    fanout_memory(services).saw_claimed(unit.name, unit.slot)  # claimed here or by another process: either way the slot is taken
    return ran


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
