"""EDI partners' inbound runs: every file read from the partner's folder, what came of it and why."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify
from sqlalchemy import select

from ..auth.session_tokens import require_session_token
from ..suppliers.edi_models import EdiInterchange
from .own_supplier import supplier_of_kind

blueprint = Blueprint("edi_suppliers_api", __name__, url_prefix="/api")

MAX_LISTED_RUNS = 50


def edi_runs(session, shop_domain: str, supplier_id: int, limit: int = MAX_LISTED_RUNS, *, as_json: bool = False) -> list[dict]:
    """The partner's newest inbound runs (`received_at` ISO 8601 text when `as_json`, else a datetime for the page)."""
    rows = session.scalars(select(EdiInterchange).where(EdiInterchange.shop_domain == shop_domain, EdiInterchange.supplier_id == supplier_id)
                           .order_by(EdiInterchange.id.desc()).limit(limit))
    return [{"id": row.id, "file_name": row.file_name, "interchange": row.control, "sender": row.sender_id, "outcome": row.outcome,
             "sets_accepted": row.sets_accepted, "sets_rejected": row.sets_rejected, "reasons": list(row.reasons or []),
             "received_at": row.received_at.isoformat() if as_json else row.received_at} for row in rows]


@blueprint.get("/suppliers/<id:supplier_id>/edi-runs")
@require_session_token
def list_edi_runs(supplier_id: int):
    """The EDI partner's latest inbound files: outcome (applied, partly_applied, refused, duplicate, wrong_partner, unreadable), sets accepted and refused, reasons."""
    with current_app.extensions["services"].session_factory() as session:
        supplier, refused = supplier_of_kind(session, supplier_id, "edi_x12", "only EDI suppliers have EDI runs")
        if refused:
            return refused
        return jsonify(edi_runs=edi_runs(session, g.shop_domain, supplier_id, as_json=True))
