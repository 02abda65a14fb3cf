"""Shared fixtures: databases (SQLite and a real PostgreSQL), settings, the app, signing helpers."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shutil
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from shopify_app.config import load_settings
from shopify_app.i18n import compile_catalogs
from shopify_app.migrate import upgrade_to_head

from pg_server import PostgresUnavailable, start_postgres

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO.parent / "shared" / "shopify" / "webhook-samples-2025-01"
API_KEY = "test-client-id"
API_SECRET = "test-client-secret-0123456789abcdef"
OLD_SECRET = "test-old-secret-0123456789abcdef0123"
FERNET_KEY = "G288qCh8r_PF3al5SKgDBddzlgaVneMTTDALrQCAKns="


def pytest_configure(config):
    config.addinivalue_line("markers", "postgres: needs the throwaway PostgreSQL server")
    if not hasattr(config, "workerinput"):  # xdist: the controller compiles once, before its workers start
        compile_catalogs()  # `python -m pytest` without make still gets current translations


@pytest.fixture(scope="session")
def postgres_server():
    """One PostgreSQL server for the run; its absence fails the run (never a silent skip)."""
    try:
        server = start_postgres()
    except PostgresUnavailable as exc:
        if os.environ.get("ALLOW_NO_POSTGRES") == "1":
            pytest.skip(str(exc))
        pytest.fail(f"{exc} (run `make test`, which installs it)")
    yield server
    server.stop()


def _fresh_postgres_db(server, template: str | None = None) -> str:
    """A new database: empty, or a copy of `template`."""
    name = "t_" + uuid.uuid4().hex[:12]
    engine = sa.create_engine(server.url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    engine.dispose()
    return server.database_url(name)


# Running every migration for each test cost 0.3-1 s a test; each worker migrates ONE template per
# database kind and every test gets a copy of it (the same schema and alembic_version as upgrade_to_head).
@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory) -> Path:
    """A SQLite file migrated to head once per worker (copied, never opened, by the tests)."""
    path = tmp_path_factory.mktemp("migrated-template") / "template.db"
    upgrade_to_head(f"sqlite:///{path}")
    # The migration's engine is disposed, so the WAL was checkpointed into the file and removed.
    assert not Path(f"{path}-wal").exists(), "template still has a WAL beside it: copying the file alone would lose data"
    return path


def migrated_sqlite_copy(template: Path, path: Path) -> str:
    """A migrated SQLite database at `path`: a copy of the template."""
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def migrated_postgres_template(postgres_server) -> str:
    """A PostgreSQL database migrated to head once per worker, the TEMPLATE of each test's database."""
    url = _fresh_postgres_db(postgres_server)
    upgrade_to_head(url)
    return url.rsplit("/", 1)[1]


def _migrated_postgres_db(server, template: str) -> str:
    """A new database cloned from the migrated template (nothing is connected to the template after its migration)."""
    return _fresh_postgres_db(server, template=template)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    """A migrated, empty database: SQLite file, then the same tests on PostgreSQL."""
    if request.param == "sqlite":
        return migrated_sqlite_copy(request.getfixturevalue("migrated_sqlite_template"), tmp_path / "app.db")
    return _migrated_postgres_db(request.getfixturevalue("postgres_server"), request.getfixturevalue("migrated_postgres_template"))


@pytest.fixture
def sqlite_url(tmp_path, migrated_sqlite_template):
    """A migrated SQLite database only (for tests whose subject is not the database)."""
    return migrated_sqlite_copy(migrated_sqlite_template, tmp_path / "app.db")


LOOPBACK_ALLOW = "127.0.0.1/32,::1/128,localhost"


@pytest.fixture(autouse=True, scope="session")
def egress_allows_loopback():
    """Adapters built directly by tests talk to sandboxes on 127.0.0.1: allow loopback (security tests build strict policies)."""
    from integrations import egress

    previous = egress.configure(egress.EgressPolicy.from_allow_list(LOOPBACK_ALLOW))
    yield
    egress.configure(previous)


def make_settings(database_url: str, **overrides):
    """Settings for a test app with known credentials."""
    env = {
        "SHOPIFY_API_KEY": API_KEY,
        "SHOPIFY_API_SECRET": API_SECRET,
        "SHOPIFY_API_SECRET_OLD": OLD_SECRET,
        "DATABASE_URL": database_url,
        "ENCRYPTION_KEYS": FERNET_KEY,
        "APP_URL": "http://127.0.0.1:9",
        "RUN_SCHEDULER": "0",
        "EGRESS_ALLOW": LOOPBACK_ALLOW,  # the sandboxes and test servers live on loopback
    }
    return load_settings(env, **overrides)


@pytest.fixture
def app_factory():
    """Build apps for a database; closes their services afterwards."""
    from shopify_app.factory import create_app

    built = []

    def build(database_url: str, **overrides):
        app = create_app(make_settings(database_url, **overrides))
        built.append(app)
        return app

    yield build
    for app in built:
        services = app.extensions["services"]
        if services.scheduler is not None:
            services.scheduler.shutdown()
        services.close()


def install_shop(app, *shops: str) -> None:
    """Mark shops installed (an offline token stored), as the install flow would: /api/* answers 401 for others."""
    for shop in shops:
        app.extensions["services"].tokens.save(shop, "shpat_test", None, None, None, None)


def printful_supplier(app, secret: str = "ab" * 16, shop: str = "demo.myshopify.com") -> int:
    """A Printful supplier of `shop` whose webhooks are signed with `secret`; its id."""
    from shopify_app.suppliers.models import Supplier

    services = app.extensions["services"]
    with services.session_factory.begin() as session:
        supplier = Supplier(shop_domain=shop, name="Printful", kind="printful", settings={"products": {}},
                            credentials_enc=services.box.encrypt(json.dumps({"token": "pf", "webhook_secret_key": secret})))
        session.add(supplier)
        session.flush()
        return supplier.id


def sign(body: bytes, secret: str = API_SECRET) -> str:
    """Shopify's webhook signature: base64 HMAC-SHA256 of the raw body (the client's side)."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def webhook_headers(topic: str, body: bytes, shop: str = "demo.myshopify.com", webhook_id: str | None = None, event_id: str | None = None, secret: str = API_SECRET) -> dict:
    """The headers Shopify sends with a delivery."""
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": sign(body, secret),
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-API-Version": "2026-10",
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
        "X-Shopify-Triggered-At": "2026-11-22T10:00:00.000Z",
    }


def sample(name: str) -> bytes:
    """A Shopify sample payload, byte for byte as shipped."""
    return (SAMPLES / f"{name}.json").read_bytes()


def sample_json(name: str) -> dict:
    """A Shopify sample payload, parsed."""
    return json.loads(sample(name))


@pytest.fixture
def sandbox_shopify():
    """A running sandbox Shopify with the demo shop and the test app registered."""
    from sandbox.shopify.server import SandboxShopify

    sandbox = SandboxShopify()
    sandbox.start()
    sandbox.register_app(API_KEY, API_SECRET, "http://127.0.0.1:9")
    yield sandbox
    sandbox.stop()


@pytest.fixture
def sandboxed_app(app_factory, database_url, sandbox_shopify):
    """The app wired to the sandbox Shopify (token exchange, refresh and GraphQL go there)."""
    return app_factory(database_url, sandbox_shopify_url=sandbox_shopify.base_url)


@pytest.fixture(scope="session", autouse=True)
def servers_stop_promptly():
    """Every server a test starts with serve_forever() notices shutdown() within 0.01 s, not 0.5 s.

    serve_forever polls its stop flag every poll_interval (0.5 s by default, in socketserver and werkzeug alike),
    so each shutdown() waited 0.25 s on average; the tests start and stop a few thousand servers.
    """
    import socketserver

    from werkzeug.serving import BaseWSGIServer

    patch = pytest.MonkeyPatch()
    for serve_forever in (socketserver.BaseServer.serve_forever, BaseWSGIServer.serve_forever):
        assert serve_forever.__defaults__ == (0.5,), serve_forever.__defaults__  # the poll_interval default this replaces
        patch.setattr(serve_forever, "__defaults__", (0.01,))
    yield
    patch.undo()


@pytest.fixture(scope="session", autouse=True)
def route_builders_compiled_once():
    """Each URL rule's builder is compiled once per worker, not once per test app (see route_builder_cache.py)."""
    from route_builder_cache import install

    undo = install()
    yield
    if undo:
        undo()


@pytest.fixture(scope="session", autouse=True)
def tracked_write_transactions():
    """Every engine the tests make tracks its write transactions (rule 6's guard below reads them; benches importing this file do not)."""
    from shopify_app.write_transactions import track_every_engine

    track_every_engine()


@pytest.fixture(autouse=True)
def no_network_in_write_transactions(monkeypatch):
    """Rule 6: fail any test in which an outbound call starts while its thread holds a write transaction."""
    from network_guard import NetworkInWriteTransaction

    guard = NetworkInWriteTransaction()
    guard.install(monkeypatch)
    yield guard
    if guard.violations:
        pytest.fail(guard.report(), pytrace=False)


@pytest.fixture(autouse=True)
def fresh_printful_rate_limits():
    """Each test is a new Printful account: a sandbox reused across tests (same URL and token) must not carry the last test's 429 lockout."""
    from integrations.suppliers.printful import pacing

    with pacing._buckets_lock:
        pacing._buckets.clear()
    yield
