"""Customer and shop personal data: where we hold it, how to export it, how to erase it.

Each part of the app that stores personal data registers a CustomerDataSource (and a
shop eraser), so the compliance handlers stay complete as the app grows.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from .models import ComplianceExport, OAuthState, Shop, WebhookDelivery

REDACTED = "[redacted]"
# Keys whose values identify a person wherever they appear in a Shopify payload.
PERSONAL_KEYS = frozenset(
    {
        "email", "contact_email", "phone", "first_name", "last_name", "name", "company",
        "address1", "address2", "city", "zip", "province", "province_code", "latitude",
        "longitude", "browser_ip", "note", "customer_locale", "accepts_marketing",
    }
)
# Sub-objects that are about the person as a whole: every value inside is scrubbed.
PERSONAL_OBJECTS = frozenset(
    {"customer", "billing_address", "shipping_address", "default_address", "addresses", "client_details", "destination"}
)


@dataclass(frozen=True)
class CustomerRef:
    """Who a compliance request is about, as Shopify names them."""

    shop_domain: str
    customer_id: str | None
    email: str | None
    phone: str | None
    order_ids: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class CustomerDataSource:
    """One store of personal data: export(session, ref) -> data, redact(session, ref) -> rows changed."""

    name: str
    export: Callable[[Session, CustomerRef], Any]
    redact: Callable[[Session, CustomerRef], int]


CUSTOMER_DATA_SOURCES: list[CustomerDataSource] = []
# An eraser gets (session, shop_domain, keep_delivery_id): the shop/redact delivery
# being handled stays as the record of the request (its payload holds no personal data).
SHOP_ERASERS: list[tuple[str, Callable[[Session, str, int | None], int]]] = []


def customer_data_source(source: CustomerDataSource) -> CustomerDataSource:
    """Register a place that holds customer data."""
    CUSTOMER_DATA_SOURCES[:] = [s for s in CUSTOMER_DATA_SOURCES if s.name != source.name] + [source]
    return source


def shop_eraser(name: str) -> Callable:
    """Register a function that deletes all of one shop's rows in some tables."""

    def register(fn: Callable[[Session, str, int | None], int]):
        SHOP_ERASERS[:] = [(n, f) for n, f in SHOP_ERASERS if n != name] + [(name, fn)]
        return fn

    return register


def gid_number(value: Any) -> str | None:
    """'gid://shopify/Customer/12' or 12 -> '12' (ids stay exact: never through a float)."""
    if value is None:
        return None
    text = str(value)
    return text.rsplit("/", 1)[-1] if text.startswith("gid://") else text


def scrub(value: Any, inside_personal: bool = False) -> Any:
    """A copy of a payload with personal values replaced; ids and amounts are kept."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            personal_obj = inside_personal or key in PERSONAL_OBJECTS
            if key in PERSONAL_KEYS and not isinstance(item, (dict, list)) and item is not None:
                out[key] = REDACTED
            elif personal_obj and isinstance(item, str) and key not in ("id", "admin_graphql_api_id"):
                out[key] = REDACTED
            else:
                out[key] = scrub(item, personal_obj)
        return out
    if isinstance(value, list):
        return [scrub(item, inside_personal) for item in value]
    return value


def payload_mentions(payload: Any, ref: CustomerRef) -> bool:
    """Whether a webhook payload is about this customer (their id, email, phone or orders)."""
    if not isinstance(payload, dict):
        return False
    customer = payload.get("customer") if isinstance(payload.get("customer"), dict) else {}
    ids = {gid_number(customer.get("id")), gid_number(customer.get("admin_graphql_api_id"))}
    if ref.customer_id and ref.customer_id in ids:
        return True
    emails = {payload.get("email"), payload.get("contact_email"), customer.get("email")}
    if ref.email and ref.email.lower() in {e.lower() for e in emails if isinstance(e, str)}:
        return True
    phones = {payload.get("phone"), customer.get("phone")}
    if ref.phone and ref.phone in phones:
        return True
    order_ids = {gid_number(payload.get("id")), gid_number(payload.get("admin_graphql_api_id")), gid_number(payload.get("order_id"))}
    return bool(ref.order_ids & {i for i in order_ids if i})


def _inbox_rows_for(session: Session, ref: CustomerRef):
    rows = session.scalars(
        select(WebhookDelivery).where(
            WebhookDelivery.shop_domain == ref.shop_domain,
            WebhookDelivery.topic.not_in(("customers/data_request", "customers/redact", "shop/redact")),
        )
    )
    for row in rows:
        try:
            payload = json.loads(row.body)
        except ValueError:
            continue
        if payload_mentions(payload, ref):
            yield row, payload


def _export_inbox(session: Session, ref: CustomerRef) -> list[dict]:
    return [
        {"topic": row.topic, "received_at": row.received_at.isoformat(), "payload": payload}
        for row, payload in _inbox_rows_for(session, ref)
    ]


def _redact_inbox(session: Session, ref: CustomerRef) -> int:
    count = 0
    for row, payload in list(_inbox_rows_for(session, ref)):
        row.body = json.dumps(scrub(payload))
        count += 1
    return count


customer_data_source(CustomerDataSource("webhook_inbox", _export_inbox, _redact_inbox))


def _export_exports(session: Session, ref: CustomerRef) -> list:
    return []  # an export is *of* the data; it is not itself re-exported


def _redact_exports(session: Session, ref: CustomerRef) -> int:
    if not ref.customer_id:
        return 0
    result = session.execute(
        delete(ComplianceExport).where(
            ComplianceExport.shop_domain == ref.shop_domain, ComplianceExport.customer_id == ref.customer_id
        )
    )
    return result.rowcount


customer_data_source(CustomerDataSource("compliance_exports", _export_exports, _redact_exports))


def export_customer(session: Session, ref: CustomerRef) -> dict:
    """Everything we hold on the customer, by source."""
    return {source.name: source.export(session, ref) for source in CUSTOMER_DATA_SOURCES}


def redact_customer(session: Session, ref: CustomerRef) -> dict[str, int]:
    """Erase the customer's personal data everywhere; returns rows changed per source."""
    return {source.name: source.redact(session, ref) for source in CUSTOMER_DATA_SOURCES}


@shop_eraser("core")
def _erase_core(session: Session, shop_domain: str, keep_delivery_id: int | None) -> int:
    count = session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.shop_domain == shop_domain, WebhookDelivery.id != (keep_delivery_id or -1)
        )
    ).rowcount
    for model, column in (
        (ComplianceExport, ComplianceExport.shop_domain),
        (OAuthState, OAuthState.shop_domain),
    ):
        count += session.execute(delete(model).where(column == shop_domain)).rowcount
    shop = session.scalar(select(Shop).where(Shop.domain == shop_domain))
    if shop is not None:
        session.delete(shop)  # cascades to its token
        count += 1
    return count


def erase_shop(session: Session, shop_domain: str, keep_delivery_id: int | None = None) -> dict[str, int]:
    """Delete everything we hold for a shop; returns rows deleted per eraser."""
    return {name: fn(session, shop_domain, keep_delivery_id) for name, fn in SHOP_ERASERS}
