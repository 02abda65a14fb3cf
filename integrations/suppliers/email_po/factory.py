"""Builds an EmailPoAdapter from a supplier record (credentials are decrypted by the caller).

The sent log must outlive the process, so settings name its file (`sent_log_path`,
absolute, e.g. under the app's instance/ folder, one file per supplier); there is no default
because a log that silently lands somewhere temporary would let POs be mailed twice.
"""
from __future__ import annotations

from typing import Any

from ..registry import adapter_kind
from .adapter import EmailPoAdapter
from .config import InvalidEmailSettings, parse_settings
from .sent_log import JsonFileSentLog
from .stock_feed import JsonFileStockFeed


@adapter_kind("email")
def email_po_from_record(credentials: dict[str, Any], settings: dict[str, Any]) -> EmailPoAdapter:
    """settings: SMTP and addresses (config.py), sent_log_path, stock_feed_path; credentials: smtp_username, smtp_password."""
    parsed = parse_settings(settings, credentials)
    sent_log_path = settings.get("sent_log_path")
    if not isinstance(sent_log_path, str) or not sent_log_path:
        raise InvalidEmailSettings("settings.sent_log_path is required (a file, e.g. <instance>/email-po/<supplier>.json)")
    stock_feed_path = settings.get("stock_feed_path")
    if stock_feed_path is not None and (not isinstance(stock_feed_path, str) or not stock_feed_path):
        raise InvalidEmailSettings("settings.stock_feed_path must be a file path")
    stock_feed = JsonFileStockFeed(stock_feed_path) if stock_feed_path else None
    return EmailPoAdapter(parsed, JsonFileSentLog(sent_log_path), stock_feed=stock_feed)
