"""Engine and session factory; SQLite gets WAL and synchronous=FULL so an acked webhook is on disk."""
from __future__ import annotations

import contextlib
import copy
import fcntl
import functools
import os
import threading
import time
from pathlib import Path

from sqlalchemy import create_engine, event, literal_column
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, make_transient_to_detached, sessionmaker

from .write_transactions import track_write_transactions, tracking


UNICODE_LOWER = "unicode_lower"  # SQLite's own lower() folds ASCII only; PostgreSQL's folds Unicode


def _unicode_lower(text):
    return text.lower() if isinstance(text, str) else text


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.create_function(UNICODE_LOWER, 1, _unicode_lower, deterministic=True)
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the writer; FULL fsyncs each commit, which the
    # webhook 200 depends on (NORMAL can lose the last commits on power loss).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(database_url: str, **kwargs) -> Engine:
    """Create an engine for SQLite or PostgreSQL with the settings each needs."""
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            database_url, connect_args={"check_same_thread": False, "timeout": 10}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; let
        # SQLAlchemy emit BEGIN itself (the documented recipe). IMMEDIATE takes the
        # write lock up front: a deferred transaction that reads and then writes fails
        # with "database is locked" when another writer committed in between, whereas
        # IMMEDIATE simply waits its turn (busy_timeout). SQLite has one writer anyway.
        # Read-only work runs on `reading(engine)`, which begins DEFERRED: in WAL mode it
        # never waits for the writer, so a handler holding the write lock can still read
        # (e.g. the shop's token) on another connection without deadlocking itself.
        event.listen(engine, "connect", lambda conn, _r: setattr(conn, "isolation_level", None))
        queue_sqlite_writers(engine)
    else:
        engine = create_engine(database_url, pool_pre_ping=True, **kwargs)
    if tracking():
        track_write_transactions(engine)  # rule 6 is checked against this (tests/conftest.py turns it on)
    return engine


WRITER_QUEUE_TIMEOUT = 10.0  # seconds, like busy_timeout: then BEGIN waits in SQLite's own busy handler


class WriterQueue:
    """One writer at a time in this process; urgent writers (webhook intake, whose 200 waits) go first.

    The turn is handed to ONE waiter (an urgent one if any): waking every waiting thread on each
    commit (a dozen webhook, pump and forwarding threads at 10 orders/s) made them all take the
    GIL just to find the turn taken, about 5 % of the app's Python CPU in bench/order_flow.py.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._urgent = threading.Condition(self._lock)
        self._cond = threading.Condition(self._lock)  # the other (background) writers
        self._held = False
        self._urgent_waiting = 0

    def acquire(self, urgent: bool, timeout: float) -> bool:
        """Wait for the turn (urgent ones before any other); False after `timeout`."""
        deadline = time.monotonic() + timeout
        queue = self._urgent if urgent else self._cond
        with self._lock:
            self._urgent_waiting += urgent
            try:
                while self._held or (not urgent and self._urgent_waiting):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    queue.wait(left)
                else:
                    self._held = True
                    return True
            finally:
                self._urgent_waiting -= urgent
            # Timed out. A hand-over may have picked this waiter just as it gave up: pass it on.
            self._hand_on()
            return False

    @property
    def held(self) -> bool:
        """Whether a writer has the turn."""
        return self._held

    def waiting(self) -> int:
        """How many writers wait for the turn."""
        with self._lock:
            return len(self._urgent._waiters) + len(self._cond._waiters)  # noqa: SLF001 - Condition keeps no public count

    def release(self) -> None:
        """Hand the turn on."""
        with self._lock:
            self._held = False
            self._hand_on()

    def _hand_on(self) -> None:
        # Under the lock. An urgent waiter first; the background one woken when urgent ones
        # wait goes back to sleep, and the last urgent release wakes the next one.
        if self._held:
            return
        if self._urgent_waiting:
            self._urgent.notify()
        else:
            self._cond.notify()


class _Urgency(threading.local):
    urgent = False


_urgency = _Urgency()


@contextlib.contextmanager
def urgent_writes():
    """Write transactions begun in this block (this thread) go before the background workers' ones."""
    before, _urgency.urgent = _urgency.urgent, True
    try:
        yield
    finally:
        _urgency.urgent = before


def queue_sqlite_writers(engine: Engine) -> None:
    """BEGIN each transaction (IMMEDIATE, or DEFERRED on `reading(engine)`); this process's writers queue on a WriterQueue.

    SQLite's busy handler makes a waiting writer sleep and poll (naps of up to 100 ms), so
    threads of one process waiting for the write lock wake long after it is free: the
    benchmark's pumps and webhook threads spent a third of their time there. Waiting in a
    queue instead hands the write lock over the moment the last writer commits, and lets
    webhook intake (a sender waits for its 200) go before background work. The turn is
    held from BEGIN IMMEDIATE until that connection's COMMIT or ROLLBACK has returned (or
    the connection is closed). Other processes still meet in SQLite's busy handler (or the
    group-commit writer's ProcessWriteLock).
    """
    writer = engine.writer_queue = WriterQueue()  # (the tests look at it)
    holders: set[int] = set()  # ids of the DBAPI connections holding the turn
    dialect = engine.dialect

    def begin(connection, mode: str) -> None:
        dbapi_connection = connection.dbapi_connection
        queued = mode != "DEFERRED" and id(dbapi_connection) not in holders and writer.acquire(_urgency.urgent, WRITER_QUEUE_TIMEOUT)
        if queued:
            holders.add(id(dbapi_connection))
        try:
            # On the DBAPI connection itself: through exec_driver_sql, SQLAlchemy's execution
            # context cost more CPU than SQLite's BEGIN (issue 19 part C: several transactions
            # an order). No listener needs it: a BEGIN is no write statement (write_transactions).
            dbapi_connection.execute(f"BEGIN {mode}")
        except BaseException:
            # Raised as is: SQLAlchemy's _begin_impl, which calls do_begin, wraps a DBAPI error itself
            # (sqlalchemy.exc.OperationalError for "database is locked") and checks it for a disconnect.
            release(dbapi_connection)
            raise

    def release(connection) -> None:
        key = id(getattr(connection, "dbapi_connection", connection))  # a pool proxy or the sqlite3 connection
        if key in holders:
            holders.discard(key)
            writer.release()

    def after(original):
        def call(dbapi_connection, *args, **kwargs):
            try:
                return original(dbapi_connection, *args, **kwargs)
            finally:
                release(dbapi_connection)
        return call

    # The dialect's own commit/rollback/close are the last step of every path that ends a
    # transaction (ORM, Core, pool reset on check-in, invalidation), so the turn is always handed on.
    dialect.do_commit = after(dialect.do_commit)
    dialect.do_rollback = after(dialect.do_rollback)
    dialect.do_close = after(dialect.do_close)
    # BEGIN in the dialect's own do_begin, not a "begin" listener: one engine listener makes
    # SQLAlchemy dispatch every connection, transaction and statement event (about 40 us of
    # CPU per connection use, issue 19 session 30 part C). The mode is the dialect's: the
    # engine's begins IMMEDIATE, `reading(engine)`'s copy of it DEFERRED.
    dialect.do_begin = lambda connection: begin(connection, "IMMEDIATE")
    deferred = copy.copy(dialect)  # after the wrapping above: the copy hands the turn on too
    deferred.do_begin = lambda connection: begin(connection, "DEFERRED")
    dialect.deferred_begin = deferred.deferred_begin = deferred


def make_session_factory(engine: Engine) -> sessionmaker:
    """Sessions that keep loaded values after commit (routes return them)."""
    return sessionmaker(engine, expire_on_commit=False)


def flushed_connection(session: Session):
    """The session's connection, after flushing its pending ORM changes (what an ORM read's autoflush does) for a Core read."""
    if session.new or session.dirty or session.deleted:
        session.flush()
    return session.connection()


def reading(engine: Engine) -> Engine:
    """The engine for read-only sessions (SQLite: deferred BEGIN; elsewhere unchanged)."""
    deferred = getattr(engine.dialect, "deferred_begin", None)
    if deferred is None:
        return engine
    # The dialect copy's do_begin is what begins DEFERRED; the option only names the mode for
    # listeners (tests count read and write transactions). Events on `engine` still reach this one's connections.
    read = engine.execution_options(sqlite_begin="DEFERRED")
    read.dialect = deferred
    return read


def read_only(session_factory: sessionmaker) -> sessionmaker:
    """Sessions for reads on the same database that never wait for SQLite's writer."""
    return make_session_factory(reading(session_factory.kw["bind"]))


class ProcessWriteLock:
    """An flock on '<db file>.write-lock' taken around SQLite write transactions.

    SQLite's busy handler makes a waiting writer sleep and poll (up to 100 ms a nap), so
    writers in different processes (gunicorn workers) starve each other while the lock
    sits free. A blocking flock queues them in the kernel and wakes the next at once.
    """

    def __init__(self, database_path: str):
        self.path = database_path + ".write-lock"
        self._fd: int | None = None
        self._local = threading.Lock()

    def __enter__(self):
        self._local.acquire()
        if self._fd is None:
            self._fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._local.release()


def sqlite_write_lock(database_url: str):
    """A cross-process write lock for a SQLite file database; a no-op context otherwise."""
    path = database_url.split("///", 1)[-1] if database_url.startswith("sqlite") else ""
    if not path or path == ":memory:":
        return contextlib.nullcontext()
    return ProcessWriteLock(path)


def upsert(session, model, rows: list[dict], keys: tuple[str, ...], update_columns: tuple[str, ...]) -> None:
    """INSERT rows, or UPDATE `update_columns` of those whose `keys` exist (SQLite and PostgreSQL)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - only the two databases we support
        raise NotImplementedError(f"upsert on {dialect}")
    statement = insert(model.__table__)
    statement = statement.on_conflict_do_update(index_elements=list(keys), set_={c: statement.excluded[c] for c in update_columns})
    session.execute(statement, rows)


# Rows written by Core on the hot paths, handed to the ORM without reading them back.


def with_defaults(table, values: dict) -> dict:
    """`values` and every other column a Core INSERT gave a plain default (or NULL); columns with other defaults are left to load on use."""
    full = dict(_plain_defaults(table))
    full.update(values)
    return full


@functools.cache
def _plain_defaults(table) -> dict:
    # Per table, once: walking every column of a 40-column table cost more than the rest of with_defaults.
    defaults = {}
    for column in table.columns:
        if column.primary_key:
            continue
        if column.default is not None:
            if column.default.is_scalar:
                defaults[column.key] = column.default.arg
        elif column.server_default is None:
            defaults[column.key] = None
    return defaults


def persistent(session: Session, instance):
    """An ORM instance of a row just written by Core, made persistent as if loaded (no pending INSERT, no history, no read back)."""
    make_transient_to_detached(instance)
    session.add(instance)
    return instance


def loaded(session: Session, cls, values: dict):
    """`persistent` of a new `cls` holding `values`, built the way a load builds one (no constructor, no attribute events).

    The constructor sets each column through its instrumented attribute (history, events), all of
    which `persistent` then throws away: for an order's 40 columns that was most of the cost.
    """
    instance = cls.__mapper__.class_manager.new_instance()
    instance.__dict__.update(values)
    return persistent(session, instance)


def sql_constants(values) -> list:
    """Our own constant names (states, statuses) as SQL literals, for an IN list written into a statement once.

    `column.in_(python values)` is an expanding parameter: SQLAlchemy renders the list into the
    SQL at every execution, which doubled a short statement's CPU (about 20 us each on SQLite).
    """
    for value in values:
        if not value.replace("_", "").isalnum():
            raise ValueError(f"not a constant name: {value!r}")  # never anything a merchant typed
    return [literal_column(f"'{value}'") for value in values]
