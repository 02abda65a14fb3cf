"""The real Shopify Admin GraphQL schema (2025-01) from ../shared/shopify, loaded once."""
from __future__ import annotations

import functools
import gzip
import json
import os
from pathlib import Path

from graphql import GraphQLSchema, build_client_schema

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SCHEMA_PATH = REPO_ROOT.parent / "shared" / "shopify" / "admin_schema_2025-01.json.gz"


def schema_path() -> Path:
    """Where the introspection JSON lives (override with SHOPIFY_SCHEMA_PATH)."""
    return Path(os.environ.get("SHOPIFY_SCHEMA_PATH", DEFAULT_SCHEMA_PATH))


@functools.lru_cache(maxsize=1)
def load_admin_schema() -> GraphQLSchema:
    """Build the Admin schema; assume_valid because Shopify's breaks one strict rule."""
    with gzip.open(schema_path(), "rt", encoding="utf-8") as fh:
        introspection = json.load(fh)
    return build_client_schema(introspection["data"], assume_valid=True)
