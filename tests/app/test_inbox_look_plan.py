"""The lanes' look finds pending rows through their own index, not by walking the finished rows kept for retention.

Finished deliveries stay 30 days (webhooks/retention.py): a busy shop keeps hundreds of
thousands. The look (`status = 'pending' ... ORDER BY id LIMIT n`) walked the primary key
past all of them on every wake-up and poll (12 ms a look at 100,000 rows on SQLite).
"""
from __future__ import annotations

import datetime as dt
import uuid

import psycopg
import pytest
from sqlalchemy import create_engine, text

from shopify_app.models import utcnow
from shopify_app.webhooks.worker import INBOX, InboxWorker

FINISHED_ROWS = 20_000


def _fill(engine) -> None:
    now = utcnow()
    rows = [{"webhook_id": f"w{i}", "event_key": f"e{i}", "shop_domain": "busy.myshopify.com", "topic": "orders/paid", "body": "{}",
             "received_at": now, "next_attempt_at": now, "status": "done" if i < FINISHED_ROWS else "pending", "attempts": 0, "delivery_count": 1}
            for i in range(FINISHED_ROWS + 3)]
    with engine.begin() as conn:
        conn.execute(INBOX.insert(), rows)
        conn.execute(text("ANALYZE"))


def _expanded(engine, statement, params):
    """The statement as the driver gets it (its LIMIT is rendered as a number at execution): .statement, .parameters, .positiontup."""
    return statement.compile(engine).construct_expanded_state(params)


def _plan(engine, statement, params) -> str:
    state = _expanded(engine, statement, params)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + state.statement, tuple(state.parameters[name] for name in state.positiontup)).all()
            return "\n".join(row[-1] for row in rows)
        return "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + state.statement, state.parameters).all())


def test_the_look_reads_pending_rows_through_their_partial_index(database_url) -> None:
    engine = create_engine(database_url)
    try:
        _fill(engine)
        worker = InboxWorker.__new__(InboxWorker)  # only the statements the constructor builds
        InboxWorker.__init__(worker, _factory(engine), settings=None)
        plan = _plan(engine, worker._candidates(10), {"now": utcnow() + dt.timedelta(seconds=1), "batch": 10})
        if engine.dialect.name == "sqlite":
            assert "ix_webhook_inbox_pending" in plan, plan  # it was "SCAN webhook_inbox": every row in rowid order
        else:  # PostgreSQL may also take the (status, next_attempt_at) index: either reads pending rows only
            assert "Seq Scan on webhook_inbox" not in plan and "webhook_inbox_pkey" not in plan, plan
        found = [row.id for row in _look(engine, worker)]
        assert len(found) == 3  # and it still finds exactly the pending rows
    finally:
        engine.dispose()


def _factory(engine):
    from sqlalchemy.orm import sessionmaker

    return sessionmaker(bind=engine)


def _look(engine, worker, now=None):
    with engine.connect() as conn:
        return conn.execute(worker._candidates(10), {"now": (now or utcnow()) + dt.timedelta(seconds=1), "batch": 10}).all()


PENDING_ROWS = 7_000


def _rows_read(plan: dict, alias: str) -> int:
    """Rows the plan's scans of `alias` read (returned or filtered out), over all loops."""
    node = plan
    read = 0
    if node.get("Alias") == alias:
        read += (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0) + node.get("Rows Removed by Index Recheck", 0)) * node.get("Actual Loops", 1)
    return read + sum(_rows_read(child, alias) for child in node.get("Plans", ()))


@pytest.mark.postgres
def test_the_holding_look_reads_only_the_leased_rows_for_other_processes_holds(postgres_server, migrated_postgres_template) -> None:
    """A backlog where every pending row carries its order key (given back, retried) and three are leased by another live process.

    The look's anti-join (order_holds.not_held_elsewhere) read all 7,000 pending rows for the
    three held ones (a sequential scan: the index of keyed pending rows held them all).
    """
    from conftest import _migrated_postgres_db
    from scheduler.distributed import conninfo
    from shopify_app.jobs.lane_notices import LISTENER_NAME

    url = _migrated_postgres_db(postgres_server, migrated_postgres_template)
    engine = create_engine(url)
    now, holder = utcnow(), uuid.uuid4().hex
    leased = {"lease_owner": f"{holder}:lane", "lease_until": now + dt.timedelta(seconds=60)}
    # Rows 0-2: given back to the holder (its orders 0-2); rows 3-5: the holder's rows in hand; then the backlog.
    rows = [{"webhook_id": f"w{i}", "event_key": f"e{i}", "shop_domain": f"s{i % 50}.myshopify.com", "topic": "orders/updated", "body": "{}",
             "received_at": now, "next_attempt_at": now, "status": "pending", "attempts": 1, "delivery_count": 1,
             "hold_key": f"order-{i - 3 if 3 <= i < 6 else i}", **(leased if 3 <= i < 6 else {"lease_owner": None, "lease_until": None})}
            for i in range(PENDING_ROWS)]
    for i in range(3):
        rows[i]["shop_domain"] = rows[i + 3]["shop_domain"]
    try:
        with engine.begin() as conn:
            conn.execute(INBOX.insert(), rows)
            conn.execute(text("ANALYZE"))
        with psycopg.connect(conninfo(url), autocommit=True, application_name=f"{LISTENER_NAME}:{holder}"):  # the holder is alive
            worker = InboxWorker.__new__(InboxWorker)
            InboxWorker.__init__(worker, _factory(engine), settings=None, lease_on_claim=True, process=uuid.uuid4().hex)
            assert worker.holds_orders
            params = {"now": now + dt.timedelta(seconds=1), "batch": 10}
            state = _expanded(engine, worker._candidates(10), params)
            with engine.connect() as conn:
                plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + state.statement, state.parameters).scalar()[0]["Plan"]
            read = _rows_read(plan, "other")
            assert read <= 10, (read, plan)  # the three leased rows (it was every pending row: 7,000)
            found = [row.id for row in _look(engine, worker, now)]
            with engine.connect() as conn:  # the lane's looks on one pooled connection: prepared by psycopg after 5
                for _ in range(15):
                    conn.execute(worker._candidates(10), params).all()
                plans = conn.execute(text("SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE '%NOT EXISTS%'")).one()
            # Planned once and reused: each custom plan cost 0.45 ms of planning beside 0.1 ms of running it (bench/inbox_lane.py).
            # PostgreSQL kept planning it per look while the LIMIT was a parameter (its generic plan, costed for 10 % of the rows, looked dearer).
            assert plans.generic_plans >= 5 and plans.custom_plans <= 5, plans
        with engine.connect() as conn:
            ids = conn.execute(text("SELECT id FROM webhook_inbox ORDER BY id")).scalars().all()
        assert found == ids[6:16]  # the held orders' rows are passed over, the backlog behind them found
    finally:
        engine.dispose()
