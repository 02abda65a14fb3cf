"""`make run`: serve the app; without Shopify credentials, with a local sandbox store and supplier."""
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
    conf = tomllib.loads((REPO_ROOT / "shopify.app.toml").read_text())
    subs = conf["webhooks"]["subscriptions"]
    return [t for s in subs for t in s.get("topics", []) + s.get("compliance_topics", [])]


def start_sandboxes(settings):
    """Start the sandbox Shopify (seeded demo shop, our app registered) and the sandbox supplier."""
    from sandbox.shopify.server import SandboxShopify
    from sandbox.supplier.printful import SandboxSupplier

    shopify = SandboxShopify(port=int(os.environ.get("SANDBOX_SHOPIFY_PORT", settings.port + 1)))
    shopify.start()
    shopify.register_app(settings.api_key, settings.api_secret, settings.app_url, settings.scopes, webhook_topics=app_config_topics())
    supplier = SandboxSupplier()
    supplier.start(port=int(os.environ.get("SANDBOX_SUPPLIER_PORT", settings.port + 2)))
    return shopify, supplier


def run_dev(host: str = "127.0.0.1") -> int:
    """Serve until SIGINT/SIGTERM."""
    settings = load_settings()
    sandboxes = ()
    if settings.sandbox:
        shopify, supplier = start_sandboxes(settings)
        sandboxes = (shopify, supplier)
        settings = dataclasses.replace(settings, sandbox_shopify_url=shopify.base_url)
    app = create_app(settings)
    server = make_server(host, settings.port, app, threaded=True, request_handler=PathOnlyRequestHandler)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, name="app-http", daemon=True).start()
    print(banner(settings, sandboxes), flush=True)
    stop.wait()
    server.shutdown()
    services = app.extensions["services"]
    if services.scheduler is not None:
        services.scheduler.shutdown()
    for s in sandboxes:
        s.stop()
    return 0


def banner(settings, sandboxes) -> str:
    """What to open, and the dev credentials."""
    lines = [f"App listening on {settings.app_url} (health: {settings.app_url}/healthz)"]
    if sandboxes:
        shopify, supplier = sandboxes
        shop = "demo.myshopify.com"
        lines += [
            "SANDBOX MODE (no SHOPIFY_API_KEY/SHOPIFY_API_SECRET set)",
            f"  Open the app as the merchant: {shopify.base_url}/admin/apps/{settings.api_key}?shop={shop}",
            f"  Sandbox Shopify:  {shopify.base_url}  (shop {shop})",
            f"  Sandbox supplier: {supplier.base_url}  (Printful v2 API, Bearer {supplier.token})",
            f"  Dev credentials:  SHOPIFY_API_KEY={settings.api_key} SHOPIFY_API_SECRET={settings.api_secret}",
            f"  Non-embedded install flow: {settings.app_url}/auth/install?shop={shop}",
        ]
    return "\n".join(lines)
