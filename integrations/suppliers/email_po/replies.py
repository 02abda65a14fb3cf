"""A supplier's reply, read from its raw bytes: headers that name the PO, the text, tracking files.

Then `import_reply` takes the tracking out of it into the sent log. The PO is found, in this
order, by our Message-ID in In-Reply-To / References (every email we send about a PO carries
its digest, messages.po_digest), by an X-PO-Number header, then by a PO number of ours in the
subject, then in the text. Tracking comes from attached CSV/XLSX files (rows without a
po_number take the reply's PO); only when no file gave a row is the text read for carrier
tracking numbers (reply_text.py), and the first number found is the parcel of everything
still to ship on that PO. Quoted lines ("> ...") are not read: they are our own words.
"""
from __future__ import annotations

import email
import email.policy
import html
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Callable

from ..base import Shipment, ShipmentLine
from .messages import PO_HEADER, referenced_digests
from .reply_text import find_tracking, po_candidates
from .sent_log import SentLog, SentPurchaseOrder, with_shipments
from .tracking_import import RowReport, parse_tracking_file, record_import

MAX_ATTACHMENTS = 10
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TRACKING_FILE_TYPES = ("text/csv", "text/comma-separated-values", "application/csv", XLSX_TYPE, "application/vnd.ms-excel")
TRACKING_FILE_SUFFIXES = (".csv", ".xlsx")


@dataclass(frozen=True)
class SupplierReply:
    """What a reply says, as read from the message."""

    message_id: str
    subject: str
    in_reply_to: str
    references: str
    po_header: str
    text: str
    attachments: tuple[tuple[str, bytes], ...] = ()  # (file name, content) of tracking files
    skipped_attachments: tuple[str, ...] = ()  # files that are not CSV/XLSX, or too large


def read_reply(raw: bytes) -> SupplierReply:
    """Parse a message; never raises on a malformed one (what cannot be read is left out)."""
    message: EmailMessage = email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[assignment]

    def header(name: str) -> str:
        try:
            return str(message.get(name, "") or "")[:2000]
        except Exception:  # noqa: BLE001 - a header the parser cannot decode is left out
            return ""

    attachments: list[tuple[str, bytes]] = []
    skipped: list[str] = []
    texts: list[str] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        filename = _filename(part)
        content_type = part.get_content_type()
        if filename or part.get_content_disposition() == "attachment":
            name = filename or "attachment"
            is_file = name.lower().endswith(TRACKING_FILE_SUFFIXES) or content_type in TRACKING_FILE_TYPES
            payload = part.get_payload(decode=True) or b""
            if is_file and len(payload) <= MAX_ATTACHMENT_BYTES and len(attachments) < MAX_ATTACHMENTS:
                attachments.append((name, payload))
            else:
                skipped.append(name)
        elif content_type in ("text/plain", "text/html"):
            texts.append(_text_of(part, content_type))
    plain = "\n".join(texts)
    return SupplierReply(
        message_id=header("Message-ID"), subject=header("Subject"), in_reply_to=header("In-Reply-To"),
        references=header("References"), po_header=header(PO_HEADER), text=plain,
        attachments=tuple(attachments), skipped_attachments=tuple(skipped),
    )


def _filename(part: Any) -> str:
    try:
        return (part.get_filename() or "")[:200]
    except Exception:  # noqa: BLE001
        return ""


def _text_of(part: Any, content_type: str) -> str:
    try:
        text = part.get_content()
    except Exception:  # noqa: BLE001 - an unknown charset: read it as Latin-1 rather than lose it
        text = (part.get_payload(decode=True) or b"").decode("latin-1")
    if not isinstance(text, str):
        return ""
    if content_type == "text/html":
        text = html.unescape(re.sub(r"(?is)<(script|style).*?</\1>|<[^>]+>", " ", text))
    return text


def unquoted(text: str) -> str:
    """The text without quoted lines (our own PO, quoted back) and without what follows an "On ... wrote:" line."""
    kept = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(">"):
            continue
        if re.match(r"(?i)^(on .{0,200} wrote:|-----\s*original message\s*-----)$", stripped):
            break
        kept.append(line)
    return "\n".join(kept)


@dataclass
class ReplyImport:
    """What a reply brought: the parcels recorded per PO and one report row per tracking row or number."""

    po_number: str | None
    report: list[dict] = field(default_factory=list)  # RowReport.as_json() + "source"
    recorded: dict[str, int] = field(default_factory=dict)  # PO -> parcels newly recorded
    message: str = ""

    def count(self, outcome: str) -> int:
        """Rows with this outcome."""
        return sum(1 for row in self.report if row["outcome"] == outcome)


def find_po(reply: SupplierReply, get: Callable[[str], SentPurchaseOrder | None], po_for_digests: Callable[[list[str]], str | None] | None) -> str | None:
    """The PO the reply is about: by our Message-ID in its headers, X-PO-Number, then a PO number in subject or text."""
    digests = referenced_digests(reply.in_reply_to, reply.references)
    if digests and po_for_digests is not None:
        found = po_for_digests(digests)
        if found:
            return found
    for candidate in [reply.po_header.strip(), *po_candidates(reply.subject, unquoted(reply.text))]:
        if candidate and get(candidate) is not None:
            return candidate
    return None


def import_reply(reply: SupplierReply, sent_log: SentLog) -> ReplyImport:
    """Record the tracking a reply carries into the sent log; every row or number found is reported."""
    po_number = find_po(reply, sent_log.get, getattr(sent_log, "po_for_digests", None))
    result = ReplyImport(po_number)
    for name, data in reply.attachments:
        checked = record_import(sent_log, parse_tracking_file(data, sent_log.get, default_po=po_number))
        result.report += [{"source": f"file {name}", **row.as_json()} for row in checked.report]
        for po, shipments in checked.shipments.items():
            result.recorded[po] = result.recorded.get(po, 0) + len(shipments)
    if not any(row["outcome"] in ("applied", "duplicate") for row in result.report):
        _import_text(reply, sent_log, po_number, result)
    if not result.report:
        skipped = f" (attachments not read: {', '.join(reply.skipped_attachments)}; send CSV or XLSX)" if reply.skipped_attachments else ""
        result.message = ("no tracking number or tracking file found" if po_number else "no PO of ours and no tracking found") + skipped
    return result


def _import_text(reply: SupplierReply, sent_log: SentLog, po_number: str | None, result: ReplyImport) -> None:
    found = find_tracking(f"{reply.subject}\n{unquoted(reply.text)}")
    for index, hit in enumerate(found, start=1):
        def report(outcome: str, message: str = "") -> None:
            result.report.append({"source": "text", **RowReport(index, outcome, message, po_number or "", hit.carrier, hit.number).as_json()})

        if po_number is None:
            report("unknown_po", "no PO number of ours in the headers, subject or text")
            continue
        record = sent_log.get(po_number)
        shipment_id = f"{po_number}:{hit.number}"
        if record is None:
            report("unknown_po", f"PO {po_number} is not a purchase order we sent to this supplier")
        elif any(shipment.shipment_id == shipment_id for shipment in record.shipments):
            report("duplicate", "this parcel was imported before")
        elif index > 1:
            report("unreadable", "several tracking numbers in the text: send a CSV or XLSX saying which lines each parcel carries")
        else:
            lines = tuple(ShipmentLine(quantity=line.quantity - record.shipped_quantity(line.line_ref), line_ref=line.line_ref, supplier_sku=line.sku)
                          for line in record.lines if line.quantity > record.shipped_quantity(line.line_ref))
            if not lines:
                report("unreadable", f"every line of PO {po_number} has shipped already")
                continue
            shipment = Shipment(shipment_id=shipment_id, carrier=hit.carrier, tracking_number=hit.number, tracking_url=None, lines=lines)
            sent_log.update(po_number, lambda current, new=shipment: with_shipments(current, [new]))
            result.recorded[po_number] = result.recorded.get(po_number, 0) + 1
            report("applied")
