"""Planning levels: supply less pending orders, several suppliers per level, releasing levels no one feeds."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from inventory_kit import SHOP, add_supplier, session_factory_for
from integrations.suppliers.base import StockLevel
from shopify_app.db import read_only
from shopify_app.inventory.feeds import apply_feed
from shopify_app.inventory.models import CatalogVariant, InventoryLevel
from shopify_app.inventory.plan import NOT_STOCKED_MESSAGE, pending_units, plan_levels
from shopify_app.orders.models import Order, OrderLine
from shopify_app.suppliers.models import DeliveryState, ProductMapping, Supplier, SupplierOrder, SupplierOrderLine

LOC_A, LOC_B = "gid://shopify/Location/1", "gid://shopify/Location/2"
NOW = dt.datetime.now(dt.timezone.utc)


def _catalog(factory, skus, locations=(LOC_A,)):
    with factory.begin() as session:
        for n, sku in enumerate(skus, start=1):
            item = f"gid://shopify/InventoryItem/{100 + n}"
            session.add(CatalogVariant(shop_domain=SHOP, variant_gid=f"gid://shopify/ProductVariant/{n}", sku=sku, inventory_item_gid=item, tracked=True))
            for location in locations:
                session.add(InventoryLevel(shop_domain=SHOP, inventory_item_gid=item, location_gid=location, available=0))


def _feed(factory, supplier_id, levels, as_of=None):
    with factory.begin() as session:
        apply_feed(session, session.get(Supplier, supplier_id), levels, source="file", full=False, as_of=as_of)


def _order(factory, supplier_id, sku, quantity, *, state=DeliveryState.PLACED.value, placed_at=NOW, number=1):
    with factory.begin() as session:
        order = Order(shop_domain=SHOP, shopify_id=str(number), name=f"#{number}")
        line = OrderLine(shopify_line_id=str(number), sku=sku, quantity=quantity)
        order.lines.append(line)
        session.add(order)
        session.flush()
        delivery = SupplierOrder(shop_domain=SHOP, order_id=order.id, supplier_id=supplier_id, idempotency_key=f"k{number}", state=state, placed_at=placed_at)
        delivery.lines.append(SupplierOrderLine(order_line_id=line.id, supplier_sku=sku, quantity=quantity))
        session.add(delivery)


def _levels(factory) -> dict[tuple[str, str], InventoryLevel]:
    with factory() as session:
        rows = session.scalars(select(InventoryLevel)).all()
        return {(r.inventory_item_gid.rsplit("/", 1)[-1], r.location_gid): r for r in rows}


def _plan(factory):
    return plan_levels(factory, read_only(factory), SHOP)


@pytest.fixture
def factory(database_url):
    return session_factory_for(database_url)


def test_desired_is_supply_less_buffer_less_orders_placed_after_the_feed(factory) -> None:
    supplier_id = add_supplier(factory, ["MUG"], terms={"safety_buffer": 2}, location_gid=LOC_A)
    _catalog(factory, ["MUG"])
    _feed(factory, supplier_id, [StockLevel("MUG", True, 10)], as_of=NOW - dt.timedelta(minutes=5))
    _order(factory, supplier_id, "MUG", 3, number=1)  # placed after the feed: not in it
    _order(factory, supplier_id, "MUG", 4, number=2, placed_at=NOW - dt.timedelta(hours=1))  # before: already counted by the supplier
    _order(factory, supplier_id, "MUG", 5, number=3, state=DeliveryState.CANCELLED.value)
    _order(factory, supplier_id, "MUG", 1, number=4, state=DeliveryState.PENDING.value, placed_at=None)  # not placed yet
    stats = _plan(factory)
    level = _levels(factory)[("101", LOC_A)]
    assert (level.supply, level.desired) == (8, 4)
    assert stats.levels_changed == 1
    assert _plan(factory).levels_changed == 0  # nothing new: nothing written


def test_a_burst_of_orders_never_takes_desired_below_zero(factory) -> None:
    supplier_id = add_supplier(factory, ["MUG"], location_gid=LOC_A)
    _catalog(factory, ["MUG"])
    _feed(factory, supplier_id, [StockLevel("MUG", True, 3)], as_of=NOW - dt.timedelta(minutes=1))
    for n in range(1, 6):
        _order(factory, supplier_id, "MUG", 1, number=n)
    _plan(factory)
    assert _levels(factory)[("101", LOC_A)].desired == 0
    with factory() as session:
        mapping_id = session.scalar(select(ProductMapping.id))
        assert pending_units(session, SHOP) == {mapping_id: 5}


def test_a_new_feed_absorbs_the_orders_it_reflects(factory) -> None:
    supplier_id = add_supplier(factory, ["MUG"], location_gid=LOC_A)
    _catalog(factory, ["MUG"])
    _feed(factory, supplier_id, [StockLevel("MUG", True, 10)], as_of=NOW - dt.timedelta(minutes=10))
    _order(factory, supplier_id, "MUG", 2, placed_at=NOW - dt.timedelta(minutes=5))
    _plan(factory)
    assert _levels(factory)[("101", LOC_A)].desired == 8
    _feed(factory, supplier_id, [StockLevel("MUG", True, 8)], as_of=NOW)  # the supplier now counts them
    _plan(factory)
    assert _levels(factory)[("101", LOC_A)].desired == 8


def test_two_suppliers_at_one_location_add_up_and_two_locations_stay_apart(factory) -> None:
    first = add_supplier(factory, ["TEE"], name="First", location_gid=LOC_A)
    second = add_supplier(factory, ["TEE"], name="Second", location_gid=LOC_A, terms={"safety_buffer": 1})
    third = add_supplier(factory, ["TEE"], name="Third", location_gid=LOC_B)
    _catalog(factory, ["TEE"], locations=(LOC_A, LOC_B))
    _feed(factory, first, [StockLevel("TEE", True, 4)])
    _feed(factory, second, [StockLevel("TEE", True, 6)])
    _feed(factory, third, [StockLevel("TEE", False, 0)])
    _plan(factory)
    levels = _levels(factory)
    assert levels[("101", LOC_A)].desired == 9
    assert levels[("101", LOC_B)].desired == 0


def test_a_per_product_buffer_overrides_the_suppliers(factory) -> None:
    supplier_id = add_supplier(factory, ["MUG", "TEE"], terms={"safety_buffer": 5}, location_gid=LOC_A)
    with factory.begin() as session:
        session.scalars(select(ProductMapping).where(ProductMapping.sku == "TEE")).one().safety_buffer = 0
    _catalog(factory, ["MUG", "TEE"])
    _feed(factory, supplier_id, [StockLevel("MUG", True, 6), StockLevel("TEE", True, 6)])
    _plan(factory)
    levels = _levels(factory)
    assert (levels[("101", LOC_A)].desired, levels[("102", LOC_A)].desired) == (1, 6)


def test_skus_without_a_feed_are_not_managed_and_unstocked_levels_are_flagged(factory) -> None:
    supplier_id = add_supplier(factory, ["MUG", "TEE"], location_gid=LOC_B)
    _catalog(factory, ["MUG", "TEE"], locations=(LOC_A,))  # Shopify stocks neither at LOC_B
    _feed(factory, supplier_id, [StockLevel("MUG", True, 3)])
    stats = _plan(factory)
    levels = _levels(factory)
    assert stats.levels_added == 1
    assert levels[("101", LOC_B)].stocked is False and levels[("101", LOC_B)].last_error == NOT_STOCKED_MESSAGE
    assert ("102", LOC_B) not in levels  # TEE has no stock figure yet


def test_levels_are_released_when_their_supplier_stops(factory) -> None:
    supplier_id = add_supplier(factory, ["MUG"], location_gid=LOC_A)
    _catalog(factory, ["MUG"])
    _feed(factory, supplier_id, [StockLevel("MUG", True, 3)])
    _plan(factory)
    with factory.begin() as session:
        session.get(Supplier, supplier_id).active = False
    stats = _plan(factory)
    assert stats.levels_released == 1
    assert _levels(factory)[("101", LOC_A)].desired is None


def test_a_level_is_released_when_its_supplier_moves_to_another_location(factory) -> None:
    """Only a supplier AT the level's location feeds it (its query once matched any level at the supplier's location)."""
    supplier_id = add_supplier(factory, ["MUG"], location_gid=LOC_A)
    _catalog(factory, ["MUG"], locations=(LOC_A, LOC_B))
    _feed(factory, supplier_id, [StockLevel("MUG", True, 3)])
    _plan(factory)
    assert _levels(factory)[("101", LOC_A)].desired is not None
    with factory.begin() as session:
        session.get(Supplier, supplier_id).location_gid = LOC_B
    stats = _plan(factory)
    levels = _levels(factory)
    assert levels[("101", LOC_A)].desired is None and stats.levels_released == 1
    assert levels[("101", LOC_B)].desired is not None
