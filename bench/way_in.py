"""Benchmark: an order's way in, in process (issue 20 part P): its four `orders/*` webhooks from POST to handled.

Each order is `orders/create` (paid), `orders/paid` with the same snapshot, then `orders/updated`
and `orders/fulfilled` once it was sent (as bench/order_handlers_sql.py drives them: SQLite,
Shopify's fulfillment-order reads answered in process). Counted per order over everything the
app runs: the intake's POST, the inbox lane, the prefetch and the handler: SQL statements,
transactions (BEGIN), commits (each an fsync on SQLite) and CPU (process time, noisy on a
shared machine; the counts are not).

The baseline runs in the same process, interleaved round by round: POST /webhooks through
Flask's request handling, and every orders/* delivery leased at its claim (what main did before
part P). The driver's own write (marking the order sent) is one transaction and commit per
order in both.

    .venv/bin/python bench/way_in.py            # 4 rounds of 40 orders each way
    .venv/bin/python bench/way_in.py --orders 20 --rounds 2
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "tests" / "orders"), str(REPO / "bench")]

from sqlalchemy import event  # noqa: E402

import order_handlers_sql as kit  # noqa: E402
from shopify_app.webhooks import registry  # noqa: E402
from shopify_app.webhooks.intake import WebhookIntakeMiddleware  # noqa: E402

TARGET_COMMITS = 10  # per order's four orders/* webhooks, the driver's one included (main: 13)


class Meter:
    """Statements, BEGINs and commits on the engine."""

    def __init__(self, engine):
        self.statements = self.begins = self.commits = 0
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "begin", self._begin)  # db.py runs SQLite's BEGIN on the DBAPI connection (no statement event)
        event.listen(engine, "commit", self._commit)

    def _statement(self, conn, cursor, statement, *args):
        if not statement.lstrip().upper().startswith("BEGIN"):
            self.statements += 1

    def _begin(self, conn):
        self.begins += 1

    def _commit(self, conn):
        self.commits += 1

    def snapshot(self) -> tuple[int, int, int]:
        return self.statements, self.begins, self.commits


def set_mode(app, baseline: bool, lazy: set[str], fast, flask_path) -> None:
    """Baseline: POST /webhooks through Flask and orders/* leased at the claim; else the app as built."""
    registry.LAZY_LEASES.clear()
    if not baseline:
        registry.LAZY_LEASES.update(lazy)
    app.wsgi_app = flask_path if baseline else fast


def main(argv=None) -> int:
    """Interleave baseline and current rounds; print per-order figures and the targets."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=40, help="orders per round")
    parser.add_argument("--rounds", type=int, default=4, help="rounds each way")
    options = parser.parse_args(argv)
    totals = {"baseline": [0, 0, 0, 0.0, 0], "current": [0, 0, 0, 0.0, 0]}
    with tempfile.TemporaryDirectory() as tmp:
        app = kit.build_app(Path(tmp))
        fast = app.wsgi_app
        assert isinstance(fast, WebhookIntakeMiddleware), "the app serves POST /webhooks outside Flask"
        flask_path = fast.wsgi_app
        lazy = set(registry.LAZY_LEASES)
        meter = Meter(app.extensions["services"].session_factory.kw["bind"])
        number = 100_000
        for warm in (True, False):  # warm-up: statement caches and imports, both ways
            set_mode(app, warm, lazy, fast, flask_path)
            for _ in range(3):
                kit.one_order(app, number)
                number += 1
        for _ in range(options.rounds):
            for mode in ("baseline", "current"):
                set_mode(app, mode == "baseline", lazy, fast, flask_path)
                before, cpu = meter.snapshot(), time.process_time()
                for _ in range(options.orders):
                    kit.one_order(app, number)
                    number += 1
                cpu = time.process_time() - cpu
                after = meter.snapshot()
                figures = totals[mode]
                for i in range(3):
                    figures[i] += after[i] - before[i]
                figures[3] += cpu
                figures[4] += options.orders
        set_mode(app, False, lazy, fast, flask_path)
        app.extensions["services"].close()
    print(f"load: {os.getloadavg()[0]:.1f}  orders per way: {totals['current'][4]} ({options.rounds} interleaved rounds)")
    print(f"{'per order (4 orders/* webhooks)':<34} {'statements':>10} {'BEGINs':>8} {'commits':>8} {'CPU ms':>8}")
    per = {}
    for mode, (statements, begins, commits, cpu, n) in totals.items():
        per[mode] = (statements / n, begins / n, commits / n, cpu / n * 1000)
        print(f"{mode:<34} {per[mode][0]:>10.2f} {per[mode][1]:>8.2f} {per[mode][2]:>8.2f} {per[mode][3]:>8.2f}")
    ratio = per["current"][3] / per["baseline"][3]
    print("targets")
    print(f"  commits per order: {per['current'][2]:.2f} <= {TARGET_COMMITS}: {'MET' if per['current'][2] <= TARGET_COMMITS else 'MISSED'}")
    print(f"  CPU per order vs baseline: {ratio:.2f}x < 1: {'MET' if ratio < 1 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
