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

from integrations import egress
from integrations.suppliers.email_po.csv_rows import RowError
from integrations.suppliers.email_po.stock_feed import StockImport, check_stock_rows, parse_stock_csv

from ..bounds import storable_text

MAX_FEED_BYTES = 50 * 1024 * 1024


class FeedUnreadable(Exception):
    """The feed as a whole cannot be read (not CSV or JSON, too big, unreachable)."""


def parse_feed(body: bytes, content_type: str | None = None, *, quote: bool = True) -> StockImport:
    """Parse a feed file; JSON when it says so or looks like it, CSV otherwise (quote=False: errors never repeat its content)."""
    if len(body) > MAX_FEED_BYTES:
        raise FeedUnreadable(f"the feed is larger than {MAX_FEED_BYTES // (1024 * 1024)} MB")
    looks_json = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"[", b"{")
    if (content_type and "json" in content_type) or looks_json:
        return parse_json_feed(body, quote=quote)
    return parse_stock_csv(body, quote=quote)


def parse_json_feed(body: bytes, *, quote: bool = True) -> StockImport:
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
    checked = check_stock_rows(rows, quote=quote)
    return StockImport(checked.levels, sorted(refused + checked.errors, key=lambda e: e.row))


def _text(value: Any) -> str:
    """A JSON value as the text a CSV cell would hold (so both formats share one checker)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    # A float (even 3.0) keeps its decimal point, so the checker refuses it as fractional. JSON's "\u0000" and
    # lone "\udc80" escapes are text no database stores (the SKU reached the supplier catalog's write: a 500).
    return (storable_text(value) or "").strip()


def fetch_feed(url: str, *, policy: egress.EgressPolicy | None = None, timeout: float = 30.0) -> tuple[bytes, str | None]:
    """Download a feed through the egress policy (public https hosts only, no redirects, bounded time and size); FeedUnreadable on any failure.

    The messages say what went wrong (status, "could not connect", too large) and never what
    the URL answered.
    """
    policy = policy or egress.current()
    try:
        policy.check_url(url, what="the feed URL")
    except egress.InvalidTargetUrl as exc:
        raise FeedUnreadable(str(exc)) from None
    # The policy's client caps the answer at MAX_FEED_BYTES while it streams (ResponseTooLarge).
    client = policy.client(total_seconds=timeout, max_bytes=MAX_FEED_BYTES, timeout=timeout)
    try:
        with client.stream("GET", url, timeout=timeout, follow_redirects=False) as response:
            if response.is_redirect:
                raise FeedUnreadable(f"the feed URL redirected (HTTP {response.status_code}); give the final URL")
            if response.status_code != 200:
                raise FeedUnreadable(f"the feed URL answered HTTP {response.status_code}")
            return response.read(), response.headers.get("content-type")
    except egress.ResponseTooLarge:
        raise FeedUnreadable(f"the feed is larger than {MAX_FEED_BYTES // (1024 * 1024)} MB") from None
    except httpx.HTTPError as exc:
        raise FeedUnreadable(f"the feed URL could not be read ({egress.short_reason(exc)})") from None
    finally:
        client.close()
