"""The world of the order-flow benchmark: sandbox Shopify, Printful sandbox, the app, and the probes.

One `World` is one phase's set-up, fresh each time:
  - the sandbox Shopify and the Printful sandbox run in THIS process (threaded werkzeug
    servers on 127.0.0.1), so every timestamp below comes from one clock, time.monotonic();
  - the app runs in its own process: gunicorn, 1 gthread worker, create_app() with
    RUN_SCHEDULER=1, so the inbox pump and the forwarding pump run in that worker;
  - its SQLite file (WAL, synchronous=FULL) is migrated and seeded from here before the
    app starts: the shop installed with a sandbox token, the Printful supplier with
    encrypted credentials and SKU mappings, the supplier's webhooks pointed at the app.

Probes (all in this process, none in the app):
  - `ShopifyWebhookProbe`: the sandbox's webhook sender gets an httpx client whose event
    hooks note when each delivery's request is written and when its answer comes back;
  - `SupplierProbe`: an OrderBook listener notes when each order is created and confirmed
    at the supplier; a wrapper on OrderBook.create counts creates refused because the
    external_id was taken (409); a shipper thread ships each confirmed order after
    `ship_delay` seconds (one parcel, everything), so its webhooks flow back to the app;
  - `FulfillmentProbe`: polls the sandbox store every few ms and notes when each order's
    displayFulfillmentStatus first reads FULFILLED.
"""
from __future__ import annotations

import collections
import heapq
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.servers import HOST, REPO, GunicornConfig, Server, free_port

SHOP = "demo.myshopify.com"
API_KEY = "bench-order-flow-client-id"
# SKUs of the sandbox Shopify's demo shop that the Printful sandbox has in stock.
SKUS = ("MUG-WHT", "MUG-BLK", "TEE-S", "TEE-M", "BTL-500")
WEBHOOK_TOPICS = ("orders/create", "orders/paid", "orders/updated")  # fallback if shopify.app.toml is unreadable
APP_ENV = (
    "SHOPIFY_API_KEY", "SHOPIFY_API_SECRET", "SHOPIFY_API_SECRET_OLD", "ENCRYPTION_KEYS", "DATABASE_URL",
    "RUN_SCHEDULER", "APP_URL", "PORT", "SANDBOX_SHOPIFY_URL", "WEBHOOK_MAX_BYTES", "WEBHOOK_MAX_ATTEMPTS",
    "GUNICORN_CMD_ARGS", "SHOPIFY_SCOPES", "SHOPIFY_API_VERSION", "JOB_ENGINE", "EGRESS_ALLOW",
)


def now() -> float:
    return time.monotonic()


# ---------------------------------------------------------------- Shopify side


@dataclass
class SentWebhook:
    """One HTTP attempt of a Shopify webhook delivery, as the sandbox wrote it."""

    topic: str
    webhook_id: str
    sent: float
    body: bytes
    answered: float | None = None
    status: int | None = None


class ShopifyWebhookProbe:
    """httpx event hooks on the sandbox's webhook sender: send and answer time of every attempt."""

    def __init__(self):
        self._lock = threading.Lock()
        self.attempts: list[SentWebhook] = []
        self._open: dict[int, SentWebhook] = {}  # id(request) -> attempt

    def on_request(self, request: httpx.Request) -> None:
        attempt = SentWebhook(
            topic=request.headers.get("X-Shopify-Topic", ""), webhook_id=request.headers.get("X-Shopify-Webhook-Id", ""),
            sent=now(), body=request.content,
        )
        with self._lock:
            self.attempts.append(attempt)
            self._open[id(request)] = attempt

    def on_response(self, response: httpx.Response) -> None:
        t = now()
        with self._lock:
            attempt = self._open.pop(id(response.request), None)
        if attempt is not None:
            attempt.answered, attempt.status = t, response.status_code

    def client(self) -> httpx.Client:
        from sandbox.shopify.webhooks import DEFAULT_TIMEOUT

        return httpx.Client(timeout=DEFAULT_TIMEOUT, event_hooks={"request": [self.on_request], "response": [self.on_response]})

    def first_sent(self, topic: str) -> dict[str, float]:
        """Order GID -> when the first attempt of its first `topic` delivery was written."""
        with self._lock:
            attempts = [a for a in self.attempts if a.topic == topic]
        first: dict[str, float] = {}
        for a in attempts:
            try:
                gid = json.loads(a.body).get("admin_graphql_api_id")
            except ValueError:
                continue
            if gid and (gid not in first or a.sent < first[gid]):
                first[gid] = a.sent
        return first

    def snapshot(self) -> list[SentWebhook]:
        with self._lock:
            return list(self.attempts)


class FulfillmentProbe:
    """Polls the sandbox store: when each watched order first shows FULFILLED."""

    def __init__(self, sandbox, shop: str, interval: float = 0.01):
        self.sandbox, self.shop, self.interval = sandbox, shop, interval
        self.fulfilled_at: dict[str, float] = {}
        self._watch: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-fulfillment-probe", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def watch(self, gid: str) -> None:
        with self._lock:
            self._watch.add(gid)

    def pending(self) -> int:
        with self._lock:
            return len(self._watch)

    def _run(self) -> None:
        store = self.sandbox.store
        shop = store.require_shop(self.shop)
        while not self._stop.wait(self.interval):
            with self._lock:
                watched = list(self._watch)
            if not watched:
                continue
            with store.lock:
                t = now()
                done = [g for g in watched if (shop.get(g) or {}).get("displayFulfillmentStatus") == "FULFILLED"]
            if done:
                with self._lock:
                    for g in done:
                        self._watch.discard(g)
                        self.fulfilled_at.setdefault(g, t)


# ---------------------------------------------------------------- supplier side


class TimedLog(collections.deque):
    """The Printful sandbox's `received` log, with the arrival time prepended to each entry."""

    def append(self, entry) -> None:  # (method, path, body) -> (time, method, path, body)
        super().append((now(), *entry))


class StampedDeque(collections.deque):
    """The Printful sandbox's log of webhook deliveries; notes when each was appended (= answered)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stamps: dict[int, float] = {}

    def append(self, delivery) -> None:
        self.stamps[id(delivery)] = now()
        super().append(delivery)


@dataclass
class SupplierWebhook:
    """One webhook the Printful sandbox sent to the app (one attempt each, one at a time, in order)."""

    event_type: str
    external_id: str | None
    queued: float
    answered: float
    started: float  # max(queued, previous answer): the sender is a single thread
    status: int | None
    error: str | None


class SupplierProbe:
    """Listens to the Printful sandbox's order book; ships confirmed orders after `ship_delay`."""

    def __init__(self, supplier, ship_delay: float, never_ship_variants: frozenset[int] = frozenset()):
        from sandbox.supplier.orders import Conflict

        self.supplier = supplier
        self.ship_delay = ship_delay
        self.never_ship_variants = never_ship_variants  # acknowledged, never shipped (a supplier that sits on orders)
        self._lock = threading.Lock()
        self.created_at: dict[str, float] = {}  # external_id -> first successful create
        self.confirmed_at: dict[str, float] = {}
        self.shipped_at: dict[str, float] = {}
        self.conflicts: collections.Counter = collections.Counter()  # external_id -> creates refused with 409
        self.ship_errors: list[str] = []
        self._queue: list[tuple[float, int, str]] = []  # (ship at, order id, external_id)
        self._wake = threading.Condition(self._lock)
        self._stop = False
        supplier.received = TimedLog(maxlen=200_000)
        supplier.webhooks.deliveries = StampedDeque(maxlen=200_000)
        self._queued: dict[int, float] = {}
        dispatcher = supplier.webhooks
        original_submit = dispatcher.submit

        def submit(event_type, payload):
            t = now()
            delivery = original_submit(event_type, payload)
            if delivery is not None:
                with self._lock:
                    self._queued[id(delivery)] = t
            return delivery

        dispatcher.submit = submit  # instance attribute: SandboxSupplier._send calls webhooks.submit(...)
        supplier.orders.listeners.append(self._on_event)
        book = supplier.orders
        original_create = book.create

        def create(body):
            try:
                return original_create(body)
            except Conflict:
                with self._lock:
                    self.conflicts[body.get("external_id")] += 1
                raise

        book.create = create  # instance attribute: the API's handler calls book.create(...)
        self._thread = threading.Thread(target=self._ship_loop, name="bench-supplier-shipper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._wake:
            self._stop = True
            self._wake.notify_all()
        self._thread.join(timeout=5)

    def _on_event(self, event_type: str, order, _extra) -> None:
        t = now()
        key = order.external_id or f"#{order.id}"
        with self._wake:
            if event_type == "order_created":
                self.created_at.setdefault(key, t)
            elif event_type == "order_updated" and order.status == "pending" and key not in self.confirmed_at:
                self.confirmed_at[key] = t
                if self.never_ship_variants & {item.catalog_variant_id for item in order.items}:
                    return
                heapq.heappush(self._queue, (t + self.ship_delay, order.id, key))
                self._wake.notify_all()

    def _ship_loop(self) -> None:
        while True:
            with self._wake:
                while not self._stop and (not self._queue or self._queue[0][0] > now()):
                    self._wake.wait(None if not self._queue else max(0.0, self._queue[0][0] - now()))
                if self._stop:
                    return
                _, order_id, key = heapq.heappop(self._queue)
            try:
                self.supplier.ship(order_id, tracking_number=f"1ZBENCH{order_id}", carrier="UPS")
                with self._lock:
                    self.shipped_at[key] = now()
            except Exception as exc:  # noqa: BLE001 - cancelled or shipped meanwhile: report, keep going
                with self._lock:
                    self.ship_errors.append(f"{key}: {type(exc).__name__}: {exc}")

    def sent_webhooks(self) -> list[SupplierWebhook]:
        """Every webhook the sandbox sent, with when it was queued and answered."""
        log = self.supplier.webhooks.deliveries
        with self._lock:
            queued = dict(self._queued)
        out, previous = [], 0.0
        for d in list(log):
            answered = log.stamps.get(id(d))
            q = queued.get(id(d))
            if answered is None or q is None:
                continue
            try:
                order = (d.payload.get("data") or {}).get("order") or {}
            except ValueError:
                order = {}
            out.append(SupplierWebhook(d.event_type, order.get("external_id"), q, answered, max(q, previous), d.status, d.error))
            previous = answered
        return out

    def create_requests(self) -> int:
        """POST /v2/orders requests that reached the sandbox (refused by a fault or not)."""
        return sum(1 for e in list(self.supplier.received) if e[1] == "POST" and e[2] == "/v2/orders")

    def requests_by_route(self) -> collections.Counter:
        counts: collections.Counter = collections.Counter()
        for _t, method, path, _body in list(self.supplier.received):
            counts[f"{method} {_route(path)}"] += 1
        return counts

    def faults_by_route(self) -> collections.Counter:
        counts: collections.Counter = collections.Counter()
        for route, fault in list(self.supplier.faults.served):
            method, _, path = route.partition(" ")
            counts[f"{method} {_route(path)} -> {fault.status}"] += 1
        return counts


def _route(path: str) -> str:
    """/v2/orders/123/confirmation -> /v2/orders/{id}/confirmation."""
    parts = path.split("/")
    return "/".join("{id}" if i == 3 and len(parts) > 3 and parts[1:3] == ["v2", "orders"] else p for i, p in enumerate(parts))


# ---------------------------------------------------------------- the world


@dataclass
class World:
    """Sandboxes + seeded database + the app process, for one phase."""

    workdir: Path
    threads: int
    ship_delay: float
    seed: int
    shopify: object = None
    supplier: object = None
    server: Server | None = None
    supplier_id: int | None = None
    webhooks: ShopifyWebhookProbe = field(default_factory=ShopifyWebhookProbe)
    supplier_probe: SupplierProbe | None = None
    fulfillment_probe: FulfillmentProbe | None = None
    db_path: Path | None = None
    topics: tuple[str, ...] = ()
    workers: int = 1  # embedded: gunicorn workers (each with its clock and pumps); procrastinate: worker processes
    never_ship_skus: tuple[str, ...] = ()
    env: dict = field(default_factory=dict)
    database_url: str | None = None  # default: a SQLite file in workdir
    engine: str = "embedded"  # embedded | procrastinate (needs a PostgreSQL database_url)
    worker_procs: list = field(default_factory=list)  # procrastinate worker processes (python -m shopify_app.cli worker)
    # The Printful sandbox's rate limit (requests per minute per token). Printful documents 120
    # (2/s): a hard cap of one order a second (create + confirmation), whatever the app does.
    # The benchmarks measure the app, so by default the sandbox allows far more; its headers
    # say so (X-Ratelimit-Policy), and the app's client-side bucket follows them.
    supplier_requests_per_minute: int = 6000
    # PostgreSQL: the URL each app process connects with, by role ("web", "worker-0", ...), so
    # the server's statistics can tell the roles apart (bench/peak_orders.py --statements gives
    # each role its own login); None: every process uses database_url.
    role_database_url: object = None
    # Serve the sandboxes with HTTP keep-alive (sandbox/serving.py), as Shopify and Printful serve
    # the app: off, each of the app's calls opens a new connection production does not open.
    keep_alive: bool = False

    def start(self, progress) -> None:
        from cryptography.fernet import Fernet

        from sandbox.shopify.server import SandboxShopify
        from sandbox.shopify.webhooks import WebhookSender
        from sandbox.supplier.printful import SandboxSupplier
        from sandbox.supplier.rate_limit import RateLimiter
        from shopify_app.migrate import upgrade_to_head

        self.workdir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.workdir / "app.db"
        database_url = self.database_url = self.database_url or f"sqlite:///{self.db_path}"
        port = free_port()
        app_url = f"http://{HOST}:{port}"
        secret = "bench-order-flow-secret-" + os.urandom(12).hex()
        fernet = Fernet.generate_key().decode()

        import sandbox.serving

        sandbox.serving.KEEP_ALIVE = self.keep_alive
        self.shopify = SandboxShopify(webhook_seed=self.seed)
        # Same sender as the sandbox's own, but its HTTP client notes every attempt's times.
        self.shopify.webhooks = WebhookSender(max_retries=2, retry_delay=0.05, seed=self.seed, http_client=self.webhooks.client())
        self.shopify.start()
        self.topics = app_topics()
        self.shopify.register_app(API_KEY, secret, app_url, webhook_topics=list(self.topics))
        self.supplier = SandboxSupplier(rate_limiter=RateLimiter(limit=self.supplier_requests_per_minute, window_seconds=60.0))
        self.supplier.start()
        ids = self.supplier.variant_ids_by_sku()
        self.supplier_probe = SupplierProbe(self.supplier, self.ship_delay, frozenset(ids[s] for s in self.never_ship_skus))

        progress(f"migrating and seeding {self.db_path}")
        upgrade_to_head(database_url)
        env = {
            "SHOPIFY_API_KEY": API_KEY, "SHOPIFY_API_SECRET": secret, "ENCRYPTION_KEYS": fernet,
            "DATABASE_URL": database_url, "APP_URL": app_url, "PORT": str(port),
            "SANDBOX_SHOPIFY_URL": self.shopify.base_url, "RUN_SCHEDULER": "1",
            "EGRESS_ALLOW": "127.0.0.1/32",  # real mode, with the sandbox supplier on loopback
        }
        if self.engine == "procrastinate":
            # Web processes only take requests and defer drains; the workers run jobs and pumps.
            env.update(JOB_ENGINE="procrastinate", RUN_SCHEDULER="0")
            from scheduler.distributed import ensure_schema

            ensure_schema(database_url)  # what `cli db-upgrade` does with JOB_ENGINE=procrastinate
        self.supplier_id = seed_database(env, self.shopify, self.supplier)

        base_env = {k: v for k, v in os.environ.items() if k not in APP_ENV}
        base_env["PYTHONDONTWRITEBYTECODE"] = "1"
        self.env = env
        web_workers = 2 if self.engine == "procrastinate" else self.workers
        # The production server's hooks: what the app's process does after loading (gc.freeze) is measured too.
        cfg = GunicornConfig(workers=web_workers, threads=self.threads, keep_alive=5, hooks="shopify_app.server.hooks")
        self.server = Server("app", "shopify_app.factory:create_app()", dict(base_env, **self.role_env(env, "web")), cfg, self.workdir / "app.log", port=port)
        self.server.start()
        self.server.wait_ready()
        if self.engine == "procrastinate":
            for n in range(self.workers):
                self.start_worker(dict(base_env, **self.role_env(env, f"worker-{n}")), n)
        else:
            health = httpx.get(f"{app_url}/healthz", timeout=5).json()
            scheduler = health.get("scheduler", {})
            if not (scheduler.get("running") and scheduler.get("inbox_pump") and scheduler.get("forwarding_pump")):
                raise RuntimeError(f"the app's embedded scheduler is not running: {scheduler}")
        self.supplier_probe.start()
        self.fulfillment_probe = FulfillmentProbe(self.shopify, SHOP)
        self.fulfillment_probe.start()

    def role_env(self, env: dict[str, str], role: str) -> dict[str, str]:
        """The app's environment for one process role: its own database login and libpq application_name when role_database_url is set."""
        if self.role_database_url is None:
            return env
        return dict(env, DATABASE_URL=self.role_database_url(role), PGAPPNAME=f"dropship-{role}")

    def start_worker(self, env: dict[str, str], n: int) -> subprocess.Popen:
        """One procrastinate worker process (the `worker` role), logging to workdir."""
        log = open(self.workdir / f"worker-{n}.log", "ab")
        proc = subprocess.Popen([sys.executable, "-m", "shopify_app.cli", "worker"], cwd=REPO, env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.worker_procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.worker_procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.worker_procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        # Webhooks the Printful sandbox still holds fail once the app is gone: not worth a warning each.
        logging.getLogger("sandbox.supplier.webhooks").setLevel(logging.ERROR)
        if self.fulfillment_probe is not None:
            self.fulfillment_probe.stop()
        if self.supplier_probe is not None:
            self.supplier_probe.stop()
        if self.server is not None:
            self.server.stop()
        if self.supplier is not None:
            self.supplier.stop()
        if self.shopify is not None:
            self.shopify.stop()


def app_topics() -> tuple[str, ...]:
    """What the app subscribes to in shopify.app.toml (what Shopify would send it)."""
    try:
        from shopify_app.devserver import app_config_topics

        topics = tuple(app_config_topics())
        return topics or WEBHOOK_TOPICS
    except Exception:  # noqa: BLE001 - a half-edited toml must not break the benchmark
        return WEBHOOK_TOPICS


def seed_database(env: dict[str, str], shopify, supplier) -> int:
    """Install the shop (sandbox token) and add the Printful supplier, as the tests do; returns its id."""
    from shopify_app.config import load_settings
    from shopify_app.services import build_services
    from shopify_app.suppliers.models import ProductMapping, Supplier

    settings = load_settings(env, run_scheduler=False)
    services = build_services(settings)
    try:
        token = shopify.issue_access_token(SHOP, settings.api_key)
        services.tokens.save(SHOP, token["access_token"], None, None, None, token.get("scope"))
        with services.session_factory.begin() as session:
            record = Supplier(
                shop_domain=SHOP, name="Printful", kind="printful",
                credentials_enc=services.box.encrypt(json.dumps({"token": supplier.token})),
                settings={"base_url": supplier.base_url, "products": supplier.variant_ids_by_sku()},
            )
            session.add(record)
            session.flush()
            for sku in SKUS:
                session.add(ProductMapping(shop_domain=SHOP, sku=sku, supplier_id=record.id, supplier_sku=sku, cost="4.00"))
            supplier_id = record.id
        secret = supplier.configure_webhooks(f"{settings.app_url}/suppliers/{supplier_id}/webhooks").secret_key
        with services.session_factory.begin() as session:
            session.get(Supplier, supplier_id).credentials_enc = services.box.encrypt(
                json.dumps({"token": supplier.token, "webhook_secret_key": secret})
            )
        return supplier_id
    finally:
        services.close()


def expected_external_id(order_gid: str, supplier_id: int) -> str:
    """The idempotency key the app sends as external_id for this Shopify order (its routing rule)."""
    from types import SimpleNamespace

    from shopify_app.orders.routing import idempotency_key

    return idempotency_key(SimpleNamespace(shop_domain=SHOP, shopify_id=order_gid.rsplit("/", 1)[-1]), supplier_id)


def app_db_stats(db_path: Path) -> dict:
    """What the app's database says (read-only, while the app runs)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        q = lambda sql: conn.execute(sql).fetchall()  # noqa: E731
        return {
            "deliveries": dict(q("SELECT state, count(*) FROM supplier_orders GROUP BY state")),
            "deliveries_per_order": dict(q("SELECT n, count(*) FROM (SELECT count(*) n FROM supplier_orders GROUP BY order_id) GROUP BY n")),
            "delivery_by_key": {k: s for k, s in q("SELECT idempotency_key, state FROM supplier_orders")},
            "attempts": {f"{a}/{o}": n for a, o, n in q("SELECT action, outcome, count(*) FROM delivery_attempts GROUP BY action, outcome")},
            "inbox": {f"{t} {s}": n for t, s, n in q("SELECT topic, status, count(*) FROM webhook_inbox GROUP BY topic, status")},
            "inbox_redeliveries": {t: n for t, n in q("SELECT topic, sum(delivery_count - 1) FROM webhook_inbox GROUP BY topic") if n},
            "inbox_retried": q("SELECT count(*) FROM webhook_inbox WHERE attempts > 1")[0][0],
            "alerts": dict(q("SELECT kind, count(*) FROM alerts GROUP BY kind")),
            "shipments": dict(q("SELECT state, count(*) FROM supplier_shipments GROUP BY state")),
            # Issue 20's visibility: the breaker over time, retries per order, waits by cause.
            "breaker_events": q("SELECT at, old_state, state, reason FROM supplier_breaker_events ORDER BY at, id"),
            "retries_per_order": sorted(max(0, n - 1) for (n,) in q("SELECT attempts FROM supplier_orders")),
            "waits_ms": q("SELECT backoff_wait_ms, breaker_wait_ms FROM supplier_orders"),
        }
    finally:
        conn.close()
