"""The contract every supplier adapter passes, against a fake of its supplier that a controller drives.

To put an adapter under contract, subclass `SupplierContract` in a `test_*.py` module and
give the class a `supplier` fixture yielding `(adapter, controller)`:

    class TestAcmeContract(SupplierContract):
        @pytest.fixture
        def supplier(self, acme_sandbox):
            adapter = AcmeAdapter(base_url=acme_sandbox.base_url, timeout=0.75)
            yield adapter, AcmeController(acme_sandbox)

The adapter must be built with a short read timeout, and `time_out_next_request` must hold
its answer longer than that. The controller implements `SupplierController` below: a small
set of things a test needs to make the supplier do. An adapter whose supplier sends no
webhooks sets `supports_webhooks = False` on its controller and those cases are skipped.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Mapping, Protocol

import pytest

from integrations.suppliers.base import (
    Address,
    Amendment,
    AmendmentRefused,
    CancellationRefused,
    InvalidSupplierSignature,
    OrderLine,
    OutcomeUnknown,
    PermanentSupplierError,
    PlaceOrder,
    SupplierAdapter,
    SupplierEvent,
    SupplierEventKind,
    SupplierOrderNotFound,
    SupplierOrderStatus,
    TransientSupplierError,
)

PLACED = {SupplierOrderStatus.PENDING, SupplierOrderStatus.ACKNOWLEDGED}
LINE_A, LINE_B = "line-a", "line-b"


@dataclass(frozen=True)
class WebhookMessage:
    """One webhook as our endpoint received it: headers and raw body."""

    headers: Mapping[str, str]
    body: bytes


class SupplierController(Protocol):
    """Drives the fake supplier behind an adapter. Keep it this small."""

    in_stock_skus: tuple[str, str]  # two SKUs the supplier has in stock
    out_of_stock_sku: str  # a SKU it knows but has none of
    unknown_sku: str  # a SKU it has never heard of
    supports_webhooks: bool
    # Optional: `ships_partially = False` for suppliers that ship whole orders only (CJ: one parcel per order).
    # False for a supplier whose API refuses to cancel a confirmed order (Printful v2 deletes only
    # drafts): cancelling a placed order must then be CancellationRefused saying what to do instead.
    cancels_placed_orders: bool = True

    def ship(self, supplier_order_id: str, lines: Mapping[str, int] | None = None) -> None:
        """Ship {line_ref: quantity} of the order (None: everything not shipped yet)."""

    def set_stock(self, supplier_sku: str, in_stock: bool) -> None:
        """Put a SKU in or out of stock."""

    def fail_next_request(self, status: int = 503, retry_after: float | None = None) -> None:
        """Refuse the next request with `status` (and Retry-After) without processing it."""

    def time_out_next_request(self) -> None:
        """Process the next request, then answer only after the adapter's read timeout."""

    def garble_next_response(self) -> None:
        """Process the next request, then answer 200 with a body that is not the API's."""

    def orders_created(self, external_id: str) -> int:
        """How many supplier orders exist for this external_id."""

    def fail_order(self, supplier_order_id: str, reason: str) -> None:
        """The supplier gives up on the order (and tells us, if it sends webhooks)."""

    def supplier_has(self, supplier_order_id: str) -> tuple[dict[str, int], str]:
        """What the supplier holds (or was last told): ({line_ref: quantity}, ship-to city)."""

    def start_production(self, supplier_order_id: str) -> None:
        """The order goes past the point where the supplier takes changes (production, or a first parcel)."""

    def take_webhooks(self) -> list[WebhookMessage]:
        """Webhooks sent since the last call (waits for pending deliveries)."""


def new_external_id() -> str:
    """A fresh idempotency key."""
    return f"contract-{uuid.uuid4().hex[:16]}"


def order_request(controller: SupplierController, external_id: str | None = None, *, quantity_a: int = 2, quantity_b: int = 1) -> PlaceOrder:
    """Two lines of in-stock SKUs to a plain address."""
    sku_a, sku_b = controller.in_stock_skus
    return PlaceOrder(
        external_id=external_id or new_external_id(),
        shipping_address=Address(name="Ada Lovelace", address1="12 Analytical Way", city="London", country_code="GB", zip="N1 9GU"),
        lines=(
            OrderLine(line_ref=LINE_A, supplier_sku=sku_a, quantity=quantity_a, name="Line A", retail_price="19.00"),
            OrderLine(line_ref=LINE_B, supplier_sku=sku_b, quantity=quantity_b, name="Line B", retail_price="12.00"),
        ),
    )


def change_request(controller: SupplierController, external_id: str, *, quantity_a: int, quantity_b: int, city: str | None, number: int = 1) -> Amendment:
    """The two lines of order_request() at new quantities (0: removed), and a new city (None: address unchanged)."""
    sku_a, sku_b = controller.in_stock_skus
    address = Address(name="Ada Lovelace", address1="1 Difference Row", city=city, country_code="GB", zip="LS1 1AA") if city else None
    return Amendment(
        reference=f"{external_id}-A{number}",
        lines=(OrderLine(line_ref=LINE_A, supplier_sku=sku_a, quantity=quantity_a, name="Line A", retail_price="19.00"),
               OrderLine(line_ref=LINE_B, supplier_sku=sku_b, quantity=quantity_b, name="Line B", retail_price="12.00")),
        shipping_address=address,
        changes=(f"{sku_a}: 2 -> {quantity_a}",),
    )


def events_for(adapter: SupplierAdapter, messages: list[WebhookMessage], supplier_order_id: str) -> list[SupplierEvent]:
    """Every event about this order in these webhooks."""
    events = [event for message in messages for event in adapter.parse_webhook(message.headers, message.body)]
    return [event for event in events if event.supplier_order_id == supplier_order_id]


def tampered(message: WebhookMessage) -> WebhookMessage:
    """The same webhook with its body changed after signing."""
    body = message.body.replace(b"}", b',"injected":true}', 1) if b"}" in message.body else message.body + b"x"
    return WebhookMessage(message.headers, body)


class SupplierContract:
    """The cases; a subclass provides the `supplier` fixture."""

    @pytest.fixture
    def supplier(self):  # pragma: no cover - always overridden
        raise NotImplementedError("subclass SupplierContract and define a `supplier` fixture")

    # -- placing ---------------------------------------------------------------------------

    def test_a_placed_order_reads_back_as_the_same_order(self, supplier):
        adapter, controller = supplier
        request = order_request(controller)
        placed = adapter.place_order(request)
        assert placed.status in PLACED and placed.external_id == request.external_id
        fetched = adapter.get_order(placed.supplier_order_id)
        assert (fetched.supplier_order_id, fetched.external_id, fetched.status) == (placed.supplier_order_id, request.external_id, placed.status)
        assert adapter.find_order(request.external_id).supplier_order_id == placed.supplier_order_id

    def test_an_unknown_order_is_not_found(self, supplier):
        adapter, _ = supplier
        assert adapter.find_order(new_external_id()) is None
        with pytest.raises(SupplierOrderNotFound):
            adapter.get_order("999999999")

    def test_placing_the_same_external_id_twice_makes_one_supplier_order(self, supplier):
        adapter, controller = supplier
        request = order_request(controller)
        first = adapter.place_order(request)
        second = adapter.place_order(request)
        assert second.supplier_order_id == first.supplier_order_id
        assert controller.orders_created(request.external_id) == 1

    def test_an_answer_lost_to_a_timeout_is_outcome_unknown_and_find_order_resolves_it(self, supplier):
        adapter, controller = supplier
        request = order_request(controller)
        controller.time_out_next_request()
        with pytest.raises(OutcomeUnknown):
            adapter.place_order(request)
        found = adapter.find_order(request.external_id)
        assert found is not None, "the supplier processed the request; find_order must see it"
        retried = adapter.place_order(request)
        assert retried.supplier_order_id == found.supplier_order_id
        assert retried.status in PLACED
        assert controller.orders_created(request.external_id) == 1

    def test_a_garbage_answer_to_place_is_outcome_unknown_and_the_retry_makes_no_second_order(self, supplier):
        adapter, controller = supplier
        request = order_request(controller)
        controller.garble_next_response()
        with pytest.raises(OutcomeUnknown):
            adapter.place_order(request)
        assert adapter.place_order(request).supplier_order_id == adapter.find_order(request.external_id).supplier_order_id
        assert controller.orders_created(request.external_id) == 1

    def test_a_server_error_on_place_is_transient_and_a_retry_places_once(self, supplier):
        adapter, controller = supplier
        request = order_request(controller)
        controller.fail_next_request(503)
        with pytest.raises(TransientSupplierError):
            adapter.place_order(request)
        adapter.place_order(request)
        assert controller.orders_created(request.external_id) == 1

    def test_rate_limiting_is_transient_and_says_when_to_retry(self, supplier):
        adapter, controller = supplier
        controller.fail_next_request(429, retry_after=7)
        with pytest.raises(TransientSupplierError) as caught:
            adapter.place_order(order_request(controller))
        assert caught.value.retry_after == pytest.approx(7)

    def test_errors_on_reads_are_transient_never_outcome_unknown(self, supplier):
        adapter, controller = supplier
        placed = adapter.place_order(order_request(controller))
        for make_it_fail in (lambda: controller.fail_next_request(500), controller.garble_next_response, controller.time_out_next_request):
            make_it_fail()
            with pytest.raises(TransientSupplierError) as caught:
                adapter.get_order(placed.supplier_order_id)
            assert not isinstance(caught.value, OutcomeUnknown)
        assert adapter.get_order(placed.supplier_order_id).supplier_order_id == placed.supplier_order_id

    def test_a_rejected_order_is_a_permanent_error_and_places_nothing(self, supplier):
        adapter, controller = supplier
        request = order_request(controller, quantity_a=0)
        with pytest.raises(PermanentSupplierError):
            adapter.place_order(request)
        assert controller.orders_created(request.external_id) == 0

    def test_an_unknown_sku_is_a_permanent_error(self, supplier):
        adapter, controller = supplier
        request = order_request(controller)
        request = PlaceOrder(request.external_id, request.shipping_address, (OrderLine("line-x", controller.unknown_sku, 1),))
        with pytest.raises(PermanentSupplierError):
            adapter.place_order(request)
        assert controller.orders_created(request.external_id) == 0

    # -- shipping and cancelling -----------------------------------------------------------

    def test_shipments_after_a_partial_then_a_full_shipment(self, supplier):
        adapter, controller = supplier
        if not getattr(controller, "ships_partially", True):
            pytest.skip("this supplier ships whole orders only (one parcel per order)")
        placed = adapter.place_order(order_request(controller, quantity_a=2, quantity_b=1))
        assert adapter.get_shipments(placed.supplier_order_id) == []

        controller.ship(placed.supplier_order_id, {LINE_A: 1})
        first = adapter.get_shipments(placed.supplier_order_id)
        assert [[(line.line_ref, line.quantity) for line in s.lines] for s in first] == [[(LINE_A, 1)]]
        assert first[0].tracking_number or first[0].tracking_url
        assert adapter.get_order(placed.supplier_order_id).status == SupplierOrderStatus.PARTIALLY_SHIPPED

        controller.ship(placed.supplier_order_id)
        both = adapter.get_shipments(placed.supplier_order_id)
        assert len(both) == 2 and both[0].shipment_id != both[1].shipment_id
        assert sorted((line.line_ref, line.quantity) for line in both[1].lines) == [(LINE_A, 1), (LINE_B, 1)]
        assert adapter.get_order(placed.supplier_order_id).status == SupplierOrderStatus.SHIPPED

    def test_cancelling_before_fulfilment_works(self, supplier):
        adapter, controller = supplier
        placed = adapter.place_order(order_request(controller))
        if not getattr(controller, "cancels_placed_orders", True):
            with pytest.raises(CancellationRefused) as refused:
                adapter.cancel_order(placed.supplier_order_id)
            assert len(str(refused.value)) > 40  # a reason the merchant can act on, shown in the alert
            assert adapter.get_order(placed.supplier_order_id).status == placed.status  # nothing changed
            return
        assert adapter.cancel_order(placed.supplier_order_id).status == SupplierOrderStatus.CANCELLED
        found = adapter.find_order(placed.external_id)
        assert found is None or found.status == SupplierOrderStatus.CANCELLED

    def test_cancelling_after_shipping_is_refused(self, supplier):
        adapter, controller = supplier
        placed = adapter.place_order(order_request(controller))
        controller.ship(placed.supplier_order_id)
        with pytest.raises(CancellationRefused):
            adapter.cancel_order(placed.supplier_order_id)
        assert adapter.get_order(placed.supplier_order_id).status == SupplierOrderStatus.SHIPPED

    # -- order changes (what each adapter declares it can do) -------------------------------

    def test_capabilities_are_declared(self, supplier):
        adapter, _ = supplier
        assert isinstance(adapter.can_update_address, bool) and isinstance(adapter.can_update_lines, bool)
        assert adapter.can_cancel_when <= set(SupplierOrderStatus)
        assert SupplierOrderStatus.SHIPPED not in adapter.can_cancel_when and SupplierOrderStatus.CANCELLED not in adapter.can_cancel_when

    def test_a_freshly_placed_order_is_in_a_status_it_can_be_cancelled_in(self, supplier):
        """What the adapter declares (can_cancel_when, read by the app) matches what its supplier does."""
        adapter, controller = supplier
        placed = adapter.place_order(order_request(controller))
        cancellable = adapter.get_order(placed.supplier_order_id).status in adapter.can_cancel_when
        assert cancellable == getattr(controller, "cancels_placed_orders", True)

    def test_a_change_before_production_is_made_as_declared_or_refused(self, supplier):
        adapter, controller = supplier
        placed = adapter.place_order(order_request(controller, quantity_a=2, quantity_b=1))
        request = change_request(controller, placed.external_id, quantity_a=1, quantity_b=0, city="Leeds")
        if not adapter.can_update_lines:
            with pytest.raises(AmendmentRefused):
                adapter.amend_order(placed.supplier_order_id, request)
            return
        if not adapter.can_update_address:
            request = change_request(controller, placed.external_id, quantity_a=1, quantity_b=0, city=None)
        result = adapter.amend_order(placed.supplier_order_id, request)
        assert result.supplier_order_id == placed.supplier_order_id
        lines, city = controller.supplier_has(placed.supplier_order_id)
        assert lines == {LINE_A: 1}
        assert city == ("Leeds" if adapter.can_update_address else "London")
        assert controller.orders_created(placed.external_id) == 1  # changed, not placed again

    def test_the_same_change_sent_twice_leaves_the_order_as_after_the_first(self, supplier):
        adapter, controller = supplier
        if not adapter.can_update_lines:
            pytest.skip("this adapter takes no line changes")
        placed = adapter.place_order(order_request(controller, quantity_a=2, quantity_b=1))
        request = change_request(controller, placed.external_id, quantity_a=3, quantity_b=1, city=None)
        adapter.amend_order(placed.supplier_order_id, request)
        adapter.amend_order(placed.supplier_order_id, request)
        assert controller.supplier_has(placed.supplier_order_id)[0] == {LINE_A: 3, LINE_B: 1}

    def test_a_change_after_production_started_is_refused_and_changes_nothing(self, supplier):
        adapter, controller = supplier
        placed = adapter.place_order(order_request(controller, quantity_a=2, quantity_b=1))
        controller.start_production(placed.supplier_order_id)
        before = controller.supplier_has(placed.supplier_order_id)
        with pytest.raises(AmendmentRefused):
            adapter.amend_order(placed.supplier_order_id, change_request(controller, placed.external_id, quantity_a=1, quantity_b=1, city=None))
        assert controller.supplier_has(placed.supplier_order_id) == before

    # -- stock -----------------------------------------------------------------------------

    def test_stock_for_in_and_out_of_stock_skus(self, supplier):
        adapter, controller = supplier
        in_sku = controller.in_stock_skus[0]
        levels = {level.supplier_sku: level for level in adapter.get_stock([in_sku, controller.out_of_stock_sku, controller.unknown_sku])}
        assert set(levels) == {in_sku, controller.out_of_stock_sku}, "unknown SKUs are left out"
        assert levels[in_sku].in_stock is True and levels[controller.out_of_stock_sku].in_stock is False
        assert levels[in_sku].available is None or levels[in_sku].available > 0

        controller.set_stock(in_sku, False)
        controller.set_stock(controller.out_of_stock_sku, True)
        flipped = {level.supplier_sku: level.in_stock for level in adapter.get_stock([in_sku, controller.out_of_stock_sku])}
        assert flipped == {in_sku: False, controller.out_of_stock_sku: True}

    # -- webhooks --------------------------------------------------------------------------

    def _webhooks_or_skip(self, controller: SupplierController) -> None:
        if not controller.supports_webhooks:
            pytest.skip("this supplier sends no webhooks")

    def test_a_shipment_webhook_becomes_a_shipment_event(self, supplier):
        adapter, controller = supplier
        self._webhooks_or_skip(controller)
        placed = adapter.place_order(order_request(controller))
        controller.take_webhooks()
        controller.ship(placed.supplier_order_id)
        events = events_for(adapter, controller.take_webhooks(), placed.supplier_order_id)
        shipments = [event for event in events if event.kind == SupplierEventKind.SHIPMENT]
        assert len(shipments) == 1
        event = shipments[0]
        assert event.external_id == placed.external_id
        [actual] = adapter.get_shipments(placed.supplier_order_id)
        assert event.shipment is not None and event.shipment.shipment_id == actual.shipment_id
        # A poll may lack the number (Printful's Shipment has only tracking_url); what it has must agree.
        assert event.shipment.tracking_number and actual.tracking_number in (None, event.shipment.tracking_number)
        assert actual.tracking_url in (None, event.shipment.tracking_url)

    def test_a_failure_webhook_becomes_order_failed_with_the_reason(self, supplier):
        adapter, controller = supplier
        self._webhooks_or_skip(controller)
        placed = adapter.place_order(order_request(controller))
        controller.take_webhooks()
        controller.fail_order(placed.supplier_order_id, "Card declined")
        failed = [e for e in events_for(adapter, controller.take_webhooks(), placed.supplier_order_id) if e.kind == SupplierEventKind.ORDER_FAILED]
        assert len(failed) == 1 and failed[0].reason == "Card declined"
        assert failed[0].status in (None, SupplierOrderStatus.FAILED)

    def test_a_webhook_with_a_bad_signature_is_rejected(self, supplier):
        adapter, controller = supplier
        self._webhooks_or_skip(controller)
        placed = adapter.place_order(order_request(controller))
        controller.ship(placed.supplier_order_id)
        messages = controller.take_webhooks()
        assert messages
        with pytest.raises(InvalidSupplierSignature):
            adapter.parse_webhook(messages[-1].headers, tampered(messages[-1]).body)
        with pytest.raises(InvalidSupplierSignature):
            adapter.parse_webhook({"Content-Type": "application/json"}, messages[-1].body)
