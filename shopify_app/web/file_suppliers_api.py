"""JSON API for file suppliers: the column mapping per file kind, a preview of a sample through it, the files processed, polling now."""
from __future__ import annotations

import json
import tempfile

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy import select

from integrations.suppliers.files.batch_schedule import InvalidBatching, parse_batching
from integrations.suppliers.files.inbound import preview
from integrations.suppliers.files.mapping import KINDS, InvalidMapping, parse_mapping

from ..auth.session_tokens import require_session_token
from ..suppliers.audit import merchant_actor, record_change
from ..suppliers.file_channel import file_json, poll_file_supplier, poll_json
from ..suppliers.file_channel_models import FileChannelFile, FileChannelPoll
from ..suppliers.po_batches import reslot_waiting, supplier_batching
from .api_schemas import bounded_ids, is_json, validated_body
from .own_supplier import supplier_of_kind

blueprint = Blueprint("file_suppliers_api", __name__, url_prefix="/api")
bounded_ids(blueprint)

MAX_SAMPLE_BYTES = 20 * 1024 * 1024
MAX_LISTED_FILES = 100
SAMPLE_MEDIA = ("text/csv", "text/plain", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "application/octet-stream", "multipart/form-data")


def _services():
    return current_app.extensions["services"]


def _file_supplier(session, supplier_id: int):
    """(supplier, None) for this shop's file supplier, else (None, error response)."""
    return supplier_of_kind(session, supplier_id, "files", "only file suppliers have file mappings and processed files")


def _refused_field(exc: ValueError):
    """400 naming the field a settings check refused (its message starts with the field)."""
    field = str(exc).split(" ", 1)[0].rstrip(":")
    return jsonify(error="invalid request", fields=[{"field": field, "message": str(exc)}]), 400


def _kind_or_error(kind: str):
    if kind not in KINDS:
        return jsonify(error="invalid request", fields=[{"field": "kind", "message": f"kind must be one of {', '.join(KINDS)}"}]), 400
    return None


@blueprint.put("/suppliers/<id:supplier_id>/file-mappings/<kind>")
@require_session_token
@validated_body("FileMapping")
def put_file_mapping(supplier_id: int, kind: str):
    """Set how one kind of the supplier's files is read (columns, header row, delimiter, encoding, decimal comma, dates, sheet)."""
    refused = _kind_or_error(kind)
    if refused:
        return refused
    try:
        mapping = parse_mapping(kind, g.body)
    except InvalidMapping as exc:
        return _refused_field(exc)
    with _services().session_factory.begin() as session:
        supplier, refused = _file_supplier(session, supplier_id)
        if refused:
            return refused
        settings = dict(supplier.settings or {})
        settings["mappings"] = {**(settings.get("mappings") or {}), kind: mapping.as_json()}
        supplier.settings = settings
        record_change(session, g.shop_domain, supplier_id, merchant_actor(getattr(g, "user_id", None)), "file_mapping_updated", [f"settings.mappings.{kind}"])
        return jsonify(mapping=mapping.as_json(), kind=kind)


@blueprint.post("/suppliers/<id:supplier_id>/file-mappings/<kind>/preview")
@require_session_token
@validated_body("FileSample", other_media=SAMPLE_MEDIA)
def preview_file(supplier_id: int, kind: str):
    """Apply a mapping (the form's "mapping", else the saved one) to a sample file: the first rows as our fields and every refused row with its reason."""
    refused = _kind_or_error(kind)
    if refused:
        return refused
    with _services().session_factory() as session:
        supplier, refused = _file_supplier(session, supplier_id)
        if refused:
            return refused
        saved = ((supplier.settings or {}).get("mappings") or {}).get(kind)
    if is_json(request.mimetype):
        return jsonify(error="send the sample file itself (CSV or XLSX), or a form with the field \"file\", not JSON"), 415
    raw_mapping = saved
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            return jsonify(error="invalid request", fields=[{"field": "file", "message": 'send the sample as the form field "file"'}]), 400
        data = upload.stream.read(MAX_SAMPLE_BYTES + 1)
        if request.form.get("mapping"):
            try:
                raw_mapping = json.loads(request.form["mapping"])
            except (ValueError, RecursionError):  # RecursionError: nested too deeply
                return jsonify(error="invalid request", fields=[{"field": "mapping", "message": "mapping must be JSON text"}]), 400
    else:
        data = request.get_data(cache=True)
    if len(data) > MAX_SAMPLE_BYTES:
        return jsonify(error=f"the sample is larger than {MAX_SAMPLE_BYTES // (1024 * 1024)} MB; a few hundred rows are enough"), 413
    if not data.strip():
        return jsonify(error="invalid request", fields=[{"field": "file", "message": "the file is empty"}]), 400
    try:
        mapping = parse_mapping(kind, raw_mapping)
    except InvalidMapping as exc:
        return jsonify(error="invalid request", fields=[{"field": "mapping", "message": str(exc)}]), 400
    with tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024) as sample:
        sample.write(data)
        sample.seek(0)
        return jsonify(preview={"kind": kind, "mapping": mapping.as_json(), **preview(sample, mapping)})


@blueprint.get("/suppliers/<id:supplier_id>/files")
@require_session_token
def list_files(supplier_id: int):
    """The supplier's files, newest first (?kind= to narrow), each with its rows applied and refused and why; and the poll state."""
    kind = request.args.get("kind")
    if kind is not None:
        refused = _kind_or_error(kind)
        if refused:
            return refused
    with _services().session_factory() as session:
        _, refused = _file_supplier(session, supplier_id)
        if refused:
            return refused
        query = select(FileChannelFile).where(FileChannelFile.supplier_id == supplier_id, FileChannelFile.shop_domain == g.shop_domain)
        if kind:
            query = query.where(FileChannelFile.kind == kind)
        rows = session.scalars(query.order_by(FileChannelFile.id.desc()).limit(MAX_LISTED_FILES)).all()
        state = session.scalar(select(FileChannelPoll).where(FileChannelPoll.supplier_id == supplier_id, FileChannelPoll.shop_domain == g.shop_domain))
        return jsonify(files=[file_json(row) for row in rows], poll=poll_json(state))


@blueprint.post("/suppliers/<id:supplier_id>/files/poll")
@require_session_token
@validated_body("Empty", optional=True)
def poll_files_now(supplier_id: int):
    """Read the supplier's folders now (instead of at the next poll); the files processed."""
    services = _services()
    with services.session_factory() as session:
        _, refused = _file_supplier(session, supplier_id)
        if refused:
            return refused
    result = poll_file_supplier(services, supplier_id)
    with services.session_factory() as session:
        files = [file_json(session.get(FileChannelFile, file_id)) for file_id in result.applied]
    return jsonify(poll={"seen": result.seen, "duplicates": result.duplicates, "changed": result.changed, "error": result.error, "files": files})


def _batching_view(session, supplier):
    return jsonify(batching=supplier_batching(session, supplier))


@blueprint.get("/suppliers/<id:supplier_id>/po-batching")
@require_session_token
def get_po_batching(supplier_id: int):
    """When the supplier's POs go out (per order, or batched at slots in the shop's time zone), the next slot, the orders waiting, the last batches."""
    with _services().session_factory() as session:
        supplier, refused = _file_supplier(session, supplier_id)
        if refused:
            return refused
        return _batching_view(session, supplier)


@blueprint.put("/suppliers/<id:supplier_id>/po-batching")
@require_session_token
@validated_body("PoBatching")
def put_po_batching(supplier_id: int):
    """Choose one PO file per order, or batched POs at times of day / every N minutes on chosen weekdays (the shop's time zone)."""
    try:
        schedule = parse_batching(g.body)
    except InvalidBatching as exc:
        return _refused_field(exc)
    with _services().session_factory.begin() as session:
        supplier, refused = _file_supplier(session, supplier_id)
        if refused:
            return refused
        settings = dict(supplier.settings or {})
        settings["po_batching"] = schedule.as_json() if schedule else {"mode": "per_order"}
        supplier.settings = settings
        reslot_waiting(session, supplier.shop_domain, supplier.id, schedule)
        record_change(session, g.shop_domain, supplier_id, merchant_actor(getattr(g, "user_id", None)), "po_batching_updated", ["settings.po_batching"])
        return _batching_view(session, supplier)
