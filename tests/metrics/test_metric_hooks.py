"""The hooks behind the figures: GraphQL cost and throttles per shop against the sandbox Shopify's real
cost model, the supplier call wrapper's outcomes and pass-through, breaker states (fake clock)."""
from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from integrations.suppliers.base import (
    AmendmentRefused,
    CancellationRefused,
    CredentialsRejected,
    OutcomeUnknown,
    PermanentSupplierError,
    SupplierError,
    SupplierOrderNotFound,
    TransientSupplierError,
)
from shopify_app.metrics.breakers import breaker_states, watch_breaker
from shopify_app.metrics.supplier_calls import MeteredAdapter, call_outcome, metered
from shopify_app.suppliers.forwarding import CircuitBreaker

from gateway_kit import PAGE, SHOP, simulated_gateway, simulated_sandbox, spend_directly


@pytest.fixture
def world():
    with simulated_sandbox("metrics-client", "metrics-secret-0123456789abcdef0123") as world:
        yield world


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_graphql_cost_throttles_and_pacing_are_counted_per_shop(world):
    sandbox, time, token, client = world
    cost = spend_directly(client, token)
    while cost["throttleStatus"]["currentlyAvailable"] >= cost["requestedQueryCost"]:
        cost = spend_directly(client, token)
    before = {
        "throttled": sample("dropship_shopify_graphql_throttles_total", shop=SHOP, reason="throttled"),
        "limited": sample("dropship_shopify_graphql_throttles_total", shop=SHOP, reason="http_429"),
        "ok": sample("dropship_shopify_graphql_requests_total", operation="ProductsPage", outcome="ok"),
        "throttled_requests": sample("dropship_shopify_graphql_requests_total", operation="ProductsPage", outcome="throttled"),
        "requested": sample("dropship_shopify_graphql_cost_points_total", shop=SHOP, kind="requested"),
        "actual": sample("dropship_shopify_graphql_cost_points_total", shop=SHOP, kind="actual"),
        "paced": sample("dropship_shopify_graphql_pacing_wait_seconds_total", shop=SHOP),
        "timed": sample("dropship_shopify_graphql_seconds_count", operation="ProductsPage"),
    }
    gw = simulated_gateway(token, client, time)
    gw.query("ProductsPage", PAGE)  # sent blind: THROTTLED once, then paced until the bucket holds it
    assert sample("dropship_shopify_graphql_throttles_total", shop=SHOP, reason="throttled") == before["throttled"] + 1
    assert sample("dropship_shopify_graphql_requests_total", operation="ProductsPage", outcome="throttled") == before["throttled_requests"] + 1
    assert sample("dropship_shopify_graphql_requests_total", operation="ProductsPage", outcome="ok") == before["ok"] + 1
    assert sample("dropship_shopify_graphql_seconds_count", operation="ProductsPage") == before["timed"] + 2
    assert sample("dropship_shopify_graphql_pacing_wait_seconds_total", shop=SHOP) == pytest.approx(before["paced"] + sum(time.slept))
    assert sample("dropship_shopify_graphql_cost_points_total", shop=SHOP, kind="requested") >= before["requested"] + 2 * cost["requestedQueryCost"]
    assert before["actual"] < sample("dropship_shopify_graphql_cost_points_total", shop=SHOP, kind="actual")

    sandbox.faults.throttle_next(1, retry_after=2.0)  # HTTP 429 with Retry-After
    gw.query("ProductsPage", PAGE)
    assert sample("dropship_shopify_graphql_throttles_total", shop=SHOP, reason="http_429") == before["limited"] + 1
    assert sample("dropship_shopify_graphql_requests_total", operation="ProductsPage", outcome="rate_limited") >= 1


@pytest.mark.parametrize(("error", "outcome"), [
    (None, "ok"), (SupplierOrderNotFound("x"), "not_found"), (PermanentSupplierError("x"), "permanent"), (CredentialsRejected("x"), "credentials_rejected"),
    (CancellationRefused("x"), "permanent"), (AmendmentRefused("x"), "permanent"), (OutcomeUnknown("x"), "unknown"),
    (TransientSupplierError("x", retry_after=3), "transient"), (SupplierError("x"), "transient"), (KeyError("x"), "error"),
])
def test_supplier_call_outcomes(error, outcome):
    assert call_outcome(error) == outcome


class ScriptedAdapter:
    """A supplier adapter whose answers the test sets (only the interface methods used here)."""

    can_update_address = True

    def __init__(self, error=None):
        self.error = error
        self.calls = []

    def place_order(self, request):
        self.calls.append(request)
        if self.error:
            raise self.error
        return "placed"

    def parse_webhook(self, headers, body):
        return ["local"]


def test_the_metered_adapter_counts_times_and_passes_everything_through():
    labels = {"kind": "test-kind", "operation": "place_order"}
    ok_before = sample("dropship_supplier_calls_total", outcome="ok", **labels)
    unknown_before = sample("dropship_supplier_calls_total", outcome="unknown", **labels)
    timed_before = sample("dropship_supplier_call_seconds_count", **labels)
    adapter = metered(ScriptedAdapter(), "test-kind")
    assert metered(adapter, "test-kind") is adapter and isinstance(adapter, MeteredAdapter)
    assert adapter.place_order("order-1") == "placed" and adapter.wrapped_adapter.calls == ["order-1"]
    assert adapter.can_update_address is True and adapter.parse_webhook({}, b"") == ["local"]
    failing = metered(ScriptedAdapter(OutcomeUnknown("timed out")), "test-kind")
    with pytest.raises(OutcomeUnknown):
        failing.place_order("order-2")
    assert sample("dropship_supplier_calls_total", outcome="ok", **labels) == ok_before + 1
    assert sample("dropship_supplier_calls_total", outcome="unknown", **labels) == unknown_before + 1
    assert sample("dropship_supplier_call_seconds_count", **labels) == timed_before + 2
    assert sample("dropship_supplier_calls_total", kind="test-kind", operation="parse_webhook", outcome="ok") == 0


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_breaker_states_follow_the_breaker_and_are_published():
    clock = FakeClock()
    breaker = watch_breaker(CircuitBreaker(window=2, open_ratio=1.0, cooldown=30, clock=clock))
    supplier = 900001
    breaker.failure(supplier)
    assert supplier not in breaker_states()  # one failure of two: still closed, never tripped
    breaker.failure(supplier)
    assert breaker_states()[supplier] == "open"
    assert sample("dropship_supplier_breaker_state", supplier_id=str(supplier), state="open") == 1
    clock.now += 31
    assert breaker.acquire(supplier) == 0  # after the cooldown a probe goes through: half-open
    assert breaker_states()[supplier] == "half_open"
    assert sample("dropship_supplier_breaker_state", supplier_id=str(supplier), state="half_open") == 1
    breaker.success(supplier)  # the probe got an answer: closed
    assert breaker_states()[supplier] == "closed"
    assert sample("dropship_supplier_breaker_state", supplier_id=str(supplier), state="open") == 0
    assert sample("dropship_supplier_breaker_state", supplier_id=str(supplier), state="closed") == 1


class HalfOpenBreaker:
    """The shape issue 20's breaker exposes: breaker_states() -> {supplier_id: state}."""

    def __init__(self, states):
        self.states = states

    def breaker_states(self):
        return dict(self.states)


def test_a_breaker_that_reports_its_own_states_is_read_through_breaker_states():
    own = HalfOpenBreaker({900002: "half_open", 900003: "closed"})
    watched = watch_breaker(own)
    states = breaker_states()
    assert states[900002] == "half_open" and 900003 not in states
    own.states[900002] = "closed"
    watched.breaker_states()  # any call on the watched breaker republishes
    assert sample("dropship_supplier_breaker_state", supplier_id="900002", state="half_open") == 0
    assert sample("dropship_supplier_breaker_state", supplier_id="900002", state="closed") == 1


class BrokenMetric:
    """A metric whose every write fails, as on a full PROMETHEUS_MULTIPROC_DIR disk."""

    def labels(self, *args, **kwargs):
        raise OSError(28, "No space left on device")


def test_a_failing_metric_changes_nothing_the_app_does(monkeypatch, app_factory, sqlite_url):
    import json as jsonlib

    from conftest import install_shop, webhook_headers
    from shopify_app.metrics import intake, supplier_calls

    for module, name in ((supplier_calls, "SUPPLIER_CALLS"), (supplier_calls, "SUPPLIER_CALL_SECONDS"), (intake, "WEBHOOKS_RECEIVED"), (intake, "WEBHOOK_INTAKE_SECONDS")):
        monkeypatch.setattr(module, name, BrokenMetric())
    assert metered(ScriptedAdapter(), "test-kind").place_order("order-3") == "placed"
    with pytest.raises(PermanentSupplierError):  # the adapter's own error, not the metric's
        metered(ScriptedAdapter(PermanentSupplierError("no such SKU")), "test-kind").place_order("order-4")
    app = app_factory(sqlite_url)
    install_shop(app, SHOP)
    body = jsonlib.dumps({"id": 5}).encode()
    response = app.test_client().post("/webhooks", data=body, headers=webhook_headers("orders/paid", body, shop=SHOP))
    assert response.status_code == 200 and response.get_data(as_text=True) == "new"
