"""Fields every type of a kind shares (legacy ids, counts, default cursors)."""
from __future__ import annotations

from typing import Any

from ..connections import encode_cursor
from ..ids import gid_number
from ..registry import resolver


@resolver("LegacyInteroperability", "legacyResourceId")
def legacy_resource_id(obj: dict, info, **_: Any) -> str:
    """The numeric id inside the GID (UnsignedInt64 is serialised as a string)."""
    return str(gid_number(obj["id"]))


@resolver("Product", "defaultCursor")
@resolver("ProductVariant", "defaultCursor")
def default_cursor(obj: dict, info, **_: Any) -> str:
    """A cursor that pages after this object in id order."""
    return encode_cursor((gid_number(obj["id"]),))


def count(n: int) -> dict[str, Any]:
    """A Count object (exact)."""
    return {"__typename": "Count", "count": n, "precision": "EXACT"}


def user_error(field: list[str] | None, message: str) -> dict[str, Any]:
    """A UserError as mutations return them."""
    return {"__typename": "UserError", "field": field, "message": message}


def object_of_type(info, gid: str, typename: str) -> dict | None:
    """The stored object with this GID if it is of the expected type (else null, like Shopify)."""
    from ..ids import check_gid

    obj = info.context.shop.get(check_gid(gid))
    return obj if obj is not None and obj["__typename"] == typename else None


def mutation_payload(typename: str, error=None, *, errors_field: str = "userErrors", error_type: str = "UserError", **objects: Any) -> dict[str, Any]:
    """A mutation's payload: its objects (all null when refused) and its list of user errors.

    `error` is a ShopifyUserError or None; typed error lists (e.g. OrderCancelUserError) carry codes.
    """
    payload: dict[str, Any] = {"__typename": typename}
    payload.update({name: None for name in objects} if error is not None else objects)
    payload[errors_field] = [error.as_user_error(error_type)] if error is not None else []
    return payload
