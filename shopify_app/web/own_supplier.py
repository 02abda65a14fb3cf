"""The one lookup of a supplier for an admin request: this shop's, not deleted, and (for kind-specific endpoints) of the right kind."""
from __future__ import annotations

from flask import g, jsonify

from ..suppliers.models import Supplier


def own_supplier(session, supplier_id) -> Supplier | None:
    """The request's shop's supplier with this id, or None (another shop's, deleted, or no id): callers answer 404 alike."""
    supplier = session.get(Supplier, supplier_id) if supplier_id else None
    return supplier if supplier is not None and supplier.shop_domain == g.shop_domain and supplier.deleted_at is None else None


def supplier_of_kind(session, supplier_id: int, kind: str, refusal: str):
    """(supplier, None) for this shop's supplier of `kind`, else (None, the 404 or 409 response with `refusal`)."""
    supplier = own_supplier(session, supplier_id)
    if supplier is None:
        return None, (jsonify(error="not found"), 404)
    if supplier.kind != kind:
        return None, (jsonify(error=refusal), 409)
    return supplier, None
