"""Group commit for the inbox on SQLite: one writer thread, many deliveries per transaction.

SQLite has a single write lock and each commit costs an fsync. Request threads hand their
delivery to this process's writer thread and wait; the writer inserts whatever has queued
up in one transaction, commits (one fsync for the batch), then releases every waiter.
Each delivery is still acknowledged only after the commit that holds its row.

The writer keeps one connection for its whole life (no pool check-out, reset and check-in
per batch) and inserts a batch with one multi-row `INSERT ... ON CONFLICT DO NOTHING
RETURNING webhook_id`: profiling intake showed the pool round trip and the three
statements per batch (max id, insert, ids above it) as a third of the writer's CPU.
"""
from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future

from sqlalchemy.dialects.sqlite import insert as sqlite_insert
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


# One statement for the whole batch: SQLAlchemy's "insertmanyvalues" sends the rows as one
# multi-row INSERT and gathers RETURNING from it, so the rows that went in are known without
# a second query.
_INSERT_NEW = sqlite_insert(INBOX).on_conflict_do_nothing().returning(INBOX.c.webhook_id)


def record_batch(conn: Connection, hooks: list[IncomingWebhook]) -> list[Recorded]:
    """Insert a batch with one multi-row INSERT; classify the rows that did not go in one by one."""
    inserted = set(conn.execute(_INSERT_NEW, [hook.row() for hook in hooks]).scalars())
    outcomes = []
    for hook in hooks:
        if hook.webhook_id in inserted:
            inserted.discard(hook.webhook_id)  # a second copy in the same batch is a replay
            outcomes.append(Recorded.NEW)
        else:
            outcomes.append(record_delivery(conn, hook))
    return outcomes
