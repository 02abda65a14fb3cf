"""Benchmark: what the inbox lane itself costs per delivery (issue 20 part L), load-independent.

The lane is everything the worker does around a handler: the claim, reading the row and its
body, the shop's status, finishing the row, the follow-up lease. This script runs the real
InboxWorker on a fresh SQLite file with two throwaway topics whose handler and prefetch do
nothing (one with a prefetch, as `orders/*` and `fulfillments/*` have, one without), and
counts per delivery: SQL statements, transactions (BEGIN) and ORM flushes, plus the CPU
time of the lane (process time, noisy on a shared machine; the counts are not), timed on a
second app whose engine has no counting listener (as in production).

    .venv/bin/python bench/inbox_lane.py            # 300 deliveries per case
    .venv/bin/python bench/inbox_lane.py --n 100
    .venv/bin/python bench/inbox_lane.py --finished 100000   # the look beside finished rows kept for retention

Then the look alone (the lanes' "anything due?", every wake-up and poll) beside --finished
finished rows (retention keeps them 30 days), with the partial index on pending rows and,
as the baseline in the same run, after dropping it.

Each case is drained the way the lane's threads see a live stream: one delivery per claim
(batch 1, each delivery is woken by its own intake) and a burst (batch 10).

Last, on a throwaway PostgreSQL (--held, 0 to skip): a scaled-out worker's look, which passes
over the orders another live worker process holds (jobs/order_holds.py), beside a backlog of
--held pending rows that all carry their order key (given back, retried) and three leased by
that process, in CPU of the database server: as it is now, with its LIMIT a parameter again
(PostgreSQL then planned each look afresh), and as the baseline in the same run as it was
before session 30 (also with the index 0044 replaced: every keyed pending row).

    .venv/bin/python bench/inbox_lane.py --n 10 --finished 0 --held 7000   # that part alone, nearly
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

os.environ.setdefault("SHOPIFY_API_KEY", "bench-key")

SHOP = "bench.myshopify.com"
# Targets from issue 20 part L: the lane's bookkeeping cut by well over half.
TARGET_STATEMENTS = {"prefetched, batch 1": 4, "plain, batch 1": 4}
# issue 20 part P: a delivery whose prefetch (leased only when calling out) calls nothing writes no lease.
TARGET_TRANSACTIONS = {"lease on call-out, batch 1": 3}


def build_app(path: str):
    """An app on a fresh SQLite file with one installed shop (no scheduler)."""
    from conftest import install_shop, make_settings
    from shopify_app.factory import create_app
    from shopify_app.migrate import upgrade_to_head

    upgrade_to_head(f"sqlite:///{path}")
    app = create_app(make_settings(f"sqlite:///{path}"))
    install_shop(app, SHOP)
    return app


def register_topics():
    """Two topics whose handler and prefetch do nothing: what is counted is the lane's own work."""
    from shopify_app.webhooks import registry

    registry.load_handlers()
    registry.HANDLERS["bench/plain"] = lambda ctx: None
    registry.HANDLERS["bench/prefetched"] = lambda ctx: None
    registry.PREFETCHES["bench/prefetched"] = lambda ctx: None
    # issue 20 part P: a prefetch leased only when it calls out (as orders/*), here never: a repeated snapshot.
    registry.HANDLERS["bench/lazy-lease"] = lambda ctx: None
    registry.PREFETCHES["bench/lazy-lease"] = lambda ctx: None
    registry.LAZY_LEASES.add("bench/lazy-lease")


def store(app, topic: str, n: int) -> None:
    """Record n deliveries of `topic` through the intake's own insert (a 13 KB body, like an order's)."""
    from shopify_app.webhooks.inbox import IncomingWebhook

    services = app.extensions["services"]
    body = json.dumps({"id": 1, "note": "x" * 13_000})
    for i in range(n):
        services.record_webhook(IncomingWebhook(webhook_id=f"{topic}-{i}-{random.random()}", shop_domain=SHOP, topic=topic, body=body))


class Counter:
    """SQL statements, BEGINs and ORM flushes seen on the engine and sessions."""

    def __init__(self, engine):
        from sqlalchemy import event
        from sqlalchemy.orm import Session

        self.statements = self.begins = self.flushes = 0
        # Transactions by the engine's begin event: db.py runs SQLite's BEGIN on the DBAPI connection (no statement event).
        self._listeners = [(engine, "before_cursor_execute", self._statement), (engine, "begin", self._begin), (Session, "after_flush", self._flush)]
        for target, name, fn in self._listeners:
            event.listen(target, name, fn)

    def _statement(self, conn, cursor, statement, *args):
        if not statement.lstrip().upper().startswith("BEGIN"):  # PostgreSQL's BEGIN is counted by its begin event
            self.statements += 1

    def _begin(self, conn):
        self.begins += 1

    def _flush(self, *args):
        self.flushes += 1

    def close(self):
        from sqlalchemy import event

        for target, name, fn in self._listeners:
            event.remove(target, name, fn)


def drain_all(app, topic: str, n: int, batch: int) -> tuple[int, float]:
    """Drain n stored deliveries of `topic`, `batch` per claim: (handled, CPU seconds of the drain)."""
    from shopify_app.webhooks.worker import InboxWorker

    services = app.extensions["services"]
    worker = InboxWorker(services.session_factory, services.settings, services, rng=random.Random(1))
    cpu = time.process_time()
    handled = 0
    while handled < n:
        report = worker.drain(batch_size=batch, max_batches=1)
        if not report.handled:
            break
        handled += report.handled
    return handled, time.process_time() - cpu


def run_case(app, timed_app, topic: str, n: int, batch: int) -> dict:
    """Drain n deliveries of `topic`, `batch` per claim, twice: counts per delivery on `app`, the CPU on `timed_app`.

    The counters are engine listeners, and an engine with a listener (even one removed since)
    dispatches every event; production engines have none (session 30 part C), nor has `timed_app`'s.
    """
    store(app, topic, n)
    counter = Counter(app.extensions["services"].engine)
    try:
        handled, _ = drain_all(app, topic, n, batch)
    finally:
        counter.close()
    store(timed_app, topic, n)
    _, cpu = drain_all(timed_app, topic, n, batch)
    return {"handled": handled, "statements": counter.statements / n, "transactions": counter.begins / n,
            "flushes": counter.flushes / n, "cpu_ms": 1000 * cpu / n}


def fill_finished(app, n: int) -> None:
    """n finished deliveries (a month of a busy shop's webhooks kept for retention), inserted in bulk."""
    from shopify_app.models import utcnow
    from shopify_app.webhooks.worker import INBOX

    now = utcnow()
    with app.extensions["services"].engine.begin() as conn:
        for start in range(0, n, 10_000):
            conn.execute(INBOX.insert(), [{"webhook_id": f"old-{i}", "event_key": f"old-{i}", "shop_domain": SHOP, "topic": "orders/paid", "body": "{}",
                                           "received_at": now, "next_attempt_at": now, "status": "done", "attempts": 1, "delivery_count": 1}
                                          for i in range(start, min(n, start + 10_000))])


def look_ms(app, looks: int = 200, bound_limit: bool = False) -> float:
    """CPU ms of one look for due rows (an idle inbox: the answer is 'nothing'); `bound_limit`: its LIMIT a parameter, as before session 30."""
    from sqlalchemy import bindparam

    from shopify_app.models import utcnow
    from shopify_app.webhooks.worker import InboxWorker

    services = app.extensions["services"]
    worker = InboxWorker(services.session_factory, services.settings, services)
    statement = worker._look.limit(bindparam("batch")) if bound_limit else worker._candidates(10)
    cpu = time.process_time()
    with services.engine.connect() as conn:
        for _ in range(looks):
            conn.execute(statement, {"now": utcnow(), "batch": 10}).all()
    return 1000 * (time.process_time() - cpu) / looks


def look_beside_finished(app, n: int) -> tuple[float, float, float]:
    """Look ms beside n finished rows: (with the pending-rows index; without it, as before session 29; without it, LIMIT a number)."""
    from sqlalchemy import text

    fill_finished(app, n)
    engine = app.extensions["services"].engine
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    indexed = look_ms(app)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_webhook_inbox_pending"))
    # With its LIMIT a number (session 30), SQLite finds the pending rows through (status, next_attempt_at) and sorts them
    # even without the index: the baseline is the look as it was before the index (LIMIT a parameter: the primary key walked).
    return indexed, look_ms(app, bound_limit=True), look_ms(app)


HELD_BY_OTHER = 3  # rows leased by another live worker process among the backlog
HELD_CASES = {"now": "ix_webhook_inbox_leased_held, LIMIT a number in the SQL",
              "LIMIT a parameter": "ix_webhook_inbox_leased_held, LIMIT a parameter",
              "before": "ix_webhook_inbox_held, LIMIT a parameter (before session 30, baseline)"}


def held_look_us(pending: int, looks: int = 300) -> dict[str, float]:
    """Database CPU us of one holding look beside `pending` keyed rows: {"now", "LIMIT a parameter", "before"} (see HELD_CASES)."""
    import datetime as dt
    import uuid

    import psycopg
    from pg_server import start_postgres
    from sqlalchemy import bindparam, create_engine, text
    from sqlalchemy.orm import sessionmaker

    from scheduler.distributed import conninfo
    from shopify_app.jobs.lane_notices import LISTENER_NAME
    from shopify_app.migrate import upgrade_to_head
    from shopify_app.models import utcnow
    from shopify_app.webhooks.worker import INBOX, InboxWorker

    server = start_postgres()
    try:
        admin = create_engine(server.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text('CREATE DATABASE "held"'))
        admin.dispose()
        url = server.database_url("held")
        upgrade_to_head(url)
        engine = create_engine(url)
        now, holder = utcnow(), uuid.uuid4().hex
        with engine.begin() as conn:
            conn.execute(INBOX.insert(), [{"webhook_id": f"w{i}", "event_key": f"e{i}", "shop_domain": f"s{i % 50}.myshopify.com", "topic": "orders/updated",
                                           "body": "{}", "received_at": now, "next_attempt_at": now, "status": "pending", "attempts": 1, "delivery_count": 1,
                                           "hold_key": f"order-{i}", "lease_owner": f"{holder}:lane" if i < HELD_BY_OTHER else None,
                                           "lease_until": now + dt.timedelta(hours=1) if i < HELD_BY_OTHER else None} for i in range(pending)])
            conn.execute(text("ANALYZE"))
        worker = InboxWorker.__new__(InboxWorker)  # only the statements the constructor builds
        InboxWorker.__init__(worker, sessionmaker(bind=engine), settings=None, lease_on_claim=True, process=uuid.uuid4().hex)
        bound_limit = worker._look.limit(bindparam("batch"))  # the look before this session: PostgreSQL planned it per look

        def look_us(statement) -> float:
            engine.dispose()  # a fresh connection: no prepared statement or plan of another case
            with engine.connect() as conn:
                backend = Path(f"/proc/{conn.connection.dbapi_connection.info.backend_pid}/schedstat")
                for _ in range(20):  # psycopg prepares it after 5, PostgreSQL settles its plan after 5 more
                    conn.execute(statement, {"now": utcnow(), "batch": 10}).all()
                started = int(backend.read_text().split()[0])
                for _ in range(looks):
                    conn.execute(statement, {"now": utcnow(), "batch": 10}).all()
                return (int(backend.read_text().split()[0]) - started) / looks / 1e3

        figures = {}
        with psycopg.connect(conninfo(url), autocommit=True, application_name=f"{LISTENER_NAME}:{holder}"):  # the holder is alive
            figures["now"], figures["LIMIT a parameter"] = look_us(worker._candidates(10)), look_us(bound_limit)
            with engine.begin() as conn:  # the index 0044 replaced
                conn.execute(text("CREATE INDEX ix_webhook_inbox_held ON webhook_inbox (shop_domain, hold_key) WHERE status = 'pending' AND hold_key IS NOT NULL"))
                conn.execute(text("DROP INDEX ix_webhook_inbox_leased_held"))
                conn.execute(text("ANALYZE webhook_inbox"))
            figures["before"] = look_us(bound_limit)
        engine.dispose()
        return figures
    finally:
        server.stop()


def main(argv=None) -> int:
    """Run the topics at batch 1 and 10; print the table and the targets."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--finished", type=int, default=100_000, help="finished rows beside the look (0: skip that part)")
    parser.add_argument("--held", type=int, default=7_000, help="keyed pending rows beside the holding look on PostgreSQL (0: skip that part)")
    options = parser.parse_args(argv)
    register_topics()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        app, timed_app = build_app(os.path.join(tmp, "lane.db")), build_app(os.path.join(tmp, "timed.db"))
        try:
            for label, topic in (("prefetched", "bench/prefetched"), ("plain", "bench/plain"), ("lease on call-out", "bench/lazy-lease")):
                for batch in (1, 10):
                    results[f"{label}, batch {batch}"] = run_case(app, timed_app, topic, options.n, batch)
            look = look_beside_finished(app, options.finished) if options.finished else None
        finally:
            app.extensions["services"].close()
            timed_app.extensions["services"].close()
    held = held_look_us(options.held) if options.held else None
    print(f"load: {os.getloadavg()[0]:.1f}  deliveries per case: {options.n}")
    print(f"{'case':<29} {'statements':>10} {'transactions':>12} {'flushes':>8} {'lane CPU ms':>12}")
    for label, r in results.items():
        print(f"{label:<29} {r['statements']:>10.2f} {r['transactions']:>12.2f} {r['flushes']:>8.2f} {r['cpu_ms']:>12.3f}")
    if look:
        print(f"look for due rows beside {options.finished:,} finished rows: {look[0]:.3f} ms CPU with ix_webhook_inbox_pending, "
              f"{look[1]:.3f} ms without it and its LIMIT a parameter (baseline, same run): {look[1] / max(look[0], 1e-9):.0f}x; "
              f"without it, LIMIT a number: {look[2]:.3f} ms")
    if held:
        print(f"holding look beside {options.held:,} keyed pending rows ({HELD_BY_OTHER} held by another process), PostgreSQL, database CPU us per look:")
        for case, label in HELD_CASES.items():
            print(f"  {label:<72} {held[case]:8.1f}")
    print("targets")
    if held:
        print(f"  holding look beside {options.held:,} keyed pending rows <= 1/3 of the baseline: {held['now']:.1f} vs {held['before']:.1f} us: "
              f"{'MET' if held['now'] * 3 <= held['before'] else 'MISSED'}")
    if look:
        print(f"  look beside {options.finished:,} finished rows <= 1/10 of the baseline: {look[0]:.3f} vs {look[1]:.3f} ms: "
              f"{'MET' if look[0] * 10 <= look[1] else 'MISSED'}")
    for label, limit in TARGET_STATEMENTS.items():
        figure = results[label]["statements"]
        print(f"  lane statements per delivery, {label}: {figure:.2f} <= {limit}: {'MET' if figure <= limit else 'MISSED'}")
    for label, limit in TARGET_TRANSACTIONS.items():
        figure = results[label]["transactions"]
        print(f"  lane transactions per delivery, {label}: {figure:.2f} <= {limit}: {'MET' if figure <= limit else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
