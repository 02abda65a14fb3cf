"""No statement the app runs per order, per event or per periodic job reads a whole history table.

Neither SQLite nor PostgreSQL indexes a foreign key by itself, so a lookup by a parent row or a
foreign id silently reads the whole table and grows with the shops' history (migrations 0049/0050).
This guard runs the end-to-end tests of the main flows in a child pytest with tests/db/scan_capture.py
loaded, on SQLite and on PostgreSQL: it records the query plan of every distinct statement the app's own
code issued (the tests' own queries are left out), and fails listing every `SCAN <table>` of a table that
grows. On PostgreSQL the plan is asked with sequential scans off (see scan_capture.py): a table read whole
then is one no index can serve, whatever the planner would choose on the test's tiny tables.
"""
from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]

# The flows the app runs per order and per periodic job, through the existing end-to-end tests:
# orders/create -> routing -> forwarding -> supplier events -> parcels -> fulfillment push; a return
# (intake, decisions, the supplier's RMA and receipt, restock, refund); the reconciliation checks;
# stock feeds; the inventory sync; the 5-minute jobs of delays and customer notices; the KPI snapshots;
# the customer's order page in the store; carriers' delivery events.
FLOWS = (
    "tests/orders/test_order_loop.py",
    "tests/returns/test_returns_flow.py",
    "tests/reconcile/test_reconcile.py",
    "tests/inventory/test_stock_feeds.py",
    "tests/inventory/test_inventory_sync.py",
    "tests/orders/test_delays_and_notices.py",
    "tests/orders/test_delay_candidates.py",
    "tests/notify/test_customer_notice_lifecycle.py",
    "tests/kpis/test_snapshots.py",
    "tests/proxy/test_order_page.py",
    "tests/deliveries/test_delivery_status.py",
)

# Tables that stay tiny (one row a shop, a supplier, a location, a setting): a scan of them is fine.
# Every other table of the schema is guarded, so a new table is guarded until someone says otherwise.
SMALL_TABLES = {
    "alembic_version", "shops", "shop_settings", "shop_tokens", "suppliers", "managed_locations", "notice_settings",
    "oauth_states", "rate_counters", "state_counts", "kpi_stale_days", "edi_control_counters", "install_backfills",
    "as2_endpoints", "as2_identities", "email_mailboxes", "compliance_exports",
}

# Scans of growing tables that are right, each with why: (dialect, the app's file, the table).
ALLOWED_SCANS: dict[tuple[str, str, str], str] = {
    ("postgresql", "shopify_app/inventory/plan.py", "product_mappings"):
        "pending_units joins a shop's open supplier orders' lines to its mappings: on the test's empty tables the planner"
        " keeps supplier_id as a filter of ix_product_mappings_supplier_sku (supplier_id, supplier_sku) and conditions"
        " supplier_sku only; the index serves both columns (SQLite's plan uses both).",
}


def _growing_tables(database: Path) -> set[str]:
    with sqlite3.connect(database) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
    return tables - SMALL_TABLES


def _captured(tmp_path: Path) -> list[dict]:
    """Every distinct statement of the flows with its plan, both dialects, from one child run."""
    out = tmp_path / "plans.jsonl"
    env = {**os.environ, "SCAN_CAPTURE_OUT": str(out), "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "tests" / "db"), os.environ.get("PYTHONPATH")]))}
    env.pop("PYTEST_XDIST_WORKER", None)  # the child is a whole run of its own
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", "-p", "scan_capture",
                          "-o", "addopts=", *FLOWS], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def _whole_reads(plans: list[dict], dialect: str, growing: set[str]) -> tuple[list[str], set]:
    """The statements of `dialect` reading a whole growing table (allow-listed ones apart); the allow-list entries met."""
    scans, allowed_seen = [], set()
    for row in plans:
        for step in row["plan"]:
            match = re.match(r"\s*SCAN (\w+)", step)
            if not match or match.group(1) not in growing:
                continue
            key = (dialect, row["where"].rsplit(":", 1)[0], match.group(1))
            if key in ALLOWED_SCANS:
                allowed_seen.add(key)
                continue
            scans.append(f"{dialect} {row['where']}: {step.strip()}\n    {' '.join(row['statement'].split())[:400]}")
    return scans, allowed_seen


def test_no_hot_statement_reads_a_whole_history_table(tmp_path, migrated_sqlite_template):
    # One test for both databases: the child run (about 100 s) records both dialects' plans at once.
    growing = _growing_tables(migrated_sqlite_template)  # the same schema on both
    captured = _captured(tmp_path)
    scans, allowed_seen = [], set()
    for dialect in ("sqlite", "postgresql"):
        plans = [row for row in captured if row["dialect"] == dialect]
        assert len(plans) > 150, f"only {len(plans)} {dialect} statements captured: is the capture still on?"
        failed = [row for row in plans for step in row["plan"] if step.startswith("EXPLAIN FAILED")]
        assert not failed, failed
        found, seen = _whole_reads(plans, dialect, growing)
        scans += found
        allowed_seen |= seen
    assert not scans, "statements reading a whole growing table:\n" + "\n".join(scans)
    assert allowed_seen == set(ALLOWED_SCANS), f"allow-list entries no flow hits any more: {set(ALLOWED_SCANS) - allowed_seen}"
