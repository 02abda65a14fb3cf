"""Relay connections built from Python lists: edges, nodes, pageInfo and opaque cursors.

A resolver for a connection field returns either a plain list (cursors are positions) or
a `Listing` whose `key` gives each item's sort key; cursors then encode that key, so a
page boundary survives items being added or removed between two requests (keyset
pagination, as Shopify's `last_id`/`last_value` cursors do).
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from graphql import GraphQLError, GraphQLObjectType, get_named_type

MAX_PAGE_SIZE = 250
# Since 2026-01 a connection paginates through at most the first 25,000 objects of its
# (filtered, sorted) list; the page holding the 25,000th answers hasNextPage false. Beyond
# that the caller narrows the query (e.g. by updated_at) and paginates again. Shopify's
# documented form of this limit (Storefront API, changelog of 2025-06-17) is 25,000 items.
MAX_PAGINATED_OBJECTS = 25_000


@dataclass
class Listing:
    """Items sorted ascending by `key` (or by position when key is None)."""

    items: Sequence[Any]
    key: Callable[[Any], tuple] | None = None


def encode_cursor(key: Sequence[Any]) -> str:
    """An opaque cursor for a sort key."""
    return base64.b64encode(json.dumps({"k": list(key)}, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str) -> tuple:
    """The sort key inside a cursor; a GraphQL error for a cursor we did not issue."""
    try:
        return tuple(json.loads(base64.b64decode(cursor.encode(), validate=True))["k"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise GraphQLError("Invalid cursor for current pagination sort.", extensions={"code": "BAD_REQUEST"}) from None


def _page_size(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if value < 0:
        raise GraphQLError(f"The value of `{name}` must be a non-negative integer.", extensions={"code": "BAD_REQUEST"})
    if value > MAX_PAGE_SIZE:
        raise GraphQLError(f"The value of `{name}` must not exceed {MAX_PAGE_SIZE}.", extensions={"code": "MAX_PAGE_SIZE_EXCEEDED"})
    return value


def _after(key: tuple, bound: tuple, descending: bool) -> bool:
    try:
        return key < bound if descending else key > bound
    except TypeError:  # a cursor from another sort order
        raise GraphQLError("Invalid cursor for current pagination sort.", extensions={"code": "BAD_REQUEST"}) from None


def build_connection(
    value: Sequence[Any] | Listing,
    connection_type: GraphQLObjectType,
    *,
    first: int | None = None,
    last: int | None = None,
    after: str | None = None,
    before: str | None = None,
    reverse: bool = False,
    max_objects: int = MAX_PAGINATED_OBJECTS,
) -> dict[str, Any]:
    """A connection object (edges, nodes, pageInfo) for one page of `value` (within its first `max_objects`)."""
    connection_type = get_named_type(connection_type)
    first, last = _page_size("first", first), _page_size("last", last)
    if first is None and last is None:
        raise GraphQLError("you must provide one of first or last", extensions={"code": "BAD_REQUEST"})
    listing = value if isinstance(value, Listing) else Listing(list(value))
    keyed = [((listing.key(item) if listing.key else (i,)), item) for i, item in enumerate(listing.items)]
    if reverse:
        keyed.reverse()
    del keyed[max_objects:]  # pagination stops here: nothing past the cap is reachable
    start, end = 0, len(keyed)
    if after is not None:
        bound = decode_cursor(after)
        start = next((i for i, (k, _) in enumerate(keyed) if _after(k, bound, reverse)), len(keyed))
    if before is not None:
        bound = decode_cursor(before)
        end = next((i for i, (k, _) in enumerate(keyed) if not _after(bound, k, reverse)), len(keyed))
        end = max(end, start)
    if first is not None:
        end = min(end, start + first)
    if last is not None:
        start = max(start, end - last)
    page = keyed[start:end]
    edge_type = get_named_type(connection_type.fields["edges"].type).name if "edges" in connection_type.fields else None
    edges = [{"__typename": edge_type, "cursor": encode_cursor(k), "node": item} for k, item in page]
    return {
        "__typename": connection_type.name,
        "edges": edges,
        "nodes": [item for _, item in page],
        "pageInfo": {
            "__typename": "PageInfo",
            "hasNextPage": end < len(keyed),
            "hasPreviousPage": start > 0,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


def full_connection(value: Sequence[Any] | Listing, connection_type: GraphQLObjectType) -> dict[str, Any]:
    """Every item as one connection (bulk operations ignore first/last)."""
    connection_type = get_named_type(connection_type)
    listing = value if isinstance(value, Listing) else Listing(list(value))
    items = list(listing.items)
    edge_type = get_named_type(connection_type.fields["edges"].type).name if "edges" in connection_type.fields else None
    return {
        "__typename": connection_type.name,
        "edges": [{"__typename": edge_type, "cursor": "", "node": item} for item in items],
        "nodes": items,
        "pageInfo": {"__typename": "PageInfo", "hasNextPage": False, "hasPreviousPage": False, "startCursor": None, "endCursor": None},
    }
