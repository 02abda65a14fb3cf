"""Which schema answers which API version: 2025-01 as shipped, and 2026-04's inventory changes on top of it.

We hold only the 2025-01 schema. API 2026-04 changed what the app's inventory writes use:
`changeFromQuantity` on InventoryQuantityInput (required on each quantity) and the
`@idempotent(key:)` directive on inventory and refund mutations, with their error codes.
Those are added to the 2025-01 schema with graphql-core's `extend_schema`, so an app can
be switched to 2026-04 and tested against what it would meet.
"""
from __future__ import annotations

import functools

from graphql import GraphQLSchema, extend_schema, parse

NEWEST_EXTENDED = "2026-04"
EXTENSIONS_2026_04 = """
directive @idempotent(key: String!) on FIELD
extend input InventoryQuantityInput { changeFromQuantity: Int }
extend enum InventorySetQuantitiesUserErrorCode { CHANGE_FROM_QUANTITY_STALE IDEMPOTENCY_KEY_PARAMETER_MISMATCH IDEMPOTENCY_CONCURRENT_REQUEST }
extend enum InventoryAdjustQuantitiesUserErrorCode { IDEMPOTENCY_KEY_PARAMETER_MISMATCH IDEMPOTENCY_CONCURRENT_REQUEST }
"""


@functools.lru_cache(maxsize=4)
def _extended(base: GraphQLSchema) -> GraphQLSchema:
    return extend_schema(base, parse(EXTENSIONS_2026_04), assume_valid=True)


def schema_for(base: GraphQLSchema, api_version: str) -> GraphQLSchema:
    """The schema requests to `api_version` are validated and run against."""
    return _extended(base) if api_version >= NEWEST_EXTENDED else base
