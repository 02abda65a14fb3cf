"""The sandbox Shopify as a real HTTP server on 127.0.0.1 (Flask app + a werkzeug thread).

Shops are told apart by the Host header (`demo.myshopify.com`, port ignored): the app's
SandboxRoutingTransport sends `https://demo.myshopify.com/...` here and keeps that Host.
Pages a developer opens in a plain browser (`/admin/apps/<client_id>`) take `?shop=`.

    sandbox = SandboxShopify()                       # seeds demo.myshopify.com
    sandbox.register_app("client-id", "secret", app_url="http://127.0.0.1:8000")
    base_url = sandbox.start()                       # e.g. http://127.0.0.1:54321
    ...
    sandbox.stop()
"""
from __future__ import annotations

import re
import time
import uuid
from typing import Any, Callable, Iterable

import httpx
from flask import Flask, Response, jsonify, redirect, request, send_file

from integrations.shopify.schema import load_admin_schema
from integrations.shopify.transport import SandboxRoutingTransport

from ..serving import BackgroundServer
from . import app_proxy
from .faults import Faults
from .graphql_api import Answer, GraphQLEndpoint
from .merchant_actions import MerchantActionsMixin
from .notifications import FulfillmentServiceNotifier
from .oauth import OAuthAuthority, OAuthError
from .api_versions import schema_for
from .bulk_operations import BulkRunner
from .store import AppRegistration, ShopState, Store, normalize_domain, seed_demo_shop
from .topics import header_to_enum, normalize_topic
from .webhooks import WebhookDelivery, WebhookSender, encode_payload, triggered_at_now

DEFAULT_SHOP = "demo.myshopify.com"
def _deployed_app_scopes() -> tuple[str, ...]:
    """The scopes of the repository's shopify.app.toml: what `shopify app deploy` would give the app."""
    import tomllib
    from pathlib import Path

    toml = Path(__file__).resolve().parents[2] / "shopify.app.toml"
    return tuple(s.strip() for s in tomllib.loads(toml.read_text())["access_scopes"]["scopes"].split(",") if s.strip())


# What a registered app gets when it does not say: the app's declared scopes, nothing more,
# so a document needing a scope the app does not ask for fails here as it would on Shopify.
DEFAULT_APP_SCOPES = _deployed_app_scopes()


def _shop_from_host() -> str | None:
    host = (request.headers.get("Host") or "").split(":")[0].strip().lower()
    return host if host.endswith(".myshopify.com") else None


def _shop_param_or_host() -> str | None:
    shop = request.args.get("shop")
    return normalize_domain(shop) if shop else _shop_from_host()


def _json(answer: Answer) -> Response:
    response = jsonify(answer.body)
    response.status_code = answer.status
    response.headers.update(answer.headers)
    return response


def _fault_response(fault) -> Response:
    response = jsonify(fault.body())
    response.status_code = fault.status
    response.headers.update(fault.headers())
    return response


def create_app(sandbox: "SandboxShopify") -> Flask:
    """The Flask app serving the Admin API, OAuth and admin pages of the sandbox."""
    app = Flask("sandbox_shopify")
    app.json.sort_keys = False  # GraphQL answers keep the document's field order

    @app.post("/admin/api/<version>/graphql.json")
    def graphql(version: str):
        """Admin GraphQL for the shop named by the Host header."""
        fault = sandbox.faults.take("graphql")
        if fault is not None:
            response = jsonify(fault.body())
            response.status_code = fault.status
            response.headers.update(fault.headers())
            return response
        shop = _shop_from_host() or request.args.get("shop") or ""
        if request.mimetype == "application/graphql":
            body: Any = {"query": request.get_data(as_text=True)}
        else:
            body = request.get_json(silent=True)
        answer = sandbox.graphql.handle(shop, request.headers.get("X-Shopify-Access-Token"), body, version)
        answer.headers.setdefault("X-Request-Id", str(uuid.uuid4()))
        # Webhooks and callbacks the mutation caused, sent once the document let go of the store.
        sandbox.deliver_pending(background=sandbox.deliver_in_background)
        lost = sandbox.faults.take("graphql", after_processing=True)
        if lost is not None:
            return _fault_response(lost)
        return _json(answer)

    @app.get("/bulk/<token>.jsonl")
    def bulk_result(token: str):
        """A finished bulk operation's JSONL file, streamed (Shopify serves these from cloud storage)."""
        path = sandbox.store.bulk.path_of(token)
        if path is None:
            return jsonify(errors="Not Found"), 404
        return send_file(path, mimetype="application/jsonl")

    @app.post("/admin/oauth/access_token")
    def access_token():
        """The token endpoint: token exchange, refresh, authorization code."""
        fault = sandbox.faults.take("oauth")
        if fault is not None:
            response = jsonify(fault.body())
            response.status_code = fault.status
            response.headers.update(fault.headers())
            return response
        shop = sandbox.store.shop(_shop_from_host() or request.args.get("shop") or "")
        if shop is None:
            return jsonify(errors="Not Found"), 404
        body = request.get_json(silent=True) if request.is_json else request.form.to_dict()
        try:
            answer = jsonify(sandbox.oauth.token_endpoint(shop, body or {}))
        except OAuthError as exc:
            return jsonify(exc.body()), exc.status
        lost = sandbox.faults.take("oauth", after_processing=True)
        return _fault_response(lost) if lost is not None else answer

    @app.get("/admin/oauth/authorize")
    def authorize():
        """The consent screen, approved at once: redirect back with a code."""
        shop = sandbox.store.shop(_shop_param_or_host() or "")
        if shop is None:
            return Response("Shop not found", status=404, mimetype="text/plain")
        try:
            return redirect(sandbox.oauth.authorize_redirect(shop, request.args.to_dict()), code=302)
        except OAuthError as exc:
            return Response(f"Oauth error {exc.error}: {exc.description}", status=400, mimetype="text/plain")

    @app.get("/admin/apps/<client_id>")
    @app.get("/admin/apps/<client_id>/<path:_rest>")
    def open_app(client_id: str, _rest: str = ""):
        """The admin opening an embedded app: redirect to its URL with an id_token."""
        shop = sandbox.store.shop(_shop_param_or_host() or "")
        if shop is None:
            return Response("Shop not found: pass ?shop=<name>.myshopify.com", status=404, mimetype="text/plain")
        if sandbox.store.app(client_id) is None:
            return Response(f"App {client_id} is not registered with the sandbox", status=404, mimetype="text/plain")
        try:
            # ?locale= plays the admin user's language setting (Shopify passes it to the app as `locale`).
            locale = request.args.get("locale", "en")
            if not re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?", locale):
                return Response("locale must be a language tag such as pl or pt-BR", status=400, mimetype="text/plain")
            return redirect(sandbox.oauth.app_home_url(shop, client_id, locale), code=302)
        except OAuthError as exc:
            return Response(exc.description, status=400, mimetype="text/plain")

    @app.route("/admin/session-token", methods=["GET", "OPTIONS"])
    def session_token():
        """A fresh session token as JSON (stand-in for shopify.idToken())."""
        if request.method == "OPTIONS":
            response = Response(status=204)
        else:
            shop = sandbox.store.shop(_shop_param_or_host() or "")
            client_id = request.args.get("client_id", "")
            if shop is None or sandbox.store.app(client_id) is None:
                response = jsonify(error="unknown shop or client_id")
                response.status_code = 404
            else:
                response = jsonify(token=sandbox.mint_session_token(shop.domain, client_id))
        # A local stand-in for App Bridge's shopify.idToken(), fetched from the app's pages.
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Allow-Methods"] = "GET, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "*"
        return response

    @app.post("/admin/sandbox/orders")
    def sandbox_checkout():
        """Demo checkout: {"lines": [{"sku", "quantity"}], "email"} -> a paid order, its webhooks sent."""
        shop = sandbox.store.shop(_shop_param_or_host() or "")
        body = request.get_json(silent=True) or {}
        if shop is None or not body.get("lines"):
            return jsonify(error="pass ?shop=<domain> and a JSON body with lines"), 400
        try:
            order = sandbox.place_order(shop.domain, body["lines"], email=body.get("email", "customer@example.com"), background=True)
        except Exception as exc:  # noqa: BLE001 - a demo endpoint: say what went wrong
            return jsonify(error=str(exc)), 400
        return jsonify(id=order["id"], name=order["name"]), 201

    @app.post("/admin/sandbox/fulfillment_events")
    def sandbox_carrier_event():
        """Demo carrier: {"fulfillment_id", "status": IN_TRANSIT|OUT_FOR_DELIVERY|DELIVERED|FAILURE..., "happened_at"?, "message"?}
        -> the fulfillment event Shopify records (as fulfillmentEventCreate would), fulfillments/update sent."""
        shop = sandbox.store.shop(_shop_param_or_host() or "")
        body = request.get_json(silent=True) or {}
        if shop is None or not body.get("fulfillment_id") or not body.get("status"):
            return jsonify(error="pass ?shop=<domain> and a JSON body with fulfillment_id and status"), 400
        try:
            event = sandbox.store.create_fulfillment_event(shop, str(body["fulfillment_id"]), str(body["status"]).upper(),
                                                           happened_at=body.get("happened_at"), message=body.get("message"))
        except Exception as exc:  # noqa: BLE001 - a demo endpoint: say what went wrong
            return jsonify(error=str(exc)), 400
        sandbox.deliver_pending(background=True)
        return jsonify(id=event["id"], status=event["status"], happened_at=event["happenedAt"]), 201

    @app.route("/apps/<subpath>", methods=["GET", "POST"])
    @app.route("/apps/<subpath>/<path:rest>", methods=["GET", "POST"])
    def storefront_app_proxy(subpath: str, rest: str = ""):
        """The storefront's app proxy (/apps/<subpath>/...): forwarded to the app, signed as Shopify signs it (app_proxy.py)."""
        proxy = sandbox.app_proxies.get(("apps", subpath))
        shop = sandbox.store.shop(_shop_param_or_host() or request.cookies.get("sandbox_shop") or "")
        if proxy is None or shop is None:
            return Response("Page not found", status=404, mimetype="text/plain")
        customer = request.args.get("sandbox_customer", request.cookies.get("sandbox_customer", ""))
        customer = customer if customer.isdigit() else ""
        response = app_proxy.forward(proxy, request, shop.domain, shop.record.get("name") or shop.domain, rest, customer)
        response.set_cookie("sandbox_shop", shop.domain, httponly=True, samesite="Lax")
        response.set_cookie("sandbox_customer", customer, httponly=True, samesite="Lax")
        return response

    @app.get("/")
    def index():
        """What this sandbox holds."""
        return jsonify(sandbox="shopify", shops=sandbox.store.shop_domains(), apps=sorted(sandbox.store.apps))

    return app


class SandboxShopify(MerchantActionsMixin):
    """A local Shopify: Admin GraphQL on the real schema, OAuth, session tokens, webhooks, fulfillment services.

    Webhooks and fulfillment-service callbacks caused by GraphQL mutations are sent after
    the answer, from a background thread, as Shopify sends them asynchronously
    (`deliver_in_background = False` sends them before answering; `webhooks.wait()`
    waits for them). Merchant actions (place_order, request_fulfillment...) send at once.
    """

    def __init__(
        self,
        *,
        shops: Iterable[str] = (DEFAULT_SHOP,),
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        webhook_retries: int = 2,
        webhook_retry_delay: float = 0.05,
        webhook_seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.store = Store(clock, wall_clock)
        self.oauth = OAuthAuthority(self.store)
        self.faults = Faults()
        self.webhooks = WebhookSender(max_retries=webhook_retries, retry_delay=webhook_retry_delay, seed=webhook_seed)
        self.notifier = FulfillmentServiceNotifier()
        self.deliver_in_background = True
        self.schema = load_admin_schema()
        self.graphql = GraphQLEndpoint(self.store, self.oauth, self.schema)
        self.store.bulk = BulkRunner(self.store, lambda version: schema_for(self.schema, version), lambda: self.deliver_pending(background=True))
        self.app_proxies: dict[tuple[str, str], app_proxy.AppProxy] = {}
        self.app = create_app(self)
        self.host, self.port = host, port
        self._server = BackgroundServer()
        for domain in shops:
            seed_demo_shop(self.store, domain)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> str:
        """Serve on host:port (port 0 = any free one) from a daemon thread; return the base URL."""
        base_url = self._server.start(self.app, host=self.host, port=self.port, name="sandbox-shopify")
        self.store.bulk.base_url = base_url  # bulk results are downloaded from here
        return base_url

    def stop(self) -> None:
        """Stop serving and wait for pending background webhooks briefly."""
        self._server.stop()
        self.webhooks.wait(timeout=2)

    def __enter__(self) -> "SandboxShopify":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>` once started."""
        return self._server.base_url

    # -- setup ----------------------------------------------------------------------------

    def add_shop(self, domain: str, *, seed: bool = True, plan: str = "Standard") -> ShopState:
        """Another shop: seeded with demo data, or empty."""
        if seed:
            return seed_demo_shop(self.store, domain, plan=plan)
        return self.store.add_shop(domain, plan=plan)

    def set_plan(self, shop_domain: str, plan: str) -> None:
        """Move a shop to Standard, Advanced, Plus or Enterprise (bucket size and restore rate)."""
        self.store.set_plan(shop_domain, plan)

    def register_app(self, client_id: str, client_secret: str, app_url: str | None = None, scopes: Iterable[str] | str | None = None, *, webhook_path: str = "/webhooks", webhook_topics: Iterable[str] | None = None) -> AppRegistration:
        """Make an app known: its secret signs tokens and webhooks; app_url receives webhooks and app loads."""
        return self.store.register_app(client_id, client_secret, app_url, DEFAULT_APP_SCOPES if scopes is None else scopes, webhook_path=webhook_path, webhook_topics=[normalize_topic(t) for t in webhook_topics] if webhook_topics is not None else None)

    def register_app_proxy(self, client_id: str, url: str, *, subpath: str = "orders", prefix: str = "apps") -> None:
        """Serve /<prefix>/<subpath> in the storefront from the app's proxy URL (shopify.app.toml [app_proxy])."""
        app = self.store.app(client_id)
        self.app_proxies[(prefix, subpath)] = app_proxy.AppProxy(client_id, app.client_secret, prefix, subpath, url)

    def mint_session_token(self, shop_domain: str, client_id: str, ttl: int = 60, user_id: str = "1") -> str:
        """An App Bridge session token (ID token) for the app on the shop."""
        return self.oauth.mint_session_token(normalize_domain(shop_domain), client_id, ttl, user_id)

    def issue_access_token(self, shop_domain: str, client_id: str, *, expiring: bool = False) -> dict[str, Any]:
        """Install the app on the shop directly and return the token endpoint's JSON body."""
        return self.oauth.issue_offline_token(normalize_domain(shop_domain), client_id, expiring=expiring)

    def refresh_count(self, shop_domain: str) -> int:
        """How many refresh-token grants the shop has answered."""
        return self.store.refresh_count(shop_domain)

    # -- clients --------------------------------------------------------------------------

    def http_client(self, timeout: float = 10.0) -> httpx.Client:
        """An httpx client that sends `https://<shop>.myshopify.com/...` to this sandbox."""
        return httpx.Client(transport=SandboxRoutingTransport(self.base_url), timeout=timeout)

    @staticmethod
    def graphql_url(shop_domain: str, api_version: str = "2026-10") -> str:
        """The shop's real Admin GraphQL URL (use it with http_client())."""
        return f"https://{normalize_domain(shop_domain)}/admin/api/{api_version}/graphql.json"

    # -- webhooks -------------------------------------------------------------------------

    def emit(self, shop_domain: str, topic: str, payload: Any, *, api_version: str = "2026-10", background: bool = False, client_id: str | None = None) -> list[WebhookDelivery]:
        """Send an event to the app-level webhook URL of each registered app and to matching shop subscriptions.

        Every delivery of the event shares one X-Shopify-Event-Id and has its own webhook id.
        With `client_id`, only that app's subscriptions get it (an event about one app).
        """
        shop_domain = normalize_domain(shop_domain)
        header_topic = normalize_topic(topic)
        enum_topic = header_to_enum(header_topic)
        body = encode_payload(payload)
        event_id, triggered_at = str(uuid.uuid4()), triggered_at_now()
        targets: list[tuple[str, str, str]] = []  # (url, secret, api version)
        with self.store.lock:
            for app in self.store.apps.values():
                if app.webhook_url and app.wants(header_topic) and client_id in (None, app.client_id):
                    targets.append((app.webhook_url, app.client_secret, api_version))
            if enum_topic and self.store.shop(shop_domain) is not None:
                for sub in self.store.webhook_subscriptions(shop_domain, topic=enum_topic):
                    app = self.store.apps.get(sub["_clientId"])
                    if app is not None and client_id in (None, app.client_id):
                        targets.append((sub["uri"], app.client_secret, sub["apiVersion"]["handle"]))
        seen: set[tuple[str, str]] = set()
        deliveries = []
        for url, secret, version in targets:
            if (url, secret) in seen:
                continue  # one address subscribed twice gets the event once
            seen.add((url, secret))
            # A subscription on a retired version gets payloads of the oldest supported one.
            served = self.graphql.version(version)
            version = served.served if served is not None else version
            deliveries.append(WebhookDelivery(header_topic, shop_domain, url, secret, body, event_id=event_id, api_version=version, triggered_at=triggered_at))
        self.webhooks.submit(deliveries, background=background)
        return deliveries
