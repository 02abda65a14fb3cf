"""JSON API for email suppliers' way back: mailbox settings, polling now, tracking file uploads, import reports."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy import delete, select

from integrations.suppliers.email_po.imap_mailbox import InvalidMailboxSettings, MailboxError
from integrations.suppliers.email_po.xlsx_rows import looks_like_xlsx

from ..auth.session_tokens import require_session_token
from ..suppliers.audit import changed_fields, merchant_actor, record_change
from ..suppliers.email_inbox import mailbox_json, parse_mailbox_settings, poll_mailbox, save_mailbox, test_login
from ..suppliers.email_inbox_models import EmailMailbox, TrackingImportRun
from ..suppliers.tracking_imports import MAX_UPLOAD_BYTES, import_upload, run_json
from .api_schemas import bounded_ids, is_json, validated_body
from .own_supplier import supplier_of_kind

blueprint = Blueprint("email_suppliers_api", __name__, url_prefix="/api")
bounded_ids(blueprint)

MAX_LISTED_IMPORTS = 50
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A tracking file comes as the body itself (or as the "file" field of a form upload).
TRACKING_FILE_MEDIA = ("text/csv", "text/plain", XLSX_TYPE, "application/octet-stream", "multipart/form-data")


def _services():
    return current_app.extensions["services"]


def _email_supplier(session, supplier_id: int):
    """(supplier, None) for this shop's email supplier, else (None, error response)."""
    return supplier_of_kind(session, supplier_id, "email", "only email suppliers read replies from a mailbox or take tracking files")


def _mailbox_where(supplier_id: int) -> tuple:
    """The supplier's mailbox row, in this shop."""
    return (EmailMailbox.supplier_id == supplier_id, EmailMailbox.shop_domain == g.shop_domain)


# The mailbox's audited columns (the password is audited by name only, when one is given).
_MAILBOX_FIELDS = ("host", "port", "security", "username", "folder", "processed_folder", "poll_minutes", "enabled")


def _mailbox_fields(mailbox) -> dict:
    return {name: getattr(mailbox, name) for name in _MAILBOX_FIELDS} if mailbox is not None else {}


def _actor() -> str:
    return merchant_actor(getattr(g, "user_id", None))


def _field_error(message: str):
    field = message.split(" ", 1)[0]
    return jsonify(error="invalid request", fields=[{"field": field, "message": message}]), 400


@blueprint.get("/suppliers/<id:supplier_id>/mailbox")
@require_session_token
def get_mailbox(supplier_id: int):
    """The supplier's reply mailbox (never its password), or null."""
    with _services().session_factory() as session:
        _, refused = _email_supplier(session, supplier_id)
        if refused:
            return refused
        mailbox = session.scalar(select(EmailMailbox).where(*_mailbox_where(supplier_id)))
        return jsonify(mailbox=mailbox_json(mailbox))


@blueprint.put("/suppliers/<id:supplier_id>/mailbox")
@require_session_token
@validated_body("Mailbox")
def put_mailbox(supplier_id: int):
    """Set the IMAP mailbox the supplier's replies arrive in; checked by logging in before it is saved."""
    services = _services()
    with services.session_factory() as session:
        _, refused = _email_supplier(session, supplier_id)
        if refused:
            return refused
        existing = session.scalar(select(EmailMailbox).where(*_mailbox_where(supplier_id)))
        stored_password = services.box.decrypt(existing.password_enc) if existing is not None else None
        same_target = existing is not None and (existing.host, existing.username) == (g.body.get("host"), g.body.get("username"))
    try:
        # A stored password goes only back to the host and user it was given for.
        settings = parse_mailbox_settings(g.body, password_required=not same_target)
        test_login(settings, settings.password or stored_password)  # resolves, checks, connects: no transaction is open
    except InvalidMailboxSettings as exc:
        return _field_error(str(exc))
    except MailboxError as exc:
        return jsonify(error=f"could not read the mailbox: {exc}"), 422
    with services.session_factory.begin() as session:
        supplier, refused = _email_supplier(session, supplier_id)
        if refused:
            return refused
        before = _mailbox_fields(session.scalar(select(EmailMailbox).where(*_mailbox_where(supplier_id))))
        mailbox = save_mailbox(session, services.box, g.shop_domain, supplier_id, settings)
        # A supplier credential: audited like the supplier's own (field names only, never values).
        fields = changed_fields("mailbox", before, _mailbox_fields(mailbox)) + (["mailbox.password"] if settings.password is not None else [])
        if fields:
            record_change(session, g.shop_domain, supplier_id, _actor(), "mailbox_updated", fields)
        return jsonify(mailbox=mailbox_json(mailbox))


@blueprint.delete("/suppliers/<id:supplier_id>/mailbox")
@require_session_token
def delete_mailbox(supplier_id: int):
    """Stop reading the supplier's mailbox and forget its password."""
    with _services().session_factory.begin() as session:
        _, refused = _email_supplier(session, supplier_id)
        if refused:
            return refused
        deleted = session.execute(delete(EmailMailbox).where(*_mailbox_where(supplier_id))).rowcount
        if deleted:
            record_change(session, g.shop_domain, supplier_id, _actor(), "mailbox_deleted", [f"mailbox.{name}" for name in ("password", *_MAILBOX_FIELDS)])
        return jsonify(deleted=deleted)


@blueprint.post("/suppliers/<id:supplier_id>/mailbox/poll")
@require_session_token
@validated_body("Empty", optional=True)
def poll_now(supplier_id: int):
    """Read the mailbox now (instead of at its next poll); the imports it made."""
    services = _services()
    with services.session_factory() as session:
        _, refused = _email_supplier(session, supplier_id)
        if refused:
            return refused
        mailbox_id = session.scalar(select(EmailMailbox.id).where(*_mailbox_where(supplier_id)))
    if mailbox_id is None:
        return jsonify(error="this supplier has no mailbox: PUT its settings first"), 409
    result = poll_mailbox(services, mailbox_id)
    with services.session_factory() as session:
        runs = [run_json(session.get(TrackingImportRun, run_id)) for run_id in result.import_ids]
    return jsonify(poll={"messages": result.messages, "skipped": result.skipped, "error": result.error, "imports": runs})


@blueprint.post("/suppliers/<id:supplier_id>/tracking-imports")
@require_session_token
@validated_body("TrackingFile", other_media=TRACKING_FILE_MEDIA)
def upload_tracking(supplier_id: int):
    """Import a tracking file (CSV or XLSX, as the body or a form's "file" field); the per-row report."""
    services = _services()
    with services.session_factory() as session:
        _, refused = _email_supplier(session, supplier_id)
        if refused:
            return refused
    filename = (request.args.get("filename") or "")[:200] or None
    if is_json(request.mimetype):
        return jsonify(error="send the CSV or XLSX file itself (text/csv, the XLSX type, or a form's \"file\" field), not JSON"), 415
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            return jsonify(error='send the file as the form field "file"'), 400
        data, filename = upload.stream.read(MAX_UPLOAD_BYTES + 1), (upload.filename or filename or "")[:200] or None
    else:
        data = request.get_data(cache=True)
    if len(data) > MAX_UPLOAD_BYTES:
        return jsonify(error=f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; split it"), 413
    if not data.strip():
        return jsonify(error="the file is empty"), 422
    if not looks_like_xlsx(data) and not _is_text(data):
        return jsonify(error="the file is neither CSV (UTF-8 text) nor XLSX"), 415
    run = import_upload(services, g.shop_domain, supplier_id, data, filename)
    return jsonify(tracking_import=run_json(run)), 201


def _is_text(data: bytes) -> bool:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return "\x00" not in text


@blueprint.get("/suppliers/<id:supplier_id>/tracking-imports")
@require_session_token
def list_tracking_imports(supplier_id: int):
    """The supplier's latest tracking imports (counts per outcome; rows via the import itself)."""
    with _services().session_factory() as session:
        _, refused = _email_supplier(session, supplier_id)
        if refused:
            return refused
        runs = session.scalars(select(TrackingImportRun).where(TrackingImportRun.supplier_id == supplier_id, TrackingImportRun.shop_domain == g.shop_domain)
                               .order_by(TrackingImportRun.id.desc()).limit(MAX_LISTED_IMPORTS))
        return jsonify(tracking_imports=[run_json(run, with_rows=False) for run in runs])


@blueprint.get("/tracking-imports/<id:import_id>")
@require_session_token
def get_tracking_import(import_id: int):
    """One tracking import with its per-row report."""
    with _services().session_factory() as session:
        run = session.get(TrackingImportRun, import_id)
        if run is None or run.shop_domain != g.shop_domain:
            return jsonify(error="not found"), 404
        return jsonify(tracking_import=run_json(run))
