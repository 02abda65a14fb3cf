"""JSON API for inventory: sync status per supplier, feed runs, feed uploads and confirmations, terms."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy import func, select

from ..auth.session_tokens import require_session_token
from ..inventory.feed_file import FeedUnreadable, fetch_feed, parse_feed
from ..inventory.feeds import apply_feed, confirm_held_feed, discard_held_feed, feeding_suppliers, last_good_feed
from ..inventory.models import FeedStatus, InventoryLevel, InventorySyncRun, StockFeedRun
from ..inventory.sync import sync_inventory
from ..inventory.terms import inventory_terms, validate_inventory_terms
from ..mappings.supplier_catalog import record_feed_items
from ..models import utcnow
from .api_schemas import bounded_ids, validated_body
from .own_supplier import own_supplier

blueprint = Blueprint("inventory_api", __name__, url_prefix="/api")
bounded_ids(blueprint)

MAX_LISTED_FAILURES = 100
# Feed files may also come as a raw body of these types (CSV, or JSON sniffed by parse_feed).
FEED_FILE_MEDIA = ("text/csv", "text/plain", "application/octet-stream")


def _services():
    return current_app.extensions["services"]


def _feed_json(run: StockFeedRun | None, *, with_errors: bool = False) -> dict | None:
    if run is None:
        return None
    out = {
        "id": run.id, "supplier_id": run.supplier_id, "source": run.source, "full": run.full, "status": run.status,
        "rows_total": run.rows_total, "rows_refused": run.rows_refused, "skus_changed": run.skus_changed,
        "skus_dropped": run.skus_dropped, "message": run.message, "created_at": run.created_at.isoformat(),
    }
    if with_errors:
        out["errors"] = run.errors or []
    return out


def _sync_json(run: InventorySyncRun | None) -> dict | None:
    if run is None:
        return None
    return {
        "id": run.id, "status": run.status, "levels_planned": run.levels_planned, "quantities_set": run.quantities_set,
        "calls": run.calls, "stale_retries": run.stale_retries, "rows_failed": run.rows_failed, "error": run.error,
        "started_at": run.started_at.isoformat(), "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }




@blueprint.get("/inventory")
@require_session_token
def overview():
    """Per supplier: its last feed, last good feed, staleness; the last sync; levels out of line and failing."""
    with _services().session_factory() as session:
        return jsonify(inventory_overview(session, g.shop_domain))


def inventory_overview(session, shop: str) -> dict:
    """What the inventory API and page show: feeds per supplier, the last sync, drift and failures."""
    now = utcnow()
    suppliers = []
    for supplier in feeding_suppliers(session, shop):
        terms = inventory_terms(supplier.inventory_terms)
        last = session.scalar(select(StockFeedRun).where(StockFeedRun.supplier_id == supplier.id).order_by(StockFeedRun.id.desc()).limit(1))
        good = last_good_feed(session, supplier.id)
        held = session.scalars(select(StockFeedRun).where(StockFeedRun.supplier_id == supplier.id, StockFeedRun.status == FeedStatus.NEEDS_CONFIRMATION))
        suppliers.append({
            "id": supplier.id, "name": supplier.name, "location_gid": supplier.location_gid, "terms": terms.as_dict(),
            "last_feed": _feed_json(last), "last_good_feed_at": good.created_at.isoformat() if good else None,
            "stale": good is None or now - good.created_at > terms.stale_after,
            "held_feeds": [_feed_json(run) for run in held],
        })
    levels = InventoryLevel
    known = session.scalar(select(func.count()).where(levels.shop_domain == shop)) or 0
    managed = session.scalar(select(func.count()).where(levels.shop_domain == shop, levels.desired.is_not(None))) or 0
    differing = session.scalar(select(func.count()).where(levels.shop_domain == shop, levels.desired.is_not(None), levels.desired != levels.available)) or 0
    failures = session.scalars(select(levels).where(levels.shop_domain == shop, levels.last_error.is_not(None)).order_by(levels.id).limit(MAX_LISTED_FAILURES))
    drift = session.scalars(select(levels).where(levels.shop_domain == shop, levels.desired.is_not(None), levels.desired != levels.available).order_by(levels.sku).limit(MAX_LISTED_FAILURES))
    last_sync = session.scalar(select(InventorySyncRun).where(InventorySyncRun.shop_domain == shop).order_by(InventorySyncRun.id.desc()).limit(1))
    return {
        "suppliers": suppliers,
        "last_sync": _sync_json(last_sync),
        "levels": {"known": known, "managed": managed, "differing": differing},
        "drift": [{"sku": d.sku, "location_gid": d.location_gid, "available": d.available, "desired": d.desired} for d in drift],
        "failures": [{"sku": f.sku, "inventory_item_gid": f.inventory_item_gid, "location_gid": f.location_gid, "error": f.last_error} for f in failures],
    }


@blueprint.get("/inventory/feeds/<id:run_id>")
@require_session_token
def feed_run(run_id: int):
    """One feed run with its refused rows."""
    with _services().session_factory() as session:
        run = session.get(StockFeedRun, run_id)
        if run is None or run.shop_domain != g.shop_domain:
            return jsonify(error="not found"), 404
        return jsonify(feed=_feed_json(run, with_errors=True))


@blueprint.post("/suppliers/<id:supplier_id>/stock-feed")
@require_session_token
@validated_body("StockFeed", other_media=FEED_FILE_MEDIA)
def upload_feed(supplier_id: int):
    """Import a full stock feed: the file as the body (CSV or JSON), or {"url": ...} to fetch it."""
    services = _services()
    # Ownership first: nothing is fetched or parsed for a supplier that is not this shop's.
    with services.session_factory() as session:
        if own_supplier(session, supplier_id) is None:
            return jsonify(error="not found"), 404
    source, body, content_type = "file", request.get_data(cache=False), request.content_type
    if content_type and content_type.startswith("application/json"):
        document = request.get_json(silent=True)
        if isinstance(document, dict) and "url" in document:
            source = "url"
            try:
                body, content_type = fetch_feed(str(document["url"]))  # no transaction is open: rule 6
            except FeedUnreadable as exc:
                return jsonify(error=str(exc)), 422
    try:
        # A fetched file's content is not quoted back: the URL's answer is not necessarily the merchant's to read.
        parsed = parse_feed(body, content_type, quote=source == "file")
    except FeedUnreadable as exc:
        return jsonify(error=str(exc)), 422
    with services.session_factory.begin() as session:
        supplier = own_supplier(session, supplier_id)
        if supplier is None:
            return jsonify(error="not found"), 404
        run = apply_feed(session, supplier, parsed.levels, source=source, full=True, refused=parsed.errors)
        record_feed_items(session, supplier, parsed.levels)  # what the supplier sells, for auto-matching (issue 18)
        return jsonify(feed=_feed_json(run, with_errors=True)), 201


@blueprint.post("/inventory/feeds/<id:run_id>/<any(confirm, discard):action>")
@require_session_token
@validated_body("Empty", optional=True)
def decide_held_feed(run_id: int, action: str):
    """Apply (confirm) or drop (discard) a feed the guard held."""
    with _services().session_factory.begin() as session:
        run = session.get(StockFeedRun, run_id)
        if run is None or run.shop_domain != g.shop_domain:
            return jsonify(error="not found"), 404
        try:
            if action == "confirm":
                applied = confirm_held_feed(session, run)
                return jsonify(feed=_feed_json(applied))
            discard_held_feed(session, run)
            return jsonify(feed=_feed_json(run))
        except ValueError as exc:
            return jsonify(error=str(exc)), 409


@blueprint.put("/suppliers/<id:supplier_id>/inventory")
@require_session_token
@validated_body("InventorySettings")
def set_inventory_terms(supplier_id: int):
    """Set a supplier's Shopify location and inventory terms: {location_gid?, terms?}."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error="expected a JSON object"), 400
    try:
        terms = validate_inventory_terms(body.get("terms", {}))
    except ValueError as exc:
        return jsonify(error=str(exc)), 400
    location = body.get("location_gid")
    if location is not None and not (isinstance(location, str) and location.startswith("gid://shopify/Location/")):
        return jsonify(error="location_gid must be a Location GID"), 400
    with _services().session_factory.begin() as session:
        supplier = own_supplier(session, supplier_id)
        if supplier is None:
            return jsonify(error="not found"), 404
        before = {**(supplier.inventory_terms or {}), "location_gid": supplier.location_gid}
        supplier.inventory_terms = {**(supplier.inventory_terms or {}), **terms}
        if "location_gid" in body:
            supplier.location_gid = location
        from ..suppliers.audit import merchant_actor, record_update

        record_update(session, g.shop_domain, supplier.id, merchant_actor(g.user_id), "inventory_terms", before, {**supplier.inventory_terms, "location_gid": supplier.location_gid})
        return jsonify(location_gid=supplier.location_gid, terms=inventory_terms(supplier.inventory_terms).as_dict())


@blueprint.post("/inventory/sync")
@require_session_token
@validated_body("InventorySync", optional=True)
def sync_now():
    """Run a sync for this shop now and report it."""
    run = sync_inventory(_services(), g.shop_domain, refresh_catalog=bool(g.body.get("refresh_catalog")))
    return jsonify(sync=_sync_json(run))
