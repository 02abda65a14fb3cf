"""Run the sandbox Shopify standalone: `python -m sandbox.shopify --port 8081 --app-url http://127.0.0.1:8000`."""
from __future__ import annotations

import argparse
import time

from .server import SandboxShopify
from .store import add_non_shipping_products

# The app's fixed sandbox-mode credentials (shopify_app.config.SANDBOX_API_KEY/SECRET).
DEFAULT_CLIENT_ID = "sandbox-client-id"
DEFAULT_CLIENT_SECRET = "sandbox-client-secret"


def main(argv: list[str] | None = None) -> None:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.shopify", description=__doc__)
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--shop", action="append", default=None, help="shop domain to seed (repeatable; default demo.myshopify.com)")
    parser.add_argument("--app-url", default="http://127.0.0.1:8000", help="the app's base URL (webhooks go to <app-url>/webhooks)")
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    args = parser.parse_args(argv)

    sandbox = SandboxShopify(shops=args.shop or ["demo.myshopify.com"], port=args.port)
    for shop in sandbox.store.shop_domains():
        add_non_shipping_products(sandbox.store, shop)  # a digital product and a gift card to order in demos
    sandbox.register_app(args.client_id, args.client_secret, app_url=args.app_url)
    base = sandbox.start()
    print(f"sandbox Shopify at {base}  (set SANDBOX_SHOPIFY_URL={base})")
    for shop in sandbox.store.shop_domains():
        print(f"  open the app:  {base}/admin/apps/{args.client_id}?shop={shop}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
