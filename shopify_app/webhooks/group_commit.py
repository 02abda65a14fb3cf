"""Group commit for the inbox on SQLite: many deliveries per transaction, written by one sender at a time.

SQLite has a single write lock and each commit costs an fsync. Request threads queue their
delivery; one that finds nobody writing becomes the writer: it inserts whatever has queued
up in one transaction, commits (one fsync for the batch), releases every waiter, and goes on
until its own delivery has committed and nothing more is queued (BATCHES_AFTER_OWN at most).
The others wait for the commit that holds their row, or for the writer to stop (then one of them
takes over): both wake them at once (a Condition), not a poll.
Each delivery is still acknowledged only after the commit that holds it.

The sender writes itself rather than handing its delivery to a writer thread: at a few
deliveries a second every delivery was a batch of one, and the hand-off (waking the writer,
then waking the sender) cost about as much CPU as the INSERT (issue 19 session 32 part W).

The writer keeps one connection (no pool check-out, reset and check-in per batch) and
inserts a batch with one multi-row `INSERT ... ON CONFLICT DO NOTHING RETURNING webhook_id`:
profiling intake showed the pool round trip and the three statements per batch (max id,
insert, ids above it) as a third of the writer's CPU. That INSERT runs on the sqlite3
connection itself (`BatchInsert`), inside SQLAlchemy's transaction.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future

from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection, Engine

from ..raw_statements import bind_processors, dbapi_connection, processed, run
from .inbox import INBOX, IncomingWebhook, Recorded, record_delivery

log = logging.getLogger(__name__)

# A writer goes on while deliveries queued behind its own (their senders then wake once, to their
# 200), but for at most this many batches after its own: its sender's 200 waits meanwhile.
BATCHES_AFTER_OWN = 2


class GroupCommitWriter:
    """Batches inbox inserts from many request threads into few transactions."""

    def __init__(self, engine: Engine, max_batch: int = 64):
        from ..db import sqlite_write_lock

        self.engine = engine
        self.write_lock = sqlite_write_lock(str(engine.url))
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[IncomingWebhook, Future]] = queue.SimpleQueue()
        self._writing = threading.Lock()  # held by the sender that is writing batches (and owns the connection meanwhile)
        # Notified after every batch and when a writer stops: a waiting sender looks again only then. (It
        # used to look every 5 ms whether the writer had stopped: a stream of wake-ups for nothing.)
        self._changed = threading.Condition(threading.Lock())
        self._conn: Connection | None = None

    def record(self, hook: IncomingWebhook, timeout: float = 10.0) -> Recorded:
        """Queue the delivery and wait until the transaction holding it has committed (written by this thread if nobody is writing)."""
        done: Future = Future()
        self._queue.put((hook, done))
        deadline = time.monotonic() + timeout
        while not done.done():
            if self._writing.acquire(blocking=False):
                try:
                    self._write_until(done)
                finally:
                    self._writing.release()
                    self._wake_waiters()  # a sender whose delivery is still queued takes over
                continue
            # Someone is writing: it takes this delivery in one of its batches, or stops (its own committed,
            # BATCHES_AFTER_OWN more written); then the first waiting sender to wake writes what is left.
            with self._changed:
                # Looked at under the condition's lock: a batch or a stop after this look notifies after the wait began.
                if done.done() or not self._writing.locked():
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
        return done.result(timeout=0)

    def _write_until(self, done: Future) -> None:
        """Write queued batches (oldest first) until the one holding `done` has committed, then at most BATCHES_AFTER_OWN more while any queued."""
        from ..db import urgent_writes

        after_own = 0
        with urgent_writes():  # a sender waits for each 200: intake goes before the background workers
            while after_own <= BATCHES_AFTER_OWN:
                batch = []
                while len(batch) < self.max_batch:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                if not batch:
                    return
                self._write(batch)
                after_own += done.done()

    def _connection(self) -> Connection:
        # Only the sender holding `_writing` uses it; it is replaced after any failure (the next batch
        # starts from a fresh connection rather than one in an unknown state).
        if self._conn is None:
            self._conn = self.engine.connect()
        return self._conn

    def _write(self, batch: list[tuple[IncomingWebhook, Future]]) -> None:
        try:
            with self.write_lock:
                conn = self._connection()
                with conn.begin():
                    outcomes = record_batch(conn, [hook for hook, _ in batch])
        except Exception as exc:  # noqa: BLE001 - nobody is acked; Shopify will retry
            log.error("inbox batch of %d failed to commit: %s", len(batch), type(exc).__name__)
            self._discard_connection()
            for _, done in batch:
                done.set_exception(exc)
            self._wake_waiters()
            return
        for (_, done), outcome in zip(batch, outcomes):
            done.set_result(outcome)
        self._wake_waiters()

    def _wake_waiters(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def _discard_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()  # the DBAPI connection is closed, never returned to the pool
            except Exception:  # noqa: BLE001 - it is being thrown away
                log.debug("closing the inbox writer's connection failed", exc_info=True)


class BatchInsert:
    """The batch's multi-row `INSERT ... ON CONFLICT DO NOTHING RETURNING webhook_id`, run on the sqlite3 connection itself (SQLite only, like the writer).

    Through SQLAlchemy's Core execute the statement cost more CPU than SQLite spent on it (its
    cache key, execution context and result per batch; issue 19 session 32 part W): the text is
    built once per batch size here and the values bound by the columns' own SQLAlchemy bind
    processors (raw_statements), so what is stored is what Core would store. The transaction stays SQLAlchemy's.
    """

    def __init__(self, dialect):
        self.keys = tuple(IncomingWebhook("", "", "", "").row())
        names = {column.key: column.name for column in INBOX.columns}
        self.columns = tuple(column.key for column in INBOX.columns if column.key in self.keys)  # the table's order
        if set(self.columns) != set(self.keys):
            raise RuntimeError("IncomingWebhook.row() names a column the inbox does not have")
        self._processors = bind_processors((INBOX.c[key].type for key in self.columns), dialect)
        self._head = f"INSERT INTO {INBOX.name} ({', '.join(names[key] for key in self.columns)}) VALUES "
        self._row = "(" + ", ".join("?" * len(self.columns)) + ")"
        self._texts: dict[int, str] = {}

    def text(self, rows: int) -> str:
        """The statement for `rows` rows."""
        text = self._texts.get(rows)
        if text is None:
            text = self._texts[rows] = self._head + ", ".join([self._row] * rows) + " ON CONFLICT DO NOTHING RETURNING webhook_id"
        return text

    def __call__(self, conn: Connection, hooks: list[IncomingWebhook]) -> set[str]:
        """Insert the hooks' rows in the connection's open transaction; the webhook ids that went in."""
        values = []
        for hook in hooks:
            row = hook.row()
            values.extend(processed(self._processors, [row[key] for key in self.columns]))
        return {webhook_id for (webhook_id,) in run(dbapi_connection(conn), self.text(len(hooks)), values, _fetchall)}


def _fetchall(cursor) -> list:
    return cursor.fetchall()


_BATCH_INSERT = BatchInsert(sqlite.dialect())  # the writer's engine is pysqlite: the same bind processors


def record_batch(conn: Connection, hooks: list[IncomingWebhook]) -> list[Recorded]:
    """Insert a batch with one multi-row INSERT; classify the rows that did not go in one by one."""
    inserted = _BATCH_INSERT(conn, hooks)
    outcomes = []
    for hook in hooks:
        if hook.webhook_id in inserted:
            inserted.discard(hook.webhook_id)  # a second copy in the same batch is a replay
            outcomes.append(Recorded.NEW)
        else:
            outcomes.append(record_delivery(conn, hook))
    return outcomes
