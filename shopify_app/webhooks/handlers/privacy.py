"""The mandatory compliance topics: customers/data_request, customers/redact, shop/redact."""
from __future__ import annotations

import logging

from ...models import ComplianceExport, ComplianceLog
from ...privacy import CustomerRef, customer_footprint, erase_shop, export_customer, forget_request_bodies, gid_number, redact_customer
from ...orders import privacy as _orders_privacy  # noqa: F401 - registers order data
from ...returns import privacy as _returns_privacy  # noqa: F401 - registers return notes
from ...cases import privacy as _cases_privacy  # noqa: F401 - registers case messages and photos (issue 17 part P)
from ...notify import privacy as _notify_privacy  # noqa: F401 - registers notices, follow-up answers, unsubscribes (issue 17 part N)
from ...suppliers import po_batch_privacy as _po_batch_privacy  # noqa: F401 - registers POs waiting for their batch (issue 15)
from ..registry import WebhookContext, handles

log = logging.getLogger(__name__)


def _customer_ref(ctx: WebhookContext) -> CustomerRef:
    customer = ctx.payload.get("customer") or {}
    orders = ctx.payload.get("orders_requested") or ctx.payload.get("orders_to_redact") or []
    return CustomerRef(
        shop_domain=ctx.shop_domain,
        customer_id=gid_number(customer.get("id")),
        email=customer.get("email"),
        phone=customer.get("phone"),
        order_ids=frozenset(filter(None, (gid_number(o) for o in orders))),
    )


@handles("customers/data_request")
def customer_data_request(ctx: WebhookContext) -> None:
    """Assemble everything we hold on the customer into an export the merchant can send; the request keeps no email or phone."""
    ref = _customer_ref(ctx)
    footprint = customer_footprint(ctx.session, ref)  # once: the export and the request bodies' redaction share it
    export = export_customer(ctx.session, ref, ctx.settings, footprint)
    request_id = (ctx.payload.get("data_request") or {}).get("id")
    ctx.session.add(
        ComplianceExport(
            shop_domain=ctx.shop_domain,
            customer_id=ref.customer_id,
            data_request_id=str(request_id) if request_id is not None else None,
            export={"customer_id": ref.customer_id, "shop": ctx.shop_domain, **export},
        )
    )
    forget_request_bodies(ctx.session, ref, footprint)
    counts = {
        "sources": {name: len(items) for name, items in export["sources"].items()},
        "tables": {name: len(rows) for name, rows in export["tables"].items()},
        "files": len(export["files"]),
    }
    ctx.session.add(ComplianceLog(shop_domain=ctx.shop_domain, action="data_request", subject=ref.customer_id, detail=counts))
    log.info("data request for shop=%s exported %s", ctx.shop_domain, counts)


@handles("customers/redact")
def customer_redact(ctx: WebhookContext) -> None:
    """Erase the customer's personal data from everything we store, this request's body included."""
    ref = _customer_ref(ctx)
    counts = redact_customer(ctx.session, ref, ctx.settings)
    ctx.session.add(ComplianceLog(shop_domain=ctx.shop_domain, action="customer_redact", subject=ref.customer_id, detail=counts))
    log.info("customer redact for shop=%s changed %s", ctx.shop_domain, counts)


@handles("shop/redact")
def shop_redact(ctx: WebhookContext) -> None:
    """Erase all of the shop's data, rows and files (sent 48 hours after uninstall); the request stays as the record."""
    counts = erase_shop(ctx.session, ctx.shop_domain, keep_delivery_id=ctx.delivery_id, settings=ctx.settings)
    ctx.session.add(ComplianceLog(shop_domain=ctx.shop_domain, action="shop_redact", detail=counts))
    log.info("shop redact for shop=%s deleted %s", ctx.shop_domain, counts)
