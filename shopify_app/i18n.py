"""Languages: one set of gettext catalogs (Flask-Babel) for the admin and the customer-facing text.

The admin's language comes from the `locale` Shopify puts on every App Home URL
(`locale=pl-PL`), carried on links between pages; the customer's from the order's
customer locale (see `force_locale`). Unknown languages fall back to English.
"""
from __future__ import annotations

from pathlib import Path

from flask import Flask, g, has_request_context, request
from decimal import Decimal, InvalidOperation

from babel.numbers import format_currency, format_decimal
from flask_babel import Babel, force_locale, format_datetime, get_locale, gettext, lazy_gettext, ngettext  # noqa: F401 (re-exported)

LANGUAGES = ("en", "pl", "he")
DEFAULT_LANGUAGE = "en"
RTL_LANGUAGES = frozenset({"he", "ar", "fa", "ur"})
TRANSLATIONS_DIR = Path(__file__).parent / "translations"


def language_of(tag: str | None) -> str:
    """The supported language for a locale tag ('pl-PL', 'he_IL', 'iw'), English when unsupported."""
    lang = (tag or "").replace("_", "-").split("-", 1)[0].strip().lower()
    lang = {"iw": "he"}.get(lang, lang)  # Java's and old Android's code for Hebrew
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def supported_language(tag: str | None) -> str | None:
    """The language we support for a locale tag, None when the tag is empty or names one we do not ('de-DE')."""
    if not tag:
        return None
    lang = language_of(tag)
    return lang if lang != DEFAULT_LANGUAGE or tag.strip().lower().startswith("en") else None


def text_direction(lang: str | None = None) -> str:
    """'rtl' for right-to-left languages, else 'ltr' (for <html dir=...>)."""
    return "rtl" if language_of(lang or str(get_locale() or DEFAULT_LANGUAGE)) in RTL_LANGUAGES else "ltr"


def select_locale() -> str:
    """A request's language: an explicit g.locale, then Shopify's `locale` parameter, then Accept-Language, then English.

    Pages get `locale` from Shopify (and carry it on links); the admin's fetch() calls send the
    page's language as Accept-Language, so the API's messages come back in it.
    """
    if "locale" in g:
        return language_of(g.locale)
    if has_request_context():
        if request.args.get("locale"):
            return language_of(request.args.get("locale"))
        return language_of(request.accept_languages.best_match(LANGUAGES))
    return DEFAULT_LANGUAGE


def select_timezone() -> str:
    """The shop's IANA time zone when a view has set g.shop_timezone, else UTC."""
    return g.get("shop_timezone") or "UTC"


def current_language() -> str:
    """The language of the current request or force_locale block ('en' outside both)."""
    return str(get_locale() or DEFAULT_LANGUAGE)


def format_number(value, digits: int | None = None) -> str:
    """A number in the locale's format ('1,234.5', '1 234,5'); digits fixes the decimals; '–' when missing."""
    if value is None or value == "":
        return "–"
    try:
        value = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    pattern = "#,##0" + ("." + "0" * digits if digits else "") if digits is not None else None
    return format_decimal(value, format=pattern, locale=current_language())


def format_money(amount, currency: str | None) -> str:
    """An amount in its currency for the current language ('1 234,50 zł', '₪120.00', '$5.00'); '–' when unknown."""
    if amount is None or amount == "":
        return "–"
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return str(amount)
    if not currency:
        return format_number(value)
    return format_currency(value, currency.upper(), locale=current_language())


def as_datetime(value):
    """A datetime or ISO string as an aware datetime (naive means UTC: the database stores UTC); None when missing, the text when unreadable."""
    import datetime as dt

    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value


def format_when(value, fmt: str = "medium") -> str:
    """A date-time (datetime or ISO string) in the shop's time zone and the current language; '–' when missing."""
    value = as_datetime(value)
    if value is None or isinstance(value, str):
        return value or "–"
    return format_datetime(value, fmt)


def format_eta(value) -> str:
    """A supplier's ETA: a bare date as a date (no midnight invented), a moment as format_when shows it."""
    import datetime as dt

    from flask_babel import format_date

    if isinstance(value, str) and len(value) == 10:
        try:
            return format_date(dt.date.fromisoformat(value), "medium")
        except ValueError:
            return value
    return format_when(value)


def format_day(value) -> str:
    """A date (a date, a datetime in the shop's time zone, or ISO text) in the current language; '–' when missing."""
    import datetime as dt

    from flask_babel import format_date

    if isinstance(value, str) and len(value) == 10:  # a bare date: no time zone to convert
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, dt.date):
        value = as_datetime(value)
        if value is None or isinstance(value, str):
            return value or "–"
    return format_date(value, "long")


def weekday_names() -> list[str]:
    """Monday to Sunday, abbreviated in the current language (CLDR's names through Babel, not our catalog)."""
    from babel.dates import get_day_names

    names = get_day_names("abbreviated", locale=get_locale() or "en")
    return [names[day] for day in range(7)]


def init_i18n(app: Flask) -> None:
    """Install Flask-Babel: `_`, `gettext`, `ngettext` in templates, catalogs from shopify_app/translations."""
    Babel(app, locale_selector=select_locale, timezone_selector=select_timezone,
          default_translation_directories=str(TRANSLATIONS_DIR))
    app.jinja_env.globals["text_direction"] = text_direction
    app.jinja_env.filters["money"] = format_money  # {{ amount|money(currency) }}
    app.jinja_env.filters["when"] = format_when  # {{ created_at|when }} in the shop's time zone
    app.jinja_env.filters["eta"] = format_eta  # {{ parcel.eta|eta }}: a supplier's bare date stays a date


def compile_catalogs(directory: Path = TRANSLATIONS_DIR) -> list[Path]:
    """Compile every messages.po newer than its .mo (make, the Dockerfile and the tests call this); returns what it wrote."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po in sorted(directory.glob("*/LC_MESSAGES/messages.po")):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as source:
            catalog = read_po(source, locale=po.parent.parent.name)
        with mo.open("wb") as target:
            write_mo(target, catalog)  # fuzzy entries stay untranslated, as gettext expects
        written.append(mo)
    return written


if __name__ == "__main__":
    for path in compile_catalogs():
        print(f"compiled {path}")
