"""`make run`: serve the app; in sandbox mode (SANDBOX=1, what `make run` sets without credentials) with a local sandbox store and supplier."""
from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
import tomllib

from werkzeug.serving import WSGIRequestHandler, make_server

from .config import REPO_ROOT, load_settings
from .factory import create_app

log = logging.getLogger(__name__)


class PathOnlyRequestHandler(WSGIRequestHandler):
    """Access log without query strings: App Home URLs carry session tokens (id_token=...)."""

    def log_request(self, code="-", size="-") -> None:
        path = self.path.split("?", 1)[0]
        self.log("info", '"%s %s" %s %s', self.command, path, code, size)


def app_config_topics() -> list[str]:
    """Webhook topics the app subscribes to in shopify.app.toml (what Shopify would send it)."""
    from .webhooks.subscriptions import declared_topics

    return declared_topics()


def register_app_proxy(shopify, settings) -> None:
    """The storefront's /apps/orders on the sandbox Shopify, forwarded to this app as shopify.app.toml's [app_proxy] says."""
    from urllib.parse import urlsplit

    proxy = tomllib.loads((REPO_ROOT / "shopify.app.toml").read_text())["app_proxy"]
    shopify.register_app_proxy(settings.api_key, settings.app_url.rstrip("/") + urlsplit(proxy["url"]).path, subpath=proxy["subpath"], prefix=proxy["prefix"])


def start_sandboxes(settings):
    """Start the sandbox Shopify (seeded demo shop, our app registered) and the sandbox supplier."""
    from sandbox.shopify.server import SandboxShopify
    from sandbox.supplier.printful import SandboxSupplier

    shopify = SandboxShopify(port=int(os.environ.get("SANDBOX_SHOPIFY_PORT", settings.port + 1)))
    shopify.start()
    shopify.register_app(settings.api_key, settings.api_secret, settings.app_url, settings.scopes, webhook_topics=app_config_topics())
    register_app_proxy(shopify, settings)
    supplier = SandboxSupplier()
    supplier.start(port=int(os.environ.get("SANDBOX_SUPPLIER_PORT", settings.port + 2)))
    return shopify, supplier


def seed_sandbox_install(services, shopify, supplier, shop: str = "demo.myshopify.com") -> int:
    """Install the app on the demo shop and connect the sandbox supplier (idempotent across restarts)."""
    import datetime as dt
    import json

    from sqlalchemy import select

    from .models import utcnow
    from .suppliers.models import ProductMapping, Supplier

    issued = shopify.issue_access_token(shop, services.settings.api_key, expiring=True)
    now = utcnow()
    services.tokens.save(
        shop,
        issued["access_token"],
        issued.get("refresh_token"),
        now + dt.timedelta(seconds=issued["expires_in"]) if issued.get("expires_in") else None,
        now + dt.timedelta(seconds=issued["refresh_token_expires_in"]) if issued.get("refresh_token_expires_in") else None,
        issued.get("scope"),
    )
    if services.scheduler is not None:
        services.scheduler.add_shop_jobs(shop)  # keep the demo shop's token fresh
    skus = supplier.variant_ids_by_sku()
    with services.session_factory.begin() as session:
        record = session.scalar(select(Supplier).where(Supplier.shop_domain == shop, Supplier.name == "Printful (sandbox)"))
        if record is None:
            record = Supplier(shop_domain=shop, name="Printful (sandbox)", kind="printful")
            session.add(record)
            session.flush()
        record.settings = {"base_url": supplier.base_url, "products": skus}
        # The supplier's stock shows at the demo warehouse; Printful only says in/out of stock.
        record.location_gid = record.location_gid or shopify.store.require_shop(shop).all("Location")[0]["id"]
        record.inventory_terms = record.inventory_terms or {"safety_buffer": 2, "in_stock_quantity": 50, "pull_every_minutes": 5}
        mapped = set(session.scalars(select(ProductMapping.sku).where(ProductMapping.supplier_id == record.id)))
        for sku in skus:
            if sku not in mapped:
                session.add(ProductMapping(shop_domain=shop, sku=sku, supplier_id=record.id, supplier_sku=sku, cost="5.00"))
        supplier_id = record.id
    # A new sandbox supplier has a new webhook secret: point its webhooks at us and store it.
    secret = supplier.configure_webhooks(f"{services.settings.app_url}/suppliers/{supplier_id}/webhooks").secret_key
    with services.session_factory.begin() as session:
        session.get(Supplier, supplier_id).credentials_enc = services.box.encrypt(json.dumps({"token": supplier.token, "webhook_secret_key": secret}))
    supplier.auto_ship(after_seconds=5)
    return supplier_id


SANDBOX_FILE_USER, SANDBOX_FILE_PASSWORD = "demo-shop", "sandbox-sftp-password"
# The sandbox EDI partner exchanges files on the same SFTP server, as its own user (its own folder).
SANDBOX_EDI_USER, SANDBOX_EDI_PASSWORD = "demo-edi", "sandbox-edi-password"
SANDBOX_EDI_SETTINGS = {"our_qualifier": "ZZ", "our_id": "DROPSHIPAPP", "our_application_code": "DROPSHIPAPP",
                        "partner_qualifier": "01", "partner_id": "123456789", "partner_application_code": "WHOLESALE", "ack_window_minutes": 60}
SANDBOX_EDI_STOCK = {"TEE-S": 40, "TEE-M": 25, "MUG-WHT": 300}


def start_file_supplier(settings):
    """The sandbox file supplier: a real SFTP server (asyncssh) and the wholesaler's batch job in its CSV layout."""
    from pathlib import Path

    from sandbox.supplier.file_supplier import LAYOUT_CSV, SandboxFileSupplier
    from sandbox.supplier.sftp_server import SandboxSftpServer

    root = Path(os.environ.get("SANDBOX_SFTP_ROOT", REPO_ROOT / "instance" / "sandbox-sftp"))
    users = {SANDBOX_FILE_USER: SANDBOX_FILE_PASSWORD, SANDBOX_EDI_USER: SANDBOX_EDI_PASSWORD}
    server = SandboxSftpServer(root, users, port=int(os.environ.get("SANDBOX_SFTP_PORT", settings.port + 3))).start()
    supplier = SandboxFileSupplier(server.home(SANDBOX_FILE_USER), LAYOUT_CSV, stock={"TEE-S": 120, "TEE-M": 80, "MUG-WHT": 1234})
    server.supplier_stop = supplier.run_in_background()
    server.edi_partner = start_edi_partner(server)
    return server


def start_edi_partner(server):
    """The sandbox EDI trading partner on the sandbox SFTP server: reads our 850s, answers 997 + 855, ships (856) a few seconds later."""
    from integrations.suppliers.edi_x12.config import parse_settings
    from integrations.suppliers.files.transport import LocalFolderTransport
    from sandbox.supplier.edi_partner import EdiPartner

    home = server.home(SANDBOX_EDI_USER)
    parsed = parse_settings(SANDBOX_EDI_SETTINGS)
    for folder in (parsed.outbound_folder, parsed.inbound_folder):
        (home / folder).mkdir(parents=True, exist_ok=True)
    # The partner's side of the exchange is the server's disk (it is the partner's own machine).
    return EdiPartner(LocalFolderTransport(home), parsed.partner, parsed.us, separators=parsed.separators, inbox=parsed.outbound_folder,
                      outbox=parsed.inbound_folder, known_skus=dict(SANDBOX_EDI_STOCK)).start()


def start_as2_partner():
    """The sandbox AS2 trading partner (issue 15): an AS2 server on 127.0.0.1 around a sandbox EDI partner; it trades with the app once seeded."""
    from pathlib import Path

    from integrations.suppliers.edi_x12.config import parse_settings
    from sandbox.supplier.as2_partner import As2Partner

    parsed = parse_settings(SANDBOX_EDI_SETTINGS)
    root = Path(os.environ.get("SANDBOX_AS2_ROOT", REPO_ROOT / "instance" / "sandbox-as2"))
    partner = As2Partner(root, as2_id=SANDBOX_AS2_PARTNER_ID, app_as2_id=SANDBOX_AS2_OUR_ID, partner=parsed.partner, us=parsed.us,
                         known_skus=dict(SANDBOX_EDI_STOCK)).start()
    partner.loop_stop = partner.run_in_background()
    return partner


def seed_as2_supplier(services, partner, shop: str = "demo.myshopify.com") -> int:
    """The AS2 partner's record on the demo shop; the partner gets our certificate and /as2/<token> URL, as a merchant would hand them over."""
    from integrations.suppliers import runtime
    from integrations.suppliers.runtime import SupplierRef

    settings = {**SANDBOX_EDI_SETTINGS, "transport": {"kind": "as2", "our_as2_id": SANDBOX_AS2_OUR_ID, "partner_as2_id": SANDBOX_AS2_PARTNER_ID,
                                                      "url": partner.url, "partner_certificate": partner.certificate_pem.decode(), "mdn_mode": "sync"}}
    supplier_id = _seed_sftp_supplier(services, shop, "EDI wholesaler over AS2 (sandbox)", "edi_x12", 310, settings, None)
    station = runtime.current().as2_station_for(SupplierRef(shop, supplier_id))
    partner.app_certificate_pem, partner.app_url = station.identity.certificate_pem, station.inbound_url
    return supplier_id


SANDBOX_AS2_OUR_ID, SANDBOX_AS2_PARTNER_ID = "DROPSHIPAPP-AS2", "WHOLESALE-AS2"


def _seed_sftp_supplier(services, shop: str, name: str, kind: str, priority: int, settings: dict, password: str | None) -> int:
    """Create or refresh a sandbox SFTP supplier's record by name (idempotent across restarts); returns its id."""
    import json

    from sqlalchemy import select

    from .suppliers.models import Supplier

    with services.session_factory.begin() as session:
        record = session.scalar(select(Supplier).where(Supplier.shop_domain == shop, Supplier.name == name))
        if record is None:
            record = Supplier(shop_domain=shop, name=name, kind=kind, priority=priority)
            session.add(record)
            session.flush()
        # A new host key each start: the sandbox pins the new one (a real supplier's key changing raises an alert instead).
        record.settings = settings
        if password is not None:  # (an AS2 partner has no password: its certificate is in the settings)
            record.credentials_enc = services.box.encrypt(json.dumps({"password": password}))
        return record.id


def seed_file_supplier(services, server, shop: str = "demo.myshopify.com") -> int:
    """The file supplier's record on the demo shop (its server's fingerprint pinned; no products mapped: map some in the admin)."""
    from sandbox.supplier.file_supplier import FOLDERS, LAYOUT_CSV, MAPPINGS

    settings = {"transport": "sftp", "host": server.host, "port": server.port, "username": SANDBOX_FILE_USER,
                "host_key_fingerprint": server.fingerprint, "folders": dict(FOLDERS), "mappings": MAPPINGS[LAYOUT_CSV], "poll_minutes": 1}
    return _seed_sftp_supplier(services, shop, "Wholesale files (sandbox)", "files", 200, settings, SANDBOX_FILE_PASSWORD)


def seed_edi_supplier(services, server, shop: str = "demo.myshopify.com") -> int:
    """The EDI partner's record on the demo shop: over the sandbox SFTP server, its fingerprint pinned (map products to it in the admin)."""
    settings = {**SANDBOX_EDI_SETTINGS, "transport": {"kind": "sftp", "host": server.host, "port": server.port, "username": SANDBOX_EDI_USER,
                                                      "host_key_fingerprint": server.fingerprint}}
    return _seed_sftp_supplier(services, shop, "EDI wholesaler (sandbox)", "edi_x12", 300, settings, SANDBOX_EDI_PASSWORD)


def first_inventory_sync(services) -> None:
    """Pull the sandbox supplier's stock and push it to the demo shop now, not at the first scheduled run."""
    from .inventory.jobs import pull_due_stock_feeds, sync_installed_shops

    try:
        pull_due_stock_feeds(services)
        sync_installed_shops(services)
    except Exception:  # the scheduled jobs try again; the demo must still start
        logging.getLogger(__name__).exception("first inventory sync failed")


DEMO_ORDERS = 6


def demo_orders(services, shopify, supplier, shop: str = "demo.myshopify.com") -> int:
    """A few checkouts in the sandbox store on a fresh database, so every admin page has real data to show."""
    from sqlalchemy import func, select

    from .orders.models import Order

    with services.session_factory() as session:
        if session.scalar(select(func.count()).select_from(Order).where(Order.shop_domain == shop)):
            return 0
    skus = sorted(supplier.variant_ids_by_sku())
    for n in range(DEMO_ORDERS):
        lines = [{"sku": skus[n % len(skus)], "quantity": 1 + n % 2}]
        shopify.place_order(shop, lines, email=f"demo{n}@example.com", background=True)  # webhooks flow to the app as usual
    return DEMO_ORDERS


def run_dev(host: str = "127.0.0.1") -> int:
    """Serve until SIGINT/SIGTERM."""
    settings = load_settings()
    sandboxes = ()
    file_server = None
    if settings.sandbox:
        shopify, supplier = start_sandboxes(settings)
        sandboxes = (shopify, supplier)
        file_server = start_file_supplier(settings)
        file_server.as2_partner = start_as2_partner()
        settings = dataclasses.replace(settings, sandbox_shopify_url=shopify.base_url)
    app = create_app(settings)
    if sandboxes:
        seed_sandbox_install(app.extensions["services"], *sandboxes)
        seed_file_supplier(app.extensions["services"], file_server)
        seed_edi_supplier(app.extensions["services"], file_server)
        seed_as2_supplier(app.extensions["services"], file_server.as2_partner)
        threading.Thread(target=first_inventory_sync, args=(app.extensions["services"],), name="first-inventory-sync", daemon=True).start()
    server = make_server(host, settings.port, app, threaded=True, request_handler=PathOnlyRequestHandler)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, name="app-http", daemon=True).start()
    if sandboxes:
        demo_orders(app.extensions["services"], *sandboxes)
    print(banner(settings, sandboxes, file_server), flush=True)
    stop.wait()
    server.shutdown()  # in-flight requests finish first
    from .server.lifecycle import stop_services

    stop_services(app.extensions["services"])  # pumps stop between rows, the clock stops
    for s in sandboxes:
        s.stop()
    if file_server is not None:
        file_server.supplier_stop.set()
        file_server.edi_partner.stop()
        file_server.as2_partner.loop_stop.set()
        file_server.as2_partner.stop()
        file_server.stop()
    return 0


def banner(settings, sandboxes, file_server=None) -> str:
    """What to open, and the dev credentials."""
    lines = [f"App listening on {settings.app_url} (health: {settings.app_url}/healthz)"]
    if sandboxes:
        shopify, supplier = sandboxes
        shop = "demo.myshopify.com"
        lines += [
            "SANDBOX MODE (SANDBOX=1: public dev credentials, never for a real shop)",
            f"  Open the app as the merchant: {shopify.base_url}/admin/apps/{settings.api_key}?shop={shop}",
            f"  Sandbox Shopify:  {shopify.base_url}  (shop {shop})",
            f"  Sandbox supplier: {supplier.base_url}  (Printful v2 API, Bearer {supplier.token})",
            f"  Dev credentials:  SHOPIFY_API_KEY={settings.api_key} SHOPIFY_API_SECRET={settings.api_secret}",
            f"  Non-embedded install flow: {settings.app_url}/auth/install?shop={shop}",
            f"  The customer's order page in the store (app proxy): {shopify.base_url}/apps/orders?shop={shop}  (add &locale=pl or &locale=he)",
            "  Place a demo order (it goes to the sandbox supplier, ships after ~5 s, and comes back as a fulfillment):",
            f"    curl -X POST '{shopify.base_url}/admin/sandbox/orders?shop={shop}' -H 'Content-Type: application/json' \\",
            """      -d '{"lines": [{"sku": "TEE-S", "quantity": 1}, {"sku": "MUG-WHT", "quantity": 1}]}'""",
        ]
    if file_server is not None:
        lines += [
            f"  Sandbox file supplier: sftp://{SANDBOX_FILE_USER}@{file_server.host}:{file_server.port} (password {SANDBOX_FILE_PASSWORD},"
            f" host key {file_server.fingerprint}; files in {file_server.home(SANDBOX_FILE_USER)})",
            "    as the supplier \"Wholesale files (sandbox)\": map a product to it (supplier SKU TEE-S, TEE-M or MUG-WHT) to send its orders as PO files",
            f"  Sandbox EDI partner (X12 850/855/856/846 over the same SFTP server): sftp://{SANDBOX_EDI_USER}@{file_server.host}:{file_server.port}"
            f" (password {SANDBOX_EDI_PASSWORD}; files in {file_server.home(SANDBOX_EDI_USER)})",
            "    as the supplier \"EDI wholesaler (sandbox)\": map a product to it (supplier SKU TEE-S, TEE-M or MUG-WHT) to send its orders as 850s",
        ]
        as2_partner = getattr(file_server, "as2_partner", None)
        if as2_partner is not None:
            lines += [
                f"  Sandbox AS2 partner (the same X12 over AS2, signed + encrypted, signed MDNs): {as2_partner.url} (AS2 id {SANDBOX_AS2_PARTNER_ID})",
                "    as the supplier \"EDI wholesaler over AS2 (sandbox)\": map a product to it (supplier SKU TEE-S, TEE-M or MUG-WHT)",
            ]
    return "\n".join(lines)
