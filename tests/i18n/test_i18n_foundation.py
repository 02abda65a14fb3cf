"""The gettext foundation: language choice from Shopify's locale, RTL, catalogs compiled and used."""
from __future__ import annotations

import shutil

import pytest
from flask import Flask, render_template_string
from flask_babel import Babel, gettext

from shopify_app import i18n


@pytest.mark.parametrize("tag, lang", [("pl-PL", "pl"), ("he", "he"), ("iw-IL", "he"), ("he_IL", "he"), ("en-US", "en"), ("de-DE", "en"), (None, "en"), ("", "en"), ("../../etc", "en")])
def test_language_of_maps_locale_tags_to_a_supported_language(tag, lang):
    assert i18n.language_of(tag) == lang


def test_hebrew_is_right_to_left_and_polish_is_not():
    assert i18n.text_direction("he") == "rtl"
    assert i18n.text_direction("pl") == "ltr"


def test_compiled_catalog_translates_and_the_locale_parameter_selects_it(tmp_path):
    directory = tmp_path / "translations"
    (directory / "pl" / "LC_MESSAGES").mkdir(parents=True)
    (directory / "pl" / "LC_MESSAGES" / "messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n"Language: pl\\n"\n\nmsgid "Orders"\nmsgstr "Zamówienia"\n',
        encoding="utf-8",
    )
    assert [p.name for p in i18n.compile_catalogs(directory)] == ["messages.mo"]
    assert i18n.compile_catalogs(directory) == []  # up to date: nothing rewritten
    app = Flask(__name__)
    Babel(app, locale_selector=i18n.select_locale, default_translation_directories=str(directory))
    with app.test_request_context("/?locale=pl-PL"):
        assert gettext("Orders") == "Zamówienia"
        assert render_template_string("{{ _('Orders') }}") == "Zamówienia"
    with app.test_request_context("/?locale=en"):
        assert gettext("Orders") == "Orders"


def test_repository_catalogs_compile(tmp_path):
    copy = shutil.copytree(i18n.TRANSLATIONS_DIR, tmp_path / "t", ignore=shutil.ignore_patterns("*.mo"))
    langs = {p.parent.parent.name for p in i18n.compile_catalogs(copy)}
    assert {"pl", "he"} <= langs


def test_money_and_dates_follow_the_language_and_the_shop_time_zone():
    import datetime as dt

    from flask import g

    app = Flask(__name__)
    i18n.init_i18n(app)
    with app.test_request_context("/?locale=pl"):
        assert i18n.format_money("12345.5", "PLN") == "12\xa0345,50\xa0zł"
        assert i18n.format_money(None, "PLN") == "–"
        g.shop_timezone = "Asia/Jerusalem"
        assert "23:30" in i18n.format_when(dt.datetime(2026, 12, 3, 21, 30, tzinfo=dt.timezone.utc))
    with app.test_request_context("/?locale=he"):
        assert "₪" in i18n.format_money("120", "ILS")
    with app.test_request_context("/?locale=en"):
        assert render_template_string("{{ 5|money('USD') }}") == "$5.00"
