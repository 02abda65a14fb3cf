"""The forwarding worker's SQL statements, built once (issue 20: building a statement cost more than running it)."""
from __future__ import annotations

from sqlalchemy import and_, bindparam, case, exists, func, insert, or_, select, update

from ..db import sql_constants
from ..orders.models import Order, OrderLine as OurLine, OrderState
from .models import DeliveryAttempt, DeliveryState, ProductMapping, Supplier, SupplierOrder, SupplierOrderLine

# Constant lists are written into the statements (sql_constants): an expanding IN is rendered at every execution.
WAITING = SupplierOrder.state.in_(sql_constants([DeliveryState.PENDING.value, DeliveryState.UNKNOWN.value, DeliveryState.CANCEL_REQUESTED.value]))

# Statements of the placing path, built once (issue 20: building a statement cost more than running it).
PLACED_OR_BEYOND = (DeliveryState.PLACED.value, DeliveryState.SHIPPED.value, DeliveryState.PARTIALLY_SHIPPED.value)
_orders = Order.__table__.c
FORWARDED = (update(Order.__table__)
             .where(_orders.id == bindparam("order"), _orders.state == OrderState.ROUTED.value,
                    exists().where(SupplierOrder.order_id == _orders.id),
                    ~exists().where(SupplierOrder.order_id == _orders.id, SupplierOrder.state.not_in(sql_constants(PLACED_OR_BEYOND))))
             .values(state=OrderState.FORWARDED.value, updated_at=bindparam("now")))


# The drain's look for due rows, its lease and the pump's "when is the next one due", built once:
# a drain with calls in flight looks several times a second.
DUE_NOW = and_(WAITING, SupplierOrder.next_attempt_at <= bindparam("now"),
               or_(SupplierOrder.lease_until.is_(None), SupplierOrder.lease_until < bindparam("now")))
DUE = (select(SupplierOrder.id, SupplierOrder.supplier_id).where(DUE_NOW)
       .order_by(SupplierOrder.next_attempt_at, SupplierOrder.id).limit(bindparam("limit")))
DUE_SKIPPING = (select(SupplierOrder.id, SupplierOrder.supplier_id).where(DUE_NOW, SupplierOrder.id.not_in(bindparam("skip", expanding=True)))
                .order_by(SupplierOrder.next_attempt_at, SupplierOrder.id).limit(bindparam("limit")))
LEASE = (update(SupplierOrder).where(SupplierOrder.id.in_(bindparam("ids", expanding=True)), DUE_NOW)
         .values(lease_owner=bindparam("owner"), lease_until=bindparam("until")).returning(SupplierOrder.id))
EARLIEST_DUE = select(func.min(SupplierOrder.next_attempt_at)).where(WAITING, SupplierOrder.lease_until.is_(None))

# The placing path's statements, built once.
_sol = SupplierOrderLine.__table__.c
_sos = SupplierOrder.__table__.c
DELIVERY_TO_SEND = (select(_sos.state, _sos.lease_owner, _sos.supplier_order_id, _sos.idempotency_key, _sos.order_id, _sos.shop_domain, _sos.supplier_id,
                           _orders.shipping_address, _orders.email, _orders.currency)
                    .join_from(SupplierOrder.__table__, Order.__table__, _orders.id == _sos.order_id).where(_sos.id == bindparam("id")))
_pm = ProductMapping.__table__.c
# The cost the merchant mapped for a line's supplier SKU at this supplier (purchase orders show unit costs),
# read with the lines (it was a statement of its own per delivery). Several mappings may give one supplier
# SKU a cost: the newest one counts.
_MAPPED_COST = (select(_pm.cost).where(_pm.shop_domain == bindparam("shop"), _pm.supplier_id == bindparam("supplier"),
                                       _pm.supplier_sku == _sol.supplier_sku, _pm.cost.is_not(None))
                .order_by(_pm.id.desc()).limit(1).correlate(SupplierOrderLine.__table__).scalar_subquery())
LINES_TO_SEND = (select(_sol.id, _sol.supplier_sku, _sol.quantity, OurLine.__table__.c.title, OurLine.__table__.c.price, OurLine.__table__.c.shopify_line_id,
                        _MAPPED_COST.label("unit_cost"))
                 .join_from(SupplierOrderLine.__table__, OurLine.__table__, OurLine.__table__.c.id == _sol.order_line_id)
                 .where(_sol.supplier_order_id == bindparam("delivery")).order_by(_sol.id))
LEASE_AND_STATE = select(_sos.lease_owner, _sos.state).where(_sos.id == bindparam("id"))
_sup = Supplier.__table__.c
# What adapter_from_record reads of a supplier, and its name: a Core row of these stands in for the ORM record
# where a read is all that is needed (forwarding, supplier webhooks); an ORM load cost more CPU than the statement.
ADAPTER_COLUMNS = (_sup.id, _sup.shop_domain, _sup.name, _sup.kind, _sup.credentials_enc, _sup.settings)
SUPPLIER_TO_SEND = select(*ADAPTER_COLUMNS, _sup.active, _sup.deleted_at).where(_sup.id == bindparam("id"))
RELEASE_LEASE = update(SupplierOrder.__table__).where(_sos.id == bindparam("delivery")).values(lease_owner=None, lease_until=None)
SENDING = (update(SupplierOrder.__table__).where(_sos.id == bindparam("delivery"))
           .values(state=DeliveryState.UNKNOWN.value, attempts=_sos.attempts + 1, sent_address_digest=bindparam("digest")).returning(_sos.attempts))
SENT_QUANTITY = update(SupplierOrderLine.__table__).where(_sol.id == bindparam("line")).values(sent_quantity=bindparam("sent"))
ASK_FIRST = (DeliveryState.UNKNOWN.value, DeliveryState.CANCEL_REQUESTED.value)  # states whose supplier is asked before anything is sent
POSTPONED = (update(SupplierOrder.__table__).where(_sos.id == bindparam("delivery"))
             .values(state=DeliveryState.ON_HOLD.value, lease_owner=None, lease_until=None))
PLACED_FROM = (DeliveryState.PENDING.value, DeliveryState.UNKNOWN.value, DeliveryState.ON_HOLD.value)
PLACED = (update(SupplierOrder.__table__).where(_sos.id == bindparam("delivery"))
          .values(state=case((_sos.state.in_(sql_constants(PLACED_FROM)), DeliveryState.PLACED.value), else_=_sos.state),
                  next_attempt_at=case((_sos.state == DeliveryState.CANCEL_REQUESTED.value, bindparam("now")), else_=_sos.next_attempt_at),
                  supplier_order_id=bindparam("b_supplier_order_id"), supplier_status=bindparam("b_status"), cost=bindparam("b_cost"),
                  placed_at=bindparam("now"), last_error=None, lease_owner=None, lease_until=None))
PLACED_UNLESS_HELD = PLACED.where(_sos.state != DeliveryState.ON_HOLD.value)
INSERT_ATTEMPT = insert(DeliveryAttempt.__table__)
