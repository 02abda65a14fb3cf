"""SMTP mail with templated bodies (Jinja, under templates/email/)."""
from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Mapping

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from .. import i18n


@dataclass(frozen=True)
class SmtpSettings:
    """Where and as whom to send."""

    host: str
    port: int = 25
    sender: str = "orders@example.com"
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 10.0


_templates = Environment(
    loader=PackageLoader("shopify_app", "templates/email"),
    autoescape=select_autoescape(enabled_extensions=("html",)),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    extensions=["jinja2.ext.i18n"],
)
# `_()` in email templates: the shared gettext catalogs (untranslated outside a language context).
def _ngettext(singular: str, plural: str, num: int) -> str:
    # Unformatted: Jinja's newstyle gettext fills the placeholders (Flask-Babel's ngettext would with `num` only).
    from flask_babel import get_translations

    return get_translations().ungettext(singular, plural, num)


_templates.install_gettext_callables(i18n.gettext, _ngettext, newstyle=True)
# Money in its currency and dates in the shop's time zone, in the language being rendered (customer notices).
_templates.filters["money"] = i18n.format_money
_templates.filters["when"] = i18n.format_when
_templates.filters["day"] = i18n.format_day
# Amounts in the rendering language's format with their currency ('12,00 zł', '₪45.00'), callable form for arguments of _().
_templates.globals["format_money"] = i18n.format_money


def render(template: str, **context) -> tuple[str, str]:
    """(subject, body) from a template whose first line is 'Subject: ...'."""
    text = _templates.get_template(template).render(**context)
    first, _, body = text.partition("\n")
    if not first.startswith("Subject: "):
        raise ValueError(f"{template} must start with a 'Subject: ' line")
    return first.removeprefix("Subject: ").strip(), body.lstrip("\n")


def send_email(settings: SmtpSettings, to: str, subject: str, body: str, *, sender: str | None = None,
               reply_to: str | None = None, headers: Mapping[str, str] | None = None) -> None:
    """Send one plain-text email (From `sender`, else the app's); SMTP errors propagate for the caller's retry policy."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender or settings.sender, to, subject
    if reply_to:
        message["Reply-To"] = reply_to
    message.set_content(body)
    for name, value in (headers or {}).items():  # after set_content, which replaces every Content-* header
        message[name] = value
    with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
        if settings.starttls:
            smtp.starttls()
        if settings.username:
            smtp.login(settings.username, settings.password or "")
        smtp.send_message(message, from_addr=settings.sender)  # bounces come back to the app's address whoever the From is
