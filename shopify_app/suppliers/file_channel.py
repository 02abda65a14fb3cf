"""File suppliers' way back: the job that reads acknowledgement, tracking and stock files and applies each exactly once.

Per due supplier (job "file-suppliers", each supplier on its own poll interval), for each
kind's folder, with no transaction open while the server answers:
  1. list the folder; a writer's temporary (dot-names, .tmp/.part...) is never looked at;
  2. a file seen for the first time, or whose size or time changed since the last look, is
     only remembered (status waiting): a file is read when two looks agree (half-written
     files grow between looks);
  3. the file is downloaded (spooled, hashed) and looked at again: replaced while being
     read -> left for the next poll;
  4. content processed before (same SHA-256, any name) -> a duplicate, never applied again;
  5. else its rows go through the merchant's mapping and are applied: stock into the
     inventory plan (inventory/feeds.apply_feed, a full snapshot, in the same transaction as
     the ledger row, whose unique content key makes a second poller's copy roll back),
     tracking into the PO log then Shopify fulfillments (tracking_imports: a parcel already
     there is skipped), acknowledgements onto the PO's status;
  6. the file is moved to the archive folder (a crash before the move: the next poll finds
     the same content and records a duplicate).
A supplier whose server keeps failing is retried later and later and raises an alert; a
changed host key raises a critical alert at once and nothing is read or written.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from integrations import egress
from integrations.suppliers.email_po.tracking_import import record_import
from integrations.suppliers.files.adapter import FileChannelAdapter
from integrations.suppliers.files.config import InvalidFileSettings, check_credentials, parse_settings
from integrations.suppliers.files.factory import transport_factory
from integrations.suppliers.files.inbound import FileChanged, fetch, read_acknowledgements, read_stock, read_tracking, ready_candidates
from integrations.suppliers.files.sftp import HostKeyMismatch
from integrations.suppliers.files.transport import FileTransport, RemoteFile, TransportError
from integrations.suppliers import runtime

from ..alerts import alert_job_failure, raise_alert, resolve_alert
from ..db import read_only
from ..inventory.feeds import apply_feed
from ..inventory.models import FeedStatus
from ..models import Shop, ShopStatus, utcnow
from .file_channel_models import FileChannelFile, FileChannelPoll, FileStatus
from .models import Supplier
from .tracking_imports import push_imported, sent_log_of

log = logging.getLogger(__name__)

INBOUND_KINDS = ("acknowledgements", "tracking", "stock")
ALERT_AFTER_FAILURES = 3
MAX_BACKOFF = dt.timedelta(hours=6)
MAX_REPORTED = 500  # refused rows kept per file (the count is exact)
MAX_FILES_PER_POLL = 200


@dataclass
class PollResult:
    """What one poll of one supplier did."""

    seen: int = 0
    applied: list[int] = field(default_factory=list)  # ledger ids of the files processed
    duplicates: int = 0
    changed: int = 0
    error: str | None = None
    recorded_pos: set[str] = field(default_factory=set)


def unreachable_alert_key(supplier_id: int) -> str:
    """Dedupe key of a file supplier's 'cannot reach the server' alert."""
    return f"file_supplier_unreachable:{supplier_id}"


def host_key_alert_key(supplier_id: int) -> str:
    """Dedupe key of a file supplier's 'host key changed' alert."""
    return f"file_supplier_host_key:{supplier_id}"


def adapter_for(services, supplier: Supplier, *, policy: egress.EgressPolicy | None = None) -> FileChannelAdapter:
    """The file adapter of a supplier record, its PO log in the database (policy: tests only)."""
    settings = parse_settings(supplier.settings or {}, local_allowed=bool(runtime.current().file_root))
    credentials = json.loads(services.box.decrypt(supplier.credentials_enc)) if supplier.credentials_enc else {}
    check_credentials(settings, credentials)
    return FileChannelAdapter(settings, transport_factory(settings, credentials, policy=policy, shop_domain=supplier.shop_domain), sent_log_of(services.session_factory, supplier.shop_domain, supplier.id))


# -- the job ---------------------------------------------------------------------------------


def poll_file_suppliers(services, limit: int = 100) -> int:
    """The periodic job: poll every due file supplier of an installed shop; returns suppliers polled."""
    now = utcnow()
    with read_only(services.session_factory)() as session:
        suppliers = due_folder_suppliers(session, "files", now, limit)
    for supplier_id, shop_domain in suppliers:
        try:
            poll_file_supplier(services, supplier_id)
        except Exception as exc:  # noqa: BLE001 - one shop's broken supplier must not stop the others
            alert_job_failure(services.session_factory, "file-suppliers", shop_domain, exc, unit=f"supplier:{supplier_id}")
    return len(suppliers)


def poll_file_supplier(services, supplier_id: int, *, policy: egress.EgressPolicy | None = None) -> PollResult:
    """Read one file supplier's folders once (see the module docstring for the order of things)."""
    with read_only(services.session_factory)() as session:
        supplier = session.get(Supplier, supplier_id)
        if supplier is None or supplier.kind != "files":
            return PollResult(error="no such file supplier")
        shop, name = supplier.shop_domain, supplier.name
        try:
            adapter = adapter_for(services, supplier, policy=policy)
        except InvalidFileSettings as exc:
            return _after_poll(services, supplier_id, shop, name, 5, PollResult(error=str(exc)), None)
    result = PollResult()
    host_key: HostKeyMismatch | None = None
    transport: FileTransport | None = None
    try:
        transport = adapter.open_transport()
        for kind in INBOUND_KINDS:
            _poll_folder(services, adapter, transport, shop, supplier_id, kind, result)
    except HostKeyMismatch as exc:
        host_key, result.error = exc, str(exc)
    except TransportError as exc:
        result.error = str(exc)
    finally:
        if transport is not None:
            try:
                transport.close()
            except (TransportError, OSError):
                pass
    _after_poll(services, supplier_id, shop, name, adapter.settings.poll_minutes, result, host_key)
    push_imported(services, shop, supplier_id, sorted(result.recorded_pos))
    return result


def _poll_folder(services, adapter: FileChannelAdapter, transport: FileTransport, shop: str, supplier_id: int, kind: str, result: PollResult) -> None:
    folder = adapter.settings.folders[kind]
    try:
        listed = transport.list(folder)
    except TransportError as exc:
        if "no such" in str(exc):
            return  # the supplier has not made this folder (yet): nothing of this kind
        raise
    for seen in ready_candidates(listed, adapter.settings)[:MAX_FILES_PER_POLL]:
        result.seen += 1
        if not _second_look_agrees(services, shop, supplier_id, kind, seen):
            continue
        try:
            stream, checksum = fetch(transport, folder, seen)
        except FileChanged as exc:
            result.changed += 1
            _forget_look(services, shop, supplier_id, kind, seen, str(exc))
            continue
        with stream:
            file_id = _process(services, adapter, shop, supplier_id, kind, seen, checksum, stream, result)
        if file_id is not None:
            transport.move(folder, seen.name, adapter.settings.archive_folder(kind))


# -- the ledger --------------------------------------------------------------------------------


def _waiting(session, shop: str, supplier_id: int, kind: str, name: str) -> FileChannelFile | None:
    return session.scalar(select(FileChannelFile).where(
        FileChannelFile.shop_domain == shop, FileChannelFile.supplier_id == supplier_id, FileChannelFile.kind == kind,
        FileChannelFile.name == name, FileChannelFile.status == FileStatus.WAITING).limit(1))


def _second_look_agrees(services, shop: str, supplier_id: int, kind: str, seen: RemoteFile) -> bool:
    """Remember this look; True when the previous look saw the same size and time (the file is complete)."""
    with services.session_factory.begin() as session:
        row = _waiting(session, shop, supplier_id, kind, seen.name)
        if row is None:
            session.add(FileChannelFile(shop_domain=shop, supplier_id=supplier_id, kind=kind, name=seen.name, size=seen.size,
                                        modified=seen.modified, status=FileStatus.WAITING, rows_applied=0, rows_refused=0))
            return False
        if (row.size, row.modified) != (seen.size, seen.modified):
            row.size, row.modified, row.message = seen.size, seen.modified, "still being written (size or time changed since the last look)"
            return False
        return True


def _forget_look(services, shop: str, supplier_id: int, kind: str, seen: RemoteFile, message: str) -> None:
    with services.session_factory.begin() as session:
        row = _waiting(session, shop, supplier_id, kind, seen.name)
        if row is not None:
            row.size, row.modified, row.message = -1, -1.0, message


def _process(services, adapter: FileChannelAdapter, shop: str, supplier_id: int, kind: str, seen: RemoteFile, checksum: str, stream, result: PollResult) -> int | None:
    """Apply one complete file unless its content was processed before; the ledger row's id (None: lost a race, left in place)."""
    with read_only(services.session_factory)() as session:
        if kind == "stock":
            # A stock file is a full snapshot: only the last one processed says what is current, so a
            # return to an earlier content (0 -> 5 -> 0) is applied; the same content again is not.
            earlier = session.scalar(select(FileChannelFile).where(
                FileChannelFile.shop_domain == shop, FileChannelFile.supplier_id == supplier_id, FileChannelFile.kind == kind,
                FileChannelFile.applied_checksum.is_not(None)).order_by(FileChannelFile.id.desc()).limit(1))
            earlier = earlier if earlier is not None and earlier.applied_checksum == checksum else None
        else:
            earlier = session.scalar(select(FileChannelFile).where(
                FileChannelFile.shop_domain == shop, FileChannelFile.supplier_id == supplier_id, FileChannelFile.kind == kind,
                FileChannelFile.applied_checksum == checksum).limit(1))
        earlier_name = earlier.name if earlier is not None else None
    if earlier_name is not None:
        result.duplicates += 1
        return _finish(services, shop, supplier_id, kind, seen, checksum=checksum, status=FileStatus.DUPLICATE,
                       message=f"same content as {earlier_name}, processed before: not applied again")
    mapping = adapter.settings.mapping(kind)
    if kind == "stock":
        return _apply_stock(services, shop, supplier_id, seen, checksum, read_stock(stream, mapping), result, mapping.header_row)
    sent_log = adapter.sent_log
    if kind == "tracking":
        checked = read_tracking(stream, mapping, sent_log.get)
        record_import(sent_log, checked)  # a parcel already in the log is kept as it is: applying twice changes nothing
        result.recorded_pos.update(checked.shipments)
        refused = [{"row": r.row, "reason": r.message, "outcome": r.outcome, "po_number": r.po_number} for r in checked.report if r.outcome != "applied"]
        applied = sum(1 for r in checked.report if r.outcome == "applied")
        whole = _header_refused(checked.errors, applied, mapping.header_row)
        return _finish(services, shop, supplier_id, kind, seen, checksum=checksum, status=FileStatus.REFUSED if whole else FileStatus.APPLIED,
                       applied=applied, refused=refused, applied_checksum=True, result=result,
                       message=checked.errors[0].message if whole else None)
    acks, errors = read_acknowledgements(stream, mapping, sent_log.get)
    for ack in acks:
        status = "accepted" if ack.accepted else "rejected"
        sent_log.update(ack.po_number, lambda record, s=status, note=ack.reason: replace(record, acknowledgement=s, acknowledgement_note=note or None))
    whole = _header_refused(errors, len(acks), mapping.header_row)
    return _finish(services, shop, supplier_id, kind, seen, checksum=checksum, status=FileStatus.REFUSED if whole else FileStatus.APPLIED,
                   applied=len(acks), refused=[{"row": e.row, "reason": e.message, "outcome": e.outcome} for e in errors],
                   applied_checksum=True, result=result, message=errors[0].message if whole else None)


def _header_refused(errors: list, applied: int, header_row: int) -> bool:
    """Whether the file as a whole was refused (its header or format), rather than some of its rows."""
    return not applied and len(errors) == 1 and errors[0].row <= max(header_row, 1)


def _apply_stock(services, shop: str, supplier_id: int, seen: RemoteFile, checksum: str, checked, result: PollResult, header_row: int) -> int | None:
    refused = [{"row": e.row, "reason": e.message} for e in checked.errors]
    whole = not checked.levels and bool(checked.errors) and _header_refused(checked.errors, 0, header_row)
    try:
        with services.session_factory.begin() as session:
            row = _claim(session, shop, supplier_id, "stock", seen)
            # Earlier snapshots give up their claim on their content (a later return to it must apply);
            # the same content keeps it, so two pollers of one file still meet on the unique key.
            session.execute(update(FileChannelFile).where(
                FileChannelFile.shop_domain == shop, FileChannelFile.supplier_id == supplier_id, FileChannelFile.kind == "stock",
                FileChannelFile.applied_checksum.is_not(None), FileChannelFile.applied_checksum != checksum).values(applied_checksum=None))
            if whole:
                _fill(row, checksum, FileStatus.REFUSED, 0, refused, checked.errors[0].message, applied_checksum=True)
            else:
                supplier = session.get(Supplier, supplier_id)
                run = apply_feed(session, supplier, checked.levels, source="file", full=True, refused=checked.errors)
                status = {FeedStatus.NEEDS_CONFIRMATION: FileStatus.HELD, FeedStatus.FAILED: FileStatus.REFUSED}.get(run.status, FileStatus.APPLIED)
                message = run.message if run.status != FeedStatus.APPLIED else None
                # The feed's own refusals too (a SKU no product is mapped to), named by SKU.
                unknown = [{"row": None, "sku": e.get("sku"), "reason": e["error"]} for e in run.errors or [] if e.get("row") is None]
                _fill(row, checksum, status, len(checked.levels) - len(unknown), refused + unknown, message, applied_checksum=True)
            session.flush()
            file_id = row.id
    except IntegrityError:
        return None  # another poller applied this content meanwhile: its row stands
    result.applied.append(file_id)
    return file_id


def _claim(session, shop: str, supplier_id: int, kind: str, seen: RemoteFile) -> FileChannelFile:
    row = _waiting(session, shop, supplier_id, kind, seen.name)
    if row is None:
        row = FileChannelFile(shop_domain=shop, supplier_id=supplier_id, kind=kind, name=seen.name, size=seen.size, modified=seen.modified)
        session.add(row)
    return row


def _fill(row: FileChannelFile, checksum: str, status: str, applied: int, refused: list[dict], message: str | None, *, applied_checksum: bool) -> None:
    row.checksum, row.status, row.processed_at = checksum, status, utcnow()
    row.applied_checksum = checksum if applied_checksum else None
    row.rows_applied, row.rows_refused = applied, len(refused)
    row.report, row.message = refused[:MAX_REPORTED], (message or None) and message[:1000]


def _finish(services, shop: str, supplier_id: int, kind: str, seen: RemoteFile, *, checksum: str, status: str, message: str | None = None,
            applied: int = 0, refused: list[dict] | None = None, applied_checksum: bool = False, result: PollResult | None = None) -> int | None:
    try:
        with services.session_factory.begin() as session:
            row = _claim(session, shop, supplier_id, kind, seen)
            _fill(row, checksum, status, applied, refused or [], message, applied_checksum=applied_checksum)
            session.flush()
            file_id = row.id
    except IntegrityError:
        return None
    if result is not None:
        result.applied.append(file_id)
    return file_id


def _after_poll(services, supplier_id: int, shop: str, name: str, poll_minutes: int, result: PollResult, host_key: HostKeyMismatch | None) -> PollResult:
    record_folder_poll(services, supplier_id, shop, name, poll_minutes, result.error, host_key.presented if host_key is not None else None)
    return result


def due_folder_suppliers(session, kind: str, now: dt.datetime, limit: int = 100) -> list[tuple[int, str]]:
    """(id, shop) of the active suppliers of this kind, of installed shops, whose folders are due a read (never read, or next_poll_at passed)."""
    return [tuple(row) for row in session.execute(
        select(Supplier.id, Supplier.shop_domain).join(Shop, Shop.domain == Supplier.shop_domain)
        .outerjoin(FileChannelPoll, FileChannelPoll.supplier_id == Supplier.id)
        .where(Supplier.kind == kind, Supplier.active.is_(True), Supplier.deleted_at.is_(None), Shop.status == ShopStatus.INSTALLED.value,
               (FileChannelPoll.id.is_(None)) | (FileChannelPoll.next_poll_at <= now))
        .order_by(Supplier.id).limit(limit)
    ).all()]


def record_folder_poll(services, supplier_id: int, shop: str, name: str, poll_minutes: int, error: str | None, presented_host_key: str | None = None, *,
                       now: dt.datetime | None = None, max_backoff: dt.timedelta = MAX_BACKOFF) -> FileChannelPoll:
    """After a read of a supplier's folders (file channel or EDI partner): next read time, backoff, and the outage / host-key alerts.

    A good read is next due poll_minutes later (0: at the job's next run). A failure doubles
    the pause (poll_minutes or 1 minute, 2x, 4x ... up to max_backoff) and alerts after
    ALERT_AFTER_FAILURES in a row; a changed host key alerts (critical) at once; a good read
    resets the pause and closes both alerts. State in the database: every process agrees.
    """
    now = now or utcnow()
    with services.session_factory.begin() as session:
        state = session.scalar(select(FileChannelPoll).where(FileChannelPoll.supplier_id == supplier_id, FileChannelPoll.shop_domain == shop))
        if state is None:
            state = FileChannelPoll(shop_domain=shop, supplier_id=supplier_id, failures=0)
            session.add(state)
        state.last_polled_at = now
        if error is None:
            resolve_alert(session, unreachable_alert_key(supplier_id))
            resolve_alert(session, host_key_alert_key(supplier_id))
            state.failures, state.last_error = 0, None
            state.next_poll_at = now + dt.timedelta(minutes=poll_minutes)
            return state
        state.failures = (state.failures or 0) + 1
        state.last_error = error[:1000]
        state.next_poll_at = now + min(dt.timedelta(minutes=max(poll_minutes, 1)) * 2 ** min(state.failures - 1, 10), max_backoff)
        if presented_host_key is not None:
            raise_alert(session, shop, "file_supplier_host_key", host_key_alert_key(supplier_id),
                        f"{name}: the file server's host key changed ({presented_host_key}); nothing is read or sent until you check it "
                        "with the supplier and save the new fingerprint.", severity="critical", subject=name)
        elif state.failures >= ALERT_AFTER_FAILURES:
            raise_alert(session, shop, "file_supplier_unreachable", unreachable_alert_key(supplier_id),
                        f"{name}: the file server could not be read {state.failures} times in a row ({error[:200]}).", severity="warning", subject=name)
        return state


# -- what the admin shows ------------------------------------------------------------------------


def file_json(row: FileChannelFile, *, with_report: bool = True) -> dict[str, Any]:
    """A ledger row as the API shows it."""
    out = {"id": row.id, "supplier_id": row.supplier_id, "kind": row.kind, "name": row.name, "status": row.status, "size": row.size,
           "rows_applied": row.rows_applied, "rows_refused": row.rows_refused, "message": row.message, "checksum": row.checksum,
           "first_seen_at": row.first_seen_at.isoformat() if row.first_seen_at else None,
           "processed_at": row.processed_at.isoformat() if row.processed_at else None}
    if with_report:
        out["refused"] = row.report or []
    return out


def poll_json(state: FileChannelPoll | None) -> dict[str, Any] | None:
    """A supplier's poll state as the API shows it."""
    if state is None:
        return None
    return {"last_polled_at": state.last_polled_at.isoformat() if state.last_polled_at else None, "next_poll_at": state.next_poll_at.isoformat() if state.next_poll_at else None,
            "failures": state.failures, "last_error": state.last_error}
