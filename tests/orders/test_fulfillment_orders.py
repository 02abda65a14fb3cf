"""Fulfillment orders drive forwarding, end to end over real HTTP: sandbox Shopify -> app -> Printful sandbox.

Only fulfillment orders Shopify assigned to a location the app manages are forwarded;
Shopify's holds stop supplier orders (and alert once one is placed); what the app cannot
send is held in Shopify with fulfillmentOrderHold and released once solved; a parcel
spanning locations becomes one fulfillment per location; carriers go by Shopify's names.
"""
from __future__ import annotations

import json
import random
import threading

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from conftest import API_KEY, API_SECRET
from forwarding_kit import SHOP, add_printful_supplier, deliveries, make_due
from integrations.suppliers.base import OutcomeUnknown, PermanentSupplierError
from sandbox.shopify import records
from sandbox.shopify.ids import make_gid
from sandbox.shopify.user_errors import ShopifyUserError as SandboxUserError
from sandbox.supplier.printful import SandboxSupplier
from shopify_app.fulfillment.carriers import shopify_carrier
from shopify_app.fulfillment.models import FulfillmentOrderRecord, ManagedLocation
from shopify_app.orders.models import Order, OrderEvent
from shopify_app.suppliers.forwarding import ForwardingWorker, adapter_from_record
from shopify_app.suppliers.fulfillment_service import register_fulfillment_service
from shopify_app.suppliers.models import Alert, Supplier, SupplierShipment
from shopify_app.webhooks.worker import InboxWorker

TOPICS = [
    "orders/create", "orders/paid", "orders/updated", "fulfillment_orders/moved",
    "fulfillment_orders/placed_on_hold", "fulfillment_orders/hold_released", "fulfillment_orders/fulfillment_request_submitted",
    "fulfillment_orders/fulfillment_request_accepted",
]


class World:
    """The app served on loopback, the sandbox Shopify sending it webhooks, the Printful sandbox as its supplier."""

    def __init__(self, app, shopify, supplier, app_url):
        self.app, self.shopify, self.supplier, self.app_url = app, shopify, supplier, app_url
        self.services = app.extensions["services"]
        # No test here is about supplier timeouts: a generous one keeps a loaded machine (two
        # test workers on two cores) from turning a slow sandbox answer into an unknown outcome.
        self.supplier_id = add_printful_supplier(app, supplier, skus=("TEE-S", "MUG-WHT"), timeout=15.0)
        secret = supplier.configure_webhooks(f"{app_url}/suppliers/{self.supplier_id}/webhooks").secret_key
        with self.services.session_factory.begin() as session:
            row = session.get(Supplier, self.supplier_id)
            row.credentials_enc = self.services.box.encrypt(json.dumps({"token": supplier.token, "webhook_secret_key": secret}))

    @property
    def shop(self):
        return self.shopify.store.require_shop(SHOP)

    def drain(self, rounds: int = 3) -> None:
        """Work the inbox until quiet (our holds make Shopify send webhooks back)."""
        for _ in range(rounds):
            report = InboxWorker(self.services.session_factory, self.services.settings, self.services).drain()
            if not (report.done or report.retried):
                break

    def forward(self):
        return ForwardingWorker(self.services.session_factory, self.services.box, rng=random.Random(0)).drain()

    def forward_through(self, place_order):
        """Forward with the supplier's place_order replaced by place_order(real_adapter, request)."""
        services = self.services

        class Midway:
            def __init__(self, real):
                self.real = real

            def __getattr__(self, name):
                return getattr(self.real, name)

            def place_order(self, request):
                return place_order(self.real, request)

        return ForwardingWorker(services.session_factory, services.box, rng=random.Random(0),
                                adapter_for=lambda supplier: Midway(adapter_from_record(supplier, services.box))).drain()

    def place(self, lines, **fields):
        order = self.shopify.place_order(SHOP, lines, email="buyer@example.com", **fields)
        self.drain()
        return order

    def fulfillment_orders(self, order):
        with self.shopify.store.lock:
            return [self.shop.get(ref.gid) for ref in self.shop.get(order["id"])["fulfillmentOrders"]]

    def ours(self, order) -> Order:
        with self.services.session_factory() as session:
            found = session.scalar(select(Order).where(Order.shopify_id == order["id"].rsplit("/", 1)[1]))
            found.events  # noqa: B018 - load before the session closes
            return found

    def open_alerts(self, kind=None):
        with self.services.session_factory() as session:
            rows = session.scalars(select(Alert).where(Alert.resolved_at.is_(None))).all()
            return [a for a in rows if kind is None or a.kind == kind]

    def hold_as_merchant(self, fo_gid, reason="HIGH_RISK_OF_FRAUD"):
        self.shopify.store.hold_fulfillment_order(SHOP, fo_gid, reason=reason, reason_notes="Checking the payment")
        self.shopify.deliver_pending()
        self.drain()

    def release_as_merchant(self, fo_gid):
        self.shopify.store.release_fulfillment_hold(SHOP, fo_gid)
        self.shopify.deliver_pending()
        self.drain()

    def page(self, path: str):
        """GET an admin page with a fresh id_token, as the admin loads it."""
        token = self.shopify.mint_session_token(SHOP, API_KEY)
        return self.app.test_client().get(f"{path}?shop={SHOP}&host=abc&embedded=1&id_token={token}")

    def api(self, method, path, body=None):
        token = self.shopify.mint_session_token(SHOP, API_KEY)
        return self.app.test_client().open(path, method=method, json=body, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def world(sandboxed_app, sandbox_shopify):
    server = make_server("127.0.0.1", 0, sandboxed_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    app_url = f"http://127.0.0.1:{server.server_port}"
    services = sandboxed_app.extensions["services"]
    import dataclasses

    services.settings = dataclasses.replace(services.settings, app_url=app_url)
    sandbox_shopify.register_app(API_KEY, API_SECRET, app_url, webhook_topics=TOPICS)
    services.tokens.save(SHOP, sandbox_shopify.issue_access_token(SHOP, API_KEY)["access_token"], None, None, None, None)
    supplier = SandboxSupplier()
    supplier.start()
    yield World(sandboxed_app, sandbox_shopify, supplier, app_url)
    supplier.stop()
    server.shutdown()


def test_an_order_assigned_to_a_location_the_app_does_not_manage_is_left_alone(world):
    other = world.shopify.store.add_location(SHOP, "The merchant's own warehouse")["id"]
    elsewhere = world.place([{"sku": "TEE-S", "quantity": 1, "location_gid": other}])
    assert deliveries(world.app) == []
    ours = world.ours(elsewhere)
    assert ours.state == "not_ours" and "not_ours" in [e.kind for e in ours.events]
    assert world.open_alerts() == []  # nothing wrong: simply not ours
    page = world.page(f"/orders/{ours.id}")
    assert page.status_code == 200 and 'class="badge not_ours"' in page.get_data(as_text=True) and other in page.get_data(as_text=True)
    # The same SKU at the primary location (managed by default) is forwarded.
    home = world.place([{"sku": "TEE-S", "quantity": 1}])
    [delivery] = deliveries(world.app)
    assert world.ours(home).state == "routed" and [l.supplier_sku for l in delivery.lines] == ["TEE-S"]
    assert world.forward().placed == 1


def test_a_mapped_location_replaces_the_primary_default_and_limits_the_suppliers(world):
    warehouse = world.shopify.store.add_location(SHOP, "Dropship hub")["id"]
    assert world.api("PUT", "/api/locations", {"locations": [{"location_gid": warehouse, "supplier_ids": [world.supplier_id]}]}).status_code == 200
    assert world.api("GET", "/api/locations").get_json()["primary_location_default"] is False
    at_primary = world.place([{"sku": "TEE-S", "quantity": 1}])
    assert world.ours(at_primary).state == "not_ours"  # the primary location is no longer ours once a location is mapped
    world.place([{"sku": "MUG-WHT", "quantity": 1, "location_gid": warehouse}])
    [delivery] = deliveries(world.app)
    assert [l.supplier_sku for l in delivery.lines] == ["MUG-WHT"]
    refused = world.api("PUT", "/api/locations", {"locations": [{"location_gid": warehouse, "supplier_ids": [999]}]})
    assert refused.status_code == 400 and refused.get_json()["fields"][0]["field"] == "locations[0].supplier_ids"


def test_a_fulfillment_service_supplier_is_forwarded_only_once_it_accepts_the_request(world):
    registered = world.api("POST", f"/api/suppliers/{world.supplier_id}/fulfillment-service")
    assert registered.status_code == 200
    location = registered.get_json()["supplier"]["location_gid"]
    assert registered.get_json()["supplier"]["fulfillment_model"] == "fulfillment_service"
    [service] = [s for s in world.shop.all("FulfillmentService") if s["location"].gid == location]
    # Registered so Shopify never calls fetch_tracking_numbers / fetch_stock (which the app does not serve).
    assert (service["trackingSupport"], service["inventoryManagement"]) == (False, False)
    order = world.place([{"sku": "TEE-S", "quantity": 1, "location_gid": location}])
    assert deliveries(world.app) == []  # paid and ours, but Shopify has not asked the service yet
    assert world.ours(order).state == "received"
    world.shopify.request_fulfillment(SHOP, order["id"])
    world.drain()
    assert [fo["requestStatus"] for fo in world.fulfillment_orders(order)] == ["ACCEPTED"]
    [delivery] = deliveries(world.app)
    assert world.forward().placed == 1
    assert world.supplier.orders_created(delivery.idempotency_key) == 1
    # Registering again brings the existing service in line instead of creating a second one.
    assert register_fulfillment_service(world.services, SHOP, world.supplier_id) == location
    assert len(world.shop.all("FulfillmentService")) == 1


def test_a_shopify_hold_before_placement_postpones_and_its_release_resumes(world):
    order = world.place([{"sku": "TEE-S", "quantity": 1}])
    [fo] = world.fulfillment_orders(order)
    world.hold_as_merchant(fo["id"])
    assert [d.state for d in deliveries(world.app)] == ["on_hold"]
    assert world.forward().placed == 0  # nothing goes out while Shopify holds it
    [alert] = world.open_alerts("fulfillment_on_hold")
    assert alert.severity == "warning" and "high_risk_of_fraud" in alert.message
    world.release_as_merchant(fo["id"])
    [delivery] = deliveries(world.app)
    assert delivery.state == "pending" and world.open_alerts("fulfillment_on_hold") == []
    assert world.forward().placed == 1
    assert world.supplier.orders_created(delivery.idempotency_key) == 1
    kinds = [e.kind for e in world.ours(order).events]
    assert "supplier_order_postponed" in kinds and "supplier_order_resumed" in kinds


def test_a_shopify_hold_after_placement_raises_a_critical_alert(world):
    order = world.place([{"sku": "TEE-S", "quantity": 1}])
    assert world.forward().placed == 1
    [fo] = world.fulfillment_orders(order)
    world.hold_as_merchant(fo["id"])
    [alert] = world.open_alerts("hold_after_placement")
    assert alert.severity == "critical" and "Printful already has it" in alert.message
    assert [d.state for d in deliveries(world.app)] == ["placed"]


def test_a_line_no_supplier_takes_is_held_in_shopify_and_released_once_mapped(world):
    order = world.place([{"sku": "TEE-S", "quantity": 1}, {"sku": "BTL-500", "quantity": 1}])
    [fo] = world.fulfillment_orders(order)
    assert fo["status"] == "ON_HOLD"
    [hold] = fo["fulfillmentHolds"]
    assert (hold["reason"], hold["handle"], hold["_clientId"]) == ("OTHER", "dropship-ops", API_KEY)
    assert "BTL-500" in hold["reasonNotes"]
    assert deliveries(world.app) == [] and world.ours(order).state == "held"
    assert [a.kind for a in world.open_alerts()] == ["unroutable_line"]
    world.drain()  # Shopify's placed_on_hold for our own hold changes nothing
    assert world.open_alerts("fulfillment_on_hold") == []
    # The merchant maps the SKU: the app releases its hold in Shopify and forwards.
    mapped = world.api("POST", f"/api/suppliers/{world.supplier_id}/mappings", {"mappings": [{"sku": "BTL-500", "supplier_sku": "TEE-S"}]})
    assert mapped.status_code == 200
    [fo] = world.fulfillment_orders(order)
    assert fo["status"] == "OPEN" and fo["fulfillmentHolds"] == []
    [delivery] = deliveries(world.app)
    assert sorted(l.supplier_sku for l in delivery.lines) == ["TEE-S", "TEE-S"]
    assert world.open_alerts() == [] and world.ours(order).state == "routed"
    kinds = [e.kind for e in world.ours(order).events]
    assert "held_in_shopify" in kinds and "hold_released_in_shopify" in kinds


def test_redacted_customer_data_holds_the_order_in_shopify_and_never_sends_blanks(world):
    redacted = records.mailing_address(make_gid("MailingAddress", 990001), firstName=None, lastName=None, name=None, address1="***", address2=None, phone=None)
    order = world.place([{"sku": "TEE-S", "quantity": 1}], shippingAddress=redacted)
    assert deliveries(world.app) == [] and world.forward().placed == 0  # nothing reaches the supplier with blanks
    [fo] = world.fulfillment_orders(order)
    assert fo["status"] == "ON_HOLD" and "redacted" in fo["fulfillmentHolds"][0]["reasonNotes"]
    [alert] = world.open_alerts("customer_data_redacted")
    assert alert.severity == "critical" and "protected customer data" in alert.message


def test_an_incomplete_address_is_held_as_incorrect_address(world):
    partial = records.mailing_address(make_gid("MailingAddress", 990002), city=None)
    order = world.place([{"sku": "TEE-S", "quantity": 1}], shippingAddress=partial)
    [fo] = world.fulfillment_orders(order)
    assert fo["status"] == "ON_HOLD" and fo["fulfillmentHolds"][0]["reason"] == "INCORRECT_ADDRESS"
    assert "city" in fo["fulfillmentHolds"][0]["reasonNotes"] and deliveries(world.app) == []


def test_a_parcel_spanning_two_locations_becomes_one_fulfillment_per_location(world):
    primary = world.shop.all("Location")[0]["id"]
    second = world.shopify.store.add_location(SHOP, "Second dropship hub")["id"]
    world.api("PUT", "/api/locations", {"locations": [{"location_gid": primary}, {"location_gid": second}]})
    order = world.place([{"sku": "TEE-S", "quantity": 1, "location_gid": primary}, {"sku": "MUG-WHT", "quantity": 1, "location_gid": second}])
    first, other = world.fulfillment_orders(order)
    with pytest.raises(SandboxUserError, match="single location"):  # what Shopify refuses, the sandbox refuses
        world.shopify.store.create_fulfillment(SHOP, [{"fulfillmentOrderId": first["id"]}, {"fulfillmentOrderId": other["id"]}])
    world.forward()
    [delivery] = deliveries(world.app)
    world.supplier.ship(delivery.supplier_order_id, tracking_number="1ZBOTH", carrier="UPS")  # one parcel with both lines
    world.supplier.flush_webhooks()
    world.drain()
    fulfillments = [f for f in world.shop.all("Fulfillment") if f["order"].gid == order["id"]]
    assert sorted(f["location"].gid for f in fulfillments) == sorted([primary, second])
    assert all(f["trackingInfo"][0]["number"] == "1ZBOTH" for f in fulfillments)
    assert world.shop.get(order["id"])["displayFulfillmentStatus"] == "FULFILLED"
    assert [d.state for d in deliveries(world.app)] == ["shipped"]
    # The careful way's last step (tracking._mark_shipped, shared with the one-fulfillment hot path) wrote it all down.
    with world.app.extensions["services"].session_factory() as session:
        [shipment] = session.scalars(select(SupplierShipment)).all()
        assert (shipment.state, shipment.tracking_synced) == ("fulfilled", True)
        assert sorted(shipment.shopify_fulfillment_ids) == sorted(f["id"] for f in fulfillments)
        assert shipment.shopify_fulfillment_id in shipment.shopify_fulfillment_ids
        [shipped] = session.scalars(select(OrderEvent).where(OrderEvent.kind == "shipped")).all()
        assert shipped.detail["fulfillments"] == 2 and shipped.detail["number"] == "1ZBOTH"
        assert session.scalar(select(Order.state)) == "shipped"


@pytest.mark.parametrize(("carrier", "url", "company", "link"), [
    ("dhl_express", None, "DHL Express", None),
    ("inpost_paczkomaty", None, "InPost", None),
    ("Acme Couriers", "https://track.acme.example/1Z", "Acme Couriers", "https://track.acme.example/1Z"),
])
def test_carrier_names_reach_shopify_as_shopify_spells_them(world, carrier, url, company, link):
    order = world.place([{"sku": "TEE-S", "quantity": 1}])
    world.forward()
    [delivery] = deliveries(world.app)
    world.supplier.ship(delivery.supplier_order_id, tracking_number="TRK-1", carrier=carrier, tracking_url=url)
    world.supplier.flush_webhooks()
    world.drain()
    [fulfillment] = [f for f in world.shop.all("Fulfillment") if f["order"].gid == order["id"]]
    [tracking] = fulfillment["trackingInfo"]
    assert tracking["company"] == company
    if link:
        assert tracking["url"] == link  # not on Shopify's list: the supplier's link keeps it clickable


def test_carrier_spellings_map_to_shopifys_list_and_others_are_kept():
    assert shopify_carrier("dhl") == ("DHL Express", True)
    assert shopify_carrier("DHL_EXPRESS") == ("DHL Express", True)
    assert shopify_carrier("israelpost") == ("Israel Post", True)
    assert shopify_carrier("poczta-polska") == ("Poczta Polska", True)
    assert shopify_carrier("usps") == ("USPS", True)
    assert shopify_carrier("Acme Couriers") == ("Acme Couriers", False)
    assert shopify_carrier("  ") == (None, False)


def test_fulfillment_orders_are_stored_with_who_manages_them(world):
    other = world.shopify.store.add_location(SHOP, "Somewhere else")["id"]
    order = world.place([{"sku": "TEE-S", "quantity": 1}, {"sku": "MUG-WHT", "quantity": 1, "location_gid": other}])
    with world.services.session_factory() as session:
        rows = session.scalars(select(FulfillmentOrderRecord).order_by(FulfillmentOrderRecord.id)).all()
        assert [(r.managed_by, r.location_primary) for r in rows] == [("merchant", True), ("not_ours", False)]
        assert session.scalars(select(ManagedLocation)).all() == []
    [delivery] = deliveries(world.app)
    assert [l.supplier_sku for l in delivery.lines] == ["TEE-S"]
    assert world.ours(order).state == "routed"


def test_the_sandbox_refuses_what_shopify_refuses_for_holds_and_fulfillments(world):
    from integrations.shopify.errors import ShopifyUserError

    gateway = world.services.gateway(SHOP)
    primary = world.shop.all("Location")[0]["id"]
    second = world.shopify.store.add_location(SHOP, "Another hub")["id"]
    order = world.shopify.store.create_order(SHOP, [{"sku": "TEE-S", "quantity": 1, "location_gid": primary}, {"sku": "MUG-WHT", "quantity": 1, "location_gid": second}])
    first, other = world.fulfillment_orders(order)
    both = {"fulfillment": {"lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": first["id"]}, {"fulfillmentOrderId": other["id"]}]}}
    with pytest.raises(ShopifyUserError, match="single location"):
        gateway.mutate("FulfillmentCreate", both)
    hold = {"reason": "OTHER", "reasonNotes": "checking", "handle": "dropship-ops"}
    gateway.mutate("FulfillmentOrderHold", {"id": first["id"], "fulfillmentHold": hold})
    with pytest.raises(ShopifyUserError) as duplicate:  # one hold per handle per app (2025-01+: several holds need several handles)
        gateway.mutate("FulfillmentOrderHold", {"id": first["id"], "fulfillmentHold": hold})
    assert duplicate.value.codes == ["DUPLICATE_FULFILLMENT_HOLD_HANDLE"]
    gateway.mutate("FulfillmentOrderHold", {"id": first["id"], "fulfillmentHold": dict(hold, handle="second-reason")})
    assert len(world.fulfillment_orders(order)[0]["fulfillmentHolds"]) == 2
    with pytest.raises(ShopifyUserError, match="unfulfillable status= on_hold"):  # a held fulfillment order cannot ship
        gateway.mutate("FulfillmentCreate", {"fulfillment": {"lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": first["id"]}]}})
    gateway.mutate("FulfillmentCreate", {"fulfillment": {"lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": other["id"]}]}})
    with pytest.raises(ShopifyUserError, match="cannot be placed on hold: its status is closed"):
        gateway.mutate("FulfillmentOrderHold", {"id": other["id"], "fulfillmentHold": hold})


def test_an_old_registration_with_tracking_and_stock_callbacks_is_turned_off_not_duplicated(world):
    # Registered by an earlier version: trackingSupport and inventoryManagement on, and its id not kept.
    old = world.shopify.store.create_fulfillment_service(SHOP, API_KEY, "Printful (Dropship Ops)", world.app_url + "/fulfillment_service",
                                                        tracking_support=True, inventory_management=True)
    with world.services.session_factory.begin() as session:
        supplier = session.get(Supplier, world.supplier_id)
        supplier.fulfillment_model, supplier.location_gid = "fulfillment_service", old["location"].gid
    assert register_fulfillment_service(world.services, SHOP, world.supplier_id) == old["location"].gid
    [service] = world.shop.all("FulfillmentService")
    assert service["id"] == old["id"] and (service["trackingSupport"], service["inventoryManagement"]) == (False, False)


def test_an_address_redacted_after_routing_stops_the_supplier_order_until_it_is_complete_again(world):
    order = world.place([{"sku": "TEE-S", "quantity": 1}])
    [delivery] = deliveries(world.app)
    assert delivery.state == "pending"
    good = dict(world.shop.get(order["id"])["shippingAddress"])
    world.shopify.store.update_order(SHOP, order["id"], shippingAddress=dict(good, name="***", firstName="***", lastName="***", address1="***"))
    world.shopify.emit(SHOP, "orders/updated", world.shopify.order_webhook_payload(order["id"], SHOP))
    world.drain()
    assert [d.state for d in deliveries(world.app)] == ["on_hold"] and world.forward().placed == 0
    [fo] = world.fulfillment_orders(order)
    assert fo["status"] == "ON_HOLD" and world.open_alerts("customer_data_redacted")
    world.shopify.store.update_order(SHOP, order["id"], shippingAddress=good)  # e.g. protected customer data approved
    world.shopify.emit(SHOP, "orders/updated", world.shopify.order_webhook_payload(order["id"], SHOP))
    world.drain()
    [fo] = world.fulfillment_orders(order)
    assert fo["status"] == "OPEN" and world.open_alerts("customer_data_redacted") == []
    assert world.forward().placed == 1


def test_a_fulfillment_order_moved_away_before_placement_is_not_sent(world):
    order = world.place([{"sku": "TEE-S", "quantity": 1}])
    assert [d.state for d in deliveries(world.app)] == ["pending"]
    elsewhere = world.shopify.store.add_location(SHOP, "The merchant's own shelf")
    [fo] = world.fulfillment_orders(order)
    with world.shopify.store.lock:  # the merchant moves it in the admin
        world.shopify.store.reassign_fulfillment_order(world.shop, fo, elsewhere)
    world.shopify.emit(SHOP, "fulfillment_orders/moved", {"original_fulfillment_order": {"id": fo["id"], "status": "open"},
                                                          "moved_fulfillment_order": {"id": fo["id"], "status": "open"},
                                                          "destination_location_id": int(elsewhere["id"].rsplit("/", 1)[1])})
    world.drain()
    assert [d.state for d in deliveries(world.app)] == ["on_hold"] and world.forward().placed == 0
    assert world.open_alerts("not_ours_after_placement") == []  # nothing had gone out: nothing to chase


@pytest.mark.parametrize(("address", "kind"), [
    (None, "customer_data_redacted"),  # no shipping address at all: what a webhook without protected data access carries
    ({"first_name": None, "last_name": None, "name": None, "address1": None, "city": None, "country_code": "PL"}, "customer_data_redacted"),
    ({"name": "Jan Kowalski", "address1": "***", "city": "Warszawa", "country_code": "PL"}, "customer_data_redacted"),
    ({"name": "[REDACTED]", "address1": "ul. Prosta 1", "city": "Warszawa", "country_code": "PL"}, "customer_data_redacted"),
    ({"name": "Jan Kowalski", "address1": "ul. Prosta 1", "city": "", "country_code": "PL"}, "address_incomplete"),
    ({"first_name": "Jan", "last_name": None, "address1": "ul. Prosta 1", "city": "Warszawa", "country_code": None}, "address_incomplete"),
    ({"first_name": "Jan", "last_name": "Kowalski", "address1": "ul. Prosta 1", "city": "Warszawa", "country_code": "PL"}, None),
])
def test_addresses_are_judged_before_anything_is_sent(address, kind):
    from shopify_app.fulfillment.problems import address_problem

    problem = address_problem(address)
    assert (problem.alert_kind if problem else None) == kind
    if kind == "address_incomplete":
        assert problem.reason == "INCORRECT_ADDRESS"


def test_a_service_request_with_redacted_data_is_rejected_with_an_alert_never_sent(world):
    location = register_fulfillment_service(world.services, SHOP, world.supplier_id)
    redacted = records.mailing_address(make_gid("MailingAddress", 990003), firstName=None, lastName=None, name=None, address1=None)
    order = world.place([{"sku": "TEE-S", "quantity": 1, "location_gid": location}], shippingAddress=redacted)
    world.shopify.request_fulfillment(SHOP, order["id"])
    world.drain()
    [fo] = world.fulfillment_orders(order)
    # Never accepted then held: Shopify refuses an app's hold on its own service's fulfillment orders.
    assert (fo["requestStatus"], fo["status"], fo.get("fulfillmentHolds") or []) == ("REJECTED", "OPEN", [])
    assert "redacted" in fo["_rejection"]["message"]
    assert deliveries(world.app) == [] and world.open_alerts("customer_data_redacted")
    assert "fulfillment_request_rejected" in [e.kind for e in world.ours(order).events]


def test_the_sandbox_denies_holding_the_apps_own_service_fulfillment_orders(world):
    from integrations.shopify.errors import ShopifyGraphQLError

    location = register_fulfillment_service(world.services, SHOP, world.supplier_id)
    order = world.shopify.store.create_order(SHOP, [{"sku": "TEE-S", "quantity": 1, "location_gid": location}])
    [fo] = world.fulfillment_orders(order)
    hold = {"reason": "OTHER", "reasonNotes": "checking", "handle": "dropship-ops"}
    with pytest.raises(ShopifyGraphQLError) as denied:  # needs merchant-managed or third-party scope: ours is neither
        world.services.gateway(SHOP).mutate("FulfillmentOrderHold", {"id": fo["id"], "fulfillmentHold": hold})
    assert denied.value.codes == ["ACCESS_DENIED"]
    assert world.fulfillment_orders(order)[0]["status"] == "OPEN"


def test_an_accepted_service_order_whose_address_turns_redacted_is_alerted_not_held(world):
    location = register_fulfillment_service(world.services, SHOP, world.supplier_id)
    order = world.place([{"sku": "TEE-S", "quantity": 1, "location_gid": location}])
    world.shopify.request_fulfillment(SHOP, order["id"])
    world.drain()
    assert [d.state for d in deliveries(world.app)] == ["pending"]
    good = dict(world.shop.get(order["id"])["shippingAddress"])
    world.shopify.store.update_order(SHOP, order["id"], shippingAddress=dict(good, name="***", firstName="***", lastName="***", address1="***"))
    world.shopify.emit(SHOP, "orders/updated", world.shopify.order_webhook_payload(order["id"], SHOP))
    world.drain()
    assert [d.state for d in deliveries(world.app)] == ["on_hold"] and world.forward().placed == 0
    [fo] = world.fulfillment_orders(order)
    assert fo["status"] == "IN_PROGRESS" and world.open_alerts("customer_data_redacted")
    with world.services.session_factory() as session:
        [record] = session.scalars(select(FulfillmentOrderRecord)).all()
        assert record.app_hold_reason is None  # no wish Shopify would refuse


def test_one_hold_shopify_refuses_does_not_block_the_shops_other_holds(world):
    from shopify_app.fulfillment.holds import sync_app_holds

    location = register_fulfillment_service(world.services, SHOP, world.supplier_id)
    service_order = world.place([{"sku": "TEE-S", "quantity": 1, "location_gid": location}])
    with world.services.session_factory.begin() as session:  # a wish stored before service orders were never held
        [record] = session.scalars(select(FulfillmentOrderRecord)).all()
        record.app_hold_reason, record.app_hold_note = "OTHER", "left over"
    # Then an order with a line no supplier takes: its hold is wished after the refused one.
    held = world.shopify.store.create_order(SHOP, [{"sku": "BTL-500", "quantity": 1}], email="buyer@example.com")
    world.shopify.emit(SHOP, "orders/paid", world.shopify.order_webhook_payload(held["id"], SHOP))
    world.drain()
    assert sync_app_holds(world.services, SHOP) >= 0  # no exception for the whole shop
    assert world.fulfillment_orders(held)[0]["status"] == "ON_HOLD"
    assert world.fulfillment_orders(service_order)[0]["status"] == "OPEN"
    assert "hold_refused" in [e.kind for e in world.ours(service_order).events]


def test_an_unpaid_order_waits_and_goes_once_paid(world):
    order = world.place([{"sku": "TEE-S", "quantity": 1}], financial_status="PENDING")
    assert deliveries(world.app) == [] and world.ours(order).state == "received"
    world.shopify.store.update_order(SHOP, order["id"], displayFinancialStatus="PAID", fullyPaid=True, unpaid=False)
    world.shopify.emit(SHOP, "orders/paid", world.shopify.order_webhook_payload(order["id"], SHOP))
    world.drain()
    assert len(deliveries(world.app)) == 1
    assert world.ours(order).state == "routed" and world.forward().placed == 1


@pytest.mark.parametrize("topic", ["fulfillment_orders/order_routing_complete", "fulfillment_orders/scheduled_fulfillment_order_ready"])
def test_a_fulfillment_order_ready_webhook_alone_brings_the_order_to_its_supplier(world, topic):
    """orders/paid lost (or sent before Shopify finished routing): the FO's own webhook is enough."""
    from conftest import webhook_headers

    order = world.shopify.store.create_order(SHOP, [{"sku": "TEE-S", "quantity": 1}], email="buyer@example.com")  # no orders/* webhook
    fo_gid = world.fulfillment_orders(order)[0]["id"]
    body = json.dumps({"fulfillment_order": {"id": fo_gid, "status": "open"}}).encode()
    assert world.app.test_client().post("/webhooks", data=body, headers=webhook_headers(topic, body, shop=SHOP)).status_code == 200
    world.drain()
    assert world.ours(order).state == "routed"
    world.forward()
    assert [(d.state, [l.supplier_sku for l in d.lines]) for d in deliveries(world.app)] == [("placed", ["TEE-S"])]


def test_a_hold_arriving_while_the_supplier_times_out_is_not_sent_until_released(world):
    order = world.place([{"sku": "TEE-S", "quantity": 1}])
    [fo] = world.fulfillment_orders(order)

    def held_then_timed_out(real, request):
        world.hold_as_merchant(fo["id"])  # Shopify's fraud hold lands while we wait for the supplier
        raise OutcomeUnknown("read timed out")

    world.forward_through(held_then_timed_out)
    [delivery] = deliveries(world.app)
    assert delivery.state == "on_hold"
    make_due(world.app)
    assert world.forward().placed == 0 and world.supplier.orders_created(delivery.idempotency_key) == 0
    world.release_as_merchant(fo["id"])
    assert [d.state for d in deliveries(world.app)] == ["unknown"]  # asked before sending: the timeout may have landed
    world.forward()
    assert world.supplier.orders_created(delivery.idempotency_key) == 1 and [d.state for d in deliveries(world.app)] == ["placed"]


def test_a_hold_arriving_while_the_supplier_accepts_records_it_and_raises_a_critical_alert(world):
    order = world.place([{"sku": "TEE-S", "quantity": 1}])
    [fo] = world.fulfillment_orders(order)

    def held_then_placed(real, request):
        world.hold_as_merchant(fo["id"])
        return real.place_order(request)

    world.forward_through(held_then_placed)
    [delivery] = deliveries(world.app)
    assert delivery.state == "placed" and delivery.supplier_order_id
    [alert] = world.open_alerts("hold_after_placement")
    assert alert.severity == "critical" and "Printful already has it" in alert.message


def test_a_backup_made_while_shopify_holds_the_order_is_not_sent(world):
    with world.services.session_factory.begin() as session:
        session.get(Supplier, world.supplier_id).name = "Printful primary"
    backup_id = add_printful_supplier(world.app, world.supplier, skus=("TEE-S",))
    with world.services.session_factory.begin() as session:
        session.get(Supplier, backup_id).priority = 200  # behind the primary
    order = world.place([{"sku": "TEE-S", "quantity": 1}])
    [fo] = world.fulfillment_orders(order)

    def held_then_rejected(real, request):
        world.hold_as_merchant(fo["id"])
        raise PermanentSupplierError("variant discontinued")

    world.forward_through(held_then_rejected)
    failed, backup = deliveries(world.app)
    assert (failed.state, backup.supplier_id) == ("failed", backup_id)
    world.forward()
    assert world.supplier.orders_created(backup.idempotency_key) == 0
    assert [d.state for d in deliveries(world.app)] == ["failed", "on_hold"]
    world.release_as_merchant(fo["id"])
    world.forward()
    assert world.supplier.orders_created(backup.idempotency_key) == 1


def test_a_supplier_order_shared_by_two_fulfillment_orders_waits_for_both(world):
    north = world.shopify.store.add_location(SHOP, "Hub north")["id"]
    south = world.shopify.store.add_location(SHOP, "Hub south")["id"]
    assert world.api("PUT", "/api/locations", {"locations": [{"location_gid": north, "supplier_ids": [world.supplier_id]},
                                                             {"location_gid": south, "supplier_ids": [world.supplier_id]}]}).status_code == 200
    order = world.place([{"sku": "TEE-S", "quantity": 1, "location_gid": north}, {"sku": "MUG-WHT", "quantity": 1, "location_gid": south}])
    fo_north, fo_south = world.fulfillment_orders(order)
    [delivery] = deliveries(world.app)
    assert len(delivery.lines) == 2
    world.hold_as_merchant(fo_north["id"])
    # Something about the other fulfillment order routes the order again (here: an order edit webhook).
    world.shopify.emit(SHOP, "orders/updated", world.shopify.order_webhook_payload(order["id"], SHOP))
    world.drain()
    world.forward()
    assert world.supplier.orders_created(delivery.idempotency_key) == 0
    assert [d.state for d in deliveries(world.app)] == ["on_hold"]
    world.release_as_merchant(fo_north["id"])
    world.forward()
    assert world.supplier.orders_created(delivery.idempotency_key) == 1


def test_a_backup_supplier_not_allowed_at_the_location_is_not_used(world):
    with world.services.session_factory.begin() as session:
        session.get(Supplier, world.supplier_id).name = "Printful primary"
    backup_id = add_printful_supplier(world.app, world.supplier, skus=("TEE-S",))
    with world.services.session_factory.begin() as session:
        session.get(Supplier, backup_id).priority = 200
    hub = world.shopify.store.add_location(SHOP, "Dropship hub")["id"]
    assert world.api("PUT", "/api/locations", {"locations": [{"location_gid": hub, "supplier_ids": [world.supplier_id]}]}).status_code == 200
    world.place([{"sku": "TEE-S", "quantity": 1, "location_gid": hub}])

    def rejected(real, request):
        raise PermanentSupplierError("variant discontinued")

    world.forward_through(rejected)
    [failed] = deliveries(world.app)  # no backup order at a supplier the hub does not allow
    assert failed.state == "failed" and failed.lines
    [alert] = world.open_alerts("backup_not_allowed")
    assert "Printful" in alert.message and "TEE-S" in alert.message
    assert world.open_alerts("supplier_rejected")[0].severity == "critical"


def _split_line(world, order, location, units):
    """Move `units` of the order's first line from its fulfillment order to a new one at `location` (a merchant split)."""
    with world.shopify.store.lock:
        state = world.shop
        shop_order = state.get(order["id"])
        [fo] = [state.get(ref.gid) for ref in shop_order["fulfillmentOrders"]]
        [fo_line] = state.deref(fo["lineItems"])
        fo_line["remainingQuantity"] -= units
        fo_line["totalQuantity"] -= units
        line = state.get(fo_line["lineItem"].gid)
        world.shopify.store.add_fulfillment_order_line(state, world.shopify.store.add_fulfillment_order(state, shop_order, state.get(location), []), line, units)


def test_a_line_split_between_locations_sends_the_supplier_only_its_units_and_fulfils_only_ours(world):
    other = world.shopify.store.add_location(SHOP, "The merchant's own warehouse")["id"]
    primary = world.shop.all("Location")[0]["id"]
    # Three units: Shopify first assigns them to the merchant's own warehouse, the merchant moves two to our location.
    order = world.shopify.store.create_order(SHOP, [{"sku": "TEE-S", "quantity": 3, "location_gid": other}], email="buyer@example.com")
    _split_line(world, order, primary, 2)
    world.shopify.emit(SHOP, "orders/paid", world.shopify.order_webhook_payload(order["id"], SHOP))
    world.drain()
    [delivery] = deliveries(world.app)
    assert [l.quantity for l in delivery.lines] == [2]  # the warehouse ships the third
    world.shopify.emit(SHOP, "orders/updated", world.shopify.order_webhook_payload(order["id"], SHOP))
    world.drain()  # an unrelated update changes nothing for the supplier
    [delivery] = deliveries(world.app)
    assert [l.quantity for l in delivery.lines] == [2] and "line_changed" not in [e.kind for e in world.ours(order).events]
    assert world.forward().placed == 1
    [delivery] = deliveries(world.app)
    assert [item.quantity for item in world.supplier.order(delivery.supplier_order_id).items] == [2]
    world.supplier.ship(delivery.supplier_order_id, tracking_number="1ZSPLIT", carrier="UPS")
    world.supplier.flush_webhooks()
    world.drain()
    theirs, ours = world.fulfillment_orders(order)
    # The parcel fulfils our location's units, never the warehouse's.
    assert [l["remainingQuantity"] for l in world.shop.deref(theirs["lineItems"])] == [1]
    assert [l["remainingQuantity"] for l in world.shop.deref(ours["lineItems"])] == [0]


def test_units_the_merchant_shipped_before_the_app_saw_the_order_are_not_sent_again(world):
    order = world.shopify.store.create_order(SHOP, [{"sku": "TEE-S", "quantity": 3}], email="buyer@example.com")
    [fo] = world.fulfillment_orders(order)
    [fo_line] = world.shop.deref(fo["lineItems"])
    world.shopify.store.create_fulfillment(SHOP, [{"fulfillmentOrderId": fo["id"], "fulfillmentOrderLineItems": [{"id": fo_line["id"], "quantity": 1}]}])
    world.shopify.emit(SHOP, "orders/paid", world.shopify.order_webhook_payload(order["id"], SHOP))
    world.drain()
    [delivery] = deliveries(world.app)
    assert [l.quantity for l in delivery.lines] == [2]


def test_every_line_and_every_fulfillment_order_of_a_big_order_is_routed(world):
    # 55 lines (past the first page of 50) at our location, and our fulfillment order after five others.
    others = [world.shopify.store.add_location(SHOP, f"Shop floor {n}")["id"] for n in range(5)]
    lines = [{"sku": "MUG-WHT", "quantity": 1, "location_gid": location} for location in others] + [{"sku": "TEE-S", "quantity": 1}] * 55
    order = world.place(lines)
    assert len(world.fulfillment_orders(order)) == 6
    [delivery] = deliveries(world.app)
    assert len(delivery.lines) == 55 and world.ours(order).state == "routed"
    assert world.forward().placed == 1
    [delivery] = deliveries(world.app)
    world.supplier.ship(delivery.supplier_order_id, tracking_number="1ZBIG", carrier="UPS")
    world.supplier.flush_webhooks()
    world.drain()
    ours = world.fulfillment_orders(order)[-1]
    assert ours["status"] == "CLOSED"  # the parcel fulfilled all 55 lines, the last five included


def test_an_order_at_a_location_mapped_later_is_routed_then(world):
    other = world.shopify.store.add_location(SHOP, "Dropship hub, mapped later")["id"]
    order = world.place([{"sku": "TEE-S", "quantity": 1, "location_gid": other}])
    assert world.ours(order).state == "not_ours" and deliveries(world.app) == []
    assert world.api("PUT", "/api/locations", {"locations": [{"location_gid": other}]}).status_code == 200
    [delivery] = deliveries(world.app)  # no fulfillment-order webhook needed
    assert [l.supplier_sku for l in delivery.lines] == ["TEE-S"] and world.ours(order).state == "routed"


def test_an_accepted_request_whose_refresh_was_lost_is_caught_by_reconciliation(world):
    import datetime as dt

    from shopify_app.reconcile.checks import never_forwarded

    location = register_fulfillment_service(world.services, SHOP, world.supplier_id)
    order = world.place([{"sku": "TEE-S", "quantity": 1, "location_gid": location}])
    assert world.ours(order).state == "received"
    [fo] = world.fulfillment_orders(order)
    # Shopify has the request accepted, but the app's re-read after accepting failed: our copy still says submitted.
    world.shopify.store.submit_fulfillment_request(SHOP, fo["id"])
    world.shopify.store.accept_fulfillment_request(SHOP, fo["id"], client_id=API_KEY)
    with world.services.session_factory.begin() as session:
        [record] = session.scalars(select(FulfillmentOrderRecord)).all()
        record.request_status = "SUBMITTED"
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    [finding] = never_forwarded(world.services, SHOP, later).findings
    assert finding.repair().startswith("routed to 1")
    assert [d.state for d in deliveries(world.app)] == ["pending"]
