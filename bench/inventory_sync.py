"""Benchmark: pushing supplier stock for 10,000 and 100,000 variants into a Standard-plan store.

For each catalog size, in its own process (so peak memory is that size's alone), with the
sandbox Shopify in a child process (bench/inventory_world.py) enforcing the real cost
model and a Standard plan's bucket (2,000 points, 100 restored per second):

  1. mirror   the catalog with a bulk operation (bulkOperationRunQuery + streamed JSONL);
  2. sync     a supplier feed that changes every variant: plan the levels, then push them
              with inventorySetQuantities, 250 per call, paced by the gateway;
  3. verify   by exporting the catalog again: every level must show what we planned;
  4. naive    one mutation per variant (as frappe's connector does) on a sample, projected.

The sync and the naive run both start from an empty bucket (as when another sync or app
has just used it), so the theoretical floor is exactly points spent / restore rate.

    .venv/bin/python bench/inventory_sync.py                 # 10,000 and 100,000 (about 4 min)
    .venv/bin/python bench/inventory_sync.py --sizes 2000    # smoke run

Targets: calls = ceil(N / 250); our time <= 1.15 x the floor; peak memory of the sync and the
mirror (the rise of resident memory above where each phase started) flat from 10k to 100k.
Exit status: 0 when the runs completed (whatever the figures), 2 when one broke.
"""
from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

TARGET_TIME_RATIO = 1.15
NAIVE_SAMPLE = 60
RESTORE_RATE = {"Standard": 100, "Advanced": 200, "Plus": 1000, "Enterprise": 2000}


@dataclass
class SizeResult:
    variants: int
    mirror_s: float
    mirror_lines: int
    calls: int
    expected_calls: int
    points: float
    plan_s: float
    push_s: float
    floor_s: float
    mismatches: int
    naive_calls_per_s: float
    naive_points_per_call: float
    peak_rss_mb: float
    baseline_rss_mb: float
    mirror_growth_mb: float
    sync_growth_mb: float

    @property
    def ours_s(self) -> float:
        return self.plan_s + self.push_s

    @property
    def naive_projected_s(self) -> float:
        return self.variants / self.naive_calls_per_s if self.naive_calls_per_s else float("inf")


class CostMeter(httpx.BaseTransport):
    """Counts Admin GraphQL calls and the points each was charged (actualQueryCost), per operation."""

    def __init__(self, inner: httpx.BaseTransport):
        self.inner = inner
        self.calls: dict[str, int] = {}
        self.points: dict[str, float] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.url.path.endswith("/graphql.json"):
            response.read()
            operation = _operation_name(request.content)
            cost = ((response.json().get("extensions") or {}).get("cost") or {})
            self.calls[operation] = self.calls.get(operation, 0) + 1
            self.points[operation] = self.points.get(operation, 0.0) + float(cost.get("actualQueryCost") or cost.get("requestedQueryCost") or 0)
        return response

    def close(self) -> None:
        self.inner.close()


def _operation_name(content: bytes) -> str:
    text = json.loads(content or b"{}").get("query", "")
    for keyword in ("mutation ", "query "):
        if keyword in text:
            return text.split(keyword, 1)[1].split("(", 1)[0].split("{", 1)[0].strip()
    return "?"


class StaticToken:
    """The bench's offline token (no refresh needed)."""

    def __init__(self, token: str):
        self.token = token

    def access_token(self) -> str:
        return self.token

    def invalidate(self) -> None:
        pass


def rss_mb() -> float:
    """This process's peak resident memory so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def start_peak_window() -> float:
    """Reset the kernel's peak-RSS mark (VmHWM) and return the RSS now, so a phase's own peak can be read."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    return _status_mb("VmRSS")


def peak_growth_mb(start: float) -> float:
    """How far resident memory rose above `start` at its peak since start_peak_window()."""
    return max(0.0, _status_mb("VmHWM") - start)


def run_one_size(variants: int, plan: str, naive_sample: int) -> SizeResult:
    """Everything for one catalog size, in this process."""
    from sqlalchemy import insert, select

    from integrations.shopify.gateway import ShopifyGateway
    from integrations.shopify.transport import SandboxRoutingTransport
    from integrations.suppliers.base import StockLevel
    from shopify_app.db import make_engine, make_session_factory, read_only
    from shopify_app.inventory.catalog_mirror import mirror_catalog
    from shopify_app.inventory.feeds import apply_feed
    from shopify_app.inventory.models import InventoryLevel, InventorySyncRun
    from shopify_app.inventory.plan import plan_levels
    from shopify_app.inventory.push import InventoryPusher
    from shopify_app.inventory.set_quantities import QuantityWrite, set_quantities_variables
    from shopify_app.migrate import upgrade_to_head
    from shopify_app.suppliers.models import ProductMapping, Supplier

    baseline = rss_mb()
    world = subprocess.Popen([sys.executable, str(REPO / "bench" / "inventory_world.py"), str(variants), plan],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(world.stdout.readline())

        def command(text: str) -> str:
            world.stdin.write(text + "\n")
            world.stdin.flush()
            return world.stdout.readline().strip()

        shop, location = info["shop"], info["location"]
        workdir = tempfile.mkdtemp(prefix="bench-inventory-")
        url = f"sqlite:///{workdir}/app.db"
        upgrade_to_head(url)
        engine = make_engine(url)
        writer, reader = make_session_factory(engine), read_only(make_session_factory(engine))
        meter = CostMeter(httpx.HTTPTransport())
        client = httpx.Client(transport=SandboxRoutingTransport(info["base_url"], inner=meter), timeout=120)
        gateway = ShopifyGateway(shop, StaticToken(info["token"]), http_client=client)

        with writer.begin() as session:
            supplier = Supplier(shop_domain=shop, name="Bench supplier", kind="rest", settings={}, location_gid=location,
                                inventory_terms={"safety_buffer": 1, "guard_share": 1.0})
            session.add(supplier)
            session.flush()
            supplier_id = supplier.id
            rows = [{"shop_domain": shop, "sku": f"SKU-{n}", "supplier_id": supplier_id, "supplier_sku": f"SKU-{n}"} for n in range(variants)]
            for start in range(0, len(rows), 5000):
                session.execute(insert(ProductMapping), rows[start:start + 5000])
            del rows

        window = start_peak_window()
        began = time.perf_counter()
        mirrored = mirror_catalog(writer, gateway, client, shop, poll_every=0.2)
        mirror_s = time.perf_counter() - began
        mirror_growth = peak_growth_mb(window)

        # A feed that changes every variant (available 0 in the store -> 1..50 after the buffer).
        with writer.begin() as session:
            apply_feed(session, session.get(Supplier, supplier_id), (StockLevel(f"SKU-{n}", True, 2 + n % 50) for n in range(variants)), source="file", full=True)
            run = InventorySyncRun(shop_domain=shop)
            session.add(run)
            session.flush()
            run_id = run.id

        meter.calls.clear(), meter.points.clear()
        assert command("drain") == "ok"
        window = start_peak_window()
        began = time.perf_counter()
        plan_levels(writer, reader, shop)
        planned = time.perf_counter()
        stats = InventoryPusher(writer, reader, gateway, shop, run_id).push()
        pushed = time.perf_counter()
        sync_growth = peak_growth_mb(window)
        calls, points = meter.calls.get("InventorySetQuantities", 0), meter.points.get("InventorySetQuantities", 0.0)
        assert stats.calls == calls, (stats.calls, calls)

        # Verify through Shopify itself: export again and compare every level with the plan.
        mirror_catalog(writer, gateway, client, shop, poll_every=0.2)
        with reader() as session:
            mismatches = sum(1 for desired, available in session.execute(
                select(InventoryLevel.desired, InventoryLevel.available).where(InventoryLevel.shop_domain == shop)) if desired != available)

        # Naive: one call per variant, on a sample, from an empty bucket.
        with reader() as session:
            sample = session.execute(select(InventoryLevel.id, InventoryLevel.inventory_item_gid, InventoryLevel.available)
                                     .where(InventoryLevel.shop_domain == shop).order_by(InventoryLevel.id).limit(naive_sample)).all()
        meter.calls.clear(), meter.points.clear()
        assert command("drain") == "ok"
        began_naive = time.perf_counter()
        for level_id, item_gid, available in sample:
            write = QuantityWrite(level_id, item_gid, location, available + 1, available, 0)
            gateway.mutate("InventorySetQuantities", set_quantities_variables([write], run_id), "inventorySetQuantities")
        naive_s = time.perf_counter() - began_naive
        naive_points = meter.points.get("InventorySetQuantities", 0.0) / max(1, len(sample))
        client.close()
        return SizeResult(
            variants=variants, mirror_s=mirror_s, mirror_lines=mirrored.variants + mirrored.levels,
            calls=calls, expected_calls=math.ceil(variants / 250), points=points,
            plan_s=planned - began, push_s=pushed - planned, floor_s=points / RESTORE_RATE[plan], mismatches=mismatches,
            naive_calls_per_s=len(sample) / naive_s, naive_points_per_call=naive_points,
            peak_rss_mb=rss_mb(), baseline_rss_mb=baseline, mirror_growth_mb=mirror_growth, sync_growth_mb=sync_growth,
        )
    finally:
        if world.poll() is None:
            try:
                world.stdin.write("quit\n")
                world.stdin.flush()
                world.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                world.kill()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--sizes", default="10000,100000", help="catalog sizes, comma-separated")
    p.add_argument("--plan", default="Standard", choices=sorted(RESTORE_RATE))
    p.add_argument("--naive-sample", type=int, default=NAIVE_SAMPLE, help="naive calls actually made (the rest is projected)")
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: run one size, print JSON
    return p.parse_args(argv)


def report(results: list[SizeResult], plan: str) -> None:
    print(f"\ninventory sync into a {plan}-plan store (restore {RESTORE_RATE[plan]} points/s), bucket empty at start")
    header = f"{'variants':>9} {'calls':>6} {'ceil(N/250)':>11} {'points':>8} {'floor s':>8} {'plan s':>7} {'push s':>7} {'ours s':>7} {'ours/floor':>10} {'naive calls':>11} {'naive s*':>9} {'naive/ours calls':>16} {'sync MB':>8} {'wrong':>6}"
    print(header)
    for r in results:
        print(f"{r.variants:>9} {r.calls:>6} {r.expected_calls:>11} {r.points:>8.0f} {r.floor_s:>8.1f} {r.plan_s:>7.1f} {r.push_s:>7.1f} {r.ours_s:>7.1f} "
              f"{r.ours_s / r.floor_s if r.floor_s else float('inf'):>10.3f} {r.variants:>11} {r.naive_projected_s:>9.0f} {r.variants / max(1, r.calls):>16.0f} {r.sync_growth_mb:>8.1f} {r.mismatches:>6}")
    print("* naive time projected from its measured rate on a sample; naive points per call: "
          + ", ".join(f"{r.naive_points_per_call:.1f}" for r in results))
    for r in results:
        print(f"  mirror of {r.variants}: {r.mirror_lines} JSONL objects in {r.mirror_s:.1f} s (bulk operation, not charged per object)")
    print("\ntargets:")
    for r in results:
        print(f"  {r.variants:>7}: calls = ceil(N/250) {'MET' if r.calls == r.expected_calls else 'MISSED'}; "
              f"time <= {TARGET_TIME_RATIO}x floor {'MET' if r.ours_s <= TARGET_TIME_RATIO * r.floor_s else 'MISSED'} ({r.ours_s / r.floor_s:.3f}x); "
              f"every level right {'MET' if r.mismatches == 0 else 'MISSED'}")
    if len(results) >= 2:
        small, large = results[0], results[-1]
        # Memory is flat when a phase's own peak above its starting RSS does not grow with the catalog.
        flat = all(getattr(large, f) <= getattr(small, f) * 1.5 + 8 for f in ("sync_growth_mb", "mirror_growth_mb"))
        print(f"  memory (peak RSS rise during the phase): sync {small.sync_growth_mb:.1f} MB at {small.variants} vs {large.sync_growth_mb:.1f} MB at {large.variants}; "
              f"mirror {small.mirror_growth_mb:.1f} MB vs {large.mirror_growth_mb:.1f} MB (x{large.variants // small.variants} variants) -> flat {'MET' if flat else 'MISSED'}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.one:
        print(json.dumps(asdict(run_one_size(args.one, args.plan, args.naive_sample))), flush=True)
        return 0
    results = []
    for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
        print(f"running {size} variants ...", flush=True)
        done = subprocess.run([sys.executable, __file__, "--one", str(size), "--plan", args.plan, "--naive-sample", str(args.naive_sample)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stdout[-2000:], done.stderr[-4000:], file=sys.stderr)
            return 2
        results.append(SizeResult(**json.loads(done.stdout.strip().splitlines()[-1])))
    report(results, args.plan)
    return 0


if __name__ == "__main__":
    sys.exit(main())
