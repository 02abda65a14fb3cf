"""Jinja filters of the admin pages: codes as translated words, numbers, percentages, countries and ages in the merchant's language."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from babel import Locale
from babel.dates import format_timedelta
from flask import Flask

from ..i18n import as_datetime, current_language, format_number
from . import admin_strings


_locale = current_language
number = format_number  # {{ value|number }}: one implementation, shared with money() without a currency


def percent(fraction, digits: int = 1) -> str:
    """A fraction as a percentage with the locale's digits ('20.0 %', '20,0 %'); '–' when missing."""
    if fraction is None:
        return "–"
    return f"{number(Decimal(str(fraction)) * 100, digits)} %"


def hours(value) -> str:
    """A number of hours ('36 h')."""
    return "–" if value is None else f"{number(value)} h"


def country(code) -> str:
    """A country's name in the merchant's language from its ISO code ('PL' -> 'Polska'); the code when unknown."""
    if not code:
        return "–"
    return Locale.parse(_locale()).territories.get(str(code).upper(), str(code))


def age(value, now: dt.datetime | None = None) -> str:
    """How long ago, in words ('3 days', '3 dni', '3 ימים'); '–' when missing."""
    value = as_datetime(value)
    if value is None or isinstance(value, str):
        return value or "–"
    delta = max((now or dt.datetime.now(dt.timezone.utc)) - value, dt.timedelta(0))
    return format_timedelta(delta, threshold=1, locale=_locale())


def install_filters(app: Flask) -> None:
    """Make the admin's filters available to every template."""
    app.jinja_env.filters.update({
        "state_label": admin_strings.label, "return_reason": admin_strings.return_reason, "tone": admin_strings.tone,
        "event_label": lambda code: admin_strings.label(code, admin_strings.EVENT_LABELS),
        "actor_label": lambda code: admin_strings.label(code, admin_strings.ACTOR_LABELS),
        "desync_label": lambda code: admin_strings.label(code, admin_strings.DESYNC_LABELS),
        "detail_label": lambda code: admin_strings.label(code, admin_strings.DETAIL_LABELS),
        "number": number, "percent": percent, "hours": hours, "country": country, "age": age,
    })
