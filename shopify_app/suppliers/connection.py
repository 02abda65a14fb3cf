"""Test connection: one harmless read call through a supplier's adapter, reported as JSON; and credentials masked for display."""
from __future__ import annotations

import logging
import time
from typing import Any, Mapping

from integrations.suppliers.base import CredentialsRejected, PermanentSupplierError, SupplierError, TransientSupplierError
from integrations.suppliers.registry import build_adapter
from integrations.suppliers.runtime import SupplierRef

from .credentials import CredentialStore, RefreshingAdapter, can_refresh

log = logging.getLogger(__name__)

SHOWN_TAIL = 4  # characters of a secret shown, at most
MIN_LENGTH_TO_SHOW_TAIL = 12  # shorter secrets show nothing: 4 of 8 characters is half the secret


def masked(credentials: Mapping[str, Any]) -> dict[str, str]:
    """Each credential as "…" plus at most its last 4 characters (nothing of short or non-text values)."""
    shown = {}
    for name, value in (credentials or {}).items():
        text = value if isinstance(value, str) else ""
        shown[name] = "…" + text[-SHOWN_TAIL:] if len(text) >= MIN_LENGTH_TO_SHOW_TAIL else "…"
    return shown


def connection_test(kind: str, settings: dict[str, Any], credentials: dict[str, Any], *, ref: SupplierRef | None = None,
                    credentials_enc: bytes | None = None, store: CredentialStore | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """({ok, checked, error, error_kind, duration_ms}, the credentials in force afterwards) for one read call (network: no transaction open).

    An adapter whose tokens expire gets a token first, as in service; `store` (with `ref` and
    the ciphertext read) keeps it, else it is only returned, for the caller to save with the
    change it tested (a supplier such as CJ grants a token only once per 5 minutes).
    """
    started = time.monotonic()
    result: dict[str, Any] = {"ok": False, "checked": None, "error": None, "error_kind": None}
    adapter: Any = None
    after = credentials
    try:
        adapter = build_adapter(kind, credentials, settings)
        if can_refresh(adapter):
            adapter = RefreshingAdapter(adapter, ref or SupplierRef("", 0), kind, settings, credentials, credentials_enc, store=store)
        result["checked"] = adapter.check_connection()
        result["ok"] = True
        after = adapter.credentials if isinstance(adapter, RefreshingAdapter) else credentials
    except CredentialsRejected as exc:
        result.update(error=str(exc), error_kind="credentials")
    except TransientSupplierError as exc:
        result.update(error=str(exc), error_kind="transient")
    except (PermanentSupplierError, SupplierError) as exc:
        result.update(error=str(exc), error_kind="permanent")
    except (ValueError, TypeError, KeyError) as exc:  # settings the adapter cannot be built from (messages name keys, not values)
        result.update(error=str(exc)[:200], error_kind="configuration")
    finally:
        close = getattr(adapter, "close", None)
        if callable(close):
            close()
    result["duration_ms"] = int((time.monotonic() - started) * 1000)
    return result, after
