"""Builds a RestAdapter from a supplier record (credentials are decrypted by the caller)."""
from __future__ import annotations

from typing import Any

from ..registry import adapter_kind
from .adapter import RestAdapter
from .config import parse_settings
from .presets import with_preset


@adapter_kind("rest")
def rest_from_record(credentials: dict[str, Any], settings: dict[str, Any]) -> RestAdapter:
    """settings: the API description (config.py; may start from a preset); credentials: auth values, webhook_secret."""
    return RestAdapter(parse_settings(with_preset(settings)), credentials)
