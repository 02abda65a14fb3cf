"""Know, per thread, whether a database write transaction is open (rule 6: no network call inside one).

On SQLite every non-DEFERRED BEGIN takes the database's only write lock at once, so such a
transaction counts as a write from its start; a DEFERRED one (`db.read_only`) counts from
its first write statement. On PostgreSQL a transaction counts once it wrote (an INSERT,
UPDATE, DELETE or a row lock), because from then on it holds row locks others wait for.

`holds_write_transaction()` answers for the calling thread; the test suite fails any test
in which an outbound connection starts while it is true (tests/conftest.py). Only the test
suite asks, so only it turns tracking on (`track_every_engine`): the listeners would make
SQLAlchemy dispatch every connection, transaction and statement event in production, about
40 us of CPU per connection use on the order path (issue 19, session 30 part C).
"""
from __future__ import annotations

import functools
import re
import threading

from sqlalchemy import event
from sqlalchemy.engine import Engine

_INFO_KEY = "write_transaction_owner"
_WRITE_STATEMENT = re.compile(r"^\s*(INSERT|UPDATE|DELETE|MERGE|REPLACE|CREATE|ALTER|DROP|TRUNCATE)\b|\bFOR\s+(NO\s+KEY\s+)?UPDATE\b", re.IGNORECASE)


class _ThreadState(threading.local):
    open_writes = 0


_state = _ThreadState()
_tracking = False


def track_every_engine() -> None:
    """Track the write transactions of every engine `db.make_engine` makes from now on (the test suite's rule-6 guard)."""
    global _tracking
    _tracking = True


def tracking() -> bool:
    """Whether engines made now track their write transactions."""
    return _tracking


def holds_write_transaction() -> bool:
    """True while the calling thread has a database write transaction open."""
    return _state.open_writes > 0


def _mark_writing(connection_info: dict) -> None:
    if connection_info.get(_INFO_KEY) is None:
        _state.open_writes += 1
        connection_info[_INFO_KEY] = _state  # the opening thread's counter, whichever thread ends it


def _unmark(connection_info: dict) -> None:
    owner = connection_info.pop(_INFO_KEY, None)
    if owner is not None:
        owner.open_writes = max(0, owner.open_writes - 1)


def _on_begin(conn) -> None:
    if conn.dialect.name == "sqlite" and conn.get_execution_options().get("sqlite_begin", "IMMEDIATE") != "DEFERRED":
        _mark_writing(conn.info)


@functools.lru_cache(maxsize=4096)
def _writes(statement: str) -> bool:
    # The app runs a few hundred distinct statements over and over: scan each text once.
    return _WRITE_STATEMENT.search(statement) is not None


def _on_execute(conn, _cursor, statement, _parameters, _context, _executemany) -> None:
    if conn.in_transaction() and _writes(statement):
        _mark_writing(conn.info)


def _on_end(conn) -> None:
    _unmark(conn.info)


def _on_checkin(_dbapi_connection, record) -> None:
    # A connection returned to the pool has no transaction left, whatever path closed it.
    _unmark(record.info)


def track_write_transactions(engine: Engine) -> None:
    """Count this engine's write transactions per thread (see module docstring)."""
    event.listen(engine, "begin", _on_begin)
    event.listen(engine, "after_cursor_execute", _on_execute)
    event.listen(engine, "commit", _on_end)
    event.listen(engine, "rollback", _on_end)
    event.listen(engine, "checkin", _on_checkin)
