"""The admin's formats in each language: numbers, percentages, hours, countries, ages; codes as translated words."""
from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask

from shopify_app import i18n
from shopify_app.web import admin_strings, page_format

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def app():
    app = Flask(__name__)
    i18n.init_i18n(app)
    return app


@pytest.mark.parametrize("lang, number, percent, country, age", [
    ("en", "1,234.5", "20.0 %", "Canada", "3 days"),
    ("pl", "1\xa0234,5", "20,0 %", "Kanada", "3 dni"),
    ("he", "1,234.5", "20.0 %", "קנדה", "3 ימים"),
])
def test_numbers_percentages_countries_and_ages_follow_the_language(app, lang, number, percent, country, age):
    with app.test_request_context(f"/?locale={lang}"):
        assert page_format.number("1234.5") == number
        assert page_format.percent(0.2) == percent
        assert page_format.country("ca") == country
        assert page_format.age("2026-11-30T11:00:00Z", now=NOW) == age
        assert (page_format.number(None), page_format.percent(None), page_format.country(None), page_format.age(None)) == ("–",) * 4


def test_codes_show_as_translated_words_and_unknown_codes_as_plain_words(app):
    with app.test_request_context("/?locale=pl"):
        assert admin_strings.label("partially_shipped") == "Częściowo wysłane"
        assert admin_strings.label("stuck_at_supplier", admin_strings.DESYNC_LABELS) == "Utknęło u dostawcy"
        assert admin_strings.label("SOMETHING_NEW") == "something new"
        assert admin_strings.js_messages()["error"] == "Coś poszło nie tak (HTTP {status}). Spróbuj ponownie."
    assert (admin_strings.tone("failed"), admin_strings.tone("shipped"), admin_strings.tone("cancelled")) == ("critical", "success", "")


def test_polish_plurals_take_all_three_forms(app):
    with app.test_request_context("/?locale=pl"):
        assert [i18n.ngettext("%(num)d attempt", "%(num)d attempts", n) for n in (1, 3, 5, 22, 25)] == \
            ["1 próba", "3 próby", "5 prób", "22 próby", "25 prób"]
    with app.test_request_context("/?locale=he"):
        assert [i18n.ngettext("%(num)d time", "%(num)d times", n) for n in (1, 2, 7)] == ["פעם אחת", "פעמיים", "7 פעמים"]


def test_every_fulfillment_event_status_of_shopify_has_a_translated_timeline_label(app):
    # The timeline records a carrier's event as "delivery_" + its status (deliveries/status.py): each status of
    # the 2026-10 schema's FulfillmentEventStatus must read as words in Polish and Hebrew, not as an English code.
    import gzip
    import json

    from integrations.shopify.schema import REPO_ROOT

    schema = json.loads(gzip.decompress((REPO_ROOT.parent / "shared" / "shopify" / "admin_schema_2026-10.json.gz").read_bytes()))["data"]
    [enum] = [t for t in schema["__schema"]["types"] if t["name"] == "FulfillmentEventStatus"]
    kinds = ["delivered" if v["name"] == "DELIVERED" else f"delivery_{v['name'].lower()}" for v in enum["enumValues"]]
    assert len(kinds) >= 10
    with app.test_request_context("/?locale=en"):
        english = {kind: admin_strings.label(kind, admin_strings.EVENT_LABELS) for kind in kinds}
    for lang in ("pl", "he"):
        with app.test_request_context(f"/?locale={lang}"):
            for kind in kinds:
                assert kind in admin_strings.EVENT_LABELS, kind
                assert admin_strings.label(kind, admin_strings.EVENT_LABELS) != english[kind], (lang, kind)


@pytest.mark.parametrize("lang, day", [("en", "Dec 11, 2026"), ("pl", "11 gru 2026")])
def test_a_suppliers_bare_date_eta_shows_as_a_date_without_an_invented_midnight(app, lang, day):
    with app.test_request_context(f"/?locale={lang}"):
        rendered = app.jinja_env.from_string("{{ v|eta }}")
        assert rendered.render(v="2026-12-11") == day
        assert "00:00" not in rendered.render(v="2026-12-11")
        assert rendered.render(v="2026-12-11T15:30:00Z") == i18n.format_when("2026-12-11T15:30:00Z")  # a moment keeps its time
        assert (rendered.render(v=None), rendered.render(v="2026-13-40")) == ("–", "2026-13-40")
