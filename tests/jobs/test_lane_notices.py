"""The web's NOTIFY picks one live lane listener from a list it reads at most every second, checked in the statement (real PostgreSQL)."""
from __future__ import annotations

import uuid

import psycopg
import pytest
from sqlalchemy import create_engine

from conftest import _fresh_postgres_db
from scheduler.distributed import conninfo
from shopify_app.jobs import lane_notices
from shopify_app.jobs.lane_notices import LEAVING_NAME, LISTENER_NAME, notify_now, process_channel

pytestmark = pytest.mark.postgres


def listener(url: str, process: str) -> psycopg.Connection:
    """A lane listener's connection, as scheduler/lane_listener.py makes it (its own channel, then its name)."""
    conn = psycopg.connect(conninfo(url), autocommit=True)
    conn.execute(f"LISTEN {process_channel(process)}")
    conn.execute("SELECT set_config('application_name', %s, false)", (f"{LISTENER_NAME}:{process}",))
    return conn


def heard(conn: psycopg.Connection) -> int:
    return len(list(conn.notifies(timeout=0.5)))


def test_a_listener_gone_or_leaving_since_the_list_was_read_is_never_notified(postgres_server, monkeypatch) -> None:
    """The list still names them (read less than a second ago): every wake-up goes to the live listener all the same, and the list is read again."""
    monkeypatch.setattr(lane_notices, "LISTENERS_FRESH_SECONDS", 3600.0)  # the list read first stays, as within its second
    url = _fresh_postgres_db(postgres_server)
    engine = create_engine(url)
    live, leaving = listener(url, uuid.uuid4().hex), listener(url, uuid.uuid4().hex)
    try:
        with listener(url, uuid.uuid4().hex):  # a worker that dies after the list is read
            notify_now(engine, "orders")
        read_first = engine.lane_listeners
        assert len(read_first.rows) == 3
        leaving.execute("SELECT set_config('application_name', %s, false)", (f"{LEAVING_NAME}:x",))  # a worker that began to stop
        before = heard(live) + heard(leaving)  # the first wake-up: to one of the three
        for _ in range(20):
            notify_now(engine, "orders")
        assert (heard(live), heard(leaving), before <= 1) == (20, 0, True)
        assert engine.lane_listeners is not read_first  # a pick found gone: the list was read again
    finally:
        live.close()
        leaving.close()
        engine.dispose()


def test_the_list_is_read_again_after_its_second_so_a_new_worker_is_picked(postgres_server, monkeypatch) -> None:
    url = _fresh_postgres_db(postgres_server)
    engine = create_engine(url)
    first = listener(url, uuid.uuid4().hex)
    second = None
    try:
        notify_now(engine, "orders")
        assert heard(first) == 1
        second = listener(url, uuid.uuid4().hex)  # a worker that came up after the list was read
        monkeypatch.setattr(lane_notices, "LISTENERS_FRESH_SECONDS", -1.0)  # its second has passed
        for _ in range(20):
            notify_now(engine, "orders")
        to_first, to_second = heard(first), heard(second)
        assert to_first + to_second == 20 and to_second > 0  # one listener per wake-up, the new one among them
    finally:
        first.close()
        if second is not None:
            second.close()
        engine.dispose()
