"""The purchase order's money and its PDF copy: unit costs, line totals, total, currency; read back with pypdf (a separate library)."""
from __future__ import annotations

import csv
import io

import pytest
from pypdf import PdfReader

from email_testkit import make_email_adapter, smtp, smtp_server  # noqa: F401 (fixtures)
from integrations.suppliers.base import Address, OrderLine, PlaceOrder
from integrations.suppliers.email_po import InvalidEmailSettings

ADDRESS = Address(name="Łukasz Żółć", address1="ul. Długa 5", city="Kraków", country_code="PL", zip="31-001", phone="+48 12 345 67 89")


def order(*lines: OrderLine, currency: str = "PLN") -> PlaceOrder:
    return PlaceOrder("PO-2001", ADDRESS, lines, currency=currency, note="Leave at the door")


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_costs_totals_and_currency_go_in_the_csv_the_text_and_the_pdf(smtp):
    adapter = make_email_adapter(smtp, known_skus=None)
    placed = adapter.place_order(order(OrderLine("1", "WIDGET-RED", 3, "=HYPERLINK(\"http://x\")", unit_cost="2.10"),
                              OrderLine("2", "GADGET-XL", 1, "Gadget", unit_cost="19.999")))
    assert placed.cost == "26.30"  # the delivery's cost, in the order's currency
    [mail] = smtp.mail
    rows = list(csv.DictReader(io.StringIO(mail.attachment()[1])))
    assert [(r["unit_cost"], r["line_total"], r["currency"]) for r in rows] == [("2.10", "6.30", "PLN"), ("20.00", "20.00", "PLN")]
    assert rows[0]["name"].startswith("'")  # formula defusing stays
    body = mail.message.get_body(("plain",)).get_content()
    assert "3 x WIDGET-RED" in body and "at 2.10 = 6.30 PLN" in body and "Total: 26.30 PLN" in body
    name, pdf = mail.pdf_attachment()
    assert name == "PO-PO-2001.pdf" and pdf.startswith(b"%PDF")
    text = pdf_text(pdf)
    for expected in ("Purchase order PO-2001", "Łukasz Żółć", "Kraków", "WIDGET-RED", "6.30", "20.00", "Total: 26.30 PLN", "Leave at the door"):
        assert expected in text, expected


def test_a_line_without_a_cost_is_shown_as_such_and_left_out_of_the_total(smtp):
    adapter = make_email_adapter(smtp, known_skus=None, currency="EUR")
    placed = adapter.place_order(order(OrderLine("1", "A-1", 2, "A", unit_cost="1.50"), OrderLine("2", "B-2", 1, "B")))
    [mail] = smtp.mail
    rows = list(csv.DictReader(io.StringIO(mail.attachment()[1])))
    assert [(r["unit_cost"], r["currency"]) for r in rows] == [("1.50", "EUR"), ("", "")]
    assert placed.cost is None  # incomplete, and in the supplier's currency rather than the order's
    assert "Total: 3.00 EUR (lines without a cost not included)" in pdf_text(mail.pdf_attachment()[1])


def test_the_pdf_can_be_left_out_and_bad_settings_are_refused(smtp):
    adapter = make_email_adapter(smtp, known_skus=None, attach_pdf=False)
    adapter.place_order(order(OrderLine("1", "A-1", 1, "A")))
    assert smtp.mail[0].pdf_attachment() is None
    assert "Total" not in smtp.mail[0].message.get_body(("plain",)).get_content()  # no costs known: no total
    for bad in ({"currency": "euro"}, {"attach_pdf": "yes"}):
        with pytest.raises(InvalidEmailSettings):
            make_email_adapter(smtp, **bad)
