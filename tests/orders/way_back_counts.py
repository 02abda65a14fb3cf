"""Harness (not a test module by name): SQL statements, transactions and flushes per order in part W's stages.

Run: python -m pytest -q -s tests/orders/way_back_counts.py -p no:cacheprovider -k sqlite
"""
from __future__ import annotations

import collections
import json
import threading
import time

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from conftest import API_KEY, API_SECRET
from forwarding_kit import SHOP, add_printful_supplier, deliveries
from sandbox.supplier.printful import SandboxSupplier
from shopify_app.suppliers.forwarding import ForwardingWorker
from shopify_app.suppliers.models import Supplier
from shopify_app.webhooks.worker import InboxWorker

import os
ORDERS = int(os.environ.get('ORDERS', 5))
DUMP = os.environ.get('DUMP') == '1'


def _app_cpu() -> float:
    """CPU seconds of the app's own threads here: this one (the drains and their follow-ups) and the forwarding pool's."""
    total = time.thread_time()
    tick = os.sysconf("SC_CLK_TCK")
    for thread in threading.enumerate():
        if not thread.name.startswith("forwarding"):
            continue
        try:
            with open(f"/proc/self/task/{thread.native_id}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        except OSError:
            continue
    return total


class _GcTime:
    """Seconds spent in the cyclic garbage collector (all threads), by generation."""

    def __init__(self):
        import gc
        self.total = collections.Counter()
        self._start = None
        gc.callbacks.append(self._cb)

    def _cb(self, phase, info):
        if phase == "start":
            self._start = time.perf_counter()
        elif self._start is not None:
            self.total[info["generation"]] += time.perf_counter() - self._start


GC = _GcTime()


class Counter:
    def __init__(self):
        self.c = collections.Counter()
        self.kinds = collections.Counter()
        self.on = False
        event.listen(Engine, "before_cursor_execute", self._stmt)
        event.listen(Engine, "commit", self._commit)
        event.listen(Engine, "begin", self._begin)
        event.listen(Session, "after_flush", self._flush)

    def _stmt(self, conn, cursor, statement, params, context, executemany):
        if self.on:
            self.c["statements"] += 1
            self.kinds[statement.split()[0].upper()] += 1
            if DUMP:
                import traceback
                frames = [f for f in traceback.extract_stack() if "/shopify_app/" in f.filename or "/integrations/" in f.filename]
                where = " < ".join(f"{f.filename.split('/')[-1]}:{f.name}" for f in frames[-3:][::-1])
                print("   ", " ".join(statement.split())[:110], "||", where)

    def _commit(self, conn):
        if self.on:
            self.c["commits"] += 1

    def _begin(self, conn):
        if self.on:
            self.c["begins"] += 1

    def _flush(self, session, ctx):
        if self.on:
            self.c["flushes"] += 1

    def run(self, label, fn):
        self.c.clear(); self.kinds.clear(); self.on = True
        cpu = time.process_time()  # the whole process, with the in-process sandboxes (Shopify's GraphQL execution is most of it)
        app = _app_cpu()
        gc0 = dict(GC.total)
        profile = None
        if os.environ.get("PROFILE") and os.environ["PROFILE"] in label:
            import cProfile
            profile = cProfile.Profile(time.thread_time)  # CPU of this thread, not the wait for answers
            profile.enable()
        try:
            fn()
        finally:
            self.on = False
            cpu = time.process_time() - cpu
            if profile is not None:
                profile.disable()
                import pstats
                pstats.Stats(profile).sort_stats(os.environ.get("SORT", "cumulative")).print_stats(60)
            app = _app_cpu() - app
        print(f"{label:<28} " + " ".join(f"{k}={v / ORDERS:.1f}" for k, v in sorted(self.c.items())) + f" cpu_ms={1000 * cpu / ORDERS:.2f} app_cpu_ms={1000 * app / ORDERS:.2f} gc_ms=" + "/".join(f"{1000 * (GC.total[g] - gc0.get(g, 0)) / ORDERS:.2f}" for g in range(3))
              + "  | " + " ".join(f"{k}={v / ORDERS:.1f}" for k, v in sorted(self.kinds.items())))


def test_counts(sandboxed_app, sandbox_shopify):
    app = sandboxed_app
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    app_url = f"http://127.0.0.1:{server.server_port}"
    sandbox_shopify.register_app(API_KEY, API_SECRET, app_url, webhook_topics=["orders/create", "orders/paid", "orders/updated", "fulfillments/create"])
    services = app.extensions["services"]
    services.tokens.save(SHOP, sandbox_shopify.issue_access_token(SHOP, API_KEY)["access_token"], None, None, None, "write_orders")
    supplier = SandboxSupplier(); supplier.start()
    supplier_id = add_printful_supplier(app, supplier, skus=("TEE-S", "MUG-WHT"), timeout=10)
    secret = supplier.configure_webhooks(f"{app_url}/suppliers/{supplier_id}/webhooks").secret_key
    with services.session_factory.begin() as session:
        session.get(Supplier, supplier_id).credentials_enc = services.box.encrypt(json.dumps({"token": supplier.token, "webhook_secret_key": secret}))
    drain = lambda: InboxWorker(services.session_factory, services.settings, services).drain()
    counter = Counter()
    try:
        for _ in range(ORDERS):
            sandbox_shopify.place_order(SHOP, [{"sku": "TEE-S", "quantity": 1}], email="buyer@example.com")
        drain()
        counter.run("placing (forwarding drain)", lambda: ForwardingWorker(services.session_factory, services.box).drain())
        supplier.flush_webhooks()
        counter.run("supplier events after place", drain)
        for d in deliveries(app):
            supplier.ship(d.supplier_order_id, tracking_number=f"1Z{d.id}", carrier="UPS")
        supplier.flush_webhooks()
        counter.run("shipment event + push", drain)
        sandbox_shopify.webhooks.flush() if hasattr(sandbox_shopify.webhooks, "flush") else None
        counter.run("fulfillments/* webhooks", drain)
        assert all(d.state == "shipped" for d in deliveries(app))
    finally:
        supplier.stop(); server.shutdown()
