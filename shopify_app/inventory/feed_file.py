"""Stock feed files from suppliers, CSV or JSON, checked row by row with the same rules.

CSV: a header naming `sku` and `available` and/or `in_stock` (the email supplier's format).
JSON: a list of {"sku", "available", "in_stock"} objects, or {"items": [...]}. Row numbers
in JSON count list entries from 1. A bad row (negative, fractional or non-numeric stock, no
SKU, a SKU listed twice) is refused with its reason; the other rows still count.
"""
from __future__ import annotations

import json
from typing import Any

import httpx

from integrations.suppliers.email_po.csv_rows import RowError
from integrations.suppliers.email_po.stock_feed import StockImport, check_stock_rows, parse_stock_csv

MAX_FEED_BYTES = 50 * 1024 * 1024


class FeedUnreadable(Exception):
    """The feed as a whole cannot be read (not CSV or JSON, too big, unreachable)."""


def parse_feed(body: bytes, content_type: str | None = None) -> StockImport:
    """Parse a feed file; JSON when it says so or looks like it, CSV otherwise."""
    if len(body) > MAX_FEED_BYTES:
        raise FeedUnreadable(f"the feed is larger than {MAX_FEED_BYTES // (1024 * 1024)} MB")
    looks_json = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"[", b"{")
    if (content_type and "json" in content_type) or looks_json:
        return parse_json_feed(body)
    return parse_stock_csv(body)


def parse_json_feed(body: bytes) -> StockImport:
    """Check a JSON feed entry by entry."""
    try:
        document = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FeedUnreadable(f"the feed is not valid JSON ({exc.__class__.__name__})") from None
    entries = document.get("items") if isinstance(document, dict) else document
    if not isinstance(entries, list):
        raise FeedUnreadable('a JSON feed is a list of {"sku", "available", "in_stock"} objects, or {"items": [...]}')
    rows: list[tuple[int, dict[str, str]]] = []
    refused: list[RowError] = []
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            refused.append(RowError(number, "each entry must be an object"))
            continue
        rows.append((number, {key: _text(entry.get(key)) for key in ("sku", "available", "in_stock")}))
    checked = check_stock_rows(rows)
    return StockImport(checked.levels, sorted(refused + checked.errors, key=lambda e: e.row))


def _text(value: Any) -> str:
    """A JSON value as the text a CSV cell would hold (so both formats share one checker)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    # A float (even 3.0) keeps its decimal point, so the checker refuses it as fractional.
    return str(value).strip()


def fetch_feed(url: str, *, client: httpx.Client | None = None, timeout: float = 30.0) -> tuple[bytes, str | None]:
    """Download a feed (bounded in size); FeedUnreadable on any failure.

    A client of its own by default: the app's Shopify client is rerouted to the sandbox in
    sandbox mode, and a supplier's feed lives elsewhere.
    """
    if not url.startswith(("https://", "http://")):
        raise FeedUnreadable("the feed URL must start with https:// or http://")
    owned = client is None
    client = client or httpx.Client()
    try:
        with client.stream("GET", url, timeout=timeout, follow_redirects=True) as response:
            if response.status_code != 200:
                raise FeedUnreadable(f"the feed URL answered HTTP {response.status_code}")
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_FEED_BYTES:
                    raise FeedUnreadable(f"the feed is larger than {MAX_FEED_BYTES // (1024 * 1024)} MB")
                chunks.append(chunk)
            return b"".join(chunks), response.headers.get("content-type")
    except httpx.HTTPError as exc:
        raise FeedUnreadable(f"the feed URL could not be read ({exc.__class__.__name__})") from None
    finally:
        if owned:
            client.close()
