"""POST /suppliers/<id>/webhooks: verify with the supplier's adapter, record in the inbox, ack.

Supplier events go through the same durable inbox as Shopify's (topic `supplier/event`),
so they get the same exactly-once recording, retries and dead-lettering.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import namedtuple
from typing import Mapping

from flask import Blueprint, Response, current_app, request
from sqlalchemy import bindparam, select

from integrations.suppliers.base import InvalidSupplierSignature, SupplierError, SupplierEventKind
from integrations.suppliers.printful import webhooks as printful_webhooks

from ..auth.signature_headers import NonAsciiSignatureHeader, signature_headers
from ..bounds import MAX_ID
from ..raw_statements import RawStatement, dbapi_connection
from ..web.api_schemas import IdConverter, bounded_ids
from ..webhooks.inbox import IncomingWebhook
from ..webhooks.registry import WebhookContext, handles
from .events import apply_event
from .forwarding import adapter_from_record
from .forwarding_sql import ADAPTER_COLUMNS
from .models import Supplier

log = logging.getLogger(__name__)
blueprint = Blueprint("supplier_webhooks", __name__)
bounded_ids(blueprint)  # an id beyond 64 bits is a 404, not an overflow in the lookup

SUPPLIER_EVENT_TOPIC = "supplier/event"


def signature_header_names(kind: str, adapter) -> tuple[str, ...]:
    """The request headers the kind's webhook verifier reads (integrations/suppliers/*/webhooks.py)."""
    if kind == "printful":
        return (printful_webhooks.SIGNATURE_HEADER, printful_webhooks.PUBLIC_KEY_HEADER)
    if kind == "rest":
        webhook = adapter.settings.webhook
        return (webhook.signature_header,) if webhook is not None else ()
    return ()  # no webhooks (email_po): nothing can verify, nothing is kept


_suppliers = Supplier.__table__
# A live supplier as a Core row of what adapter_from_record reads (forwarding_sql.ADAPTER_COLUMNS), built once:
# verifying a delivery and applying its events read the same row. Stock and return events work on the record.
_LIVE_SUPPLIER = select(*ADAPTER_COLUMNS).where(_suppliers.c.id == bindparam("id"), _suppliers.c.deleted_at.is_(None))
_KINDS_ON_THE_RECORD = (SupplierEventKind.STOCK_UPDATED, SupplierEventKind.OUT_OF_STOCK, SupplierEventKind.RETURN_UPDATED)


SupplierRow = namedtuple("SupplierRow", [column.key for column in ADAPTER_COLUMNS])


class LiveSupplierRead:
    """`_LIVE_SUPPLIER` run on a DBAPI connection (raw_statements: its values read by the columns' own SQLAlchemy result processors).

    What verifying a supplier's webhook needs, one read (issue 19 part C: an ORM session and
    Supplier load cost more CPU than the rest of this route). Through a Core connection the
    check-out, execution context and result cost several times what the database spent on the
    SELECT (issue 19 session 32 part W), once for every supplier webhook and every supplier event handled.
    """

    def __init__(self, dialect):
        self.statement = RawStatement(_LIVE_SUPPLIER, dialect)
        if self.statement.names != ("id",):
            raise RuntimeError("_LIVE_SUPPLIER is expected to bind its id only")

    def __call__(self, engine, supplier_id: int) -> SupplierRow | None:
        """The live supplier's row, None when there is no such supplier or it was deleted."""
        connection = engine.raw_connection()  # back to the pool on close (its reset ends what the SELECT began)
        try:
            return self.on(connection, supplier_id)
        finally:
            connection.close()

    def on(self, dbapi_connection, supplier_id: int) -> SupplierRow | None:
        """The same read on a DBAPI connection the caller holds (in its transaction, if one is open)."""
        row = self.statement.first(dbapi_connection, {"id": supplier_id})
        return SupplierRow(*row) if row is not None else None


_reads: dict[str, LiveSupplierRead] = {}


def _read_for(dialect) -> LiveSupplierRead:
    read = _reads.get(dialect.name)
    if read is None:
        read = _reads.setdefault(dialect.name, LiveSupplierRead(dialect))
    return read


def live_supplier(engine, supplier_id: int) -> SupplierRow | None:
    """The columns adapter_from_record reads of a live supplier (None: unknown or deleted)."""
    return _read_for(engine.dialect)(engine, supplier_id)


@blueprint.post("/suppliers/<id:supplier_id>/webhooks")
def receive_supplier_webhook(supplier_id: int) -> Response:
    """401 for a bad signature; otherwise recorded before the 200 (POSTs of a known length normally take WebhookIntakeMiddleware's path)."""
    services = current_app.extensions["services"]
    raw = request.get_data(cache=False)[: services.settings.webhook_max_bytes + 1]
    status, text = accept_supplier_delivery(services, supplier_id, request.headers, raw)
    return Response(text, status)


def supplier_webhook_id(path: str) -> int | None:
    """The supplier id of a `/suppliers/<id>/webhooks` path, as the route's `<id:...>` converter reads it; None for any other path."""
    match = _SUPPLIER_WEBHOOK_PATH.fullmatch(path)
    if match is None:
        return None
    supplier_id = int(match[1])
    return supplier_id if 1 <= supplier_id <= MAX_ID else None


_SUPPLIER_WEBHOOK_PATH = re.compile(rf"/suppliers/({IdConverter.regex})/webhooks")


def accept_supplier_delivery(services, supplier_id: int, headers: Mapping[str, str], raw: bytes) -> tuple[int, str]:
    """(status, answer) for one supplier webhook: 200 only once its row is committed.

    `headers`: the request's (case-insensitive, like werkzeug's); `raw`: at most webhook_max_bytes + 1 bytes of its body.
    """
    if len(raw) > services.settings.webhook_max_bytes:
        return 413, "Payload too large"
    supplier = live_supplier(services.read_session_factory.kw["bind"], supplier_id)
    if supplier is None:
        return 404, "Unknown supplier"
    try:
        adapter = adapter_from_record(supplier, services.box)
    except (SupplierError, ValueError, TypeError, KeyError) as exc:
        # A supplier whose credentials or settings are incomplete cannot verify anything:
        # the sender learns only that, the merchant sees the supplier's configuration error.
        log.warning("supplier %s webhook: adapter unavailable (%s)", supplier_id, type(exc).__name__)
        return 404, "This supplier is not set up to receive webhooks"
    shop_domain = supplier.shop_domain
    kind = supplier.kind
    # Verify with, and store, only the headers the signature needs: the inbox row must
    # never hold the sender's cookies or Authorization.
    try:
        kept = signature_headers(headers, signature_header_names(kind, adapter))
    except NonAsciiSignatureHeader:
        log.warning("supplier %s webhook with a non-ASCII signature header", supplier_id)
        return 401, "Unauthorized"
    try:
        adapter.parse_webhook(kept, raw)
    except InvalidSupplierSignature:
        log.warning("supplier %s webhook with a bad signature", supplier_id)
        return 401, "Unauthorized"
    except (SupplierError, ValueError) as exc:
        log.warning("supplier %s webhook unreadable: %s", supplier_id, type(exc).__name__)
        return 400, "Bad Request"
    except NotImplementedError:  # an email-PO supplier, or a REST one without webhook settings
        return 404, "This supplier sends no webhooks"
    # A redelivery carries the same bytes; distinct events differ somewhere in the body.
    # (Ids derived from event fields can collide: two updates of an order in one second.)
    key = hashlib.sha256(raw).hexdigest()[:40]
    body = json.dumps({"supplier_id": supplier_id, "headers": kept, "body": raw.decode("utf-8", errors="replace")})
    services.record_webhook(IncomingWebhook(webhook_id=f"supplier-{supplier_id}-{key}", shop_domain=shop_domain, topic=SUPPLIER_EVENT_TOPIC, body=body))
    services.wake_way_back_soon()  # after the commit; shared with the other supplier webhooks of the next fraction of a second
    return 200, "ok"


@handles(SUPPLIER_EVENT_TOPIC)
def supplier_event(ctx: WebhookContext) -> None:
    """Apply a recorded supplier webhook (signature checked again by the adapter)."""
    connection = ctx.session.connection()  # the write transaction's: the supplier as it stands in it
    supplier = _read_for(connection.dialect).on(dbapi_connection(connection), ctx.payload["supplier_id"])
    if supplier is None:
        return
    adapter = adapter_from_record(supplier, ctx.services.box)
    for event in adapter.parse_webhook(ctx.payload["headers"], ctx.payload["body"].encode("utf-8")):
        record = ctx.session.get(Supplier, supplier.id) if event.kind in _KINDS_ON_THE_RECORD else supplier
        apply_event(ctx.session, record, event, ctx.services, ctx.after_commit, adapter)
