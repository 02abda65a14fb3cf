"""What the operator decides for every supplier adapter: the call timeout cap, the SMTP server, where email POs are logged.

Tenants choose their supplier's settings; these come from the operator's environment and
are set once per process by build_services (shopify_app/services.py). Until then a strict
default applies: 30 s cap, no SMTP server, no durable sent log.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from .email_po.sent_log import SentLog

DEFAULT_TIMEOUT_MAX_SECONDS = 30.0


@dataclass(frozen=True)
class OperatorSmtp:
    """The operator's SMTP server, the only one email suppliers send through."""

    host: str
    port: int = 25
    from_address: str = "orders@example.com"
    username: str | None = None
    password: str | None = None
    security: str = "none"  # "starttls" | "ssl" | "none"
    ca_file: str | None = None  # operator-provided CA (tests: a self-signed server)
    timeout_seconds: float = DEFAULT_TIMEOUT_MAX_SECONDS

    def __repr__(self) -> str:
        return f"OperatorSmtp(host={self.host!r}, port={self.port}, security={self.security!r})"


@dataclass(frozen=True)
class SupplierRef:
    """Which shop's which supplier an adapter works for (scopes its sent log)."""

    shop_domain: str
    supplier_id: int


@dataclass(frozen=True)
class SupplierRuntime:
    """Operator configuration every adapter reads."""

    timeout_max_seconds: float = DEFAULT_TIMEOUT_MAX_SECONDS
    smtp: OperatorSmtp | None = None
    sent_log_for: Callable[[SupplierRef], "SentLog"] | None = None
    edi_store_for: Callable[[SupplierRef], Any] | None = None  # EDI partners' store (issue 15 part E)
    as2_station_for: Callable[[SupplierRef], Any] | None = None  # EDI over AS2: the shop's key pair, the AS2 ledger, our MDN URL (session 27 part A)
    # File suppliers: the operator's folder that "local" file suppliers live under (None: no local folders for tenants).
    file_root: str | None = None
    # File suppliers that batch POs on a schedule: the store of orders waiting for their batch (issue 15, batched POs).
    po_batch_queue_for: Callable[[SupplierRef], Any] | None = None

    def clamp_timeout(self, seconds: float) -> float:
        """A tenant's timeout, never above the operator's cap."""
        return min(float(seconds), self.timeout_max_seconds)


_current = SupplierRuntime()


def configure(runtime: SupplierRuntime) -> SupplierRuntime:
    """Set the process-wide runtime (build_services does); returns the previous one."""
    global _current
    previous, _current = _current, runtime
    return previous


def current() -> SupplierRuntime:
    """The process-wide runtime."""
    return _current


def operator_smtp_from(settings: Any) -> OperatorSmtp | None:
    """The operator's SMTP server from the app's Settings (None without SMTP_HOST)."""
    if not getattr(settings, "smtp_host", None):
        return None
    return OperatorSmtp(
        host=settings.smtp_host, port=settings.smtp_port, from_address=settings.smtp_from, username=settings.smtp_username,
        password=settings.smtp_password, security="starttls" if settings.smtp_starttls else "none",
        timeout_seconds=min(DEFAULT_TIMEOUT_MAX_SECONDS, getattr(settings, "supplier_timeout_max_seconds", DEFAULT_TIMEOUT_MAX_SECONDS)),
    )
