"""The sandbox Shopify for bench/inventory_sync.py, in its own process so the app's memory is measured alone.

    python bench/inventory_world.py <variants> <plan>

Seeds one shop with <variants> variants stocked at one location (available 0), prints one
JSON line {base_url, shop, token, location, client_id}, then answers commands on stdin, one
per line: `drain` (empty the shop's cost bucket), `bucket` (its throttleStatus as JSON),
`quit`.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sandbox.shopify.server import SandboxShopify  # noqa: E402

SHOP = "bench-inventory.myshopify.com"
CLIENT_ID, CLIENT_SECRET = "bench-client", "bench-secret-0123456789abcdef"


def main() -> None:
    """Serve the seeded shop until told to quit."""
    variants, plan = int(sys.argv[1]), sys.argv[2]
    sandbox = SandboxShopify(shops=())
    sandbox.add_shop(SHOP, seed=False, plan=plan)
    location = sandbox.store.add_location(SHOP, "Supplier warehouse")["id"]
    sandbox.store.add_catalog(SHOP, variants, location, sku_prefix="SKU-", available=0)
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, None)  # no app URL: webhooks go nowhere
    base_url = sandbox.start()
    token = sandbox.issue_access_token(SHOP, CLIENT_ID)["access_token"]
    print(json.dumps({"base_url": base_url, "shop": SHOP, "token": token, "location": location, "client_id": CLIENT_ID}), flush=True)
    bucket = sandbox.store.shop(SHOP).bucket
    for line in sys.stdin:
        command = line.strip()
        if command == "drain":
            bucket.drain()
            print("ok", flush=True)
        elif command == "bucket":
            print(json.dumps(bucket.status()), flush=True)
        elif command == "quit":
            break
    sandbox.stop()


if __name__ == "__main__":
    main()
