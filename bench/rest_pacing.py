"""The REST adapter's per-account pace against a supplier that limits requests per second (the CJ sandbox).

A stock pull of N SKUs (one call per SKU, as CJ's product/stock/queryByVid) through the
cjdropshipping preset, against the CJ sandbox refusing calls past `--limit` per second per token
(code 1600200, as CJ does). Two runs in the same process: the baseline without a pace (the preset's
rate set far above the limit) and ours (rate_limit = the supplier's limit). Prints calls, refusals,
elapsed time and the ratio to the floor N / limit seconds, then a targets block.

    python -m bench.rest_pacing --skus 200 --limit 20
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from integrations import egress  # noqa: E402
from integrations.suppliers.base import SupplierError  # noqa: E402
from integrations.suppliers.registry import build_adapter  # noqa: E402
from integrations.suppliers.runtime import SupplierRef  # noqa: E402
from sandbox.supplier.cj import CjSandbox  # noqa: E402
from shopify_app.suppliers.credentials import RefreshingAdapter  # noqa: E402

TARGET_RATIO = 1.15  # ours within 15% of the floor


def pull(cj: CjSandbox, skus: list[str], rate: float, credentials: dict) -> tuple[float, int, int, str | None, dict]:
    """(seconds, SKUs read, refusals at the supplier, error, credentials after) for one paced stock pull."""
    settings = {**cj.adapter_settings(requests_per_second=rate)}
    adapter = RefreshingAdapter(build_adapter("rest", credentials, settings), SupplierRef("bench", 1), "rest", settings, credentials, None)
    time.sleep(1.1)  # an earlier run's burst is out of the supplier's window
    adapter.get_stock(skus[:1])  # the token first, outside the timing
    refused_before = cj.refused_for_rate
    time.sleep(1.1)  # the supplier's window starts empty
    started = time.monotonic()
    error = None
    try:
        read = len(adapter.get_stock(skus))
    except SupplierError as exc:
        read, error = 0, str(exc)[:80]
    return time.monotonic() - started, read, cj.refused_for_rate - refused_before, error, adapter.credentials


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--skus", type=int, default=200)
    p.add_argument("--limit", type=float, default=20.0, help="the supplier's requests per second per token")
    args = p.parse_args(argv)
    egress.configure(egress.EgressPolicy.from_allow_list("127.0.0.1/32"))  # the sandbox is on loopback
    cj = CjSandbox(token_call_window=0)
    cj.start()
    try:
        skus = [f"BENCH-VID-{n:05d}" for n in range(args.skus)]
        for sku in skus:
            cj.set_stock(sku, warehouses={"CN": 7, "US": 1})
        cj.rate_limit(args.limit)
        credentials = cj.adapter_credentials()
        base_s, base_read, base_refused, base_error, credentials = pull(cj, skus, 100.0, credentials)
        ours_s, ours_read, ours_refused, ours_error, _ = pull(cj, skus, args.limit, credentials)
    finally:
        cj.stop()
    floor = args.skus / args.limit
    print(f"stock pull of {args.skus} SKUs (one call each) against a supplier allowing {args.limit:g} requests/s per token; floor {floor:.1f} s")
    print(f"{'run':<22} {'seconds':>8} {'SKUs read':>10} {'refused':>8} {'x floor':>8}  error")
    print(f"{'baseline (no pace)':<22} {base_s:>8.2f} {base_read:>10} {base_refused:>8} {base_s / floor:>8.2f}  {base_error or ''}")
    print(f"{'ours (rate_limit)':<22} {ours_s:>8.2f} {ours_read:>10} {ours_refused:>8} {ours_s / floor:>8.2f}  {ours_error or ''}")
    print("\ntargets:")
    print(f"  every SKU read with zero refusals: {ours_read}/{args.skus}, {ours_refused} refused {'MET' if ours_read == args.skus and ours_refused == 0 else 'MISSED'}")
    print(f"  time <= {TARGET_RATIO}x floor: {ours_s / floor:.3f}x {'MET' if ours_s <= TARGET_RATIO * floor else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
