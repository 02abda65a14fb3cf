"""Which API versions the sandbox serves, and as what: Shopify's support window and "fall forward".

Shopify releases a stable version each quarter (YYYY-01, -04, -07, -10) and supports it for
12 months. A request to a retired version is served as the oldest supported one, and the
answer's `X-Shopify-API-Version` header names the version actually used. So on 2026-12-03 a
call to 2025-01 runs on 2026-01; from 2027-01-01 it runs on 2026-04, where `compareQuantity`
no longer exists and `@idempotent` is mandatory. The sandbox reads its own wall clock, so a
test moves the date and sees the switch.

We hold one real schema, 2026-10 (`integrations.shopify.schema`). The versions it stands
for differ, for what the app uses, only in the inventory compare-and-set and idempotency
rules (Shopify's changelog, "Making idempotency mandatory..." and the 2026-04 inventory
changes); 2026-01 is therefore 2026-10 plus `compareQuantity`/`ignoreCompareQuantity`, with
`changeFromQuantity` and `@idempotent` optional. Anything else (a malformed or unreleased
version, or a version newer than the schema we hold) is answered 404 rather than guessed; once every
version we hold is retired (after October 2027), calls fall forward to 2026-10.
"""
from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass

from graphql import GraphQLSchema, extend_schema, parse

SUPPORT_MONTHS = 12
NEWEST_SCHEMA_VERSION = "2026-10"  # the newest schema we hold; later versions are unknown here
CHANGE_FROM_REQUIRED_FROM = "2026-04"  # compareQuantity gone, changeFromQuantity mandatory
IDEMPOTENCY_REQUIRED_FROM = "2026-04"  # @idempotent mandatory on the mutations that say so
_VERSION = re.compile(r"^(\d{4})-(01|04|07|10)$")

# What 2026-01 still had that 2026-04 removed (graphql-core cannot remove fields, only add).
EXTENSIONS_2026_01 = """
extend input InventoryQuantityInput { compareQuantity: Int }
extend input InventorySetQuantitiesInput { ignoreCompareQuantity: Boolean }
"""


@dataclass(frozen=True)
class ServedVersion:
    """The version a request is answered as, and the rules that version enforces."""

    requested: str
    served: str
    schema: GraphQLSchema

    @property
    def idempotency_required(self) -> bool:
        """Mutations documented as needing @idempotent are refused without it."""
        return self.served >= IDEMPOTENCY_REQUIRED_FROM

    @property
    def change_from_required(self) -> bool:
        """Every inventory quantity/change must carry changeFromQuantity (null allowed)."""
        return self.served >= CHANGE_FROM_REQUIRED_FROM

    @property
    def fell_forward(self) -> bool:
        """True when a retired version was asked for."""
        return self.served != self.requested


def release_date(version: str) -> dt.date | None:
    """The first day of the version's quarter, or None for a string that is no stable version."""
    match = _VERSION.match(version or "")
    return dt.date(int(match.group(1)), int(match.group(2)), 1) if match else None


def _months_later(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def supported_versions(today: dt.date) -> list[str]:
    """Stable versions supported on `today`, oldest first (released, and within 12 months of release)."""
    versions = []
    year = today.year - 2
    while True:
        for month in (1, 4, 7, 10):
            released = dt.date(year, month, 1)
            if released > today:
                return versions
            if today < _months_later(released, SUPPORT_MONTHS):
                versions.append(f"{year}-{month:02d}")
        year += 1


def serve_as(requested: str, today: dt.date) -> str | None:
    """The version Shopify answers `requested` with on `today`; None if it would answer 404."""
    released = release_date(requested)
    supported = supported_versions(today)
    if released is None or released > today or not supported or requested > NEWEST_SCHEMA_VERSION:
        return None
    if requested in supported:
        return requested
    # Fall forward. Past late 2027 the oldest supported version is one whose schema we do
    # not hold; the newest we hold is then the closest we can answer with.
    return min(supported[0], NEWEST_SCHEMA_VERSION)


@functools.lru_cache(maxsize=4)
def _with_compare_quantity(base: GraphQLSchema) -> GraphQLSchema:
    return extend_schema(base, parse(EXTENSIONS_2026_01), assume_valid=True)


def schema_for(base: GraphQLSchema, served: str) -> GraphQLSchema:
    """The schema a served version validates and executes against (`base` is 2026-10)."""
    return base if served >= CHANGE_FROM_REQUIRED_FROM else _with_compare_quantity(base)


def resolve_version(base: GraphQLSchema, requested: str, today: dt.date) -> ServedVersion | None:
    """What a request to `requested` runs as on `today` (None: Shopify answers 404)."""
    served = serve_as(requested, today)
    if served is None:
        return None
    return ServedVersion(requested, served, schema_for(base, served))
