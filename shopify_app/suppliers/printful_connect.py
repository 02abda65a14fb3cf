"""Keeping a Printful connection alive: webhook registration with Printful, its renewal, and refreshed OAuth tokens.

On connect (in the background, right after the supplier is created), by the
`printful-connections` job (every 15 minutes: it also catches a connection whose first
registration failed) and on demand (POST /api/suppliers/<id>/printful-webhooks):
  - `POST /v2/webhooks` points the store's webhooks at /suppliers/<id>/webhooks with an
    expiry (WEBHOOK_LIFETIME), so a forgotten connection stops sending personal data on its
    own; the answer's secret and public keys are stored, encrypted, in the supplier's
    credentials (`webhook_secret_key`, `webhook_public_key`, `webhook_expires_at`), and
    from then on every webhook is verified with them;
  - the job registers again when the expiry is near (RENEW_BEFORE), when the registration
    never happened or failed, or when Printful's configuration is no longer ours (Printful
    keeps one configuration per token: another app or a dashboard change replaces it);
  - OAuth connections whose access token expires soon are refreshed, and every refreshed
    token is stored encrypted (the adapter also refreshes on demand, through
    `save_refreshed_credentials`).
No network call is made inside a database transaction: read, call, then write.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from sqlalchemy import select

from integrations.suppliers.base import SupplierError
from integrations.suppliers.runtime import SupplierRef

from ..alerts import alert_job_failure, raise_alert, resolve_alert
from ..models import Shop, ShopStatus
from .credentials import CredentialStore
from .forwarding import adapter_from_record
from .models import Supplier

log = logging.getLogger(__name__)

WEBHOOK_LIFETIME = dt.timedelta(days=30)
RENEW_BEFORE = dt.timedelta(days=7)
TOKEN_REFRESH_AHEAD = dt.timedelta(hours=1)  # longer than the job's interval: no token expires between runs


def webhook_url(services, supplier_id: int) -> str:
    """Where Printful sends this supplier's events (our receiver, per supplier)."""
    return f"{services.settings.app_url}/suppliers/{supplier_id}/webhooks"


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _alert_key(supplier_id: int) -> str:
    return f"printful_webhooks:{supplier_id}"


CAS_ATTEMPTS = 5


def _update_credentials(services, supplier_id: int, shop_domain: str, changes: dict[str, Any], action: str,
                        replaced_refresh_token: str | None = None) -> None:
    """Merge `changes` over the supplier's CURRENT credentials by compare-and-swap, audited as `action` (system).

    With `replaced_refresh_token`: written only while the record still holds that refresh token (a merchant's
    new credentials, or a refresh stored by another process, win).
    """
    store = CredentialStore(services.session_factory, services.box)
    ref = SupplierRef(shop_domain, supplier_id)
    for _ in range(CAS_ATTEMPTS):  # a change that lands between the read and the swap: read again and merge again
        with services.read_session_factory() as session:
            current_enc = session.scalar(select(Supplier.credentials_enc).where(Supplier.id == supplier_id, Supplier.shop_domain == shop_domain))
        current = json.loads(services.box.decrypt(current_enc)) if current_enc else {}
        if replaced_refresh_token is not None and current.get("refresh_token") != replaced_refresh_token:
            return
        new = {**current, **changes}
        if current_enc is None or store.swap(ref, current_enc, new, current, action=action)[1] is new:
            return
    log.warning("credentials of supplier %s changed %s times while storing %s; not stored", supplier_id, CAS_ATTEMPTS, action)


def register_webhooks(services, supplier_id: int) -> dict[str, Any]:
    """Register (or renew) this Printful supplier's webhooks with Printful; stores the keys; returns {registered, expires_at}."""
    with services.read_session_factory() as session:
        supplier = session.get(Supplier, supplier_id)
        if supplier is None or supplier.kind != "printful" or supplier.deleted_at is not None:
            raise LookupError(f"no Printful supplier {supplier_id}")
        shop_domain, name = supplier.shop_domain, supplier.name
        adapter = adapter_from_record(supplier, services.box)
    expires_at = _iso(dt.datetime.now(dt.timezone.utc) + WEBHOOK_LIFETIME)
    try:
        result = adapter.register_webhooks(webhook_url(services, supplier_id), expires_at=expires_at)  # no transaction open
    except SupplierError as exc:
        with services.session_factory.begin() as session:
            raise_alert(session, shop_domain, "printful_webhooks", _alert_key(supplier_id),
                        f"{name}: Printful webhooks could not be registered ({exc}); shipments arrive by polling until the next attempt.",
                        severity="warning", subject=name)
        return {"registered": False, "error": str(exc)}
    _update_credentials(services, supplier_id, shop_domain, {
        "webhook_secret_key": result["secret_key"], "webhook_public_key": result.get("public_key"),
        "webhook_expires_at": result.get("expires_at") or expires_at,
    }, "webhooks_registered")
    with services.session_factory.begin() as session:
        resolve_alert(session, _alert_key(supplier_id))
    return {"registered": True, "expires_at": result.get("expires_at") or expires_at}


def register_webhooks_soon(services, supplier_id: int) -> None:
    """On connect: register in the background now (the embedded scheduler); without one, the job does it within minutes."""
    def run() -> None:
        if maintain_needed(services, supplier_id):
            register_webhooks(services, supplier_id)

    services.scheduler.soon(f"printful-connect:{supplier_id}", run)


def maintain_needed(services, supplier_id: int) -> bool:
    """Whether the supplier still wants its webhooks registered (not deleted, not opted out)."""
    with services.read_session_factory() as session:
        supplier = session.get(Supplier, supplier_id)
        return supplier is not None and supplier.deleted_at is None and (supplier.settings or {}).get("register_webhooks", True)


def save_refreshed_credentials(services):
    """The credentials writer for refreshed OAuth tokens (installed by build_services)."""
    def write(owner: SupplierRef, tokens: dict[str, Any], replaced_refresh_token: str) -> None:
        _update_credentials(services, owner.supplier_id, owner.shop_domain, tokens, "credentials_refreshed", replaced_refresh_token)
    return write


def _needs_registration(adapter, credentials: dict[str, Any], now: dt.datetime, url: str) -> bool:
    expires_at = _parse_iso(credentials.get("webhook_expires_at"))
    if not credentials.get("webhook_secret_key") or expires_at is None or expires_at - now < RENEW_BEFORE:
        return True
    current = adapter.webhook_configuration()  # still ours? (one configuration per token at Printful)
    return current.get("default_url") != url or (credentials.get("webhook_public_key") not in (None, current.get("public_key")))


def maintain_printful_connections(services, limit: int = 200) -> int:
    """The job: renew webhook registrations that expire soon or are no longer ours, refresh expiring OAuth tokens; returns suppliers checked."""
    with services.read_session_factory() as session:
        rows = session.execute(
            select(Supplier.id, Supplier.shop_domain, Supplier.name, Supplier.credentials_enc, Supplier.settings)
            .join(Shop, Shop.domain == Supplier.shop_domain)
            .where(Supplier.kind == "printful", Supplier.deleted_at.is_(None), Supplier.active.is_(True), Shop.status == ShopStatus.INSTALLED.value)
            .order_by(Supplier.id).limit(limit)
        ).all()
    now = dt.datetime.now(dt.timezone.utc)
    for supplier_id, shop_domain, name, credentials_enc, settings in rows:
        try:
            credentials = json.loads(services.box.decrypt(credentials_enc)) if credentials_enc else {}
            with services.read_session_factory() as session:
                supplier = session.get(Supplier, supplier_id)
                if supplier is None:  # deleted since the list was read
                    continue
                adapter = adapter_from_record(supplier, services.box)
            oauth = adapter.oauth
            if oauth is not None and (oauth.expires_at() or float("inf")) - now.timestamp() < TOKEN_REFRESH_AHEAD.total_seconds():
                oauth.refresh()  # stored through save_refreshed_credentials
            if (settings or {}).get("register_webhooks", True) and _needs_registration(adapter, credentials, now, webhook_url(services, supplier_id)):
                register_webhooks(services, supplier_id)
        except SupplierError as exc:
            log.warning("printful connection check for supplier %s failed: %s", supplier_id, type(exc).__name__)
        except Exception as exc:  # noqa: BLE001 - one shop's broken supplier must not stop the others
            alert_job_failure(services.session_factory, "printful-connections", shop_domain, exc, unit=f"supplier:{supplier_id}", subject=name)
    return len(rows)
