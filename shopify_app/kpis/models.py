"""KPI snapshots: one row per shop per closed UTC day with that day's KPI facts, digested."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Date, Index, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, BigId, UTCDateTime, utcnow


class KpiSnapshot(Base):
    """A shop's KPI facts of one UTC day, digested per fact family (kpis/snapshots.py), so views over past days read one row per day."""

    __tablename__ = "kpi_snapshots"
    __table_args__ = (UniqueConstraint("shop_domain", "day", name="uq_kpi_snapshots_shop_day"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    day: Mapped[dt.date] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer)  # snapshots of an older digest format are recomputed
    digests: Mapped[dict] = mapped_column(JSON)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReturnAnalyticsSnapshot(Base):
    """returns.analytics' all-time figures of a shop, as the kpi-snapshots job last computed them (it reads every order line)."""

    __tablename__ = "return_analytics_snapshots"
    __table_args__ = (UniqueConstraint("shop_domain", name="uq_return_analytics_snapshots_shop_domain"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    analytics: Mapped[dict] = mapped_column(JSON)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class StateCount(Base):
    """A signed count of a shop's orders or supplier orders in one state; the pipeline's figure is the sum of its rows (kpis/state_counts.py).

    Rows are only inserted on the hot path (by database triggers on every insert, state change
    and delete, migration 0032), never updated: no writer waits on another's counter row. The
    state-counts job folds them into one row per (shop, kind, state) each minute.
    """

    __tablename__ = "state_counts"
    __table_args__ = (Index("ix_state_counts_shop", "shop_domain", "kind", "state", "delta"),)  # covering: the pipeline reads only this index

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))  # "order" | "delivery"
    state: Mapped[str] = mapped_column(String(32))
    delta: Mapped[int] = mapped_column(BigInteger)


# Indexes the KPI reads need once a shop has a million orders: a day's facts (the snapshot job,
# and today on every view) and the dashboard's pipeline counts must not scan the shop's history.
# Declared here, beside the reads that need them (migration 0030); they attach to their tables.
def _kpi_indexes() -> tuple[Index, ...]:
    from ..orders.models import Order, OrderEvent
    from ..suppliers.models import SupplierOrder

    return (
        Index("ix_orders_shop_order_time", Order.shop_domain, func.coalesce(Order.shopify_created_at, Order.created_at)),  # compute.ORDER_TIME
        Index("ix_orders_shop_state", Order.shop_domain, Order.state),
        Index("ix_supplier_orders_shop_placed", SupplierOrder.shop_domain, SupplierOrder.placed_at),
        Index("ix_supplier_orders_shop_state", SupplierOrder.shop_domain, SupplierOrder.state),
        Index("ix_order_events_kind_created", OrderEvent.kind, OrderEvent.created_at),
    )


KPI_INDEXES = _kpi_indexes()


class KpiStaleDay(Base):
    """A closed UTC day whose satisfaction figures changed after its snapshot (a changed answer, a late click): read live until re-digested.

    Written in the changing transaction (kpis/stale_days.py); only inserted, so writers never
    wait on each other; the kpi-snapshots job deletes exactly the marks it read before re-digesting.
    """

    __tablename__ = "kpi_stale_days"
    __table_args__ = (Index("ix_kpi_stale_days_shop_day", "shop_domain", "day"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255))
    day: Mapped[dt.date] = mapped_column(Date)
