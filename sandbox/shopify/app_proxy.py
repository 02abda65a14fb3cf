"""The storefront's app proxy, as Shopify runs it: /apps/<subpath>/... forwarded to the app's proxy URL with a signed query.

Shopify adds `shop`, `logged_in_customer_id` (blank when nobody is signed in), `path_prefix` and
`timestamp` to the shopper's own query, signs them all (parameters sorted by name, `name=value`
with multiple values joined by commas, concatenated, HMAC-SHA256 with the app's secret, hex) and
forwards the request; an `application/liquid` answer is rendered inside the store's theme.
The sandbox plays the shopper's storefront session with two cookies: the shop (from `?shop=`
on the first visit) and a signed-in customer (`?sandbox_customer=<id>`; empty signs out).
"""
from __future__ import annotations

import hashlib
import hmac
import html
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
from flask import Request, Response

SHOPIFY_ADDED = ("shop", "logged_in_customer_id", "path_prefix", "timestamp", "signature")
SANDBOX_ONLY = ("sandbox_customer",)
HOP_HEADERS = ("accept-language", "content-type", "user-agent", "accept")


@dataclass(frozen=True)
class AppProxy:
    """One app's proxy: /<prefix>/<subpath> in the store -> url."""

    client_id: str
    client_secret: str
    prefix: str
    subpath: str
    url: str


def signature(params: dict[str, list[str]], secret: str) -> str:
    """Shopify's app proxy signature over the query (without `signature`)."""
    message = "".join(f"{key}={','.join(values)}" for key, values in sorted(params.items()))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def forward(proxy: AppProxy, request: Request, shop: str, shop_name: str, rest: str, customer_id: str, timeout: float = 15.0) -> Response:
    """Forward the shopper's request to the app, signed; wrap a Liquid answer in a plain theme."""
    params: dict[str, list[str]] = {}
    for key in request.args:
        if key not in SHOPIFY_ADDED and key not in SANDBOX_ONLY:
            params[key] = request.args.getlist(key)
    params.update(shop=[shop], logged_in_customer_id=[customer_id], path_prefix=[f"/{proxy.prefix}/{proxy.subpath}"], timestamp=[str(int(time.time()))])
    params["signature"] = [signature(params, proxy.client_secret)]
    target = proxy.url.rstrip("/") + (f"/{rest}" if rest else "") + "?" + urlencode(params, doseq=True)
    headers = {k: v for k, v in request.headers.items() if k.lower() in HOP_HEADERS}
    headers["X-Forwarded-For"] = request.remote_addr or "127.0.0.1"
    try:
        answer = httpx.request(request.method, target, headers=headers, content=request.get_data(), timeout=timeout)
    except httpx.HTTPError:
        return Response("The app did not answer (app proxy)", status=502, mimetype="text/plain")
    content_type = answer.headers.get("content-type", "text/plain")
    if content_type.startswith("application/liquid"):
        return Response(themed(answer.text, shop_name), status=answer.status_code, content_type="text/html; charset=utf-8")
    return Response(answer.content, status=answer.status_code, content_type=content_type)


def themed(body: str, shop_name: str) -> str:
    """The store's layout around the app's content (the sandbox has no Liquid: the app's answers are Liquid-inert)."""
    name = html.escape(shop_name)
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{name}</title>"
            "<style>body{font-family:system-ui,sans-serif;margin:0;color:#222}header,footer{padding:1rem 2rem;background:#f4f1ea}"
            "button{padding:.5rem 1rem}input,select,textarea{padding:.4rem;font:inherit}</style></head>"
            f"<body><header class=\"theme-header\"><strong>{name}</strong></header><main>{body}</main>"
            f"<footer class=\"theme-footer\">{name} · sandbox storefront</footer></body></html>")
