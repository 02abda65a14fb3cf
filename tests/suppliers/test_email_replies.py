"""Reading supplier replies without a server: carrier numbers in text, which PO a reply is about, files attached, the per-row report."""
from __future__ import annotations

import io

import pytest

from imap_testkit import reply_email, xlsx_bytes
from integrations.suppliers.email_po import InMemorySentLog
from integrations.suppliers.email_po.messages import message_id
from integrations.suppliers.email_po.replies import import_reply, read_reply
from integrations.suppliers.email_po.reply_text import find_tracking
from integrations.suppliers.email_po.sent_log import SentLine, SentPurchaseOrder
from integrations.suppliers.email_po.tracking_import import parse_tracking_file
from integrations.suppliers.email_po.xlsx_rows import MAX_UNPACKED_BYTES

PO = "do-00112233445566778899aabbccddeeff"
UPS = "1Z999AA10123456784"  # UPS's own example number
S10_GB = "AA473124829GB"  # the UPU S10 example (check digit 9)


@pytest.fixture
def sent_log():
    log = InMemorySentLog()
    log.add(SentPurchaseOrder(PO, (SentLine("1", "W-TEE", 2), SentLine("2", "W-MUG", 1)), "2026-12-01", message_id(PO, "purchase-order", "orders@shop.example")))
    log.add(SentPurchaseOrder("PO-7788", (SentLine("1", "W-CAP", 1),), "2026-12-01", message_id("PO-7788", "purchase-order", "orders@shop.example")))
    return log


@pytest.mark.parametrize("text, expected", [
    (f"UPS: {UPS}", [("UPS", UPS)]),
    (f"Royal Mail {S10_GB}", [("Royal Mail", S10_GB)]),
    ("Poczta Polska list polecony RR473124829PL", [("Poczta Polska", "RR473124829PL")]),
    ("Israel Post RR473124829IL", [("Israel Post", "RR473124829IL")]),
    ("USPS: EE473124829US", [("USPS", "EE473124829US")]),
    ("Paczka InPost (paczkomat): 620123456789012345678901", [("InPost", "620123456789012345678901")]),
    ("Pocztex 00259007738231100011", [("Poczta Polska", "00259007738231100011")]),
    ("FedEx tracking 449044304137821", [("FedEx", "449044304137821")]),
    ("DHL Express waybill 1234567890", [("DHL Express", "1234567890")]),
    ("DHL Paket JJD000390007839912345", [("DHL Parcel", "JJD000390007839912345")]),
])
def test_carrier_numbers_are_found_with_their_carrier(text, expected):
    assert [(hit.carrier, hit.number) for hit in find_tracking(text)] == expected


@pytest.mark.parametrize("text", [
    "UPS 1Z999AA10123456785",  # wrong check digit
    "Ref AA473124828GB",  # wrong S10 check digit
    "Call us at 449044304137 or 1234567890",  # numbers with no carrier named before them
    "Invoice 620123456789012345678901 attached",  # 24 digits, but not said to be InPost
])
def test_look_alikes_are_not_taken_for_tracking(text):
    assert find_tracking(text) == []


def test_a_reply_threaded_under_our_po_applies_its_text_tracking_to_everything_left(sent_log):
    raw = reply_email(in_reply_to=message_id(PO, "purchase-order", "orders@shop.example"), subject="Re: your order",
                      body=f"Sent today.\nUPS {UPS}\n\nOn Mon, 1 Dec 2026 at 10:00, Shop wrote:\n> please ship purchase order PO-7788\n")
    result = import_reply(read_reply(raw), sent_log)
    assert result.po_number == PO
    assert [(r["outcome"], r["carrier"], r["tracking_number"]) for r in result.report] == [("applied", "UPS", UPS)]
    [shipment] = sent_log.get(PO).shipments
    assert sorted((line.line_ref, line.quantity) for line in shipment.lines) == [("1", 2), ("2", 1)]
    assert sent_log.get("PO-7788").shipments == ()  # the quoted PO number is ours, not the reply's


def test_without_headers_the_po_is_found_in_the_subject_then_the_text(sent_log):
    by_subject = import_reply(read_reply(reply_email(subject="Tracking PO-7788", body=f"UPS {UPS}")), sent_log)
    assert by_subject.po_number == "PO-7788" and by_subject.count("applied") == 1
    by_text = import_reply(read_reply(reply_email(subject="Shipped", body=f"Your order {PO} left with Royal Mail {S10_GB}.")), sent_log)
    assert by_text.po_number == PO and by_text.count("applied") == 1
    html_only = read_reply(reply_email(subject="x", body="", html=f"<p>PO <b>{PO}</b></p><p>DHL Express 1234567890</p>"))
    assert "1234567890" in html_only.text


def test_replies_with_no_po_or_several_numbers_are_reported_not_guessed(sent_log):
    unknown = import_reply(read_reply(reply_email(subject="Shipped", body=f"UPS {UPS}")), sent_log)
    assert [(r["outcome"], r["tracking_number"]) for r in unknown.report] == [("unknown_po", UPS)]
    several = import_reply(read_reply(reply_email(subject=f"PO {PO}", body=f"Two boxes: UPS {UPS} and Royal Mail {S10_GB}")), sent_log)
    assert [r["outcome"] for r in several.report] == ["applied", "unreadable"]
    assert "several tracking numbers" in several.report[1]["message"]
    nothing = import_reply(read_reply(reply_email(subject="Hello", body="Thanks for the order!")), sent_log)
    assert nothing.report == [] and nothing.message == "no PO of ours and no tracking found"


def test_attached_files_win_over_the_text_and_take_the_replys_po(sent_log):
    workbook = xlsx_bytes([["Line Ref", "Qty", "Carrier", "Tracking Number", "Ship Date"], ["1", 2, "UPS", UPS, None], ["2", 1, "UPS", UPS, None]])
    pdf = b"%PDF-1.4 invoice"
    raw = reply_email(in_reply_to=message_id(PO, "purchase-order", "orders@shop.example"), body=f"See file. Also Royal Mail {S10_GB}",
                      attachments=[("Tracking.XLSX", workbook, ("application", "octet-stream")), ("invoice.pdf", pdf, ("application", "pdf"))])
    reply = read_reply(raw)
    assert [name for name, _ in reply.attachments] == ["Tracking.XLSX"] and reply.skipped_attachments == ("invoice.pdf",)
    result = import_reply(reply, sent_log)
    assert [(r["source"], r["row"], r["outcome"]) for r in result.report] == [("file Tracking.XLSX", 2, "applied"), ("file Tracking.XLSX", 3, "applied")]
    [parcel] = sent_log.get(PO).shipments
    assert parcel.tracking_number == UPS and len(parcel.lines) == 2


def test_broken_and_oversized_workbooks_are_reported_not_raised(sent_log):
    broken = parse_tracking_file(b"PK\x03\x04 not really a zip", sent_log.get)
    assert [(r.outcome, r.row) for r in broken.report] == [("unreadable", 1)]
    import zipfile

    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"0" * (MAX_UNPACKED_BYTES + 1))
    result = parse_tracking_file(bomb.getvalue(), sent_log.get)
    assert "unpacks to more than" in result.report[0].message


@pytest.mark.parametrize("raw", [
    b"",
    b"\x00\xff\xfe garbage with no headers",
    b"Subject: =?unknown-8bit?Q?=FF?=\r\nContent-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\nContent-Type: text/plain; charset=no-such-charset\r\n\r\nUPS 1Z999AA10123456784\r\n",
    b"Content-Type: text/csv; name=t.csv\r\nContent-Disposition: attachment; filename=t.csv\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n",
])
def test_malformed_messages_are_read_as_far_as_they_go(sent_log, raw):
    result = import_reply(read_reply(raw), sent_log)
    assert all(row["outcome"] in ("applied", "duplicate", "unknown_po", "unreadable") for row in result.report)
