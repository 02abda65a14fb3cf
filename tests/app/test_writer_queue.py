"""This process's SQLite writers take turns in a queue (webhook intake first) instead of SQLite's sleeping busy handler."""
from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import text

from shopify_app import write_transactions
from shopify_app.db import WriterQueue, make_engine, make_session_factory, read_only, reading, urgent_writes


@pytest.fixture(params=["tracked", "production"])
def tracking(request, monkeypatch):
    """Engines as the tests make them (write transactions tracked for rule 6) and as production does (no listener)."""
    monkeypatch.setattr(write_transactions, "_tracking", request.param == "tracked")
    return request.param


def test_an_urgent_writer_goes_before_writers_that_waited_longer():
    queue, order = WriterQueue(), []
    assert queue.acquire(False, 5)
    waiting = threading.Barrier(4)

    def writer(name: str, urgent: bool) -> None:
        waiting.wait()
        assert queue.acquire(urgent, 30)
        order.append(name)
        queue.release()

    threads = [threading.Thread(target=writer, args=(f"background-{n}", False)) for n in range(2)]
    threads.append(threading.Thread(target=writer, args=("intake", True)))
    for t in threads:
        t.start()
    waiting.wait()  # all three are about to queue behind the holder
    while queue._urgent_waiting == 0 or queue.waiting() < 3:  # noqa: SLF001 - wait until they really queue
        threading.Event().wait(0.005)
    queue.release()
    for t in threads:
        t.join()
    assert order[0] == "intake" and sorted(order[1:]) == ["background-0", "background-1"]


def test_the_turn_is_handed_to_one_waiting_writer_not_every_one():
    queue, done = WriterQueue(), []
    assert queue.acquire(False, 5)
    waits, original_wait = [], queue._cond.wait  # noqa: SLF001 - counting how often a writer is woken

    def counted_wait(timeout=None):
        waits.append(threading.current_thread().name)
        return original_wait(timeout)

    queue._cond.wait = counted_wait  # noqa: SLF001

    def writer() -> None:
        assert queue.acquire(False, 30)
        done.append(threading.current_thread().name)
        threading.Event().wait(0.02)  # a short transaction: the others are awake while it runs, if woken
        queue.release()

    threads = [threading.Thread(target=writer, name=f"writer-{n}") for n in range(6)]
    for t in threads:
        t.start()
    while queue.waiting() < 6:
        threading.Event().wait(0.005)
    queue.release()
    for t in threads:
        t.join()
    assert sorted(done) == sorted(t.name for t in threads)
    # Each waited once: a release woke only the writer that then took the turn (waking them
    # all made every other one wake, find the turn taken and wait again: 6 + 5 + ... + 1).
    assert len(waits) == 6


def test_a_writer_gives_up_waiting_after_its_timeout():
    queue = WriterQueue()
    assert queue.acquire(False, 1)
    assert queue.acquire(True, 0.05) is False  # then BEGIN waits in SQLite's own busy handler
    queue.release()
    assert queue.acquire(False, 0.05)


def test_every_way_a_write_transaction_ends_hands_the_turn_on(tmp_path, tracking):
    engine = make_engine(f"sqlite:///{tmp_path / 'q.db'}")
    sessions = make_session_factory(engine)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    queue = engine.writer_queue
    with sessions.begin() as session:  # commit
        session.execute(text("INSERT INTO t VALUES (1)"))
        assert queue.held
    assert not queue.held
    try:
        with sessions.begin() as session:  # rollback on an error
            session.execute(text("INSERT INTO t VALUES (2)"))
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert not queue.held
    session = sessions()  # a session closed without commit or rollback
    session.execute(text("INSERT INTO t VALUES (3)"))
    assert queue.held
    session.close()
    assert not queue.held
    with read_only(sessions)() as reader:  # readers never queue
        assert reader.scalar(text("SELECT count(*) FROM t")) == 1
        assert not queue.held
    done = threading.Event()

    def other_thread() -> None:
        with urgent_writes(), sessions.begin() as s:
            s.execute(text("INSERT INTO t VALUES (4)"))
        done.set()

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join(timeout=30)
    assert done.is_set() and not queue.held
    with sessions() as s:
        assert s.scalar(text("SELECT count(*) FROM t")) == 2
    engine.dispose()


def test_a_production_engine_has_no_listener_and_still_begins_immediate_or_deferred(tmp_path, monkeypatch):
    # One engine listener makes SQLAlchemy dispatch every connection, transaction and statement
    # event (about 40 us of CPU per connection use): BEGIN is the dialect's own, and only the
    # test suite tracks write transactions.
    monkeypatch.setattr(write_transactions, "_tracking", False)
    path = tmp_path / "m.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    assert not engine._has_events and not reading(engine)._has_events  # noqa: SLF001 - the flag SQLAlchemy checks

    other = sqlite3.connect(path, timeout=0, isolation_level=None)

    def other_can_write() -> bool:
        try:
            other.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return False
        other.execute("ROLLBACK")
        return True

    with engine.connect() as conn:  # the engine's transactions take the write lock at BEGIN
        conn.execute(text("SELECT count(*) FROM t")).scalar()
        assert engine.writer_queue.held and not other_can_write()
        conn.rollback()
    with reading(engine).connect() as conn:  # reading(engine)'s: a read snapshot only
        conn.execute(text("SELECT count(*) FROM t")).scalar()
        assert conn.in_transaction() and not engine.writer_queue.held and other_can_write()
    other.close()
    engine.dispose()


def test_a_locked_databases_begin_raises_sqlalchemys_operational_error(tmp_path, tracking):
    """BEGIN runs on the DBAPI connection (db.py), yet its failure is SQLAlchemy's wrapped error, as callers catch it."""
    import sqlite3

    import pytest
    from sqlalchemy import event, exc

    path = tmp_path / "locked.db"
    engine = make_engine(f"sqlite:///{path}")
    event.listen(engine, "connect", lambda dbapi_connection, _r: dbapi_connection.execute("PRAGMA busy_timeout=50"))  # not 10 s
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    other = sqlite3.connect(path, isolation_level=None)  # another process's writer holds the write lock
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(exc.OperationalError) as raised:
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (1)"))
        assert isinstance(raised.value.orig, sqlite3.OperationalError) and "locked" in str(raised.value.orig)
        assert not engine.writer_queue.held  # the turn was handed on
    finally:
        other.rollback()
        other.close()
    with engine.begin() as conn:  # and the engine writes once the lock is free
        conn.execute(text("INSERT INTO t VALUES (1)"))
    engine.dispose()
