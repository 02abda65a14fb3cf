"""Builds an EmailPoAdapter from a supplier record (credentials are decrypted by the caller), and checks settings before they are saved.

The SMTP server is the operator's and the sent log is the app's (in its database, scoped to
the shop and supplier: runtime.sent_log_for). There is no fallback log: one that silently
lands somewhere temporary would let POs be mailed twice.
"""
from __future__ import annotations

from typing import Any

from .. import runtime
from ..registry import adapter_kind, settings_check
from ..runtime import SupplierRef
from .adapter import EmailPoAdapter
from .config import InvalidEmailSettings, parse_settings, refuse_operator_keys


@adapter_kind("email")
def email_po_from_record(credentials: dict[str, Any], settings: dict[str, Any], owner: SupplierRef | None = None) -> EmailPoAdapter:
    """settings: addresses and templates (config.py); the sent log is the owner's, in the app's database."""
    parsed = parse_settings(settings, credentials)
    sent_log_for = runtime.current().sent_log_for
    if owner is None or sent_log_for is None:
        raise InvalidEmailSettings("email suppliers need the app's sent log (build the adapter with its shop and supplier)")
    return EmailPoAdapter(parsed, sent_log_for(owner))


@settings_check("email")
def check_email_settings(settings: dict[str, Any], policy: Any, timeout_max_seconds: float) -> None:
    """No SMTP host, port, CA file, sender or server path from the tenant; the rest must parse."""
    refuse_operator_keys(settings)
    parse_settings(settings, smtp=runtime.OperatorSmtp(host="operator.invalid"))
