"""A pytest plugin: record the query plan of every distinct SQL statement the app's own code runs on SQLite.

Loaded with `-p scan_capture` in a child pytest (tests/db/test_no_history_scans.py); writes one JSON line
per distinct statement to $SCAN_CAPTURE_OUT.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine

ROOT = Path(__file__).resolve().parents[2]
APP_DIRS = tuple(str(ROOT / name) + os.sep for name in ("shopify_app", "integrations", "scheduler"))
PROJECT_DIRS = tuple(str(ROOT / name) + os.sep for name in ("shopify_app", "integrations", "scheduler", "tests", "sandbox", "bench", "migrations"))
_seen: set[str] = set()


def issued_by_app() -> str | None:
    """The app's `file:line` that issued the statement, or None when the nearest project frame is not the app's.

    The nearest frame of project code (SQLAlchemy and the standard library skipped) decides: the app's
    code -> recorded; a test's own query, the sandboxes' or a migration's -> noise, not recorded.
    """
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(PROJECT_DIRS):
            return f"{os.path.relpath(filename, ROOT)}:{frame.f_lineno}" if filename.startswith(APP_DIRS) else None
        frame = frame.f_back
    return None


def _record(conn, cursor, statement, parameters, context, executemany):
    if conn.dialect.name != "sqlite" or executemany or statement in _seen:
        return
    if not statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH", "INSERT")):
        return  # PRAGMA, BEGIN, SAVEPOINT...: nothing to plan
    where = issued_by_app()
    if where is None:
        return
    _seen.add(statement)
    try:  # same connection, same bound values: the plan of exactly what ran
        rows = cursor.connection.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
        plan = [row[-1] for row in rows]
    except Exception as error:  # noqa: BLE001 - recorded, the guard reports it
        plan = [f"EXPLAIN FAILED: {error}"]
    with open(os.environ["SCAN_CAPTURE_OUT"], "a", encoding="utf-8") as out:
        out.write(json.dumps({"statement": statement, "plan": plan, "where": where}) + "\n")


def pytest_configure(config):
    """Listen on every Engine of the run."""
    event.listen(Engine, "before_cursor_execute", _record)
