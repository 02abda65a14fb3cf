"""The email purchase-order adapter's settings, parsed once and refused early when wrong.

The SMTP server is the operator's (SMTP_* variables, runtime.OperatorSmtp): a tenant never
makes the server connect to a host, port or CA file of its choosing, nor send as any From.
settings (JSON, the tenant's):
  to_addresses [..], cc_addresses [..] (optional), reply_to (optional),
  subject_template (default "Purchase order {po_number}"; must contain {po_number}),
  cancel_subject_template (default "CANCELLATION of purchase order {po_number}"),
  shop_name (signs the email body), known_skus [..] (optional: refuse other SKUs before sending),
  currency (optional ISO 4217: the supplier's invoicing currency; default the order's),
  attach_pdf (default true: a PDF copy of the PO is attached next to the CSV).
The sent log lives in the database (one per supplier); stock arrives by feed upload or URL.
Keys that once named SMTP servers or server files (OPERATOR_KEYS) are refused when saved and
ignored when found in settings stored by an older version.
"""
from __future__ import annotations

import email.utils
import re
import string
from dataclasses import dataclass
from typing import Any, Mapping

from ..runtime import OperatorSmtp

SECURITY_MODES = ("starttls", "ssl", "none")
KNOWN_KEYS = frozenset({"to_addresses", "cc_addresses", "reply_to", "subject_template", "cancel_subject_template", "shop_name", "known_skus", "currency", "attach_pdf",
                        "sla_hours", "ship_to_countries"})  # the last two: the app's own per-supplier settings (SLA check, routing), as for every kind
# Once tenant settings; now the operator's (SMTP) or the app's (sent log in the database, feeds by upload/URL).
OPERATOR_KEYS = frozenset({"smtp_host", "smtp_port", "smtp_security", "smtp_timeout_seconds", "smtp_ca_file", "from_address", "sent_log_path", "stock_feed_path"})


class InvalidEmailSettings(ValueError):
    """Settings or credentials that cannot send purchase orders (the message names the key, never a value)."""


@dataclass(frozen=True)
class EmailPoSettings:
    """Where and how purchase orders are mailed (the SMTP part is the operator's)."""

    smtp_host: str | None
    from_address: str
    to_addresses: tuple[str, ...]
    smtp_port: int = 587
    smtp_security: str = "starttls"
    smtp_timeout_seconds: float = 30.0
    smtp_ca_file: str | None = None
    smtp_username: str | None = None
    smtp_password: str | None = None
    cc_addresses: tuple[str, ...] = ()
    reply_to: str | None = None
    subject_template: str = "Purchase order {po_number}"
    cancel_subject_template: str = "CANCELLATION of purchase order {po_number}"
    shop_name: str = "our shop"
    known_skus: frozenset[str] | None = None
    currency: str | None = None  # the supplier's invoicing currency (ISO 4217) when not the order's
    attach_pdf: bool = True  # a PDF copy of the PO next to the CSV

    def __repr__(self) -> str:
        # Addresses and the password stay out of reprs, which end up in logs and tracebacks.
        return f"EmailPoSettings(smtp_host={self.smtp_host!r}, smtp_port={self.smtp_port}, smtp_security={self.smtp_security!r})"

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every envelope recipient (To and Cc)."""
        return self.to_addresses + self.cc_addresses


def refuse_operator_keys(settings: Mapping[str, Any]) -> None:
    """InvalidEmailSettings naming any key a tenant may no longer set (save time)."""
    found = sorted(set(settings) & OPERATOR_KEYS)
    if found:
        raise InvalidEmailSettings(
            f"settings: {', '.join(map(repr, found))} cannot be set: purchase orders go out through the app's SMTP server "
            "(set reply_to for answers), the sent log is kept by the app, and stock files arrive by upload or URL"
        )


def parse_settings(settings: Mapping[str, Any], credentials: Mapping[str, Any] | None = None, *, smtp: OperatorSmtp | None = None) -> EmailPoSettings:
    """Check and parse a supplier record's settings; SMTP from `smtp` (else the operator's, runtime.current()).

    Stored OPERATOR_KEYS and tenant SMTP credentials are ignored: the operator's server and login are used.
    """
    from .. import runtime

    if not isinstance(settings, Mapping):
        raise InvalidEmailSettings("settings must be a JSON object")
    if credentials is not None and not isinstance(credentials, Mapping):
        raise InvalidEmailSettings("credentials must be a JSON object")
    tenant = {key: value for key, value in settings.items() if key not in OPERATOR_KEYS}
    unknown = sorted(set(tenant) - KNOWN_KEYS)
    if unknown:
        raise InvalidEmailSettings(f"settings: unknown key(s) {', '.join(map(repr, unknown))}")
    smtp = smtp or runtime.current().smtp
    to_addresses = _addresses("settings.to_addresses", tenant.get("to_addresses"), required=True)
    known_skus = tenant.get("known_skus")
    if known_skus is not None and (not isinstance(known_skus, list) or not all(isinstance(s, str) and s for s in known_skus)):
        raise InvalidEmailSettings("settings.known_skus must be a list of SKUs")
    return EmailPoSettings(
        smtp_host=smtp.host if smtp else None,
        smtp_port=smtp.port if smtp else 25,
        smtp_security=smtp.security if smtp else "none",
        smtp_timeout_seconds=runtime.current().clamp_timeout(smtp.timeout_seconds) if smtp else runtime.current().timeout_max_seconds,
        smtp_ca_file=smtp.ca_file if smtp else None,
        smtp_username=smtp.username if smtp else None,
        smtp_password=smtp.password if smtp else None,
        from_address=smtp.from_address if smtp else "orders@example.com",
        to_addresses=to_addresses,
        cc_addresses=_addresses("settings.cc_addresses", tenant.get("cc_addresses"), required=False),
        reply_to=_address("settings.reply_to", tenant["reply_to"]) if tenant.get("reply_to") is not None else None,
        subject_template=_template("settings.subject_template", tenant.get("subject_template", EmailPoSettings.subject_template)),
        cancel_subject_template=_template("settings.cancel_subject_template", tenant.get("cancel_subject_template", EmailPoSettings.cancel_subject_template)),
        shop_name=_optional_text("settings.shop_name", tenant.get("shop_name")) or EmailPoSettings.shop_name,
        known_skus=frozenset(known_skus) if known_skus is not None else None,
        currency=_currency(tenant.get("currency")),
        attach_pdf=_flag("settings.attach_pdf", tenant.get("attach_pdf", True)),
    )


def _currency(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"[A-Z]{3}", value):
        raise InvalidEmailSettings("settings.currency must be a three-letter ISO 4217 code such as EUR")
    return value


def _flag(where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidEmailSettings(f"{where} must be true or false")
    return value


def _address(where: str, value: Any) -> str:
    if not isinstance(value, str) or "\n" in value or "\r" in value:
        raise InvalidEmailSettings(f"{where} must be an email address")
    _, address = email.utils.parseaddr(value)
    local, at, domain = address.rpartition("@")
    if not at or not local or "." not in domain or " " in address:
        raise InvalidEmailSettings(f"{where} must be an email address")
    return value.strip()


def _addresses(where: str, value: Any, *, required: bool) -> tuple[str, ...]:
    if value is None and not required:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or (required and not value):
        raise InvalidEmailSettings(f"{where} must be a list of email addresses" + (" (at least one)" if required else ""))
    return tuple(_address(f"{where}[{index}]", item) for index, item in enumerate(value))


MAX_TEMPLATE_LENGTH = 200


def _template(where: str, value: Any) -> str:
    if not isinstance(value, str) or "\n" in value or "\r" in value or len(value) > MAX_TEMPLATE_LENGTH:
        raise InvalidEmailSettings(f"{where} must be one line of text of at most {MAX_TEMPLATE_LENGTH} characters")
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(value) if name is not None]
    except ValueError:
        raise InvalidEmailSettings(f"{where} is not a valid template") from None
    # Only a bare {po_number}: a format spec such as {po_number:>2000000000} would make the
    # worker that renders it build a string of any size the tenant asks for.
    if not fields or any(field != ("po_number", "", None) for field in fields):
        raise InvalidEmailSettings(f"{where} must contain {{po_number}} (with no format) and no other placeholder")
    return value


def _optional_text(where: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidEmailSettings(f"{where} must be text")
    return value
