"""JSON API behind the admin pages' actions: resolve a desync, run reconciliation, KPI targets, CSV exports."""
from __future__ import annotations

import csv
import io
import json

from flask import Blueprint, Response, current_app, g, jsonify, request

from ..alerts import resolve_alert
from ..auth.session_tokens import require_session_token
from ..spreadsheet_cells import neutralised_row
from ..models import utcnow
from ..reconcile.models import Desync
from ..reconcile.runner import alert_key, run_reconciliation
from . import page_data
from .api_schemas import bounded_ids, validated_body

blueprint = Blueprint("admin_api", __name__, url_prefix="/api")
bounded_ids(blueprint)


def _services():
    return current_app.extensions["services"]


@blueprint.post("/desyncs/<id:desync_id>/resolve")
@require_session_token
@validated_body("Empty", optional=True)
def resolve_desync(desync_id: int):
    """The merchant dealt with it: close the desync and its alert (the next pass reopens it if it is still there)."""
    with _services().session_factory.begin() as session:
        desync = session.get(Desync, desync_id)
        if desync is None or desync.shop_domain != g.shop_domain:
            return jsonify(error="not found"), 404
        desync.status, desync.closed_at, desync.repair_note = "resolved", utcnow(), "resolved by the merchant"
        resolve_alert(session, alert_key(g.shop_domain, desync.kind, desync.ref))
    return jsonify(resolved=desync_id)


@blueprint.post("/reconcile")
@require_session_token
@validated_body("Empty", optional=True)
def reconcile_now():
    """Run every reconciliation check for this shop now; the run's report."""
    run = run_reconciliation(_services(), g.shop_domain)
    return jsonify(report=run.report)


@blueprint.route("/settings/kpi-targets", methods=["GET", "PUT"])
@require_session_token
@validated_body("KpiTargets", methods=("PUT",))
def kpi_targets():
    """Read or change the shop's KPI targets (400 with the reason for a bad value)."""
    from ..kpis.targets import get_targets, set_targets

    with _services().session_factory.begin() as session:
        if request.method == "PUT":
            try:
                set_targets(session, g.shop_domain, request.get_json(silent=True))
            except ValueError as exc:
                return jsonify(error=str(exc)), 400
            session.flush()
        return jsonify(targets=get_targets(session, g.shop_domain))


def _rows(table: str, session, shop: str) -> tuple[list[str], list[list]] | None:
    """Header and rows of an exportable table, from the same data the pages show."""
    if table == "orders":
        data = page_data.orders(session, shop, **{k: request.args.get(k, "") for k in ("q", "state", "supplier", "problem")})["orders"]
        return (["order", "state", "financial_status", "fulfillment_status", "total", "created_at", "supplier_orders"],
                [[o["name"], o["state"], o["financial_status"], o["fulfillment_status"], o["total"], o["created_at"],
                  "; ".join(f"{d['supplier']}: {d['state']}" for d in o["deliveries"])] for o in data])
    if table == "suppliers":
        data = page_data.suppliers(session, shop)["suppliers"]
        return (["supplier", "kind", "active", "sla_hours", "placed", "shipped", "waiting", "failed", "median_ship_hours", "return_rate"],
                [[s["name"], s["kind"], s["active"], s["sla_hours"], *(s["scorecard"][k] for k in ("placed", "shipped", "waiting", "failed", "median_ship_hours", "return_rate"))] for s in data])
    if table == "inventory":
        data = page_data.inventory(session, shop)
        return (["sku", "location", "shopify_available", "should_be"], [[d["sku"], d["location_gid"], d["available"], d["desired"]] for d in data["drift"]])
    if table == "returns":
        data = page_data.returns(session, shop)["returns"]
        return (["return", "status", "decision", "decline_reason", "rma_state", "rma_number", "requested_at", "received_at", "restocked_at", "refunded_at", "outcome", "lines"],
                [[c["name"], c["status"], c["decision"], c["decline_reason"], c["rma"]["state"], c["rma"]["number"], c["requested_at"], c["received_at"], c["restocked_at"],
                  c["refunded_at"], c["outcome"], "; ".join(f"{l['quantity']} x {l['sku']} ({l['reason']})" for l in c["lines"])] for c in data])
    if table == "problems":
        data = page_data.problems(session, shop)
        rows = [["desync", d["severity"], d["kind"], d["subject"] or d["ref"], json.dumps(d["evidence"], sort_keys=True), d["first_seen"], d["times_seen"]] for d in data["desyncs"]]
        rows += [["alert", a["severity"], a["kind"], a["subject"] or "", a["message"], a["first_seen"], a["count"]] for a in data["alerts"]]
        rows += [["dead_letter", "critical", r["topic"], "", r["error"] or "", r["received_at"], r["attempts"]] for r in data["dead_letters"]]
        return (["type", "severity", "kind", "about", "detail", "first_seen", "times"], rows)
    if table == "kpis":
        from .kpi_view import kpi_export

        return kpi_export(session, shop, request.args.get("bucket", "day"))
    return None


EXPORTABLE = ("orders", "suppliers", "inventory", "returns", "problems", "kpis")


@blueprint.get("/export/<name>.csv")
@require_session_token
def export_csv(name: str):
    """Any admin table as CSV (the same rows the page shows)."""
    with _services().session_factory() as session:
        table = _rows(name, session, g.shop_domain) if name in EXPORTABLE else None
    if table is None:
        return jsonify(error=f"unknown table; one of {', '.join(EXPORTABLE)}"), 404
    header, rows = table
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow(neutralised_row(row))  # no cell runs as a formula in a spreadsheet
    return Response(out.getvalue(), mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
