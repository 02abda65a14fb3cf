"""Return emails are ready for translation: every sentence wrapped in _() with named placeholders, amounts with their currency."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask_babel import Babel, force_locale

from shopify_app.notify.email import render

TEMPLATES = sorted((Path(__file__).parents[2] / "shopify_app" / "templates" / "email").glob("return_*_notice.txt"))
TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
VALUES = dict(order_name="#1001", customer_name="Ana", shop_name="Shop", rma_number="RMA-1", label_url="https://l.example/x", return_address="Street 1",
              decision_note="note", items=2, answer_by="2026-12-18", amount="1234.50", currency="PLN", restocking_fee="5.00", return_shipping_fee="3.00",
              delivery_refunded="15.00", balance_due="4.00", difference_refunded="2.00", replacement_order="#1002")


def test_there_are_return_templates() -> None:
    assert len(TEMPLATES) >= 10


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_every_word_of_a_return_email_is_inside_a_translation_call(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    outside = TAG.sub("", text.removeprefix("Subject: "))
    assert not re.search(r"[A-Za-z]", outside), f"untranslated text in {path.name}: {outside!r}"
    for call in re.findall(r"_\(\s*'[^']*'", text) + re.findall(r"ngettext\(\s*'[^']*'", text):
        assert not re.search(r"%[sd]", call), f"positional placeholder in {path.name}: {call}"  # named only: translators reorder them


@pytest.fixture
def babel_app():
    app = Flask(__name__)
    Babel(app)
    with app.app_context():
        yield app


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_each_return_email_renders_with_every_value(path: Path, babel_app) -> None:
    subject, body = render(path.name, **VALUES)
    assert "#1001" in subject or "#1001" in body


def squeeze(text: str) -> str:
    return re.sub(r"[\s\u00a0\u202f\u200e\u200f]", "", text)  # CLDR puts (narrow) no-break spaces and direction marks around amounts


def test_amounts_show_with_their_currency_in_the_readers_language(babel_app) -> None:
    _subject, body = render("return_refunded_notice.txt", **VALUES)
    assert "PLN1,234.50" in squeeze(body) and "PLN15.00" in squeeze(body)
    with force_locale("pl"):
        _subject, body = render("return_refunded_notice.txt", **VALUES)
    assert "1234,50zł" in squeeze(body) and "15,00zł" in squeeze(body)
    with force_locale("he"):
        _subject, body = render("return_store_credit_notice.txt", **{**VALUES, "currency": "ILS", "amount": "45"})
    assert "45.00₪" in squeeze(body) or "₪45.00" in squeeze(body)
