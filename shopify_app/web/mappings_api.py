"""JSON API for product mappings at catalog scale: the table, export, bulk edit, auto-match proposals, imports, supplier catalogs."""
from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, current_app, g, jsonify, request, stream_with_context

from ..auth.session_tokens import require_session_token
from ..i18n import gettext as _
from ..mappings.bulk import bulk_edit
from ..mappings.files import UnreadableFile, parse_cost
from ..mappings.imports import apply_import, check_import
from ..mappings.matching import NotThisShops, count_pending, decide_proposals, find_matches, pending_proposals
from ..mappings.supplier_catalog import check_catalog_file, store_catalog
from ..mappings.table import iter_rows, parse_query, table_page
from ..spreadsheet_cells import neutralised_row
from .api_schemas import bounded_ids, is_json, validated_body
from .own_supplier import own_supplier

blueprint = Blueprint("mappings_api", __name__, url_prefix="/api")
bounded_ids(blueprint)

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A spreadsheet comes as the body itself (or as the "file" field of a form upload).
SPREADSHEET_MEDIA = ("text/csv", "text/plain", XLSX_TYPE, "application/octet-stream", "multipart/form-data")
EXPORT_COLUMNS = ("sku", "title", "barcode", "supplier", "supplier_sku", "cost", "stock", "in_stock")


def _services():
    return current_app.extensions["services"]




def _field_error(field: str, message: str, status: int = 400):
    return jsonify(error=message, fields=[{"field": field, "message": message}]), status


def _not_this_shops(exc: NotThisShops):
    # The same answer for another shop's ids as for ids that name nothing: no probing across shops.
    return jsonify(error=_("not found: %(ids)s", ids=", ".join(map(str, exc.ids[:20])))), 404


def _uploaded_file():
    """(bytes, None) of the uploaded spreadsheet, or (None, error response)."""
    from ..mappings.files import MAX_FILE_BYTES, too_large_message

    if is_json(request.mimetype):
        return None, (jsonify(error=_("send the CSV or XLSX file itself, not JSON")), 415)
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            return None, (jsonify(error=_('send the file as the form field "file"')), 400)
        data = upload.stream.read(MAX_FILE_BYTES + 1)
    else:
        data = request.get_data(cache=True)
    if len(data) > MAX_FILE_BYTES:
        return None, _field_error("file", too_large_message(), 413)
    return data, None


@blueprint.get("/mappings")
@require_session_token
def list_mappings():
    """One page of the shop's variants with their mappings: ?q=&filter=unmapped|out_of_stock|no_cost&supplier=&after=|before=&limit=."""
    with _services().read_session_factory() as session:
        page = table_page(session, g.shop_domain, parse_query(request.args))
        return jsonify(rows=page.rows, next_after=page.next_after, prev_before=page.prev_before)


@blueprint.get("/mappings.csv")
@require_session_token
def export_mappings():
    """Every row the filters select as CSV (one line per mapping; unmapped variants once), in the import's columns."""
    query, shop, factory = parse_query(request.args), g.shop_domain, _services().read_session_factory

    def lines():
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(EXPORT_COLUMNS)
        with factory() as session:
            for row in iter_rows(session, shop, query):
                for m in row["mappings"] or [None]:
                    cells = [row["sku"], row["title"], row["barcode"], m and m["supplier"], m and m["supplier_sku"], m and m["cost"], m and m["stock"],
                             m and m["in_stock"]]
                    writer.writerow(neutralised_row(cells))  # no cell runs as a formula in a spreadsheet
                if out.tell() > 64 * 1024:
                    yield out.getvalue()
                    out.seek(0)
                    out.truncate()
        yield out.getvalue()

    return Response(stream_with_context(lines()), mimetype="text/csv", headers={"Content-Disposition": 'attachment; filename="mappings.csv"'})


@blueprint.post("/mappings/bulk")
@require_session_token
@validated_body("MappingBulkEdit")
def bulk_edit_mappings():
    """Edit the selected variants at once: {variant_ids, supplier_id?, cost?, unmap?} (another shop's ids: 404, nothing changed)."""
    body = g.body
    actions = [name for name in ("supplier_id", "cost", "unmap") if name in body and (name != "unmap" or body["unmap"])]
    if not actions:
        return _field_error("supplier_id", _("choose a supplier, a cost or removal"))
    if body.get("unmap") and len(actions) > 1:
        return _field_error("unmap", _("removing mappings cannot be combined with other changes"))
    try:
        cost = parse_cost(str(body["cost"])) if body.get("cost") is not None else None
    except ValueError as exc:
        return _field_error("cost", str(exc))
    services = _services()
    with services.session_factory.begin() as session:
        supplier = None
        if "supplier_id" in body:
            supplier = own_supplier(session, body["supplier_id"])
            if supplier is None:
                return jsonify(error=_("not found: supplier %(id)s", id=body["supplier_id"])), 404
        try:
            result = bulk_edit(session, g.shop_domain, body["variant_ids"], supplier=supplier, cost=cost, set_cost="cost" in body, unmap=bool(body.get("unmap")))
        except NotThisShops as exc:
            return _not_this_shops(exc)
    _release(services)
    return jsonify(edit=result)


def _release(services) -> None:
    from .locations_api import release_what_can_go

    release_what_can_go(services, g.shop_domain)  # orders held for want of a supplier may go now (after the commit)


@blueprint.post("/mappings/auto-match")
@require_session_token
@validated_body("AutoMatch")
def auto_match():
    """Match unmapped variants to a supplier's catalog by SKU, then barcode: new proposals to review (nothing is mapped yet)."""
    with _services().session_factory.begin() as session:
        supplier = own_supplier(session, g.body["supplier_id"])
        if supplier is None:
            return jsonify(error=_("not found")), 404
        found = find_matches(session, g.shop_domain, supplier)
        session.flush()
        return jsonify(found=found, pending=count_pending(session, g.shop_domain))


@blueprint.get("/mappings/proposals")
@require_session_token
def list_proposals():
    """Proposals waiting for review, oldest first: ?supplier=&after= (100 a page)."""
    query = parse_query(request.args)
    with _services().read_session_factory() as session:
        rows = pending_proposals(session, g.shop_domain, supplier_id=query.supplier_id, after=query.after)
        return jsonify(proposals=rows, pending=count_pending(session, g.shop_domain))


@blueprint.post("/mappings/proposals/<any(accept, reject):action>")
@require_session_token
@validated_body("ProposalDecision")
def decide(action: str):
    """Accept (map) or reject proposals: {ids: [...]} or {all: true} (another shop's ids: 404, nothing changed)."""
    if ("ids" in g.body) == bool(g.body.get("all")):
        return _field_error("ids", _("give the proposals' ids, or all: true"))
    services = _services()
    with services.session_factory.begin() as session:
        try:
            result = decide_proposals(session, g.shop_domain, action, g.body.get("ids"))
        except NotThisShops as exc:
            return _not_this_shops(exc)
        session.flush()
        result["pending"] = count_pending(session, g.shop_domain)
    if action == "accept" and result["mapped"]:
        _release(services)
    return jsonify(decision=result)


@blueprint.post("/mappings/import")
@require_session_token
@validated_body("SpreadsheetFile", other_media=SPREADSHEET_MEDIA)
def import_mappings():
    """Check a CSV/XLSX of sku, supplier, supplier_sku, cost: a preview and every refused row; ?apply=1 writes the accepted rows."""
    data, refused = _uploaded_file()
    if refused:
        return refused
    services = _services()
    supplier_id = parse_query(request.args).supplier_id
    apply = request.args.get("apply") == "1"
    # Parse and check with no write transaction open (a 200,000-row XLSX takes many seconds);
    # the preview and the apply run this same check. The apply then writes in short chunks.
    with services.read_session_factory() as session:
        supplier = own_supplier(session, supplier_id) if supplier_id else None
        if supplier_id and supplier is None:
            return jsonify(error=_("not found")), 404
        try:
            check = check_import(session, g.shop_domain, data, supplier)
        except UnreadableFile as exc:
            return _field_error("file", str(exc), 422)
    if not apply:
        return jsonify(import_=check.as_dict())
    applied = apply_import(services.session_factory, g.shop_domain, check)
    report = check.as_dict()
    report["applied"] = applied
    _release(services)
    return jsonify(import_=report)


@blueprint.post("/suppliers/<id:supplier_id>/catalog")
@require_session_token
@validated_body("SpreadsheetFile", other_media=SPREADSHEET_MEDIA)
def upload_catalog(supplier_id: int):
    """Store what a supplier sells from its catalog file (supplier_sku, barcode?, title?, cost?, stock?), for auto-matching."""
    services = _services()
    with services.read_session_factory() as session:
        if own_supplier(session, supplier_id) is None:
            return jsonify(error=_("not found")), 404
    data, refused = _uploaded_file()
    if refused:
        return refused
    try:
        check, items = check_catalog_file(data)
    except UnreadableFile as exc:
        return _field_error("file", str(exc), 422)
    with services.session_factory.begin() as session:
        supplier = own_supplier(session, supplier_id)
        if supplier is None:
            return jsonify(error=_("not found")), 404
        report = check.as_dict(preview=False)
        report["catalog_size"] = store_catalog(session, supplier, items)
    return jsonify(catalog=report)
