"""Every customer email template rendered in English, Polish and Hebrew: each string it shows has a translation with
the same placeholders, no English sentence is left unwrapped, and money and dates follow the language.

Strings added by a part are translated by the translation pass after the merge: until then the
catalog check names them (that is its job), while the rendering checks hold from the start.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from jinja2 import Environment
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po
from jinja2 import meta

from shopify_app.i18n import TRANSLATIONS_DIR, compile_catalogs
from shopify_app.i18n_catalog import KEYWORDS
from shopify_app.notify.customer_notices import notice_language
from shopify_app.notify.email import _templates, render

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "shopify_app" / "templates" / "email"
TEMPLATES = sorted(p.name for p in TEMPLATES_DIR.glob("*.txt"))
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
LANGS = ("pl", "he")

# Values of the right kind for every variable any template uses (others get a one-word text).
SAMPLE = {
    "lines": [("Mug", 2)], "items": 2, "order_total": "1234.50", "currency": "PLN", "amount": "99.90", "restocking_fee": "5.00", "return_shipping_fee": "7.00",
    "expected_dispatch": dt.date(2026, 12, 9), "eta": dt.date(2026, 12, 14), "new_estimate": dt.datetime(2026, 12, 16, 10, tzinfo=dt.timezone.utc),
    "expected": "2026-12-12", "delivered_at": dt.datetime(2026, 12, 15, 9, tzinfo=dt.timezone.utc), "answer_by": "2026-12-20"
}


def variables(name: str) -> set[str]:
    source = _templates.loader.get_source(_templates, name)[0]
    return meta.find_undeclared_variables(_templates.parse(source)) - {"_", "gettext", "ngettext"}


def context_for(name: str) -> dict:
    return {var: SAMPLE.get(var, "Sample") for var in variables(name)}


def catalog(lang: str):
    with (TRANSLATIONS_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as source:
        return read_po(source, locale=lang)


def messages_of(name: str) -> list:
    return [msg for _, msg, _, _ in extract_from_file("jinja2", str(TEMPLATES_DIR / name), keywords=KEYWORDS)]


def rendered(name: str, lang: str) -> str:
    with notice_language(lang, "Europe/Warsaw"):
        subject, body = render(name, **context_for(name))
    return f"{subject}\n{body}"


@pytest.fixture(scope="module", autouse=True)
def compiled():
    compile_catalogs()


def test_there_are_templates_and_every_one_renders_in_every_language():
    assert len(TEMPLATES) >= 15  # the lifecycle's, the returns', the sender confirmation
    for name in TEMPLATES:
        for lang in ("en", *LANGS):
            assert rendered(name, lang).strip(), (name, lang)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", TEMPLATES)
def test_every_string_of_the_template_is_translated_with_the_same_placeholders(name, lang):
    translations = catalog(lang)
    problems = []
    for message in messages_of(name):
        msgid = message[0] if isinstance(message, tuple) else message
        found = translations.get(message if isinstance(message, str) else message[0])
        forms = ([found.string] if isinstance(found.string, str) else list(found.string)) if found is not None else []
        if found is None or found.fuzzy or not forms or not all(forms):
            problems.append(f"untranslated: {msgid!r}")
            continue
        wanted = set(PLACEHOLDER.findall(msgid))
        for form in forms:
            if set(PLACEHOLDER.findall(form)) != wanted and not (set(PLACEHOLDER.findall(form)) <= wanted and wanted - set(PLACEHOLDER.findall(form)) <= {"num"}):
                problems.append(f"placeholders differ: {msgid!r} -> {form!r}")
    assert problems == []


def pseudo_rendered(name: str) -> str:
    """The template with every gettext string marked ⟦…⟧ (a pseudo-translation): whatever is left unmarked was never wrapped."""
    # A separate environment, not an overlay: an overlay shares its parent's globals and the
    # i18n extension's install method, so the pseudo-translation would stay for every later email.
    env = Environment(loader=_templates.loader, undefined=_templates.undefined, keep_trailing_newline=True, extensions=["jinja2.ext.i18n"])
    env.filters.update(_templates.filters)
    env.globals.update({k: v for k, v in _templates.globals.items() if k not in ("gettext", "ngettext", "_")})
    env.install_gettext_callables(lambda s: f"⟦{s}⟧", lambda s, p, n: f"⟦{s if n == 1 else p}⟧", newstyle=True)
    with notice_language("en", None):
        return env.get_template(name).render(**context_for(name))


@pytest.mark.parametrize("name", TEMPLATES)
def test_no_english_sentence_is_left_unwrapped(name):
    """Text outside _() would stay English in every language, whatever the catalogs say."""
    unwrapped = [line for line in pseudo_rendered(name).splitlines()
                 if len(re.findall(r"[A-Za-z]{2,}", re.sub(r"⟦[^⟧]*⟧", "", line).replace("Sample", ""))) >= 3]
    assert unwrapped == []


def test_money_and_dates_follow_the_language():
    pl, he, en = (rendered("order_received_notice.txt", lang) for lang in ("pl", "he", "en"))
    assert "1234,50" in pl.replace("\xa0", " ").replace(" ", "") and "grudnia" in pl  # Polish decimal comma and month name
    assert "בדצמבר" in he and "December" in en
    delay_pl = rendered("delay_notice.txt", "pl")
    assert "16 grudnia 2026" in delay_pl  # the new estimate, in the shop's time zone
