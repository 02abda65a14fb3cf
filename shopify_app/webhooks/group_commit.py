"""Group commit for the inbox on SQLite: one writer thread, many deliveries per transaction.

SQLite has a single write lock and each commit costs an fsync. Request threads hand their
delivery to this process's writer thread and wait; the writer inserts whatever has queued
up in one transaction, commits (one fsync for the batch), then releases every waiter.
Each delivery is still acknowledged only after the commit that holds its row.

The writer keeps one connection for its whole life (no pool check-out, reset and check-in
per batch) and inserts a batch with one multi-row `INSERT ... ON CONFLICT DO NOTHING
RETURNING webhook_id`: profiling intake showed the pool round trip and the three
statements per batch (max id, insert, ids above it) as a third of the writer's CPU. That
INSERT runs on the sqlite3 connection itself (`BatchInsert`), inside SQLAlchemy's transaction.
"""
from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future

from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection, Engine

from .inbox import INBOX, IncomingWebhook, Recorded, record_delivery

log = logging.getLogger(__name__)


class GroupCommitWriter:
    """Batches inbox inserts from many request threads into few transactions."""

    def __init__(self, engine: Engine, max_batch: int = 64):
        from ..db import sqlite_write_lock

        self.engine = engine
        self.write_lock = sqlite_write_lock(str(engine.url))
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[IncomingWebhook, Future]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: Connection | None = None
        self._start_lock = threading.Lock()

    def record(self, hook: IncomingWebhook, timeout: float = 10.0) -> Recorded:
        """Queue the delivery and wait until the transaction holding it has committed."""
        self._ensure_running()
        done: Future = Future()
        self._queue.put((hook, done))
        return done.result(timeout=timeout)

    def _ensure_running(self) -> None:
        # Started lazily, in the process that serves requests (gunicorn forks workers
        # after import, and threads do not survive a fork).
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="inbox-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        from ..db import urgent_writes

        with urgent_writes():  # a sender waits for each 200: intake goes before the background workers
            self._loop()

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._write(batch)

    def _connection(self) -> Connection:
        # Only the writer thread uses it; it is replaced after any failure (the next batch
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
            return
        for (_, done), outcome in zip(batch, outcomes):
            done.set_result(outcome)

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
    processors, so what is stored is what Core would store. The transaction stays SQLAlchemy's.
    """

    def __init__(self, dialect):
        self.keys = tuple(IncomingWebhook("", "", "", "").row())
        names = {column.key: column.name for column in INBOX.columns}
        self.columns = tuple(column.key for column in INBOX.columns if column.key in self.keys)  # the table's order
        if set(self.columns) != set(self.keys):
            raise RuntimeError("IncomingWebhook.row() names a column the inbox does not have")
        self._processors = tuple((key, INBOX.c[key].type.dialect_impl(dialect).bind_processor(dialect)) for key in self.columns)
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
            values.extend(process(row[key]) if process is not None else row[key] for key, process in self._processors)
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute(self.text(len(hooks)), values)
            return {webhook_id for (webhook_id,) in cursor.fetchall()}
        finally:
            cursor.close()


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
