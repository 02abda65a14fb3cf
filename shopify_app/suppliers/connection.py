"""Test connection: one harmless read call through a supplier's adapter, reported as JSON; and credentials masked for display."""
from __future__ import annotations

import logging
import time
from typing import Any, Mapping

from integrations.suppliers.base import CredentialsRejected, PermanentSupplierError, SupplierError, TransientSupplierError
from integrations.suppliers.registry import build_adapter

from .credentials import REFRESH_MARGIN_SECONDS

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


def connection_test(kind: str, settings: dict[str, Any], credentials: dict[str, Any]) -> dict[str, Any]:
    """{ok, checked, error, error_kind, duration_ms} for one read call with these settings and credentials (network: no transaction open)."""
    started = time.monotonic()
    result: dict[str, Any] = {"ok": False, "checked": None, "error": None, "error_kind": None}
    adapter = None
    try:
        adapter = build_adapter(kind, credentials, settings)
        checked = []
        expires = adapter.credentials_expire_at(credentials)
        if expires is not None and expires - time.time() <= REFRESH_MARGIN_SECONDS:
            # A token flow with no (or an expiring) token: get one first, in memory only (these may be unsaved credentials).
            fresh = adapter.refresh_credentials(credentials)
            if fresh is not None:
                _close(adapter)
                adapter = build_adapter(kind, fresh, settings)
                checked.append("obtained an access token")
        checked.append(adapter.check_connection())
        result["checked"] = "; ".join(checked)
        result["ok"] = True
    except CredentialsRejected as exc:
        result.update(error=str(exc), error_kind="credentials")
    except TransientSupplierError as exc:
        result.update(error=str(exc), error_kind="transient")
    except (PermanentSupplierError, SupplierError) as exc:
        result.update(error=str(exc), error_kind="permanent")
    except (ValueError, TypeError, KeyError) as exc:  # settings the adapter cannot be built from (messages name keys, not values)
        result.update(error=str(exc)[:200], error_kind="configuration")
    finally:
        _close(adapter)
    result["duration_ms"] = int((time.monotonic() - started) * 1000)
    return result


def _close(adapter: Any) -> None:
    close = getattr(adapter, "close", None)
    if callable(close):
        close()
