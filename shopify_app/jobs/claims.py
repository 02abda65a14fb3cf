"""One clock: a periodic job runs once per time slot however many schedulers fire it.

Each scheduler (one per app process, or procrastinate's periodic deferrer) calls
`run_claimed` when its trigger fires. The slot is the wall-clock interval the moment falls
in (epoch-aligned, so every process computes the same one); the first process to INSERT
the (job, slot) row runs the job, the others see the unique key taken and skip. No lease
is needed: a slot is never run twice, and a crashed run's slot is simply over (the next
slot runs the job again, and every job is written to catch up on what it missed).
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
from typing import Callable

from sqlalchemy import bindparam, delete, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from integrations.shopify.pacing import background_calls

from ..metrics.jobs import job_finished, job_started
from ..models import utcnow
from ..server.logs import bound
from .models import JobRun

log = logging.getLogger(__name__)

OWNER = f"{socket.gethostname()}:{os.getpid()}"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
KEEP_RUNS = dt.timedelta(days=7)


def slot_for(moment: dt.datetime, interval: dt.timedelta) -> dt.datetime:
    """The start of the epoch-aligned interval holding `moment`."""
    seconds = int(interval.total_seconds())
    if seconds <= 0:
        raise ValueError("a job's interval must be at least a second")
    elapsed = int((moment - EPOCH).total_seconds())
    return EPOCH + dt.timedelta(seconds=elapsed - elapsed % seconds)


# Built once: 1,000 shops' stock feeds claim 1,000 units a minute, and an ORM add + flush per claim
# was most of a "nothing due" unit's cost (status and started_at come from the columns' defaults).
_CLAIM = insert(JobRun.__table__).values(job=bindparam("job"), slot=bindparam("slot"), owner=bindparam("owner"))


def claim(session_factory: sessionmaker, job: str, slot: dt.datetime, owner: str = OWNER) -> int | None:
    """Insert the run row; its id when this process won the slot, None when another did."""
    try:
        with session_factory.begin() as session:
            return session.execute(_CLAIM, {"job": job, "slot": slot, "owner": owner}).inserted_primary_key[0]
    except IntegrityError:
        return None


def run_claimed(session_factory: sessionmaker, job: str, interval: dt.timedelta, fn: Callable[..., object], *args, now: Callable[[], dt.datetime] = utcnow, owner: str = OWNER) -> bool:
    """Run `fn(*args)` if this process claims the current slot of `job`; True when it ran."""
    return run_slot(session_factory, job, slot_for(now(), interval), fn, *args, owner=owner)


def run_slot(session_factory: sessionmaker, job: str, slot: dt.datetime, fn: Callable[..., object], *args, owner: str = OWNER) -> bool:
    """Run `fn(*args)` if this process claims `slot` of `job` (any slot start: per-shop units are offset); True when it ran."""
    run_id = claim(session_factory, job, slot, owner)
    if run_id is None:
        log.debug("job %s: slot already claimed by another scheduler", job)
        return False
    job_started(job, slot, utcnow())
    started = time.monotonic()
    status, error = "done", None
    try:
        with bound(job=job), background_calls():  # periodic work leaves Shopify's rate-limit headroom to new orders
            fn(*args)
    except Exception as exc:  # recorded and logged; the next slot runs it again
        status, error = "failed", f"{type(exc).__name__}: {exc}"[:500]
        log.exception("job %s failed", job)
    with session_factory.begin() as session:
        session.execute(update(JobRun).where(JobRun.id == run_id).values(status=status, error=error, finished_at=utcnow()))
    job_finished(job, status, time.monotonic() - started)
    return True


def purge_old_runs(session_factory: sessionmaker, now: dt.datetime | None = None) -> int:
    """Forget runs older than a week."""
    with session_factory.begin() as session:
        return session.execute(delete(JobRun).where(JobRun.started_at < (now or utcnow()) - KEEP_RUNS)).rowcount
