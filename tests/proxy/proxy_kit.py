"""Requests as Shopify's app proxy forwards them: the documented signature over the sorted query, the shop and customer in it."""
from __future__ import annotations

import hashlib
import hmac
import io
import time
from urllib.parse import urlencode

from PIL import Image

from conftest import API_SECRET
from shopify_app.orders.models import Order

SHOP = "demo.myshopify.com"
OTHER_SHOP = "other.myshopify.com"


def signed_query(shop: str = SHOP, customer: str = "", secret: str = API_SECRET, timestamp: int | None = None, **extra) -> str:
    """The query Shopify appends: shop, logged_in_customer_id, path_prefix, timestamp and the signature.

    Written from Shopify's "Authenticate app proxies" page: the parameters sorted by name,
    each as name=value (multiple values joined by commas), concatenated with no separator,
    HMAC-SHA256 with the app's secret, hex.
    """
    params = {"shop": shop, "logged_in_customer_id": customer, "path_prefix": "/apps/orders",
              "timestamp": str(int(time.time()) if timestamp is None else timestamp), **extra}
    message = "".join(f"{k}={v}" for k, v in sorted(params.items()))
    params["signature"] = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return urlencode(params)


def add_order(app, shop: str = SHOP, name: str = "#1001", email: str = "ana@example.com", customer_id: str | None = None,
              currency: str = "PLN", total: str = "129.50") -> int:
    """An order row as the webhook intake stores it; returns its id."""
    with app.extensions["services"].session_factory.begin() as session:
        order = Order(shop_domain=shop, shopify_id=str(abs(hash((shop, name))) % 10**12 + 1), name=name, email=email, customer_id=customer_id,
                      currency=currency, total_price=total, shipping_address={"first_name": "Ana"})
        session.add(order)
        session.flush()
        return order.id


def png_bytes(size=(40, 30), color=(200, 30, 30)) -> bytes:
    """A real PNG photo."""
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def jpeg_with_gps() -> bytes:
    """A JPEG carrying EXIF metadata (a camera make and GPS tag), as phones write them."""
    image = Image.new("RGB", (64, 48), (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x8825] = {1: "N", 2: (52.0, 13.0, 0.0)}  # GPS IFD
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()
