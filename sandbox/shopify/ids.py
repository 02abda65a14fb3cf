"""Shopify global ids (`gid://shopify/Product/123`) and the errors Shopify gives for bad ones."""
from __future__ import annotations

import re

from graphql import GraphQLError

GID_RE = re.compile(r"^gid://shopify/(?P<type>[A-Za-z]+)/(?P<id>[0-9]+)(?:\?(?P<query>.*))?$")


def make_gid(typename: str, number: int, query: str | None = None) -> str:
    """`gid://shopify/<Type>/<n>`, with an optional `?k=v` tail (InventoryLevel uses one)."""
    gid = f"gid://shopify/{typename}/{number}"
    return f"{gid}?{query}" if query else gid


def is_gid(value: object) -> bool:
    """True for a syntactically valid Shopify GID."""
    return isinstance(value, str) and GID_RE.match(value) is not None


def gid_type(gid: str) -> str:
    """The type name inside a GID ('Product' for gid://shopify/Product/1)."""
    return _match(gid).group("type")


def gid_number(gid: str) -> int:
    """The numeric id inside a GID (what Shopify calls legacyResourceId)."""
    return int(_match(gid).group("id"))


def check_gid(value: str) -> str:
    """Raise the GraphQL error Shopify gives for a malformed id; return the id otherwise."""
    if not is_gid(value):
        raise GraphQLError(f"Invalid global id '{value}'", extensions={"code": "argumentLiteralsIncompatible"})
    return value


def _match(gid: str) -> re.Match:
    match = GID_RE.match(gid)
    if match is None:
        raise ValueError(f"not a Shopify GID: {gid!r}")
    return match
