"""Printful's leaky bucket, from both sides: the adapter paces itself so big pulls and bursts meet no 429 failure.

The sandbox runs the bucket the spec documents (X-Ratelimit-* headers, 429 + Retry-After);
here it runs a smaller, faster policy (it is told through the same headers) so the tests
take seconds, not minutes. bench/printful_stock_pull.py runs the real 120-burst, 2/s policy.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from integrations.suppliers.base import TransientSupplierError
from integrations.suppliers.printful import PrintfulAdapter, PrintfulProduct
from integrations.suppliers.printful.pacing import LeakyBucket, bucket_for
from sandbox.supplier.catalog import generated_catalog
from sandbox.supplier.printful import SandboxSupplier
from sandbox.supplier.rate_limit import RateLimiter
from supplier_contract import order_request

FAST = dict(limit=10, window_seconds=0.25)  # 10 burst, 40/s: the documented shape, quicker


class FakeClock:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def limited():
    """A sandbox with its own bucket per test (fresh token, so the client's process-wide bucket is fresh too)."""
    supplier = SandboxSupplier(token=f"pace-{id(object())}", catalog=generated_catalog(4, 60), rate_limiter=RateLimiter(**FAST))
    supplier.start()
    yield supplier
    supplier.stop()


def adapter_for(sandbox: SandboxSupplier, *, with_products: bool) -> PrintfulAdapter:
    products = {v.sku: PrintfulProduct(v.id, catalog_product_id=v.product_id if with_products else None) for v in sandbox.catalog.values()}
    return PrintfulAdapter(sandbox.token, base_url=sandbox.base_url, products=products, timeout=httpx.Timeout(5.0, connect=2.0))


# -- the bucket itself (a clock of its own: behaviour, not wall time) -----------------------------


def test_a_full_bucket_lets_a_burst_through_then_paces_at_the_refill_rate():
    clock = FakeClock()
    bucket = LeakyBucket(capacity=120, rate=2.0, clock=clock, sleep=clock.sleep)
    for _ in range(120):
        bucket.acquire()
    assert clock.slept == []
    bucket.acquire()
    bucket.acquire()
    assert clock.slept == [pytest.approx(0.5), pytest.approx(0.5)]


def test_the_headers_correct_the_bucket_and_a_429_stops_everyone_until_retry_after():
    clock = FakeClock()
    bucket = LeakyBucket(clock=clock, sleep=clock.sleep)
    bucket.observe({"X-Ratelimit-Policy": "60;w=60;", "X-Ratelimit-Limit": "60", "X-Ratelimit-Remaining": "0"}, 200)
    assert (bucket.capacity, bucket.rate) == (60, 1.0)
    bucket.acquire()
    assert clock.slept == [pytest.approx(1.0)]  # another process used the token: we wait for the next drop
    bucket.observe({"Retry-After": "7"}, 429)
    bucket.acquire()
    assert clock.slept[-1] == pytest.approx(7.0)


def test_the_server_never_raises_our_count_above_what_we_reserved():
    clock = FakeClock()
    bucket = LeakyBucket(capacity=10, rate=1.0, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        bucket.acquire()
    bucket.observe({"X-Ratelimit-Remaining": "9"}, 200)  # an answer older than our other requests in flight
    bucket.acquire()
    assert clock.slept == [pytest.approx(1.0)]


def test_one_bucket_per_token_and_api_shared_by_every_adapter():
    assert bucket_for("tok-a", "https://api.printful.com") is bucket_for("tok-a", "https://api.printful.com")
    assert bucket_for("tok-a", "https://api.printful.com") is not bucket_for("tok-b", "https://api.printful.com")
    first = PrintfulAdapter("tok-shared", base_url="https://printful.test")
    second = PrintfulAdapter("tok-shared", base_url="https://printful.test")
    assert first.bucket is second.bucket


# -- against the rate-limited sandbox ---------------------------------------------------------------


def test_the_sandbox_answers_the_documented_headers_and_429_with_retry_after(limited):
    limited.rate_limiter.clock = lambda: 0.0  # a frozen clock: no drop comes back during the test
    headers = {"Authorization": f"Bearer {limited.token}"}
    answers = [httpx.get(f"{limited.base_url}/v2/catalog-variants/1000000/availability", headers=headers) for _ in range(12)]
    first = answers[0].headers
    assert first["X-Ratelimit-Policy"] == "10;w=0.25;" and first["X-Ratelimit-Limit"] == "10" and first["X-Ratelimit-Remaining"] == "9"
    assert float(first["X-Ratelimit-Reset"]) > 0
    assert [a.status_code for a in answers[:10]] == [200] * 10
    refused = [a for a in answers if a.status_code == 429]
    assert len(refused) == 2 and all(int(a.headers["Retry-After"]) >= 1 and a.json()["code"] == 429 for a in refused)
    assert limited.rate_limiter.refused == len(refused)


def test_a_stock_pull_one_variant_per_request_meets_no_429(limited):
    adapter = adapter_for(limited, with_products=False)
    skus = [v.sku for v in limited.catalog.values()][:120]  # 12x the burst
    levels = adapter.get_stock(skus)
    assert [level.supplier_sku for level in levels] == skus
    assert all(level.in_stock == (limited.variant_by_sku(level.supplier_sku).id % 3 != 0) for level in levels)
    assert limited.rate_limiter.refused == 0


def test_a_stock_pull_by_product_reads_100_variants_a_request(limited):
    adapter = adapter_for(limited, with_products=True)
    skus = [v.sku for v in limited.catalog.values()]  # 240 SKUs over 4 products of 60 variants
    levels = adapter.get_stock(skus)
    assert {level.supplier_sku: level.in_stock for level in levels} == {
        v.sku: v.id % 3 != 0 for v in limited.catalog.values()}
    availability_calls = [path for method, path, _ in limited.received if "availability" in path]
    assert len(availability_calls) == 4 and limited.rate_limiter.refused == 0


def test_a_429_from_another_process_is_waited_out_inside_the_pull(limited):
    adapter = adapter_for(limited, with_products=False)
    limited.fail_next(429, count=2, retry_after=1, route="GET /v2/catalog-variants")
    levels = adapter.get_stock(["PF-0-1", "PF-0-2", "PF-0-4"])
    assert [level.supplier_sku for level in levels] == ["PF-0-1", "PF-0-2", "PF-0-4"]
    assert limited.faults.pending() == 0  # both 429s were met, and waited out


def test_a_lockout_longer_than_we_hold_a_caller_is_transient_with_its_retry_after(limited):
    adapter = adapter_for(limited, with_products=False)
    limited.fail_next(429, retry_after=600, route="GET /v2/catalog-variants")
    with pytest.raises(TransientSupplierError) as caught:
        adapter.get_stock(["PF-0-1"])
    assert caught.value.retry_after == pytest.approx(600)


def test_a_burst_of_orders_from_many_threads_meets_no_429(limited):
    adapter = adapter_for(limited, with_products=False)
    variants = list(limited.catalog.values())

    class Controller:
        in_stock_skus = (variants[1].sku, variants[2].sku)

    requests = [order_request(Controller) for _ in range(15)]  # 2 calls each: 3x the burst
    with ThreadPoolExecutor(max_workers=8) as pool:
        placed = list(pool.map(adapter.place_order, requests))
    assert len({order.supplier_order_id for order in placed}) == 15
    assert all(limited.orders_created(r.external_id) == 1 for r in requests)
    assert limited.rate_limiter.refused == 0
