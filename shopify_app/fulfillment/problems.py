"""Why an order cannot be sent to a supplier as it stands: redacted customer data, an incomplete address.

Without Shopify's approval for protected customer data (level 2) a public app gets names
and addresses as null or masked ("***", "redacted"). Such an order is never sent with
blanks: its fulfillment orders are held in Shopify with a note and an alert explains why.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

MASKED = re.compile(r"^\s*(\*+|x{3,}|redacted|\[redacted\])\s*$", re.IGNORECASE)
NEEDED = ("address1", "city", "country_code")


@dataclass(frozen=True)
class Problem:
    """A reason to hold: Shopify's FulfillmentHoldReason, the note for both admins, and our alert."""

    reason: str
    note: str
    alert_kind: str


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and (not value.strip() or MASKED.match(value) is not None))


def _masked(value) -> bool:
    return isinstance(value, str) and MASKED.match(value) is not None


def address_problem(address: dict | None) -> Problem | None:
    """Redacted (no name and no street, or masked values) or incomplete shipping address; None when it can go."""
    address = address or {}
    name_blank = _blank(address.get("name")) and (_blank(address.get("first_name")) and _blank(address.get("last_name")))
    if any(_masked(v) for v in address.values()) or (name_blank and _blank(address.get("address1"))):
        return Problem("OTHER", "Customer name/address redacted by Shopify (protected customer data not approved): not sent to the supplier.", "customer_data_redacted")
    missing = [key for key in NEEDED if _blank(address.get(key))]
    if name_blank:
        missing.insert(0, "name")
    if missing:
        return Problem("INCORRECT_ADDRESS", f"Shipping address incomplete (missing {', '.join(missing)}): not sent to the supplier.", "address_incomplete")
    return None


def unroutable_problem(skus: list[str]) -> Problem:
    """No active supplier at this location can ship these SKUs."""
    return Problem("OTHER", f"No supplier for SKU {', '.join(skus)} at this location: map the SKU to a supplier.", "unroutable_line")
