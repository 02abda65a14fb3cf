"""The product mappings page: the shop's variants with supplier, supplier SKU, cost and stock, proposals to review, imports.

Registered on the pages blueprint (pages.py imports this module), so NAV and page_url() know it.
"""
from __future__ import annotations

from urllib.parse import urlencode

from flask import g, request
from sqlalchemy import select

from ..mappings.matching import count_pending, pending_proposals
from ..mappings.table import FILTERS, parse_query, table_page
from ..suppliers.models import Supplier
from .pages import CARRIED_PARAMS, _session, admin_page, blueprint, render_page

PROPOSALS_SHOWN = 100


@blueprint.get("/mappings")
@admin_page
def mappings():
    """Variants and their mappings (keyset pages, search, filters), proposals from auto-matching, import and export."""
    query = parse_query(request.args)
    with _session() as session:
        page = table_page(session, g.shop_domain, query)
        suppliers = session.execute(select(Supplier.id, Supplier.name).where(Supplier.shop_domain == g.shop_domain, Supplier.deleted_at.is_(None))
                                    .order_by(Supplier.priority, Supplier.name)).all()
        proposals = pending_proposals(session, g.shop_domain, limit=PROPOSALS_SHOWN)
        pending = count_pending(session, g.shop_domain)
    filters = {"q": query.q, "filter": query.filter, "supplier": str(query.supplier_id or "")}
    carried = {k: request.args[k] for k in (*CARRIED_PARAMS, "locale") if k in request.args}
    return render_page("mappings.html", "mappings", table=page, suppliers=suppliers, proposals=proposals, pending=pending,
                       filters=filters, link_filters={k: v for k, v in filters.items() if v}, filter_names=FILTERS, carried=carried,
                       export_query=urlencode({k: v for k, v in filters.items() if v}))
