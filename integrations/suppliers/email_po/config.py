"""The email purchase-order adapter's settings, parsed once and refused early when wrong.

settings (JSON):
  smtp_host, smtp_port (default 587), smtp_security: "starttls" (default) | "ssl" | "none",
  smtp_timeout_seconds (default 30), smtp_ca_file (optional: a private CA or self-signed cert),
  from_address, to_addresses [..], cc_addresses [..] (optional), reply_to (optional),
  subject_template (default "Purchase order {po_number}"; must contain {po_number}),
  cancel_subject_template (default "CANCELLATION of purchase order {po_number}"),
  shop_name (signs the email body), known_skus [..] (optional: refuse other SKUs before sending),
  sent_log_path (the JSON sent log; factory only), stock_feed_path (optional; factory only)
credentials (JSON): smtp_username, smtp_password (both or neither).
"""
from __future__ import annotations

import email.utils
import string
from dataclasses import dataclass
from typing import Any, Mapping

SECURITY_MODES = ("starttls", "ssl", "none")
KNOWN_KEYS = frozenset({
    "smtp_host", "smtp_port", "smtp_security", "smtp_timeout_seconds", "smtp_ca_file", "from_address", "to_addresses",
    "cc_addresses", "reply_to", "subject_template", "cancel_subject_template", "shop_name", "known_skus",
    "sent_log_path", "stock_feed_path",
})


class InvalidEmailSettings(ValueError):
    """Settings or credentials that cannot send purchase orders (the message names the key, never a value)."""


@dataclass(frozen=True)
class EmailPoSettings:
    """Where and how purchase orders are mailed."""

    smtp_host: str
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

    def __repr__(self) -> str:
        # Addresses and the password stay out of reprs, which end up in logs and tracebacks.
        return f"EmailPoSettings(smtp_host={self.smtp_host!r}, smtp_port={self.smtp_port}, smtp_security={self.smtp_security!r})"

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every envelope recipient (To and Cc)."""
        return self.to_addresses + self.cc_addresses


def parse_settings(settings: Mapping[str, Any], credentials: Mapping[str, Any] | None = None) -> EmailPoSettings:
    """Check and parse a supplier record's settings and credentials."""
    if not isinstance(settings, Mapping):
        raise InvalidEmailSettings("settings must be a JSON object")
    credentials = credentials or {}
    if not isinstance(credentials, Mapping):
        raise InvalidEmailSettings("credentials must be a JSON object")
    unknown = sorted(set(settings) - KNOWN_KEYS)
    if unknown:
        raise InvalidEmailSettings(f"settings: unknown key(s) {', '.join(map(repr, unknown))}")
    host = settings.get("smtp_host")
    if not isinstance(host, str) or not host.strip():
        raise InvalidEmailSettings("settings.smtp_host is required")
    security = settings.get("smtp_security", "starttls")
    if security not in SECURITY_MODES:
        raise InvalidEmailSettings(f"settings.smtp_security must be one of {', '.join(SECURITY_MODES)}")
    port = settings.get("smtp_port", 465 if security == "ssl" else 587)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise InvalidEmailSettings("settings.smtp_port must be a port number")
    timeout = settings.get("smtp_timeout_seconds", 30.0)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise InvalidEmailSettings("settings.smtp_timeout_seconds must be a positive number")
    username, password = credentials.get("smtp_username"), credentials.get("smtp_password")
    if bool(username) != bool(password) or not all(isinstance(v, (str, type(None))) for v in (username, password)):
        raise InvalidEmailSettings("credentials need both smtp_username and smtp_password, or neither")
    to_addresses = _addresses("settings.to_addresses", settings.get("to_addresses"), required=True)
    known_skus = settings.get("known_skus")
    if known_skus is not None and (not isinstance(known_skus, list) or not all(isinstance(s, str) and s for s in known_skus)):
        raise InvalidEmailSettings("settings.known_skus must be a list of SKUs")
    return EmailPoSettings(
        smtp_host=host.strip(),
        smtp_port=port,
        smtp_security=security,
        smtp_timeout_seconds=float(timeout),
        smtp_ca_file=_optional_text("settings.smtp_ca_file", settings.get("smtp_ca_file")),
        smtp_username=username or None,
        smtp_password=password or None,
        from_address=_address("settings.from_address", settings.get("from_address")),
        to_addresses=to_addresses,
        cc_addresses=_addresses("settings.cc_addresses", settings.get("cc_addresses"), required=False),
        reply_to=_address("settings.reply_to", settings["reply_to"]) if settings.get("reply_to") is not None else None,
        subject_template=_template("settings.subject_template", settings.get("subject_template", EmailPoSettings.subject_template)),
        cancel_subject_template=_template("settings.cancel_subject_template", settings.get("cancel_subject_template", EmailPoSettings.cancel_subject_template)),
        shop_name=_optional_text("settings.shop_name", settings.get("shop_name")) or EmailPoSettings.shop_name,
        known_skus=frozenset(known_skus) if known_skus is not None else None,
    )


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


def _template(where: str, value: Any) -> str:
    if not isinstance(value, str) or "\n" in value or "\r" in value:
        raise InvalidEmailSettings(f"{where} must be one line of text")
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError:
        raise InvalidEmailSettings(f"{where} is not a valid template") from None
    if names != {"po_number"}:
        raise InvalidEmailSettings(f"{where} must contain {{po_number}} and no other placeholder")
    return value


def _optional_text(where: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidEmailSettings(f"{where} must be text")
    return value
