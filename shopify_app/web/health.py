"""GET /healthz (process alive, no database) and GET /readyz (database, migrations at head, the clock seen recently)."""
from __future__ import annotations

import datetime as dt
import functools
import os
import sqlite3
from pathlib import Path

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.engine import make_url

from ..db import read_only, reading

blueprint = Blueprint("health", __name__)

# The embedded pumps beat every poll (1 s), and their drains beat per finished row, so a
# pump silent this long is stuck (no row finished), not busy.
PUMP_SILENT_SECONDS = 300
# A writer holding SQLite's lock longer than this makes the process not ready (webhooks could not commit).
SQLITE_WRITE_PROBE_SECONDS = 2.0
# procrastinate workers update their heartbeat every 10 s (its default) and delete their row on a clean stop.
WORKER_HEARTBEAT_SECONDS = 60
# With the clock in another process (RUN_SCHEDULER=0 on SQLite): a job claims a slot every minute.
JOB_RUN_SECONDS = 300


@blueprint.get("/healthz")
def healthz():
    """200 while the process serves requests (no database touched: liveness must not flap with the database)."""
    services = current_app.extensions["services"]
    scheduler = services.scheduler  # read once: shutdown clears it from another thread
    status = scheduler.status() if scheduler is not None else {"running": False, "enabled": False}
    return jsonify({"status": "ok", "pid": os.getpid(), "scheduler": status, "sandbox": services.settings.sandbox})


@blueprint.get("/readyz")
def readyz():
    """200 when this process can do its job: database reachable, schema at Alembic head, scheduler or workers seen recently; else 503 with the reason."""
    services = current_app.extensions["services"]
    checks: dict[str, dict] = {}
    checks["database"] = _guarded(database_check, services)
    if checks["database"]["ok"]:
        checks["migrations"] = _guarded(migrations_check, services)
        checks["clock"] = _guarded(clock_check, services)
    failed = [name for name, check in checks.items() if not check["ok"]]
    body = {"status": "ready" if not failed else "not ready", "checks": checks}
    if failed:
        body["reason"] = "; ".join(f"{name}: {checks[name]['reason']}" for name in failed)
    return jsonify(body), 503 if failed else 200


def _guarded(check, services) -> dict:
    """A check's result, or not-ok with the error's type: readiness answers 503, never 500."""
    try:
        return check(services)
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "reason": f"{check.__name__} failed ({type(exc).__name__})"}


def database_check(services) -> dict:
    """SELECT 1 on a pooled read connection; for SQLite also that the file exists (connecting would create an empty one) and the write lock can be had."""
    url = make_url(services.settings.database_url)
    sqlite_file = url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:"
    if sqlite_file and not Path(url.database).exists():
        return {"ok": False, "reason": "database file is missing"}
    try:
        with reading(services.engine).connect() as conn:  # SQLite: deferred BEGIN, never the write lock
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - readiness reports, never raises
        return {"ok": False, "reason": f"database unreachable ({type(exc).__name__})"}
    if sqlite_file:
        locked = _sqlite_write_lock_problem(url.database)
        if locked:
            return {"ok": False, "reason": locked}
    return {"ok": True, "dialect": services.engine.dialect.name}


def _sqlite_write_lock_problem(path: str) -> str | None:
    """None when the write lock can be taken within SQLITE_WRITE_PROBE_SECONDS, else why not.

    SELECT 1 never touches SQLite's locks: a writer stuck holding the lock would leave every
    webhook unable to commit while reads look fine. BEGIN IMMEDIATE + ROLLBACK on a connection
    of its own (outside the pool, whose busy timeout is longer) writes nothing.
    """
    try:
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=SQLITE_WRITE_PROBE_SECONDS, isolation_level=None)
    except sqlite3.Error as exc:
        return f"database cannot be opened for writing ({type(exc).__name__})"
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        return f"database is locked for writing ({exc})"
    finally:
        conn.close()
    return None


@functools.lru_cache(maxsize=1)
def alembic_heads() -> tuple[str, ...]:
    """The head revision(s) of migrations/ (read once per process: the code does not change under it)."""
    from alembic.script import ScriptDirectory

    from ..migrate import alembic_config

    return tuple(sorted(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()))


def migrations_check(services) -> dict:
    """The database's alembic_version equals the code's head (behind: run the migrate role; ahead: deploy the newer code)."""
    try:
        # Read the version table directly: Alembic's MigrationContext logs two INFO lines per probe.
        with reading(services.engine).connect() as conn:  # SQLite: deferred BEGIN, never the write lock
            current = tuple(sorted(conn.execute(text("SELECT version_num FROM alembic_version")).scalars()))
    except Exception as exc:  # noqa: BLE001 - no table yet: never migrated
        return {"ok": False, "reason": f"cannot read the schema version ({type(exc).__name__}): run the migrate role"}
    heads = alembic_heads()
    if current != heads:
        return {"ok": False, "reason": f"schema at {','.join(current) or 'nothing'}, code expects {','.join(heads)}: run the migrate role", "current": list(current), "head": list(heads)}
    return {"ok": True, "current": list(current)}


def pumps_check(runner, parts: tuple[str, ...], what: str) -> tuple[bool, dict]:
    """(ready, details) of a runner of the order lanes (embedded scheduler, worker lanes): each of `parts` of its status() runs (else `what` is not), no pump stuck in a pass."""
    status, silent = runner.status(), runner.silent_seconds()
    if not all(status[part] for part in parts):
        return False, {"reason": f"{what} is not running", **status}
    if silent > PUMP_SILENT_SECONDS:
        return False, {"reason": f"a pump has not finished a pass in {int(silent)} s", **status}
    return True, status


def clock_check(services) -> dict:
    """Whoever runs the jobs was seen recently: this process's scheduler and pumps, procrastinate workers, or another process's job runs."""
    scheduler = services.scheduler
    if scheduler is not None:
        ok, details = pumps_check(scheduler, ("running", "inbox_pump", "forwarding_pump"), "the embedded scheduler or a pump")
        return {"ok": True, "engine": "embedded"} if ok else {"ok": False, "engine": "embedded", **details}
    if services.settings.job_engine == "procrastinate":
        return _procrastinate_workers_check(services)
    return _job_runs_check(services)


def _procrastinate_workers_check(services) -> dict:
    try:
        with reading(services.engine).connect() as conn:  # SQLite: deferred BEGIN, never the write lock
            alive = conn.execute(
                text("SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat > now() - make_interval(secs => :secs)"), {"secs": WORKER_HEARTBEAT_SECONDS}
            ).scalar_one()
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "reason": f"cannot read procrastinate's workers ({type(exc).__name__}): run the migrate role", "engine": "procrastinate"}
    if not alive:
        return {"ok": False, "reason": f"no procrastinate worker heartbeat in the last {WORKER_HEARTBEAT_SECONDS} s", "engine": "procrastinate", "workers": 0}
    from scheduler.distributed import WORKERS_PER_PROCESS

    # Each `cli worker` process registers one procrastinate worker per queue set (order work, jobs).
    return {"ok": True, "engine": "procrastinate", "workers": -(-alive // WORKERS_PER_PROCESS)}


def _job_runs_check(services) -> dict:
    from sqlalchemy import func, select

    from ..jobs.models import JobRun
    from ..models import utcnow

    with read_only(services.session_factory)() as session:
        newest = session.scalar(select(func.max(JobRun.started_at)))
    if newest is None or newest < utcnow() - dt.timedelta(seconds=JOB_RUN_SECONDS):
        return {"ok": False, "reason": f"no job ran in the last {JOB_RUN_SECONDS} s (RUN_SCHEDULER=0 here: is the process with the clock up?)", "engine": "embedded-elsewhere"}
    return {"ok": True, "engine": "embedded-elsewhere"}
