"""Supplier calls measured at the adapter boundary: every adapter the app builds is wrapped once."""
from __future__ import annotations

import functools
import time

from integrations.suppliers.base import (
    AmendmentRefused,
    CancellationRefused,
    CredentialsRejected,
    OutcomeUnknown,
    PermanentSupplierError,
    SupplierError,
    SupplierOrderNotFound,
    TransientSupplierError,
)

from .instruments import SUPPLIER_CALL_SECONDS, SUPPLIER_CALLS
from .safety import never_raises

# The adapter interface's network calls (integrations/suppliers/base.py); parse_webhook and
# the capability flags are local and pass through untouched.
METERED_OPERATIONS = frozenset({
    "place_order", "resume_order", "find_order", "get_order", "cancel_order", "get_shipments", "get_stock",
    "create_return_authorization", "amend_order", "check_connection",
})


def call_outcome(error: BaseException | None) -> str:
    """The outcome label of a supplier call: ok, not_found, credentials_rejected, permanent, unknown, transient or error."""
    if error is None:
        return "ok"
    if isinstance(error, SupplierOrderNotFound):
        return "not_found"
    if isinstance(error, CredentialsRejected):  # a key rotated or a token refused even after a refresh: the merchant must act
        return "credentials_rejected"
    if isinstance(error, (PermanentSupplierError, CancellationRefused, AmendmentRefused)):
        return "permanent"
    if isinstance(error, OutcomeUnknown):
        return "unknown"
    if isinstance(error, (TransientSupplierError, SupplierError)):
        return "transient"
    return "error"  # a bug or an unexpected library error: worth its own line on the dashboard


class MeteredAdapter:
    """A supplier adapter whose network calls count into dropship_supplier_calls_total and time into dropship_supplier_call_seconds."""

    def __init__(self, adapter, kind: str):
        self.wrapped_adapter = adapter
        self.metrics_kind = kind

    def __getattr__(self, name: str):
        attribute = getattr(self.wrapped_adapter, name)
        if name not in METERED_OPERATIONS or not callable(attribute):
            return attribute
        return functools.partial(self._timed, name, attribute)

    def _timed(self, operation: str, call, *args, **kwargs):
        started = time.perf_counter()
        error = None
        try:
            return call(*args, **kwargs)
        except BaseException as exc:
            error = exc
            raise
        finally:
            _record_call(self.metrics_kind, operation, error, time.perf_counter() - started)


@never_raises
def _record_call(kind: str, operation: str, error: BaseException | None, seconds: float) -> None:
    SUPPLIER_CALL_SECONDS.labels(kind, operation).observe(seconds)
    SUPPLIER_CALLS.labels(kind, operation, call_outcome(error)).inc()


def metered(adapter, kind: str):
    """`adapter` measured per call (labels: the supplier's kind, never its id or name)."""
    return adapter if isinstance(adapter, MeteredAdapter) else MeteredAdapter(adapter, kind)
