"""The lanes' look finds pending rows through their own index, not by walking the finished rows kept for retention.

Finished deliveries stay 30 days (webhooks/retention.py): a busy shop keeps hundreds of
thousands. The look (`status = 'pending' ... ORDER BY id LIMIT n`) walked the primary key
past all of them on every wake-up and poll (12 ms a look at 100,000 rows on SQLite).
"""
from __future__ import annotations

import datetime as dt

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


def _plan(engine, statement, params) -> str:
    compiled = statement.compile(engine)
    values = compiled.construct_params(params)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), tuple(values[name] for name in compiled.positiontup)).all()
            return "\n".join(row[-1] for row in rows)
        return "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + str(compiled), values).all())


def test_the_look_reads_pending_rows_through_their_partial_index(database_url) -> None:
    engine = create_engine(database_url)
    try:
        _fill(engine)
        worker = InboxWorker.__new__(InboxWorker)  # only the statements the constructor builds
        InboxWorker.__init__(worker, _factory(engine), settings=None)
        plan = _plan(engine, worker._candidates, {"now": utcnow() + dt.timedelta(seconds=1), "batch": 10})
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


def _look(engine, worker):
    with engine.connect() as conn:
        return conn.execute(worker._candidates, {"now": utcnow() + dt.timedelta(seconds=1), "batch": 10}).all()
