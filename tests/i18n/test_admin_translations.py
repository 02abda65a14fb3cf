"""The admin in Polish and Hebrew: every string of every template and page module has a translation, and no English is left on the pages.

The catalog check extracts the sources afresh (what `python -m shopify_app.i18n_catalog` writes),
so a string wrapped anywhere but not translated fails here, whoever added it.
"""
from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from babel.messages.pofile import read_po
from sqlalchemy import select

from shopify_app.i18n import TRANSLATIONS_DIR
from shopify_app.i18n_catalog import extract_messages
from shopify_app.models import Shop
from shopify_app.orders.models import Order
from shopify_app.reconcile.models import Desync
from shopify_app.suppliers.models import Supplier
from ui.ui_world import SHOP, serve

PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
LANGS = ("pl", "he")
# Every admin page (the order, supplier detail pages are added with the seeded ids in the test).
PAGES = ("/", "/orders", "/problems", "/suppliers", "/suppliers/new", "/mappings", "/inventory", "/returns", "/settings")


def catalog(lang: str):
    with (TRANSLATIONS_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as source:
        return read_po(source, locale=lang)


@pytest.fixture(scope="module")
def extracted():
    return [m for m in extract_messages() if m.id]


@pytest.mark.parametrize("lang", LANGS)
def test_every_extracted_string_has_a_translation_with_the_same_placeholders(extracted, lang):
    translations = catalog(lang)
    problems = []
    for message in extracted:
        found = translations.get(message.id)
        forms = [found.string] if found is not None and isinstance(found.string, str) else list(found.string) if found is not None else []
        if found is None or found.fuzzy or not forms or not all(forms):
            problems.append(f"untranslated: {message.id!r} ({message.locations[0][0]})")
            continue
        wanted = set(PLACEHOLDER.findall(message.id[0] if isinstance(message.id, tuple) else message.id))
        for form in forms:
            # A plural form may spell the count out ("פעמיים": twice) but never invent a placeholder or drop another.
            if set(PLACEHOLDER.findall(form)) - wanted or (wanted - {"num"}) - set(PLACEHOLDER.findall(form)):
                problems.append(f"placeholders differ: {message.id!r} -> {form!r}")
    assert problems == []
    assert len(extracted) > 200  # the pages' strings are really extracted (an empty extraction would pass vacuously)


class _Text(HTMLParser):
    """The visible text nodes and the attributes people read (title, aria-label, placeholder) of a page."""

    def __init__(self):
        super().__init__()
        self.texts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        self.texts += [v for k, v in attrs if k in ("title", "aria-label", "placeholder") and v]

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.texts.append(" ".join(data.split()))


def visible_text(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return parser.texts


def english_left(html: str, extracted, lang: str) -> list[str]:
    """The English msgids (those whose translation differs) that show on a page."""
    translations = catalog(lang)
    texts = visible_text(html)
    left = []
    for message in extracted:
        english = message.id if isinstance(message.id, str) else message.id[1]
        found = translations.get(message.id)
        translated = found.string if found is not None and isinstance(found.string, str) else (found.string[-1] if found is not None else "")
        if translated == english:
            continue  # "SKU", "KPI", "Shopify": the same word in every language
        pattern = re.compile("^" + ".+?".join(map(re.escape, PLACEHOLDER.split(english)[::2])) + "$")
        if any(pattern.match(t) or (len(english) > 12 and "%(" not in english and english in t) for t in texts):
            left.append(english)
    return left


@pytest.fixture
def world(sandboxed_app, sandbox_shopify):
    """The seeded shop (orders, a return, a desync, a dead letter), its time zone in Shopify set to Warsaw."""
    sandbox_shopify.store.require_shop(SHOP).record["ianaTimezone"] = "Europe/Warsaw"
    yield from serve(sandboxed_app, sandbox_shopify)


def test_every_page_in_polish_and_hebrew_has_no_english_left(world, extracted):
    with world.services.session_factory() as session:
        order_id = session.scalar(select(Order.id).where(Order.name == world.stuck["name"]))
        supplier_ids = session.scalars(select(Supplier.id).where(Supplier.shop_domain == SHOP)).all()
    assert supplier_ids  # the seeded shop has its supplier, so its page is checked too
    left = {}
    for lang in LANGS:
        for path in PAGES + (f"/orders/{order_id}",) + tuple(f"/suppliers/{i}" for i in supplier_ids):
            response = world.page(f"{path}?locale={lang}")
            assert response.status_code == 200, (lang, path)
            html = response.get_data(as_text=True)
            assert f'<html lang="{lang}" dir="{"rtl" if lang == "he" else "ltr"}">' in html
            if english := english_left(html, extracted, lang):
                left[(lang, path)] = english  # every page's leftovers at once, not only the first page's
    assert left == {}
    # The check can fail: the same page in English shows the English strings it looks for.
    english = world.page("/?locale=en").get_data(as_text=True)
    assert {"Orders by state", "Latest alerts", "Dashboard"} <= set(english_left(english, extracted, "pl"))


def test_links_keep_the_language_and_the_orders_list_speaks_it(world):
    html = world.page("/orders?locale=pl-PL").get_data(as_text=True)
    assert "locale=pl-PL" in html.split('class="app-nav"')[1].split("</nav>")[0]  # every nav link carries it
    assert '<input type="hidden" name="locale" value="pl-PL">' in html  # and the filter form
    row = html.split(f'data-order="{world.stuck["name"]}"')[1].split("</tr>")[0]
    assert '<td class="country">Kanada</td>' in row  # destination by name, in Polish (the sandbox ships to Canada)
    assert "Sam Sandbox" in row and "temu" in row  # the customer, and the age ("… temu": "… ago")
    assert re.search(r'<td class="numeric total">[0-9 \xa0]+,[0-9]{2}\xa0USD</td>', row)  # total with its currency, Polish number format


def test_the_shop_profile_is_read_from_shopify_by_the_job_and_dates_follow_its_time_zone(world):
    from shopify_app.shop_profile import refresh_if_stale

    with world.services.session_factory.begin() as session:  # as before the install's job ran
        shop = session.scalar(select(Shop).where(Shop.domain == SHOP))
        shop.iana_timezone = shop.currency_code = shop.profile_refreshed_at = None
    world.page("/problems?locale=en")
    with world.services.session_factory() as session:  # a page render never waits on Shopify: it reads only what is stored
        assert session.scalar(select(Shop.profile_refreshed_at).where(Shop.domain == SHOP)) is None
    refresh_if_stale(world.services, SHOP)  # the per-shop job, run at install and then daily
    with world.services.session_factory() as session:
        shop = session.scalar(select(Shop).where(Shop.domain == SHOP))
        assert (shop.currency_code, shop.iana_timezone, shop.primary_domain) == ("USD", "Europe/Warsaw", SHOP)
        assert shop.profile_refreshed_at is not None
        first_seen = session.scalar(select(Desync.first_seen))
    html = world.page("/problems?locale=en").get_data(as_text=True)
    warsaw = first_seen.astimezone(ZoneInfo("Europe/Warsaw"))
    assert warsaw.strftime("%-I:%M") in html  # shown at Warsaw's wall-clock time, not UTC's
    # Read again once a day: the merchant moved the shop to Jerusalem in Shopify.
    world.shopify.store.require_shop(SHOP).record["ianaTimezone"] = "Asia/Jerusalem"
    refresh_if_stale(world.services, SHOP)
    with world.services.session_factory() as session:
        assert session.scalar(select(Shop.iana_timezone).where(Shop.domain == SHOP)) == "Europe/Warsaw"  # still fresh: not read again
    with world.services.session_factory.begin() as session:
        session.scalar(select(Shop).where(Shop.domain == SHOP)).profile_refreshed_at -= dt.timedelta(days=2)
    world.page("/problems?locale=en")
    with world.services.session_factory() as session:  # stale, but the page still does not read Shopify
        assert session.scalar(select(Shop.iana_timezone).where(Shop.domain == SHOP)) == "Europe/Warsaw"
    refresh_if_stale(world.services, SHOP)
    html = world.page("/problems?locale=en").get_data(as_text=True)
    with world.services.session_factory() as session:
        assert session.scalar(select(Shop.iana_timezone).where(Shop.domain == SHOP)) == "Asia/Jerusalem"
    assert first_seen.astimezone(ZoneInfo("Asia/Jerusalem")).strftime("%-I:%M") in html
