"""The sandbox's in-memory Shopify: shops and everything in them, behind one lock.

Every object is a plain dict shaped like the GraphQL type it stands for (see records.py),
indexed by GID per shop, so `node(id:)` finds anything. One re-entrant lock guards the
whole store: the GraphQL layer holds it while a document executes, so a query sees one
consistent state and a mutation's resolvers can call the store's helpers freely.
"""
from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from . import records
from .cost import LeakyBucket, Plan, plan_named
from .access_scopes import AccessScopesMixin
from .catalog_changes import CatalogChangesMixin
from .fulfillment_events import FulfillmentEventMixin
from .fulfillment_requests import FulfillmentRequestMixin
from .fulfillment_services import FulfillmentServiceMixin
from .fulfillments import FulfillmentMixin
from .connections import MAX_PAGINATED_OBJECTS
from .ids import gid_number, make_gid
from .order_cancellation import OrderCancellationMixin
from .order_edits import OrderEditMixin
from .orders import OrderMixin
from .outbox import Outbox, WebhookEvent
from .records import QUANTITY_NAMES, UNAVAILABLE_NAMES, Ref
from .return_processing import ReturnProcessingMixin
from .returns import ReturnsMixin
from .rest_payloads import order_webhook_payload

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass
class AppRegistration:
    """An app the sandbox knows: its credentials, where it lives and what it asks for."""

    client_id: str
    client_secret: str
    app_url: str | None
    scopes: tuple[str, ...]
    webhook_path: str = "/webhooks"
    webhook_topics: frozenset[str] | None = None  # header form; None means every topic

    @property
    def webhook_url(self) -> str | None:
        """Where app-level (TOML) webhook subscriptions deliver."""
        return f"{self.app_url.rstrip('/')}{self.webhook_path}" if self.app_url else None

    def wants(self, topic: str) -> bool:
        """True if the app's app-level subscriptions include `topic` (header form)."""
        return self.webhook_topics is None or topic in self.webhook_topics


@dataclass
class AccessToken:
    """An issued Admin API access token."""

    token: str
    client_id: str
    scopes: tuple[str, ...]
    expires_at: float | None  # wall-clock seconds; None = never expires
    online: bool = False
    user_id: str | None = None
    revoked: bool = False


@dataclass
class RefreshToken:
    """A refresh token; used once, but a retry is answered until its replacement is used."""

    token: str
    client_id: str
    access_token: str
    expires_at: float
    used: bool = False
    replaced_by: str | None = None  # the refresh token its refresh issued


@dataclass
class AuthorizationCode:
    """A code from the authorize page; single use, short-lived."""

    code: str
    client_id: str
    scopes: tuple[str, ...]
    expires_at: float
    used: bool = False


@dataclass
class ShopState:
    """One shop: its objects, cost bucket and credentials. Guard access with Store.lock."""

    domain: str
    record: dict[str, Any]
    bucket: LeakyBucket
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_type: dict[str, list[str]] = field(default_factory=dict)
    access_tokens: dict[str, AccessToken] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    authorization_codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    installations: dict[str, dict[str, Any]] = field(default_factory=dict)  # client_id -> AppInstallation
    refresh_count: int = 0
    refresh_retries: int = 0  # retried refreshes answered with the pair already issued
    order_number: int = 1000
    idempotent_results: dict[tuple, Any] = field(default_factory=dict)  # (app, @idempotent key) -> (mutation and arguments, answer)
    # Shopify's order search is eventually consistent: an order appears in `orders(query:)` this many
    # seconds after it was created (0: at once). Fetching it by ID is never delayed.
    order_search_lag: float = 0.0

    @property
    def name(self) -> str:
        """'demo' for demo.myshopify.com."""
        return self.domain.removesuffix(".myshopify.com")

    @property
    def plan(self) -> Plan:
        """The shop's plan (which sets its cost bucket)."""
        return self.bucket.plan

    def get(self, gid: str) -> dict[str, Any] | None:
        """The object with this GID, if stored."""
        return self.objects.get(gid)

    def all(self, typename: str) -> list[dict[str, Any]]:
        """Every stored object of a type, oldest first."""
        return [self.objects[g] for g in self.by_type.get(typename, ()) if g in self.objects]

    def index(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Make an object findable by GID and type."""
        if obj["id"] not in self.objects:
            self.by_type.setdefault(obj["__typename"], []).append(obj["id"])
        self.objects[obj["id"]] = obj
        return obj

    def remove(self, gid: str) -> dict[str, Any] | None:
        """Forget an object."""
        obj = self.objects.pop(gid, None)
        if obj is not None:
            self.by_type[obj["__typename"]].remove(gid)
        return obj

    def deref(self, value: Any) -> Any:
        """Follow a Ref (or a list of them) to the stored objects."""
        if isinstance(value, Ref):
            return self.objects.get(value.gid)
        if isinstance(value, list) and value and isinstance(value[0], Ref):
            return [self.objects[r.gid] for r in value if r.gid in self.objects]
        return value


class Store(OrderMixin, FulfillmentMixin, FulfillmentEventMixin, FulfillmentRequestMixin, FulfillmentServiceMixin, OrderCancellationMixin, ReturnsMixin, OrderEditMixin,
            CatalogChangesMixin, AccessScopesMixin, ReturnProcessingMixin):
    """Shops, apps and their data, safe to share between the server's threads.

    Orders and fulfillment live in the mixins (orders.py, fulfillments.py,
    fulfillment_requests.py, fulfillment_services.py, order_cancellation.py); what their
    operations make Shopify send waits in `outbox` until SandboxShopify delivers it.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time):
        # Shopify's pagination cap per connection (25,000); tests may lower it to reach it cheaply.
        self.max_paginated_objects = MAX_PAGINATED_OBJECTS
        self.lock = threading.RLock()
        self.clock = clock  # monotonic: cost buckets
        self.wall_clock = wall_clock  # epoch seconds: timestamps and token expiry
        self.apps: dict[str, AppRegistration] = {}
        self._shops: dict[str, ShopState] = {}
        self._numbers = itertools.count(1_000_001)
        self.outbox = Outbox()
        self.bulk = None  # BulkRunner, set by SandboxShopify (it needs the schema and the server's URL)

    # -- shops and apps -------------------------------------------------------------------

    def add_shop(self, domain: str, *, name: str | None = None, plan: str = "Standard", currency: str = "USD") -> ShopState:
        """Create an empty shop (no locations, no products)."""
        domain = normalize_domain(domain)
        with self.lock:
            if domain in self._shops:
                raise ValueError(f"shop {domain} already exists")
            plan_ = plan_named(plan)
            gid = make_gid("Shop", self.next_number())
            shop_name = name or domain.removesuffix(".myshopify.com").replace("-", " ").title()
            shop = ShopState(domain, records.shop_record(gid, domain, shop_name, currency, plan_, self.now_iso()), LeakyBucket(plan_, self.clock))
            shop.index(shop.record)
            self._shops[domain] = shop
            return shop

    def shop(self, domain: str) -> ShopState | None:
        """The shop with this domain, or None."""
        with self.lock:
            return self._shops.get(normalize_domain(domain))

    def require_shop(self, shop: str | ShopState) -> ShopState:
        """The shop (given as domain or state); KeyError if unknown."""
        if isinstance(shop, ShopState):
            return shop
        found = self.shop(shop)
        if found is None:
            raise KeyError(f"unknown shop {shop}")
        return found

    def shop_domains(self) -> list[str]:
        """Every shop's domain."""
        with self.lock:
            return list(self._shops)

    def set_plan(self, shop: str | ShopState, plan: str) -> None:
        """Move a shop to another plan (changes its bucket size and restore rate)."""
        with self.lock:
            state = self.require_shop(shop)
            plan_ = plan_named(plan)
            state.bucket.set_plan(plan_)
            state.record["plan"] = records.plan_record(plan_)

    def refresh_count(self, shop: str | ShopState) -> int:
        """How many refresh-token grants the shop has answered."""
        with self.lock:
            return self.require_shop(shop).refresh_count

    def register_app(self, client_id: str, client_secret: str, app_url: str | None = None, scopes: Iterable[str] | str = (), *, webhook_path: str = "/webhooks", webhook_topics: Iterable[str] | None = None) -> AppRegistration:
        """Tell the sandbox about an app (replaces an earlier registration of the same id)."""
        if isinstance(scopes, str):
            scopes = [s for s in (p.strip() for p in scopes.split(",")) if s]
        app = AppRegistration(client_id, client_secret, app_url.rstrip("/") if app_url else None, tuple(scopes), webhook_path, frozenset(webhook_topics) if webhook_topics is not None else None)
        with self.lock:
            self.apps[client_id] = app
        return app

    def app(self, client_id: str) -> AppRegistration | None:
        """A registered app, or None."""
        with self.lock:
            return self.apps.get(client_id)

    def installation(self, shop: str | ShopState, client_id: str) -> dict[str, Any]:
        """The app's AppInstallation on the shop (created on first use)."""
        with self.lock:
            state = self.require_shop(shop)
            inst = state.installations.get(client_id)
            if inst is None:
                app = self.apps.get(client_id)
                inst = state.index({
                    "__typename": "AppInstallation",
                    "id": make_gid("AppInstallation", self.next_number()),
                    "launchUrl": f"https://admin.shopify.com/store/{state.name}/apps/{client_id}",
                    "uninstallUrl": None,
                    "activeSubscriptions": [],
                    "_clientId": client_id,
                    "_scopes": tuple(app.scopes) if app else (),
                })
                state.installations[client_id] = inst
            return inst

    # -- ids and time -----------------------------------------------------------------

    def next_number(self) -> int:
        """A fresh numeric id (unique across types, like Shopify's)."""
        with self.lock:
            return next(self._numbers)

    def now_iso(self) -> str:
        """The wall clock as Shopify formats DateTime."""
        return iso(self.wall_clock())

    def touch(self, obj: dict[str, Any]) -> None:
        """Mark an object as just updated."""
        obj["updatedAt"] = self.now_iso()

    # -- events -----------------------------------------------------------------------

    def publish(self, shop: str | ShopState, topic: str, payload: Any) -> None:
        """Queue a webhook event (payload as of now) for SandboxShopify.deliver_pending to send."""
        self.outbox.put(WebhookEvent(self.require_shop(shop).domain, topic, payload))

    def publish_order(self, shop: str | ShopState, order: dict[str, Any], *topics: str) -> None:
        """Queue orders/* events carrying the order's REST payload."""
        state = self.require_shop(shop)
        payload = order_webhook_payload(state, order)
        for topic in topics:
            self.publish(state, topic, payload)

    # -- catalogue and inventory --------------------------------------------------------

    def add_location(self, shop: str | ShopState, name: str, **fields: Any) -> dict[str, Any]:
        """Create a Location."""
        with self.lock:
            state = self.require_shop(shop)
            return state.index(records.location_record(make_gid("Location", self.next_number()), name, self.now_iso(), **fields))

    def add_product(self, shop: str | ShopState, title: str, variants: Iterable[Mapping[str, Any]] = (), **fields: Any) -> dict[str, Any]:
        """Create a Product; each variant is a mapping of sku, price, title, quantities={location gid: available}."""
        with self.lock:
            state = self.require_shop(shop)
            product = state.index(records.product_record(make_gid("Product", self.next_number()), title, self.now_iso(), **fields))
            variants = list(variants) or [{"title": "Default Title"}]
            for spec in variants:
                self.add_variant(state, product, **spec)
            titles = [state.get(r.gid)["title"] for r in product["variants"]]
            product["options"] = [{"__typename": "ProductOption", "id": make_gid("ProductOption", self.next_number()), "name": "Title", "position": 1, "values": titles, "optionValues": [], "translations": [], "linkedMetafield": None}]
            return product

    def add_variant(self, shop: str | ShopState, product: dict[str, Any], *, sku: str | None = None, price: Any = "10.00", title: str | None = None, quantities: Mapping[str, int] | None = None, requires_shipping: bool = True, tracked: bool = True, **fields: Any) -> dict[str, Any]:
        """Add a variant (and its inventory item) to a product; stock it at the given locations.

        Digital goods and gift cards: requires_shipping=False, tracked=False.
        """
        with self.lock:
            state = self.require_shop(shop)
            now = self.now_iso()
            variant_gid = make_gid("ProductVariant", self.next_number())
            item_gid = make_gid("InventoryItem", self.next_number())
            title = title or sku or f"Variant {len(product['variants']) + 1}"
            variant = records.variant_record(variant_gid, product, item_gid, title, sku, price, len(product["variants"]) + 1, now, **fields)
            variant["selectedOptions"] = [{"__typename": "SelectedOption", "name": "Title", "value": title}]
            state.index(variant)
            item = state.index(records.inventory_item_record(item_gid, variant_gid, sku, now, state.record["currencyCode"]))
            item.update(requiresShipping=requires_shipping, tracked=tracked)
            product["variants"].append(Ref(variant_gid))
            if sku:
                product["_skus"].append(sku)
            for location_gid, available in (quantities or {}).items():
                self.set_quantity(state, item_gid, location_gid, "available", available)
            return variant

    def add_catalog(self, shop: str | ShopState, count: int, location_gid: str, *, sku_prefix: str = "SKU-", available: int = 0, variants_per_product: int = 10) -> int:
        """A big catalog for benchmarks: `count` variants (SKUs <prefix>0..) stocked at one location."""
        with self.lock:
            state = self.require_shop(shop)
            made = 0
            while made < count:
                size = min(variants_per_product, count - made)
                self.add_product(state, f"Catalog product {made // variants_per_product}", [
                    {"sku": f"{sku_prefix}{made + n}", "title": f"Option {n + 1}", "quantities": {location_gid: available}} for n in range(size)
                ])
                made += size
            return made

    def variant_by_sku(self, shop: str | ShopState, sku: str) -> dict[str, Any] | None:
        """The first variant with this SKU."""
        with self.lock:
            return next((v for v in self.require_shop(shop).all("ProductVariant") if v.get("sku") == sku), None)

    def inventory_level(self, shop: str | ShopState, item_gid: str, location_gid: str, *, create: bool = False) -> dict[str, Any] | None:
        """The level of an item at a location (optionally activating it there)."""
        with self.lock:
            state = self.require_shop(shop)
            gid = inventory_level_gid(item_gid, location_gid)
            level = state.get(gid)
            if level is None and create:
                if state.get(item_gid) is None or state.get(location_gid) is None:
                    raise KeyError(f"unknown inventory item or location: {item_gid}, {location_gid}")
                level = state.index(records.inventory_level_record(gid, item_gid, location_gid, self.now_iso()))
            return level

    def set_quantity(self, shop: str | ShopState, item_gid: str, location_gid: str, name: str, value: int) -> dict[str, Any]:
        """Set one named quantity, keeping on_hand = available + the unavailable names."""
        with self.lock:
            level = self.inventory_level(shop, item_gid, location_gid, create=True)
            current = level["_quantities"].get(name, 0)
            self.adjust_quantity(shop, item_gid, location_gid, name, value - current)
            return level

    def adjust_quantity(self, shop: str | ShopState, item_gid: str, location_gid: str, name: str, delta: int) -> dict[str, Any]:
        """Change one named quantity by `delta`, as Shopify's inventory rules propagate it."""
        if name not in QUANTITY_NAMES:
            raise ValueError(f"unknown quantity name {name!r}")
        with self.lock:
            state = self.require_shop(shop)
            level = self.inventory_level(state, item_gid, location_gid, create=True)
            q = level["_quantities"]
            q[name] += delta
            if name == "available" or name in UNAVAILABLE_NAMES:
                q["on_hand"] += delta
            elif name == "on_hand":
                q["available"] += delta
            self.touch(level)
            self.touch(state.get(item_gid))
            return level

    # -- orders -------------------------------------------------------------------------

    # -- webhook subscriptions ----------------------------------------------------------

    def webhook_subscriptions(self, shop: str | ShopState, *, topic: str | None = None, client_id: str | None = None) -> list[dict[str, Any]]:
        """Shop-level subscriptions, optionally of one topic (enum form) or one app."""
        with self.lock:
            subs = self.require_shop(shop).all("WebhookSubscription")
            return [s for s in subs if (topic is None or s["topic"] == topic) and (client_id is None or s["_clientId"] == client_id)]

    def add_webhook_subscription(self, shop: str | ShopState, client_id: str, topic: str, callback_url: str, *, api_version: str = "2026-10", include_fields: Iterable[str] = (), filter: str | None = None, metafield_namespaces: Iterable[str] = ()) -> dict[str, Any]:
        """Create a shop-level webhook subscription (topic in enum form)."""
        with self.lock:
            state = self.require_shop(shop)
            now = self.now_iso()
            number = self.next_number()
            return state.index({
                "__typename": "WebhookSubscription",
                "id": make_gid("WebhookSubscription", number),
                "topic": topic,
                "format": "JSON",
                "filter": filter,
                "includeFields": list(include_fields),
                "metafieldNamespaces": list(metafield_namespaces),
                "endpoint": {"__typename": "WebhookHttpEndpoint", "callbackUrl": callback_url},
                "callbackUrl": callback_url,
                "uri": callback_url,
                "apiVersion": {"__typename": "ApiVersion", "handle": api_version, "displayName": api_version, "supported": True},
                "createdAt": now,
                "updatedAt": now,
                "_clientId": client_id,
            })


def normalize_domain(domain: str) -> str:
    """Lower-case, no scheme, no port, `.myshopify.com` added to a bare name."""
    domain = domain.strip().lower().removeprefix("https://").removeprefix("http://").split("/")[0].split(":")[0]
    return domain if "." in domain else f"{domain}.myshopify.com"


def iso(epoch_seconds: float) -> str:
    """Epoch seconds as Shopify's DateTime string (UTC, second precision)."""
    return dt.datetime.fromtimestamp(epoch_seconds, dt.timezone.utc).strftime(ISO_FORMAT)


def inventory_level_gid(item_gid: str, location_gid: str) -> str:
    """Shopify's InventoryLevel id: the location's number with the item as a query tail."""
    return make_gid("InventoryLevel", gid_number(location_gid), f"inventory_item_id={gid_number(item_gid)}")


def seed_demo_shop(store: Store, shop_domain: str = "demo.myshopify.com", *, plan: str = "Standard") -> ShopState:
    """A shop with one warehouse, four products (six SKUs), stock, and two orders."""
    shop = store.add_shop(shop_domain, plan=plan)
    warehouse = store.add_location(shop, "Sandbox Warehouse")["id"]
    store.add_product(shop, "Ceramic Mug", [
        {"sku": "MUG-WHT", "title": "White", "price": "12.00", "quantities": {warehouse: 40}},
        {"sku": "MUG-BLK", "title": "Black", "price": "12.00", "quantities": {warehouse: 25}},
    ])
    store.add_product(shop, "Cotton T-Shirt", [
        {"sku": "TEE-S", "title": "Small", "price": "18.00", "quantities": {warehouse: 15}},
        {"sku": "TEE-M", "title": "Medium", "price": "18.00", "quantities": {warehouse: 20}},
        {"sku": "TEE-L", "title": "Large", "price": "18.00", "quantities": {warehouse: 0}},
    ])
    store.add_product(shop, "Steel Water Bottle", [{"sku": "BTL-500", "title": "Default Title", "price": "24.50", "quantities": {warehouse: 8}}])
    store.add_product(shop, "Canvas Tote", [{"sku": "TOTE-NAT", "title": "Default Title", "price": "15.00", "quantities": {warehouse: 0}}], status="DRAFT")
    store.create_order(shop, [{"sku": "MUG-WHT", "quantity": 2}, {"sku": "TEE-M", "quantity": 1}])
    store.create_order(shop, [{"sku": "BTL-500", "quantity": 1}], email="second@example.com")
    return shop


def add_non_shipping_products(store: Store, shop: str | ShopState) -> dict[str, str]:
    """A digital product (EBOOK-GUIDE, no shipping) and a $25 gift card (GIFT-25); returns {sku: variant gid}.

    Not part of seed_demo_shop, whose catalogue other tests count on.
    """
    guide = store.add_product(shop, "Dropshipping Guide (PDF)", [{"sku": "EBOOK-GUIDE", "title": "Default Title", "price": "9.00", "requires_shipping": False, "tracked": False}], productType="Digital")
    card = store.add_product(shop, "Gift Card", [{"sku": "GIFT-25", "title": "$25", "price": "25.00", "requires_shipping": False, "tracked": False}], isGiftCard=True, productType="Gift card")
    return {"EBOOK-GUIDE": guide["variants"][0].gid, "GIFT-25": card["variants"][0].gid}
