"""The real Shopify Admin GraphQL schema the app targets (2026-10), from ../shared/shopify, loaded once.

Older schemas (2025-01) are kept beside it only to compare against in tests. The
introspection file also carries Shopify's `offline_scopes` (the access scopes each type
and field needs); `required_scopes_index` reads them.
"""
from __future__ import annotations

import functools
import gzip
import json
import os
import re
from pathlib import Path
from typing import Any

from graphql import GraphQLSchema, build_client_schema

TARGET_API_VERSION = "2026-10"
REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO_ROOT.parent / "shared" / "shopify"
DEFAULT_SCHEMA_PATH = SCHEMA_DIR / f"admin_schema_{TARGET_API_VERSION}.json.gz"

# What a 2026-10 mutation's description says when Shopify refuses it without @idempotent.
IDEMPOTENCY_REQUIRED = re.compile(r"idempotency key is required", re.IGNORECASE)
IDEMPOTENCY_SUPPORTED = re.compile(r"@idempotent", re.IGNORECASE)


def schema_path(api_version: str | None = None) -> Path:
    """Where the introspection JSON of `api_version` lives (the target's: override with SHOPIFY_SCHEMA_PATH)."""
    if api_version is None or api_version == TARGET_API_VERSION:
        return Path(os.environ.get("SHOPIFY_SCHEMA_PATH", DEFAULT_SCHEMA_PATH))
    return SCHEMA_DIR / f"admin_schema_{api_version}.json.gz"


@functools.lru_cache(maxsize=4)
def _introspection(api_version: str | None) -> dict[str, Any]:
    with gzip.open(schema_path(api_version), "rt", encoding="utf-8") as fh:
        return json.load(fh)


@functools.lru_cache(maxsize=4)
def load_admin_schema(api_version: str | None = None) -> GraphQLSchema:
    """Build the Admin schema (the target version by default); assume_valid because Shopify's breaks one strict rule."""
    return build_client_schema(_introspection(api_version)["data"], assume_valid=True)


@functools.lru_cache(maxsize=4)
def required_scopes_index(api_version: str | None = None) -> dict[tuple[str, str | None], tuple[str, ...]]:
    """Shopify's `offline_scopes`: (type, field or None for the type itself) -> scopes, any one of which grants access."""
    items = (_introspection(api_version).get("offline_scopes") or {}).get("items") or []
    index: dict[tuple[str, str | None], tuple[str, ...]] = {}
    for item in items:
        scopes = tuple(item.get("offlineScopes") or ())
        if not scopes:
            continue
        key = (item["typeName"], item.get("fieldName") if item.get("type") == "field" else None)
        index[key] = scopes
    return index


def mutations_requiring_idempotency(schema: GraphQLSchema | None = None) -> frozenset[str]:
    """Mutations whose description says the @idempotent key is required (a runtime error without it)."""
    return _requiring_idempotency(schema or load_admin_schema())


@functools.lru_cache(maxsize=8)
def _requiring_idempotency(schema: GraphQLSchema) -> frozenset[str]:
    return frozenset(name for name, field in schema.mutation_type.fields.items() if IDEMPOTENCY_REQUIRED.search(field.description or ""))


def mutations_supporting_idempotency(schema: GraphQLSchema | None = None) -> frozenset[str]:
    """Mutations whose description documents @idempotent at all (optional or required)."""
    schema = schema or load_admin_schema()
    return frozenset(name for name, field in schema.mutation_type.fields.items() if IDEMPOTENCY_SUPPORTED.search(field.description or ""))
