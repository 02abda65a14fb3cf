"""Supplier credentials that expire: refreshed before expiry and once after a 401, stored encrypted, audited.

Any adapter that overrides `SupplierAdapter.refresh_credentials` gets this for free:
`adapter_from_record` (forwarding.py) wraps it in a RefreshingAdapter, which
  - before each call, refreshes when `credentials_expire_at` is within REFRESH_MARGIN_SECONDS;
  - on CredentialsRejected (HTTP 401), refreshes once and repeats the call once (a 401 means
    the request was not applied, so repeating a state-changing call is safe);
  - stores the new credentials with a compare-and-swap on the encrypted column, so a merchant's
    rotation that landed meanwhile is never overwritten and two processes refreshing at once
    end up using one token (the loser reads the winner's);
  - adds a `credentials_refreshed` entry to the supplier's audit trail (field names only).
No database transaction is open while the supplier answers (the refresh call runs first).
"""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Callable

from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker

from integrations.suppliers.base import CredentialsRejected, SupplierAdapter
from integrations.suppliers.registry import build_adapter
from integrations.suppliers.runtime import SupplierRef

from ..crypto import SecretBox
from .audit import SYSTEM_ACTOR, changed_fields, record_change
from .models import Supplier

log = logging.getLogger(__name__)

REFRESH_MARGIN_SECONDS = 300.0  # refresh this long before the supplier's stated expiry

_store: "CredentialStore | None" = None


class CredentialStore:
    """Reads and compare-and-swaps a supplier's encrypted credentials."""

    def __init__(self, session_factory: sessionmaker, box: SecretBox):
        self.session_factory = session_factory
        self.box = box

    def swap(self, ref: SupplierRef, expected_enc: bytes | None, new: dict[str, Any], old: dict[str, Any],
             action: str = "credentials_refreshed") -> tuple[bytes | None, dict[str, Any]]:
        """Store `new` if the record still holds `expected_enc`, audited as `action`; (stored ciphertext, credentials now in force)."""
        new_enc = self.box.encrypt(json.dumps(new))
        with self.session_factory.begin() as session:
            swapped = session.execute(
                update(Supplier).where(Supplier.id == ref.supplier_id, Supplier.shop_domain == ref.shop_domain, Supplier.credentials_enc == expected_enc).values(credentials_enc=new_enc)
            ).rowcount
            if swapped:
                record_change(session, ref.shop_domain, ref.supplier_id, SYSTEM_ACTOR, action, changed_fields("credentials", old, new))
                return new_enc, new
            current = session.scalar(select(Supplier.credentials_enc).where(Supplier.id == ref.supplier_id, Supplier.shop_domain == ref.shop_domain))
        # Someone else refreshed or the merchant rotated: theirs wins.
        return current, json.loads(self.box.decrypt(current)) if current else {}


def configure(session_factory: sessionmaker, box: SecretBox) -> None:
    """Where refreshed credentials are stored (build_services calls this once per process)."""
    global _store
    _store = CredentialStore(session_factory, box)


def current_store() -> CredentialStore | None:
    """The process's store (None before build_services)."""
    return _store


def can_refresh(adapter: SupplierAdapter) -> bool:
    """Whether the adapter's class offers a credentials refresh."""
    return type(adapter).refresh_credentials is not SupplierAdapter.refresh_credentials


class RefreshingAdapter:
    """Delegates to the supplier's adapter, refreshing its credentials before expiry and once after a 401."""

    def __init__(self, inner: SupplierAdapter, ref: SupplierRef, kind: str, settings: dict[str, Any], credentials: dict[str, Any], credentials_enc: bytes | None,
                 *, store: CredentialStore | None = None, clock: Callable[[], float] = time.time):
        """`store`: where refreshed credentials go (None: kept in memory only, e.g. for a connection test)."""
        self._inner, self._ref, self._kind, self._settings, self._store = inner, ref, kind, settings, store
        self._credentials, self._enc = credentials, credentials_enc
        self._generation = 0  # bumped by each refresh: a 401 seen before it is not refreshed twice
        self._clock = clock
        self._lock = threading.Lock()
        # Adapters a refresh replaced, closed when no call is in flight (a call may still be using one).
        self._calls_lock = threading.Lock()
        self._in_flight = 0
        self._retired: list[SupplierAdapter] = []

    @property
    def inner(self) -> SupplierAdapter:
        """The adapter currently in use."""
        return self._inner

    @property
    def credentials(self) -> dict[str, Any]:
        """The credentials in force (after any refresh)."""
        return dict(self._credentials)

    def close(self) -> None:
        """Release the adapter's connections."""
        with self._calls_lock:
            retired, self._retired = self._retired, []
        for adapter in [*retired, self._inner]:
            _close(adapter)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if not callable(value) or name.startswith("_") or name in ("credentials_expire_at", "refresh_credentials"):
            return value
        return lambda *args, **kwargs: self._call(name, args, kwargs)

    def _call(self, name: str, args: tuple, kwargs: dict) -> Any:
        with self._calls_lock:
            self._in_flight += 1
        try:
            self._refresh_if_expiring()
            generation = self._generation
            try:
                return getattr(self._inner, name)(*args, **kwargs)
            except CredentialsRejected:
                if not self._refresh(generation):
                    raise  # nothing to refresh: the merchant must update the credentials
                return getattr(self._inner, name)(*args, **kwargs)  # once: a second 401 goes to the caller
        finally:
            self._call_done()

    def _call_done(self) -> None:
        """The last call in flight closes the adapters refreshes replaced (their pooled connections)."""
        with self._calls_lock:
            self._in_flight -= 1
            retired = self._retired if self._in_flight == 0 else []
            if retired:
                self._retired = []
        for adapter in retired:
            _close(adapter)

    def _refresh_if_expiring(self) -> None:
        expires = self._inner.credentials_expire_at(self._credentials)
        if expires is not None and expires - self._clock() <= REFRESH_MARGIN_SECONDS:
            self._refresh(self._generation)

    def _refresh(self, seen_generation: int) -> bool:
        """Refresh unless another thread did since `seen_generation`; False when the adapter cannot refresh."""
        with self._lock:
            if self._generation != seen_generation:
                return True  # another thread refreshed while we waited
            old = self._credentials
            new = self._inner.refresh_credentials(old)
            if new is None:
                return False
            enc = self._enc
            if self._store is not None:
                enc, new = self._store.swap(self._ref, self._enc, new, old)
            previous = self._inner
            self._inner, self._credentials, self._enc = build_adapter(self._kind, new, self._settings, self._ref), new, enc
            self._generation += 1
        with self._calls_lock:
            self._retired.append(previous)  # closed by the last call in flight, never under a call still using it
        return True


def _close(adapter: Any) -> None:
    close = getattr(adapter, "close", None)
    if callable(close):
        close()
