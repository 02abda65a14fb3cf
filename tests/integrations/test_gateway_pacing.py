"""The cost bucket tracker and the static query cost estimator behind the gateway's pacing."""
from __future__ import annotations

import threading
from typing import Iterator

import pytest

from integrations.shopify.pacing import WAIT_MARGIN_POINTS
from graphql import parse

from integrations.shopify.documents import DOCUMENTS, parsed_document
from integrations.shopify.pacing import (
    DEFAULT_QUERY_COST,
    CostBucket,
    QueryCostMemory,
    ThrottleStatus,
    bucket_for,
    estimate_query_cost,
    requested_cost,
    reset_pacing,
)


@pytest.fixture(autouse=True)
def fresh_pacing() -> Iterator[None]:
    reset_pacing()
    yield
    reset_pacing()


def extensions(available: float, maximum: float = 1000, rate: float = 50, requested: float = 10) -> dict:
    return {"cost": {"requestedQueryCost": requested, "actualQueryCost": requested, "throttleStatus": {
        "maximumAvailable": maximum, "currentlyAvailable": available, "restoreRate": rate}}}


def test_projected_available_restores_at_the_rate_and_stops_at_the_maximum() -> None:
    status = ThrottleStatus.from_extensions(extensions(available=100, rate=50), observed_at=10.0)
    assert status is not None
    assert status.projected_available(10.0) == 100
    assert status.projected_available(12.0) == 200
    assert status.projected_available(100.0) == 1000
    assert status.projected_available(5.0) == 100  # a clock read before the observation adds nothing


def test_wait_before_is_zero_when_enough_and_the_shortfall_over_the_rate_otherwise() -> None:
    status = ThrottleStatus(maximum_available=1000, currently_available=100, restore_rate=50, observed_at=0.0)
    assert status.wait_before(100, now=0.0) == 0
    margin = WAIT_MARGIN_POINTS / 50  # one point more than the deficit, off the boundary
    assert status.wait_before(300, now=0.0) == pytest.approx(4.0 + margin)
    assert status.wait_before(300, now=1.0) == pytest.approx(3.0 + margin)
    # More than the bucket can ever hold: wait for a full bucket, not forever.
    assert status.wait_before(5000, now=0.0) == pytest.approx(18.0 + margin)


def test_unknown_bucket_never_waits() -> None:
    bucket = CostBucket()
    assert bucket.projected_available(0.0) is None
    assert bucket.wait_before(999, now=0.0) == 0
    assert bucket.observe({"cost": {"requestedQueryCost": 5}}, observed_at=0.0) is None
    assert bucket.wait_before(999, now=0.0) == 0


def test_reserve_spends_points_so_concurrent_callers_queue_up() -> None:
    bucket = CostBucket()
    bucket.observe(extensions(available=300, rate=100), observed_at=0.0)
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        wait = bucket.reserve(100, now=0.0)
        with lock:
            waits.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # 300 points cover three requests now; the next three each wait one more second.
    m = WAIT_MARGIN_POINTS / 100
    assert sorted(waits) == pytest.approx([0, 0, 0, 1 + m, 2 + m, 3 + m])


def test_bucket_registry_is_per_shop_and_ignores_the_myshopify_suffix() -> None:
    assert bucket_for("a.myshopify.com") is bucket_for("A")
    assert bucket_for("a") is not bucket_for("b")


def test_bucket_registry_hands_one_bucket_to_racing_threads() -> None:
    seen: list[CostBucket] = []
    threads = [threading.Thread(target=lambda: seen.append(bucket_for("race"))) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(b) for b in seen}) == 1


def test_query_cost_memory_keys_on_page_sizes_not_cursors() -> None:
    memory = QueryCostMemory()
    memory.remember("ProductsPage", {"first": 10, "after": "abc"}, 532)
    assert memory.recall("ProductsPage", {"first": 10, "after": "xyz"}) == 532
    assert memory.recall("ProductsPage", {"first": 20}) is None
    assert requested_cost(extensions(available=0, requested=77)) == 77
    assert requested_cost(None) is None


@pytest.mark.parametrize(("document", "variables", "expected"), [
    ("query A { shop { id name } }", None, 1),
    ("query A { products(first: 10) { nodes { id } } }", None, 2 + 10 * 1),
    ("query A { products(first: 10) { edges { node { id variants(first: 5) { nodes { id } } } } } }", None,
     2 + 10 * (1 + 2 + 5 * 1)),
    ("query A($n: Int!) { orders(first: $n) { nodes { id } pageInfo { hasNextPage } } }", {"n": 3}, 2 + 3),
    ("query A($n: Int = 4) { orders(first: $n) { nodes { id } } }", None, 2 + 4),
    ("mutation M { webhookSubscriptionDelete(id: \"x\") { deletedWebhookSubscriptionId } }", None, 10),
    ("query A { shop { ...F } } fragment F on Shop { plan { displayName } }", None, 2),
])
def test_static_estimate_follows_shopify_cost_rules(document: str, variables: dict | None, expected: int) -> None:
    assert estimate_query_cost(parse(document), variables) == expected


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_every_document_has_a_positive_estimate(name: str) -> None:
    assert estimate_query_cost(parsed_document(name), {"first": 5}) > 0


def test_default_cost_for_a_document_without_operations() -> None:
    assert estimate_query_cost(parse("fragment F on Shop { id }")) == DEFAULT_QUERY_COST
