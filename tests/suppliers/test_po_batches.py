"""Purchase orders batched on the merchant's schedule (issue 15), over a real SFTP server and a real database.

Orders from the sandbox Shopify are forwarded to a file supplier whose POs go out "every 15
minutes": placing queues them (the supplier order stays unknown, nothing is written), the
per-shop job "po-batches" writes ONE file per slot with every order routed since the last
batch, the sandbox wholesaler reads it with its own reader and acknowledges and ships each
order, and the app matches those back per order. The moment is passed to the job, never waited
for: the slot comes from the database row.
"""
from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from conftest import API_KEY, API_SECRET
from integrations.suppliers.files.po_file import po_file_name
from file_channel_testkit import PASSWORD, USER, file_settings
from sandbox.supplier.file_supplier import LAYOUT_CSV, LAYOUT_XLSX, SandboxFileSupplier, _read_rows
from sandbox.supplier.sftp_server import SandboxSftpServer
from scheduler.embedded import SHOP_JOBS, PERIODIC_JOBS
from shopify_app.models import Shop, utcnow
from shopify_app.orders.models import Order, OrderEvent
from shopify_app.privacy import CustomerRef, redact_customer
from shopify_app.suppliers import po_batches
from shopify_app.suppliers.email_po_log import EmailPoSentRecord
from shopify_app.suppliers.file_channel_models import FileChannelPoll
from shopify_app.suppliers.forwarding import ForwardingWorker
from shopify_app.suppliers.models import ProductMapping, Supplier, SupplierOrder
from shopify_app.suppliers.po_batch_models import PoBatch, PoBatchWaiting
from shopify_app.webhooks.handlers import privacy as _privacy_handlers  # noqa: F401 - registers every customer data source
from shopify_app.webhooks.worker import InboxWorker

SHOP = "demo.myshopify.com"
EVERY_15 = {"mode": "batched", "every_minutes": 15}


@pytest.fixture
def layout():
    """The wholesaler's file layout (the CSV one unless a test asks for both)."""
    return LAYOUT_CSV


@pytest.fixture
def world(layout, tmp_path, app_factory, database_url, sandbox_shopify):
    app = app_factory(database_url, sandbox_shopify_url=sandbox_shopify.base_url)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sandbox_shopify.register_app(API_KEY, API_SECRET, f"http://127.0.0.1:{server.server_port}",
                                 webhook_topics=["orders/create", "orders/paid", "orders/updated", "orders/cancelled"])
    services = app.extensions["services"]
    services.tokens.save(SHOP, sandbox_shopify.issue_access_token(SHOP, API_KEY)["access_token"], None, None, None, "write_orders")
    sftp = SandboxSftpServer(tmp_path / "sftp", {USER: PASSWORD}).start()
    supplier_side = SandboxFileSupplier(sftp.home(USER), layout, stock={"W-TEE-S": 50, "W-MUG": 9})
    settings = file_settings(sftp, layout, po_format="xlsx" if layout == LAYOUT_XLSX else "csv", poll_minutes=1, po_batching=EVERY_15)
    with services.session_factory.begin() as session:
        session.scalar(select(Shop).where(Shop.domain == SHOP)).iana_timezone = "Europe/Warsaw"
        supplier = Supplier(shop_domain=SHOP, name="File Wholesale", kind="files", settings=settings,
                            credentials_enc=services.box.encrypt(json.dumps({"password": PASSWORD})))
        session.add(supplier)
        session.flush()
        session.add(ProductMapping(shop_domain=SHOP, sku="TEE-S", supplier_id=supplier.id, supplier_sku="W-TEE-S", cost="4.50"))
        session.add(ProductMapping(shop_domain=SHOP, sku="MUG-WHT", supplier_id=supplier.id, supplier_sku="W-MUG", cost="3.25"))
        supplier_id = supplier.id
    headers = {"Authorization": f"Bearer {sandbox_shopify.mint_session_token(SHOP, API_KEY, ttl=600)}"}
    yield app, sandbox_shopify, sftp, supplier_side, supplier_id, headers
    server.shutdown()
    sftp.stop()


def services_of(app):
    return app.extensions["services"]


def order_and_forward(app, shopify, lines, **fields) -> dict:
    """A checkout in Shopify, its webhooks handled, the forwarding worker run once: the order is queued for its batch."""
    services = services_of(app)
    order = shopify.place_order(SHOP, lines, **{"email": "buyer@example.com", **fields})
    InboxWorker(services.session_factory, services.settings, services).drain()
    ForwardingWorker(services.session_factory, services.box).drain()
    return order


def deliveries(app) -> dict[str, SupplierOrder]:
    """The supplier orders by their Shopify order gid."""
    with services_of(app).session_factory() as session:
        rows = session.execute(select(SupplierOrder, Order.shopify_id).join(Order, Order.id == SupplierOrder.order_id)).all()
        session.expunge_all()
        return {f"gid://shopify/Order/{shopify_id}": delivery for delivery, shopify_id in rows}


def waiting(app) -> list[PoBatchWaiting]:
    with services_of(app).session_factory() as session:
        rows = session.scalars(select(PoBatchWaiting).order_by(PoBatchWaiting.id)).all()
        session.expunge_all()
        return rows


def batch_files(sftp) -> list[str]:
    """Every PO file ever put in place on the server (renamed from its temporary name)."""
    return [name for name in (path.rsplit("/", 1)[-1] for path in sftp.renamed) if name.startswith("PO-")]


def after_slot(app) -> dt.datetime:
    """A moment just after the slot the waiting orders go out at."""
    slots = {row.slot_at for row in waiting(app)}
    assert len(slots) == 1, slots
    return slots.pop() + dt.timedelta(seconds=1)


def close(app, now: dt.datetime) -> int:
    return po_batches.close_due_batches(services_of(app), SHOP, now=now)


def poll_files(app, times: int = 2) -> None:
    [job] = [fn for job_id, _, fn in PERIODIC_JOBS if job_id == "file-suppliers"]
    for _ in range(times):
        with services_of(app).session_factory.begin() as session:
            for state in session.query(FileChannelPoll):
                state.next_poll_at = utcnow()
        job(services_of(app))


@pytest.mark.parametrize("layout", [LAYOUT_CSV, LAYOUT_XLSX])
def test_two_orders_in_one_slot_go_out_as_one_file_and_come_back_per_order(world):
    app, shopify, sftp, supplier_side, supplier_id, headers = world
    first = order_and_forward(app, shopify, [{"sku": "TEE-S", "quantity": 2}, {"sku": "MUG-WHT", "quantity": 1}])
    second = order_and_forward(app, shopify, [{"sku": "MUG-WHT", "quantity": 3}])
    queued = deliveries(app)
    assert {d.state for d in queued.values()} == {"unknown"}  # queued, not failed, nothing written yet
    assert all(d.attempts == 0 for d in queued.values())  # waiting for a slot is not a try
    assert batch_files(sftp) == []
    rows = waiting(app)
    assert len(rows) == 2 and all(b"Toronto" not in row.request_enc and b"buyer@" not in row.request_enc for row in rows)  # encrypted at rest
    slot = after_slot(app)

    assert close(app, slot - dt.timedelta(seconds=2)) == 0  # before the slot: nothing goes out
    assert batch_files(sftp) == []
    assert close(app, slot) == 1
    [name] = batch_files(sftp)
    assert name.startswith(f"PO-BATCH-{supplier_id}-") and name.endswith(".xlsx" if supplier_side.layout == LAYOUT_XLSX else ".csv")
    placed = deliveries(app)
    assert {d.state for d in placed.values()} == {"placed"}
    po = {gid: d.supplier_order_id for gid, d in placed.items()}
    assert po[first["id"]] == placed[first["id"]].idempotency_key  # each order keeps its own PO number inside the batch
    in_file = _read_rows(supplier_side.home / "to_supplier" / name)  # the supplier's own reader
    assert sorted((r["po_number"], r["sku"], r["quantity"]) for r in in_file) == sorted(
        [(po[first["id"]], "W-TEE-S", "2"), (po[first["id"]], "W-MUG", "1"), (po[second["id"]], "W-MUG", "3")])
    assert waiting(app) == []  # the addresses are gone from our database once the file is written
    with services_of(app).session_factory() as session:
        records = {r.po_number: r.record["delivery"] for r in session.scalars(select(EmailPoSentRecord))}
        assert records == {po[first["id"]]: "accepted", po[second["id"]]: "accepted"}
        events = session.scalars(select(OrderEvent).where(OrderEvent.kind == "forwarded")).all()
        assert {e.detail["batch_file"] for e in events} == {name}
    assert close(app, slot + dt.timedelta(minutes=1)) == 0  # the next run: nothing waits, nothing written again

    # The wholesaler reads the batch, acknowledges and ships each order; each comes back to its own order.
    assert sorted(supplier_side.take_orders()) == sorted(po.values())
    supplier_side.ship(po[first["id"]], carrier="DHL")
    supplier_side.ship(po[second["id"]], carrier="DHL")
    poll_files(app)
    assert {d.state for d in deliveries(app).values()} == {"shipped"}
    with services_of(app).session_factory() as session:
        acks = {r.po_number: r.record.get("acknowledgement") for r in session.scalars(select(EmailPoSentRecord))}
    assert acks == {po[first["id"]]: "accepted", po[second["id"]]: "accepted"}

    # The admin shows the batch.
    listed = app.test_client().get(f"/api/suppliers/{supplier_id}/po-batching", headers=headers).get_json()["batching"]
    assert listed["po_batching"] == {"mode": "batched", "every_minutes": 15, "weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}
    assert listed["timezone"] == "Europe/Warsaw" and listed["waiting_orders"] == 0
    assert [(b["file_name"], b["state"], b["orders"]) for b in listed["batches"]] == [(name, "written", 2)]


def test_a_crash_between_recording_and_writing_and_after_writing_writes_the_same_file_once(world, monkeypatch):
    app, shopify, sftp, supplier_side, supplier_id, _ = world
    order_and_forward(app, shopify, [{"sku": "TEE-S", "quantity": 1}])
    order_and_forward(app, shopify, [{"sku": "MUG-WHT", "quantity": 1}])
    slot = after_slot(app)

    # The job records the batch, then the process dies before the file is written.
    [batch_id] = po_batches.record_due_batches(services_of(app), SHOP, supplier_id, now=slot)
    assert batch_files(sftp) == []
    with services_of(app).session_factory() as session:
        batch = session.get(PoBatch, batch_id)
        recorded_name, recorded_pos = batch.file_name, sorted(batch.po_numbers)
    # Meanwhile the forwarding worker asks about one of them: in a batch being written, so it is left to the batch.
    with services_of(app).session_factory.begin() as session:
        for delivery in session.scalars(select(SupplierOrder)):
            delivery.next_attempt_at = utcnow()
    ForwardingWorker(services_of(app).session_factory, services_of(app).box).drain()
    assert batch_files(sftp) == [] and {d.state for d in deliveries(app).values()} == {"unknown"}

    # The retry writes the recorded file; then it dies before marking it written.
    real = po_batches._mark_written
    monkeypatch.setattr(po_batches, "_mark_written", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("killed")))
    with pytest.raises(RuntimeError):
        close(app, slot + dt.timedelta(minutes=1))
    assert batch_files(sftp) == [recorded_name]
    monkeypatch.setattr(po_batches, "_mark_written", real)

    # The next run finds the file in place: nothing is written again, the same orders are placed.
    assert close(app, slot + dt.timedelta(minutes=2)) == 1
    assert batch_files(sftp) == [recorded_name]  # exactly one file, under the batch's name
    placed = deliveries(app).values()
    assert {d.state for d in placed} == {"placed"} and sorted(d.supplier_order_id for d in placed) == recorded_pos
    with services_of(app).session_factory() as session:
        assert session.scalars(select(PoBatch.file_name)).all() == [recorded_name]  # one batch, never a second with the same orders
    # Even once the supplier took the file away, a late forwarding lookup finds the placed POs and writes nothing.
    supplier_side.take_orders()
    with services_of(app).session_factory.begin() as session:
        for delivery in session.scalars(select(SupplierOrder)):
            delivery.state, delivery.next_attempt_at = "unknown", utcnow()
    ForwardingWorker(services_of(app).session_factory, services_of(app).box).drain()
    assert {d.state for d in deliveries(app).values()} == {"placed"}
    assert batch_files(sftp) == [recorded_name]


def test_an_order_cancelled_before_its_slot_leaves_the_batch_and_a_changed_one_goes_out_as_it_is_now(world):
    app, shopify, sftp, supplier_side, supplier_id, _ = world
    kept = order_and_forward(app, shopify, [{"sku": "TEE-S", "quantity": 1}])
    cancelled = order_and_forward(app, shopify, [{"sku": "MUG-WHT", "quantity": 2}])
    changed = order_and_forward(app, shopify, [{"sku": "MUG-WHT", "quantity": 1}])
    slot = after_slot(app)
    shopify.store.cancel_order(SHOP, cancelled["id"], reason="CUSTOMER", refund=False, restock=False)
    shopify.deliver_pending()
    shopify.change_shipping_address(SHOP, changed["id"], city="Gdansk", zip="80-001")
    services = services_of(app)
    InboxWorker(services.session_factory, services.settings, services).drain()
    ForwardingWorker(services.session_factory, services.box).drain()
    assert deliveries(app)[cancelled["id"]].state == "cancelled"  # it never reached the supplier

    assert close(app, slot) == 1
    [name] = batch_files(sftp)
    rows = _read_rows(supplier_side.home / "to_supplier" / name)
    by_po = {r["po_number"]: r for r in rows}
    after = deliveries(app)
    assert set(by_po) == {after[kept["id"]].idempotency_key, after[changed["id"]].idempotency_key}
    assert by_po[after[changed["id"]].idempotency_key]["ship_to_city"] == "Gdansk"  # the address as it is at the slot
    assert after[cancelled["id"]].state == "cancelled" and after[kept["id"]].state == "placed" and after[changed["id"]].state == "placed"
    assert waiting(app) == []


def test_a_cancellation_after_the_batch_is_fixed_is_sent_to_the_supplier_once_the_file_is_written(world):
    app, shopify, sftp, supplier_side, supplier_id, _ = world
    order = order_and_forward(app, shopify, [{"sku": "TEE-S", "quantity": 1}])
    slot = after_slot(app)
    po_batches.record_due_batches(services_of(app), SHOP, supplier_id, now=slot)
    shopify.store.cancel_order(SHOP, order["id"], reason="CUSTOMER", refund=False, restock=False)
    shopify.deliver_pending()
    services = services_of(app)
    InboxWorker(services.session_factory, services.settings, services).drain()
    ForwardingWorker(services.session_factory, services.box).drain()
    assert deliveries(app)[order["id"]].state == "cancel_requested"  # in a file about to be written: not "never sent"
    assert close(app, slot + dt.timedelta(minutes=1)) == 1
    ForwardingWorker(services.session_factory, services.box).drain()
    assert deliveries(app)[order["id"]].state == "cancelled"
    assert sorted(p.name.split("-")[0] for p in (supplier_side.home / "to_supplier").iterdir() if p.is_file()) == ["CANCEL", "PO"]


def test_redact_removes_waiting_rows_and_stops_their_orders(world):
    app, shopify, sftp, supplier_side, supplier_id, _ = world
    order = order_and_forward(app, shopify, [{"sku": "TEE-S", "quantity": 1}])
    other = order_and_forward(app, shopify, [{"sku": "MUG-WHT", "quantity": 1}], email="other@example.com")
    slot = after_slot(app)
    assert len(waiting(app)) == 2
    with services_of(app).session_factory.begin() as session:
        shopify_id = session.scalar(select(Order.shopify_id).where(Order.id == deliveries(app)[order["id"]].order_id))
        result = redact_customer(session, CustomerRef(SHOP, None, "buyer@example.com", None, frozenset({str(shopify_id)})))
    assert result["sources"]["po_batches_waiting"] >= 1
    left = waiting(app)
    assert [row.po_number for row in left] == [deliveries(app)[other["id"]].idempotency_key]
    assert deliveries(app)[order["id"]].state == "failed"
    close(app, slot)
    [name] = batch_files(sftp)
    assert {r["po_number"] for r in _read_rows(supplier_side.home / "to_supplier" / name)} == {deliveries(app)[other["id"]].idempotency_key}


def test_bad_batching_settings_are_refused_with_the_field_and_good_ones_are_shown_on_the_page(world):
    app, shopify, sftp, supplier_side, supplier_id, headers = world
    client = app.test_client()
    url = f"/api/suppliers/{supplier_id}/po-batching"
    bad = [
        ({"mode": "weekly"}, "mode"),
        ({"mode": "batched"}, "po_batching"),
        ({"mode": "batched", "times": ["25:00"]}, "po_batching.times"),
        ({"mode": "batched", "times": ["10:00"], "every_minutes": 60}, "po_batching"),
        ({"mode": "batched", "every_minutes": 7}, "every_minutes"),
        ({"mode": "batched", "every_minutes": 50}, "po_batching.every_minutes"),
        ({"mode": "batched", "times": ["10:00"], "weekdays": []}, "po_batching.weekdays"),
        ({"mode": "batched", "times": ["10:00"], "weekdays": ["monday"]}, "weekdays"),
        ({"mode": "per_order", "times": ["10:00"]}, "po_batching"),
        ({"mode": "batched", "times": "10:00"}, "times"),
    ]
    for body, field in bad:
        response = client.put(url, json=body, headers=headers)
        assert response.status_code == 400, (body, response.get_json())
        fields = [f["field"] for f in response.get_json()["fields"]]
        assert any(f.startswith(field) or field in f for f in fields), (body, fields)
    # The whole-settings path (a merge patch) refuses the same, naming the key.
    saved = client.patch(f"/api/suppliers/{supplier_id}", json={"settings": {"po_batching": {"times": ["9"], "every_minutes": None}}}, headers=headers)
    assert saved.status_code == 400 and "po_batching.times" in json.dumps(saved.get_json())

    ok = client.put(url, json={"mode": "batched", "times": ["15:00", "10:00"], "weekdays": ["mon", "tue", "wed", "thu", "fri"]}, headers=headers)
    assert ok.status_code == 200, ok.get_json()
    batching = ok.get_json()["batching"]
    assert batching["po_batching"] == {"mode": "batched", "times": ["10:00", "15:00"], "weekdays": ["mon", "tue", "wed", "thu", "fri"]}
    next_slot = dt.datetime.fromisoformat(batching["next_slot"])
    local = next_slot.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Warsaw"))
    assert (local.hour, local.minute) in ((10, 0), (15, 0)) and local.weekday() < 5 and next_slot > utcnow()
    with services_of(app).session_factory() as session:
        assert session.get(Supplier, supplier_id).settings["po_batching"]["times"] == ["10:00", "15:00"]
    page = client.get(f"/suppliers/{supplier_id}", headers=headers)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="po-batching"' in html and 'value="10:00, 15:00"' in html and 'id="pb-day-sat"' in html
    assert 'id="pb-day-mon" type="checkbox" name="weekdays" value="mon" checked' in html and 'value="sat" checked' not in html

    # Back to one file per order: the orders waiting go out at the next run, none is dropped.
    order_and_forward(app, shopify, [{"sku": "TEE-S", "quantity": 1}])
    assert client.put(url, json={"mode": "per_order"}, headers=headers).status_code == 200
    [row] = waiting(app)
    assert row.slot_at <= utcnow()
    assert close(app, utcnow()) == 1 and len(batch_files(sftp)) == 1


def test_the_job_runs_only_for_shops_with_due_work(world):
    app, shopify, sftp, supplier_side, supplier_id, _ = world
    [job] = [job for job in SHOP_JOBS if job.name == "po-batches"]
    assert job.with_work(services_of(app)) == []  # nothing waiting: the shop costs nothing
    order_and_forward(app, shopify, [{"sku": "TEE-S", "quantity": 1}])
    assert job.with_work(services_of(app)) == []  # waiting, but its slot has not come
    slot = after_slot(app)
    with services_of(app).session_factory.begin() as session:
        for row in session.scalars(select(PoBatchWaiting)):
            row.slot_at = utcnow() - dt.timedelta(seconds=1)
    assert job.with_work(services_of(app)) == [SHOP]
    assert job.run(services_of(app), SHOP) == 1
    assert job.with_work(services_of(app)) == [] and len(batch_files(sftp)) == 1 and slot


def test_an_order_queued_before_the_merchant_went_back_to_per_order_goes_out_once_on_its_own(world):
    app, shopify, sftp, supplier_side, supplier_id, headers = world
    order_and_forward(app, shopify, [{"sku": "TEE-S", "quantity": 1}])
    slot = after_slot(app)
    with services_of(app).session_factory.begin() as session:  # the whole-settings path: no re-slotting of the queue
        supplier = session.get(Supplier, supplier_id)
        supplier.settings = {**supplier.settings, "po_batching": {"mode": "per_order"}}
        for delivery in session.scalars(select(SupplierOrder)):
            delivery.next_attempt_at = utcnow()
    ForwardingWorker(services_of(app).session_factory, services_of(app).box).drain()
    [delivery] = deliveries(app).values()
    assert delivery.state == "placed" and batch_files(sftp) == [po_file_name(delivery.idempotency_key, "csv")]  # its own PO file
    assert waiting(app) == []  # taken out of the queue: the batch job has nothing to write
    assert close(app, slot) == 0 and len(batch_files(sftp)) == 1


def test_a_deactivated_suppliers_queue_is_not_written_and_its_orders_leave_it_once_failed(world):
    app, shopify, sftp, supplier_side, supplier_id, _ = world
    order_and_forward(app, shopify, [{"sku": "TEE-S", "quantity": 1}])
    slot = after_slot(app)
    with services_of(app).session_factory.begin() as session:
        session.get(Supplier, supplier_id).active = False
    assert close(app, slot) == 0 and batch_files(sftp) == []
    assert len(waiting(app)) == 1  # still the forwarding worker's to decide
    with services_of(app).session_factory.begin() as session:
        for delivery in session.scalars(select(SupplierOrder)):
            delivery.next_attempt_at = utcnow()
    ForwardingWorker(services_of(app).session_factory, services_of(app).box).drain()
    assert [d.state for d in deliveries(app).values()] == ["failed"]
    assert close(app, slot + dt.timedelta(minutes=1)) == 0 and batch_files(sftp) == [] and waiting(app) == []


def _batch_queue_statements(app, run) -> list[str]:
    """The SQL statements `run` sends that touch the batch queue (po_batch_waiting)."""
    from sqlalchemy import event

    engine = services_of(app).engine
    seen: list[str] = []
    listener = lambda conn, cursor, statement, *args: seen.append(statement)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return [s for s in seen if "po_batch_waiting" in s]


def test_a_file_supplier_that_never_batched_places_and_finds_orders_without_asking_the_batch_queue(world):
    app, shopify, sftp, supplier_side, supplier_id, headers = world
    with services_of(app).session_factory.begin() as session:  # a supplier whose merchant never chose batching
        supplier = session.get(Supplier, supplier_id)
        supplier.settings = {key: value for key, value in supplier.settings.items() if key != "po_batching"}
    statements = _batch_queue_statements(app, lambda: order_and_forward(app, shopify, [{"sku": "TEE-S", "quantity": 1}]))
    [delivery] = deliveries(app).values()
    assert delivery.state == "placed" and batch_files(sftp) == [po_file_name(delivery.idempotency_key, "csv")]
    assert statements == []  # no withdraw per order
    from shopify_app.suppliers.forwarding import adapter_from_record

    with services_of(app).session_factory() as session:
        adapter = adapter_from_record(session.get(Supplier, supplier_id), services_of(app).box)
    assert _batch_queue_statements(app, lambda: adapter.find_order("not-placed-yet")) == []  # no in_batch select
    # The same supplier once it batched asks the queue (the withdraw that keeps a queued PO from going out twice).
    with services_of(app).session_factory.begin() as session:
        supplier = session.get(Supplier, supplier_id)
        supplier.settings = {**supplier.settings, "po_batching": {"mode": "per_order"}}
    with services_of(app).session_factory() as session:
        adapter = adapter_from_record(session.get(Supplier, supplier_id), services_of(app).box)
    assert _batch_queue_statements(app, lambda: adapter.find_order("not-placed-yet"))


def test_batching_removed_by_a_settings_patch_stays_per_order_and_the_queued_order_goes_out_once(world):
    app, shopify, sftp, supplier_side, supplier_id, headers = world
    order_and_forward(app, shopify, [{"sku": "TEE-S", "quantity": 1}])
    slot = after_slot(app)
    saved = app.test_client().patch(f"/api/suppliers/{supplier_id}", json={"settings": {"po_batching": None}}, headers=headers)
    assert saved.status_code == 200, saved.get_json()
    with services_of(app).session_factory.begin() as session:
        assert session.get(Supplier, supplier_id).settings["po_batching"] == {"mode": "per_order"}
        for delivery in session.scalars(select(SupplierOrder)):
            delivery.next_attempt_at = utcnow()
    ForwardingWorker(services_of(app).session_factory, services_of(app).box).drain()
    [delivery] = deliveries(app).values()
    assert delivery.state == "placed" and batch_files(sftp) == [po_file_name(delivery.idempotency_key, "csv")]
    assert waiting(app) == [] and close(app, slot) == 0 and len(batch_files(sftp)) == 1


def test_the_api_and_the_page_show_one_batching_status_and_the_page_reads_no_time_zone_again(world):
    app, shopify, sftp, supplier_side, supplier_id, headers = world
    order_and_forward(app, shopify, [{"sku": "TEE-S", "quantity": 1}])
    client = app.test_client()
    shown = client.get(f"/api/suppliers/{supplier_id}/po-batching", headers=headers).get_json()["batching"]
    assert shown["timezone"] == "Europe/Warsaw" and shown["waiting_orders"] == 1 and shown["po_batching"]["every_minutes"] == 15
    from sqlalchemy import event

    engine = services_of(app).engine
    seen: list[str] = []
    listener = lambda conn, cursor, statement, *args: seen.append(" ".join(statement.split()))  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        page = client.get(f"/suppliers/{supplier_id}", headers=headers)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="po-batching"' in html
    assert not [s for s in seen if s.startswith("SELECT shops.iana_timezone FROM shops")]  # the page's profile has it


def test_batching_removed_by_a_patch_before_the_fix_is_repaired_once_by_migration_0041_and_the_queued_order_goes_out_once(world, database_url):
    from alembic import command

    from shopify_app.migrate import alembic_config, upgrade_to_head

    app, shopify, sftp, supplier_side, supplier_id, headers = world
    order_and_forward(app, shopify, [{"sku": "TEE-S", "quantity": 1}])
    slot = after_slot(app)
    with services_of(app).session_factory.begin() as session:  # what a PATCH {"po_batching": null} did before the fix: the key gone
        supplier = session.get(Supplier, supplier_id)
        supplier.settings = {key: value for key, value in supplier.settings.items() if key != "po_batching"}
        untouched = Supplier(shop_domain=SHOP, name="Never batched", kind="files", settings={"po_format": "csv"})
        session.add(untouched)
        session.flush()
        untouched_id = untouched.id
    services_of(app).engine.dispose()
    command.downgrade(alembic_config(database_url), "0040")
    before = utcnow()
    upgrade_to_head(database_url)
    with services_of(app).session_factory() as session:
        repaired = session.get(Supplier, supplier_id).settings
        assert repaired["po_batching"] == {"mode": "per_order"}
        assert "po_batching" not in session.get(Supplier, untouched_id).settings  # no queue rows: nothing to repair
    [row] = waiting(app)
    released = row.slot_at
    assert released < slot - dt.timedelta(seconds=1) and released >= before - dt.timedelta(seconds=1)  # released: due now, not at its old slot
    # Once: rows that match what 0041 repairs again after it ran (the key gone, a PO slotted later) are left as they are by a later upgrade.
    later = slot + dt.timedelta(hours=1)
    with services_of(app).session_factory.begin() as session:
        session.get(Supplier, supplier_id).settings = {key: value for key, value in repaired.items() if key != "po_batching"}
        session.get(PoBatchWaiting, row.id).slot_at = later
    services_of(app).engine.dispose()
    upgrade_to_head(database_url)
    with services_of(app).session_factory.begin() as session:
        supplier = session.get(Supplier, supplier_id)
        assert "po_batching" not in supplier.settings
        again = session.get(PoBatchWaiting, row.id)
        assert abs(again.slot_at - later) < dt.timedelta(seconds=1)  # not released again
        supplier.settings, again.slot_at = repaired, released  # back to what 0041 made, for the rest
    # The queue is used again: the batch job records it now; forwarding, asked again before the file is written (a write that
    # failed, a crash), leaves it to the batch instead of writing its own file (without the queue it wrote one: twice out).
    now = utcnow() + dt.timedelta(seconds=1)
    assert po_batches.record_due_batches(services_of(app), SHOP, supplier_id, now=now)
    with services_of(app).session_factory.begin() as session:
        for delivery in session.scalars(select(SupplierOrder)):
            delivery.next_attempt_at = utcnow()
    ForwardingWorker(services_of(app).session_factory, services_of(app).box).drain()
    assert batch_files(sftp) == []
    assert close(app, now + dt.timedelta(minutes=1)) == 1
    [delivery] = deliveries(app).values()
    assert delivery.state == "placed" and len(batch_files(sftp)) == 1 and batch_files(sftp)[0].startswith("PO-BATCH-")
    assert waiting(app) == [] and close(app, slot) == 0 and len(batch_files(sftp)) == 1
