"""A pytest plugin: record the query plan of every distinct SQL statement the app's own code runs (SQLite and PostgreSQL).

Loaded with `-p scan_capture` in a child pytest (tests/db/test_no_history_scans.py); writes one JSON line
per distinct statement and dialect to $SCAN_CAPTURE_OUT.

PostgreSQL's planner is cost-based: on a test's tiny tables it reads a whole table on purpose. The plan is
therefore asked with `enable_seqscan = off`, which makes any index that can serve the statement cheaper
than a sequential scan: a `Seq Scan` left in that plan means no index can serve it (the table would be
read whole once it is big). It is asked inside a savepoint rolled back at once, so neither the setting
nor an EXPLAIN error touches the app's transaction.
"""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine

ROOT = Path(__file__).resolve().parents[2]
APP_DIRS = tuple(str(ROOT / name) + os.sep for name in ("shopify_app", "integrations", "scheduler"))
PROJECT_DIRS = tuple(str(ROOT / name) + os.sep for name in ("shopify_app", "integrations", "scheduler", "tests", "sandbox", "bench", "migrations"))
_seen: set[tuple[str, str]] = set()


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
    dialect = conn.dialect.name
    if dialect not in ("sqlite", "postgresql") or executemany or (dialect, statement) in _seen:
        return
    if not statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH", "INSERT")):
        return  # PRAGMA, BEGIN, SAVEPOINT...: nothing to plan
    where = issued_by_app()
    if where is None:
        return
    _seen.add((dialect, statement))
    try:  # same connection, same bound values: the plan of exactly what ran
        plan = _sqlite_plan(cursor, statement, parameters) if dialect == "sqlite" else _postgresql_plan(cursor, statement, parameters)
    except Exception as error:  # noqa: BLE001 - recorded, the guard reports it
        plan = [f"EXPLAIN FAILED: {error}"]
    with open(os.environ["SCAN_CAPTURE_OUT"], "a", encoding="utf-8") as out:
        out.write(json.dumps({"dialect": dialect, "statement": statement, "plan": plan, "where": where}) + "\n")


def _sqlite_plan(cursor, statement, parameters) -> list[str]:
    connection = cursor.connection
    partial = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql LIKE '% WHERE %'")}
    steps = []
    for row in connection.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall():
        step = row[-1]
        walked = re.match(r"(\s*)SCAN (\w+) USING (?:COVERING )?INDEX (\w+)", step)
        if walked and walked.group(3) in partial:  # a partial index walked whole reads only the rows of its predicate
            step = f"{walked.group(1)}SEARCH {walked.group(2)} USING INDEX {walked.group(3)} (a partial index: only the rows of its predicate)"
        steps.append(step)
    return steps


def _postgresql_plan(cursor, statement, parameters) -> list[str]:
    import psycopg

    connection = cursor.connection
    idle = connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with connection.cursor() as explain:
        explain.execute("BEGIN" if idle else "SAVEPOINT scan_capture")
        try:
            explain.execute("SET LOCAL enable_seqscan = off")
            explain.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
            plan = explain.fetchone()[0][0]["Plan"]
            explain.execute("SELECT c.relname, i.indpred IS NOT NULL, a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                            " LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]")
            indexes = {name: (is_partial, first) for name, is_partial, first in explain.fetchall()}
            return list(_postgresql_steps(plan, indexes))
        finally:
            explain.execute("ROLLBACK" if idle else "ROLLBACK TO SAVEPOINT scan_capture")
            if not idle:
                explain.execute("RELEASE SAVEPOINT scan_capture")


def pytest_configure(config):
    """Listen on every Engine of the run."""
    event.listen(Engine, "before_cursor_execute", _record)


def _postgresql_steps(node: dict, indexes: dict[str, tuple[bool, str | None]]):
    """Each plan node reading a table, SQLite-style: `SCAN t` when it reads it whole, `SEARCH t ...` when an index narrows it.

    With sequential scans off, a table no index can serve is still read whole: as a Seq Scan, or as an
    index walked whole (no Index Cond, or one only on later columns: PostgreSQL then reads every entry and
    reports the condition all the same). A partial index walked whole reads only the rows of its
    predicate (the inbox's pending rows, not its month of finished ones). `indexes`: name -> (partial, first column).
    """
    table = node.get("Relation Name")
    kind = node.get("Node Type", "")
    if table and kind == "Seq Scan":
        yield f"SCAN {table} (Seq Scan)"
    elif table and kind in ("Index Scan", "Index Only Scan"):
        index = node.get("Index Name")
        partial, first = indexes.get(index, (False, None))
        condition = node.get("Index Cond") or ""
        if condition and (first is None or re.search(rf"\b{re.escape(first)}\b", condition)):  # None: an expression index
            yield f"SEARCH {table} USING {index}"
        elif partial:
            yield f"SEARCH {table} USING {index} (a partial index: only the rows of its predicate)"
        else:
            yield f"SCAN {table} ({kind} using {index}, {f'a condition not on its first column {first}: {condition}' if condition else 'without an index condition'})"
    elif table and kind == "Bitmap Heap Scan":  # narrowed by the Bitmap Index Scans below it
        yield f"SEARCH {table} (Bitmap Heap Scan)"
    elif kind == "Bitmap Index Scan":
        index = node.get("Index Name")
        partial, first = indexes.get(index, (False, None))
        condition = node.get("Index Cond") or ""
        if not partial and first is not None and not re.search(rf"\b{re.escape(first)}\b", condition):
            yield f"SCAN {node.get('_table', '?')} (Bitmap Index Scan using {index}, a condition not on its first column {first})"
    for child in node.get("Plans", ()):
        if kind == "Bitmap Heap Scan":
            child = {**child, "_table": table}
        yield from _postgresql_steps(child, indexes)
