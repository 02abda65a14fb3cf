"""ShopifyGateway against a scripted Shopify on 127.0.0.1: requests really cross HTTP.

The server answers from a script of responses per test; `sleep` and `clock` are fakes
so that waits are recorded (and advance the fake clock) instead of slowing the suite.
"""
from __future__ import annotations

import json
import logging
import random
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import httpx
import pytest

from integrations.shopify.pacing import WAIT_MARGIN_POINTS
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from integrations.shopify.documents import get_document
from integrations.shopify.errors import (
    ShopifyGraphQLError,
    ShopifyHTTPError,
    ShopifyThrottledError,
    ShopifyTransientError,
    ShopifyUnauthorizedError,
    ShopifyUserError,
)
from integrations.shopify.gateway import ShopifyGateway
from integrations.shopify.pacing import bucket_for, reset_pacing
from integrations.shopify.transport import SandboxRoutingTransport

SHOP = "demo-store.myshopify.com"
TOKEN = "shpat_secret_token_1234567890"
FRESH_TOKEN = "shpat_fresh_token_0987654321"


# -- the scripted Shopify ------------------------------------------------------------


@dataclass
class Scripted:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class SeenRequest:
    path: str
    host: str
    token: str | None
    query: str
    variables: dict[str, Any] | None


class ScriptedShopify:
    """A WSGI app answering each POST with the next scripted response (or a responder)."""

    def __init__(self, timeline: list[tuple[str, Any]]):
        self.script: deque[Scripted | Callable[[SeenRequest], Scripted]] = deque()
        self.requests: list[SeenRequest] = []
        self._timeline = timeline
        self._lock = threading.Lock()

    def reply(self, *responses: Scripted | Callable[[SeenRequest], Scripted]) -> None:
        self.script.extend(responses)

    def __call__(self, environ, start_response):
        request = Request(environ)
        payload = json.loads(request.get_data() or b"{}")
        seen = SeenRequest(
            path=request.path,
            host=request.host,
            token=request.headers.get("X-Shopify-Access-Token"),
            query=payload.get("query", ""),
            variables=payload.get("variables"),
        )
        with self._lock:
            self.requests.append(seen)
            self._timeline.append(("request", seen))
            step = self.script.popleft() if self.script else Scripted(500, {"error": "script exhausted"})
        scripted = step(seen) if callable(step) else step
        body = scripted.body if isinstance(scripted.body, str) else json.dumps(scripted.body)
        response = Response(body, status=scripted.status, headers=scripted.headers, content_type="application/json")
        return response(environ, start_response)


@pytest.fixture(scope="module")
def server_address() -> Iterator[tuple[str, dict[str, ScriptedShopify]]]:
    # One server per module; each test installs its own ScriptedShopify in `holder`.
    holder: dict[str, ScriptedShopify] = {}
    server = make_server("127.0.0.1", 0, lambda env, start: holder["app"](env, start))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", holder
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def timeline() -> list[tuple[str, Any]]:
    return []


@pytest.fixture
def shopify(server_address, timeline) -> ScriptedShopify:
    _, holder = server_address
    holder["app"] = ScriptedShopify(timeline)
    return holder["app"]


@pytest.fixture(autouse=True)
def fresh_pacing() -> Iterator[None]:
    reset_pacing()
    yield
    reset_pacing()


class FakeClock:
    """Monotonic time that only moves when the gateway sleeps."""

    def __init__(self, timeline: list[tuple[str, Any]]):
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._timeline = timeline

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self._timeline.append(("sleep", seconds))
        self.now += seconds


@pytest.fixture
def clock(timeline) -> FakeClock:
    return FakeClock(timeline)


class RotatingTokens:
    """Token source: hands out TOKEN until invalidated, then FRESH_TOKEN."""

    def __init__(self) -> None:
        self.current = TOKEN
        self.invalidations = 0

    def access_token(self) -> str:
        return self.current

    def invalidate(self) -> None:
        self.invalidations += 1
        self.current = FRESH_TOKEN


@pytest.fixture
def tokens() -> RotatingTokens:
    return RotatingTokens()


@pytest.fixture
def http_client(server_address) -> Iterator[httpx.Client]:
    base_url, _ = server_address
    with httpx.Client(transport=SandboxRoutingTransport(base_url), timeout=5) as client:
        yield client


@pytest.fixture
def make_gateway(http_client, tokens, clock) -> Callable[..., ShopifyGateway]:
    def build(**overrides: Any) -> ShopifyGateway:
        options: dict[str, Any] = dict(http_client=http_client, sleep=clock.sleep, clock=clock, rng=random.Random(7))
        options.update(overrides)
        return ShopifyGateway(SHOP, tokens, **options)

    return build


# -- response builders ------------------------------------------------------------------


def cost(requested: float = 10, available: float = 990, maximum: float = 1000, rate: float = 50,
         actual: float | None = None) -> dict[str, Any]:
    return {"cost": {
        "requestedQueryCost": requested,
        "actualQueryCost": requested if actual is None else actual,
        "throttleStatus": {"maximumAvailable": maximum, "currentlyAvailable": available, "restoreRate": rate},
    }}


def ok(data: dict[str, Any], **cost_kwargs: Any) -> Scripted:
    return Scripted(200, {"data": data, "extensions": cost(**cost_kwargs)})


def throttled(requested: float, available: float, rate: float = 50) -> Scripted:
    return Scripted(200, {
        "errors": [{"message": "Throttled", "extensions": {
            "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
        "extensions": {"cost": {
            "requestedQueryCost": requested, "actualQueryCost": None,
            "throttleStatus": {"maximumAvailable": 1000, "currentlyAvailable": available, "restoreRate": rate},
        }},
    })


SHOP_DATA = {"shop": {"id": "gid://shopify/Shop/1", "name": "Demo"}, "currentAppInstallation": {"accessScopes": []}}


# -- tests ------------------------------------------------------------------------------


def test_query_returns_data_and_request_crosses_http_like_the_sdk_sends_it(shopify, make_gateway, clock) -> None:
    shopify.reply(ok(SHOP_DATA))

    data = make_gateway().query("ShopInfo")

    assert data == SHOP_DATA
    [request] = shopify.requests
    assert request.path == "/admin/api/2026-10/graphql.json"
    assert request.host == "demo-store.myshopify.com"
    assert request.token == TOKEN
    assert request.query == get_document("ShopInfo")
    assert clock.sleeps == []


def test_throttled_answer_waits_until_requested_cost_is_restored_then_retries(shopify, make_gateway, clock) -> None:
    shopify.reply(throttled(requested=752, available=352, rate=50), ok(SHOP_DATA))

    data = make_gateway().query("ShopInfo")

    assert data == SHOP_DATA
    assert len(shopify.requests) == 2
    assert clock.sleeps == [pytest.approx((752 - 352 + WAIT_MARGIN_POINTS) / 50)]


def test_throttled_on_every_attempt_raises_throttled_error(shopify, make_gateway, clock) -> None:
    shopify.reply(*[throttled(requested=100, available=0) for _ in range(3)])

    with pytest.raises(ShopifyThrottledError):
        make_gateway(max_attempts=3).query("ShopInfo")

    assert len(shopify.requests) == 3
    assert clock.sleeps == [pytest.approx(2.0 + WAIT_MARGIN_POINTS / 50)] * 2


def test_pacing_waits_before_sending_when_the_known_bucket_is_too_low(shopify, make_gateway, clock, timeline) -> None:
    shopify.reply(ok(SHOP_DATA, requested=100, actual=90, available=40, rate=50), ok(SHOP_DATA))
    gateway = make_gateway()

    gateway.query("ShopInfo")
    gateway.query("ShopInfo")

    # The remembered requested cost (100) does not fit in 40 points: wait (100-40)/50 s
    # and only then send; the server never saw a throttled request.
    assert [kind for kind, _ in timeline] == ["request", "sleep", "request"]
    assert clock.sleeps == [pytest.approx(1.2 + WAIT_MARGIN_POINTS / 50)]


def test_pacing_is_shared_by_all_gateways_of_one_shop(shopify, make_gateway, clock) -> None:
    shopify.reply(ok(SHOP_DATA, requested=100, available=0, rate=100), ok(SHOP_DATA))

    make_gateway().query("ShopInfo")
    another_worker = make_gateway()
    another_worker.query("ShopInfo")

    assert clock.sleeps == [pytest.approx(1.0 + WAIT_MARGIN_POINTS / 100)]
    assert bucket_for(SHOP) is bucket_for("demo-store")


def test_http_429_honours_retry_after(shopify, make_gateway, clock) -> None:
    shopify.reply(Scripted(429, {"errors": "Too many requests"}, {"Retry-After": "2.5"}), ok(SHOP_DATA))

    assert make_gateway().query("ShopInfo") == SHOP_DATA
    assert len(shopify.requests) == 2
    assert clock.sleeps == [2.5]


def test_http_429_on_every_attempt_raises_throttled_error(shopify, make_gateway, clock) -> None:
    shopify.reply(*[Scripted(429, {}, {"Retry-After": "1"}) for _ in range(2)])

    with pytest.raises(ShopifyThrottledError):
        make_gateway(max_attempts=2).query("ShopInfo")
    assert len(shopify.requests) == 2


def test_502_then_success_retries_after_jittered_backoff(shopify, make_gateway, clock) -> None:
    shopify.reply(Scripted(502, {"error": "bad gateway"}), ok(SHOP_DATA))

    assert make_gateway().query("ShopInfo") == SHOP_DATA
    assert len(shopify.requests) == 2
    [delay] = clock.sleeps
    assert 0 <= delay <= 0.5


def test_5xx_forever_raises_transient_error_after_max_attempts(shopify, make_gateway, clock) -> None:
    shopify.reply(*[Scripted(503, {"error": "unavailable"}) for _ in range(4)])

    with pytest.raises(ShopifyTransientError) as caught:
        make_gateway(max_attempts=4).query("ShopInfo")

    assert len(shopify.requests) == 4
    assert caught.value.status == 503
    assert caught.value.outcome_unknown is False  # a query changes nothing
    # Full jitter: each wait is somewhere below its exponential ceiling.
    assert len(clock.sleeps) == 3
    for delay, ceiling in zip(clock.sleeps, [0.5, 1.0, 2.0]):
        assert 0 <= delay <= ceiling


def test_backoff_ceiling_is_capped_at_30_seconds(make_gateway) -> None:
    gateway = make_gateway(rng=random.Random(1))
    assert all(gateway._backoff(attempt) <= 30.0 for attempt in range(1, 40))


def test_network_error_is_retried_then_raises_transient_error(tokens, clock) -> None:
    # Nothing listens on this port: every attempt is a refused connection.
    with httpx.Client(transport=SandboxRoutingTransport("http://127.0.0.1:9"), timeout=2) as client:
        gateway = ShopifyGateway(SHOP, tokens, http_client=client, max_attempts=2,
                                 sleep=clock.sleep, clock=clock, rng=random.Random(3))
        with pytest.raises(ShopifyTransientError, match="network error"):
            gateway.query("ShopInfo")
    assert len(clock.sleeps) == 1


def test_non_idempotent_mutation_is_not_retried_after_a_5xx(shopify, make_gateway) -> None:
    shopify.reply(Scripted(504, {"error": "timeout"}), ok({}))

    with pytest.raises(ShopifyTransientError) as caught:
        make_gateway().mutate("FulfillmentServiceCreate", {"name": "Dropship", "callbackUrl": "https://a.example"},
                              idempotent=False)

    assert caught.value.outcome_unknown is True
    assert len(shopify.requests) == 1


def test_user_errors_raise_shopify_user_error_with_codes(shopify, make_gateway) -> None:
    user_errors = [
        {"code": "INVALID_LOCATION", "field": ["input", "quantities", "0", "locationId"], "message": "Invalid location"},
        {"code": "NON_MUTABLE_INVENTORY_ITEM", "field": ["input", "quantities", "1"], "message": "Not tracked"},
    ]
    shopify.reply(ok({"inventorySetQuantities": {"inventoryAdjustmentGroup": None, "userErrors": user_errors}}))

    with pytest.raises(ShopifyUserError) as caught:
        make_gateway().mutate("InventorySetQuantities", {"input": {"name": "available", "reason": "correction",
                                                                   "ignoreCompareQuantity": True, "quantities": []}})

    assert caught.value.codes == ["INVALID_LOCATION", "NON_MUTABLE_INVENTORY_ITEM"]
    assert caught.value.operation == "InventorySetQuantities"
    assert "INVALID_LOCATION" in str(caught.value)
    assert len(shopify.requests) == 1


def test_mutation_without_user_errors_returns_data(shopify, make_gateway) -> None:
    payload = {"webhookSubscriptionDelete": {"deletedWebhookSubscriptionId": "gid://shopify/WebhookSubscription/1",
                                             "userErrors": []}}
    shopify.reply(ok(payload))

    data = make_gateway().mutate("WebhookSubscriptionDelete", {"id": "gid://shopify/WebhookSubscription/1"},
                                 payload_key="webhookSubscriptionDelete")

    assert data == payload
    assert shopify.requests[0].variables == {"id": "gid://shopify/WebhookSubscription/1"}


def test_graphql_validation_error_raises_without_retry(shopify, make_gateway, clock) -> None:
    shopify.reply(Scripted(200, {"errors": [{
        "message": "Field 'notAField' doesn't exist on type 'Shop'",
        "locations": [{"line": 1, "column": 20}], "path": ["query ShopInfo", "shop", "notAField"],
        "extensions": {"code": "undefinedField", "typeName": "Shop", "fieldName": "notAField"},
    }]}))

    with pytest.raises(ShopifyGraphQLError) as caught:
        make_gateway().query("ShopInfo")

    assert caught.value.codes == ["undefinedField"]
    assert len(shopify.requests) == 1
    assert clock.sleeps == []


def test_access_denied_is_a_graphql_error(shopify, make_gateway) -> None:
    shopify.reply(Scripted(200, {"data": {"order": None}, "errors": [{
        "message": "Access denied for order field.", "extensions": {"code": "ACCESS_DENIED"}}]}))

    with pytest.raises(ShopifyGraphQLError) as caught:
        make_gateway().query("OrderForSync", {"id": "gid://shopify/Order/1"})
    assert caught.value.codes == ["ACCESS_DENIED"]


def test_403_is_not_retried(shopify, make_gateway) -> None:
    shopify.reply(Scripted(403, {"errors": "forbidden"}))

    with pytest.raises(ShopifyHTTPError) as caught:
        make_gateway().query("ShopInfo")
    assert caught.value.status == 403
    assert len(shopify.requests) == 1


def test_401_invalidates_the_token_and_retries_once_with_a_fresh_one(shopify, make_gateway, tokens) -> None:
    shopify.reply(
        lambda seen: Scripted(401, {"errors": "[API] Invalid API key or access token"})
        if seen.token == TOKEN else ok(SHOP_DATA),
        lambda seen: Scripted(401, {}) if seen.token == TOKEN else ok(SHOP_DATA),
    )

    assert make_gateway().query("ShopInfo") == SHOP_DATA
    assert tokens.invalidations == 1
    assert [r.token for r in shopify.requests] == [TOKEN, FRESH_TOKEN]


def test_second_401_raises_unauthorized(shopify, make_gateway, tokens) -> None:
    shopify.reply(Scripted(401, {}), Scripted(401, {}), ok(SHOP_DATA))

    with pytest.raises(ShopifyUnauthorizedError):
        make_gateway().query("ShopInfo")
    assert tokens.invalidations == 1
    assert len(shopify.requests) == 2


def test_paginate_follows_cursors_across_three_pages(shopify, make_gateway) -> None:
    def page(ids: list[int], cursor: str | None) -> Scripted:
        return ok({"webhookSubscriptions": {
            "nodes": [{"id": f"gid://shopify/WebhookSubscription/{i}", "topic": "ORDERS_CREATE"} for i in ids],
            "pageInfo": {"hasNextPage": cursor is not None, "endCursor": cursor},
        }})

    shopify.reply(page([1, 2], "c1"), page([3, 4], "c2"), page([5], None))

    nodes = list(make_gateway().paginate("WebhookSubscriptions", {"first": 2}, ("webhookSubscriptions",)))

    assert [n["id"].rsplit("/", 1)[1] for n in nodes] == ["1", "2", "3", "4", "5"]
    assert [r.variables for r in shopify.requests] == [
        {"first": 2}, {"first": 2, "after": "c1"}, {"first": 2, "after": "c2"}]


def test_paginate_reads_edges_and_stops_on_a_missing_parent(shopify, make_gateway) -> None:
    shopify.reply(ok({"inventoryItem": {"id": "gid://shopify/InventoryItem/1", "inventoryLevels": {
        "edges": [{"node": {"location": {"id": "gid://shopify/Location/1"}, "quantities": []}}],
        "pageInfo": {"hasNextPage": False, "endCursor": "x"}}}}),
        ok({"inventoryItem": None}))
    gateway = make_gateway()

    levels = list(gateway.paginate("InventoryLevelsByItem", {"id": "gid://shopify/InventoryItem/1"},
                                   ("inventoryItem", "inventoryLevels")))
    missing = list(gateway.paginate("InventoryLevelsByItem", {"id": "gid://shopify/InventoryItem/2"},
                                    ("inventoryItem", "inventoryLevels")))

    assert [level["location"]["id"] for level in levels] == ["gid://shopify/Location/1"]
    assert missing == []


def test_token_variables_and_data_never_reach_the_logs(shopify, make_gateway, caplog) -> None:
    customer_email = "jane.customer@example.com"
    shopify.reply(
        Scripted(401, {}),
        throttled(requested=20, available=0),
        Scripted(502, {}),
        ok({"order": {"id": "gid://shopify/Order/1", "email": customer_email}}),
        Scripted(200, {"errors": [{"message": "Invalid global id", "extensions": {
            "code": "argumentLiteralsIncompatible", "value": customer_email}}]}),
    )
    gateway = make_gateway()

    with caplog.at_level(logging.DEBUG):
        gateway.query("OrderForSync", {"id": customer_email})
        with pytest.raises(ShopifyGraphQLError) as caught:
            gateway.query("OrderForSync", {"id": customer_email})

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "shopify graphql ok" in logged and "OrderForSync" in logged
    for secret in (TOKEN, FRESH_TOKEN, customer_email):
        assert secret not in logged
        assert secret not in str(caught.value)
    assert all(secret not in repr(record.args) for record in caplog.records for secret in (TOKEN, FRESH_TOKEN))


def test_an_answered_query_is_logged_at_debug_not_info(shopify, make_gateway, caplog) -> None:
    # Every order queries Shopify: a line each at INFO cost the busy process CPU per order
    # (issue 19, session 30 part C); the graphql_answer metrics count and time them.
    shopify.reply(ok({"order": {"id": "gid://shopify/Order/1"}}))
    with caplog.at_level(logging.INFO, logger="integrations.shopify.gateway"):
        make_gateway().query("OrderForSync", {"id": "gid://shopify/Order/1"})
    assert not [record for record in caplog.records if "graphql ok" in record.getMessage()]


def test_query_and_mutate_refuse_the_wrong_kind_of_document(shopify, make_gateway) -> None:
    gateway = make_gateway()
    with pytest.raises(ValueError, match="mutate"):
        gateway.query("WebhookSubscriptionDelete", {"id": "gid://shopify/WebhookSubscription/1"})
    with pytest.raises(ValueError, match="query"):
        gateway.mutate("ShopInfo")
    assert shopify.requests == []


def test_one_shops_dry_bucket_never_delays_another_shop(shopify, make_gateway, http_client, tokens, clock) -> None:
    # Issue 19: a shop's API budget is its own; per-shop jobs of 1,000 shops must not queue behind one busy shop.
    shopify.reply(ok(SHOP_DATA, requested=100, available=0, rate=100), ok(SHOP_DATA, requested=100, available=900), ok(SHOP_DATA))
    make_gateway().query("ShopInfo")  # demo-store's bucket is now dry
    other = ShopifyGateway("other-store.myshopify.com", tokens, http_client=http_client, sleep=clock.sleep, clock=clock, rng=random.Random(7))

    other.query("ShopInfo")
    assert clock.sleeps == []  # another shop sends at once
    make_gateway().query("ShopInfo")
    assert clock.sleeps == [pytest.approx(1.0 + WAIT_MARGIN_POINTS / 100)]  # the dry shop waits for its own refill
    assert bucket_for("other-store") is not bucket_for(SHOP)
