"""The emails: a purchase order with its CSV attached, and a cancellation that refers to it.

Both carry the PO number in the subject and in `X-PO-Number`, and a Message-ID derived
from the PO number, so a PO that is ever sent twice is recognisably the same message.
"""
from __future__ import annotations

import email.policy
import email.utils
import hashlib
import re
from email.message import EmailMessage

from ..base import Amendment, PlaceOrder
from .config import EmailPoSettings
from .po_amounts import po_amounts
from .purchase_order_csv import purchase_order_csv
from .purchase_order_pdf import purchase_order_pdf

PO_HEADER = "X-PO-Number"
KIND_HEADER = "X-PO-Message"  # "purchase-order" | "cancellation" | "change" | "return-request"


def attachment_name(po_number: str, extension: str = "csv") -> str:
    """A safe file name for the PO's CSV (or its PDF copy)."""
    return f"PO-{re.sub(r'[^A-Za-z0-9._-]+', '_', po_number)}.{extension}"


def po_digest(po_number: str) -> str:
    """The PO's part of every Message-ID we send about it (a reply's In-Reply-To names the PO by it)."""
    return hashlib.sha256(po_number.encode()).hexdigest()[:24]


def message_id(po_number: str, kind: str, from_address: str) -> str:
    """A Message-ID that is the same every time this PO (or its cancellation) is sent."""
    domain = email.utils.parseaddr(from_address)[1].rpartition("@")[2] or "localhost"
    return f"<{kind}.{po_digest(po_number)}@{domain}>"


# Our Message-IDs: <kind.digest@domain>; the kind may carry a change or return reference.
OUR_MESSAGE_ID = re.compile(r"<[^<>@\s]*\.([0-9a-f]{24})@[^<>\s]+>")


def referenced_digests(*headers: str | None) -> list[str]:
    """PO digests of our Message-IDs named in In-Reply-To / References headers, nearest first."""
    found: list[str] = []
    for header in headers:
        for match in OUR_MESSAGE_ID.finditer(header or ""):
            if match.group(1) not in found:
                found.append(match.group(1))
    return found


def _envelope(settings: EmailPoSettings, subject: str, po_number: str, kind: str) -> EmailMessage:
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = settings.from_address
    message["To"] = ", ".join(settings.to_addresses)
    if settings.cc_addresses:
        message["Cc"] = ", ".join(settings.cc_addresses)
    if settings.reply_to:
        message["Reply-To"] = settings.reply_to
    message["Subject"] = subject
    message["Date"] = email.utils.formatdate(localtime=False)
    message["Message-ID"] = message_id(po_number, kind, settings.from_address)
    message[PO_HEADER] = po_number
    message[KIND_HEADER] = kind
    return message


def purchase_order_message(order: PlaceOrder, settings: EmailPoSettings) -> EmailMessage:
    """The PO email: a short plain-text summary and the CSV with every line and the ship-to address."""
    po_number = order.external_id
    message = _envelope(settings, settings.subject_template.format(po_number=po_number), po_number, "purchase-order")
    amounts = po_amounts(order, settings.currency)
    summary = "\n".join(
        f"  {priced.line.quantity} x {priced.line.supplier_sku}" + (f"  ({priced.line.name})" if priced.line.name else "")
        + (f"  at {priced.unit_cost} = {priced.line_total} {amounts.currency}" if priced.unit_cost else "")
        for priced in amounts.lines
    )
    if amounts.any_cost:
        summary += f"\n\n  Total: {amounts.total} {amounts.currency}" + (" (lines without a cost not included)" if amounts.incomplete else "")
    copies = f"{attachment_name(po_number)}" + (f" (and its PDF copy {attachment_name(po_number, 'pdf')})" if settings.attach_pdf else "")
    message.set_content(
        f"Hello,\n\nplease ship purchase order {po_number}:\n\n{summary}\n\n"
        f"The attached {copies} lists every line with the ship-to address.\n"
        f"Please send tracking back as a CSV with the columns po_number, line_ref (or sku), quantity, "
        f"carrier, tracking_number, tracking_url, shipped_at, and quote {po_number} in any reply.\n\n"
        f"Thank you,\n{settings.shop_name}\n"
    )
    message.add_attachment(purchase_order_csv(order, settings.currency).encode(), maintype="text", subtype="csv", filename=attachment_name(po_number))
    if settings.attach_pdf:
        pdf = purchase_order_pdf(order, shop_name=settings.shop_name, currency=settings.currency)
        message.add_attachment(pdf, maintype="application", subtype="pdf", filename=attachment_name(po_number, "pdf"))
    return message


def cancellation_message(po_number: str, settings: EmailPoSettings) -> EmailMessage:
    """The cancellation email, threaded under the PO it cancels."""
    message = _envelope(settings, settings.cancel_subject_template.format(po_number=po_number), po_number, "cancellation")
    original = message_id(po_number, "purchase-order", settings.from_address)
    message["In-Reply-To"] = original
    message["References"] = original
    message.set_content(
        f"Hello,\n\nplease CANCEL purchase order {po_number} and do not ship it.\n"
        f"If it has already left, reply with its tracking so we can tell the customer.\n\n"
        f"Thank you,\n{settings.shop_name}\n"
    )
    return message


def change_notice_message(po_number: str, amendment: Amendment, settings: EmailPoSettings) -> EmailMessage:
    """A change to a PO, threaded under it: what changed, every line as it stands now, and the new ship-to as CSV when it changed."""
    message = _envelope(settings, f"Change {amendment.reference.rpartition('-')[2]} to purchase order {po_number}", po_number, "change")
    message.replace_header("Message-ID", message_id(po_number, f"change-{amendment.reference}", settings.from_address))
    original = message_id(po_number, "purchase-order", settings.from_address)
    message["In-Reply-To"] = original
    message["References"] = original
    changed = "\n".join(f"  - {change}" for change in amendment.changes) or "  - see the lines below"
    lines = "\n".join(f"  {line.quantity} x {line.supplier_sku}" + (f"  ({line.name})" if line.name else "") + ("  REMOVED" if line.quantity == 0 else "")
                      for line in amendment.lines)
    address_note = (f"The ship-to address has CHANGED: the attached {attachment_name(po_number)} has the new address on every line.\n"
                    if amendment.shipping_address is not None else "The ship-to address is unchanged.\n")
    message.set_content(
        f"Hello,\n\nplease change purchase order {po_number} before it ships (our change reference {amendment.reference}):\n{changed}\n\n"
        f"The order now is:\n{lines}\n\n{address_note}"
        f"If it has already left, reply with its tracking and tell us what you shipped.\n\nThank you,\n{settings.shop_name}\n"
    )
    if amendment.shipping_address is not None:
        current = PlaceOrder(external_id=po_number, shipping_address=amendment.shipping_address, lines=tuple(l for l in amendment.lines if l.quantity > 0))
        message.add_attachment(purchase_order_csv(current).encode(), maintype="text", subtype="csv", filename=attachment_name(po_number))
    return message


def return_request_message(po_number: str, rma_reference: str, lines, settings: EmailPoSettings) -> EmailMessage:
    """A return authorisation request, threaded under the PO, asking the supplier to reply with its RMA and label."""
    message = _envelope(settings, f"Return request {rma_reference} for purchase order {po_number}", po_number, "return-request")
    message.replace_header("Message-ID", message_id(po_number, f"return-{rma_reference}", settings.from_address))
    original = message_id(po_number, "purchase-order", settings.from_address)
    message["In-Reply-To"] = original
    message["References"] = original
    items = "\n".join(f"  - {line.quantity} x {line.supplier_sku}" + (f" (reason: {line.reason.lower().replace('_', ' ')})" if line.reason else "") for line in lines)
    message.set_content(
        f"Hello,\n\na customer is returning items from purchase order {po_number}:\n{items}\n\n"
        f"Please reply with your return authorisation (RMA) number for our reference {rma_reference}, "
        f"the return address and a prepaid label if you provide one.\n\nThank you,\n{settings.shop_name}\n"
    )
    return message
