"""A file supplier both ways, over a real SFTP server: sandbox Shopify -> app -> PO file on the server -> the supplier's acknowledgement,
tracking and stock files -> a Shopify fulfillment and the inventory plan.

Nothing by hand between the order and the fulfillment: the forwarding worker drops the PO
file (once, also across a lost answer and a retry), the sandbox supplier picks it up in its
own CSV layout (semicolons, decimal commas, German headers, dd.mm.yyyy dates), and the
scheduled job "file-suppliers" reads its files through the merchant's mapping: the tracking
becomes a Shopify fulfillment, the stock feeds the inventory plan, each file applied once.
"""
from __future__ import annotations

import json
import threading

import pytest
from werkzeug.serving import make_server

from conftest import API_KEY, API_SECRET
from file_channel_testkit import PASSWORD, USER, file_settings
from sandbox.supplier.file_supplier import LAYOUT_CSV, LAYOUT_XLSX, SandboxFileSupplier, _read_rows
from sandbox.supplier.sftp_server import SandboxSftpServer
from scheduler.embedded import PERIODIC_JOBS
from shopify_app.inventory.models import StockFeedRun
from shopify_app.models import utcnow
from shopify_app.suppliers.file_channel_models import FileChannelFile, FileChannelPoll
from shopify_app.suppliers.forwarding import ForwardingWorker
from shopify_app.suppliers.models import ProductMapping, Supplier, SupplierOrder
from shopify_app.webhooks.worker import InboxWorker

SHOP = "demo.myshopify.com"


@pytest.fixture(params=[LAYOUT_CSV, LAYOUT_XLSX])
def world(request, tmp_path, app_factory, database_url, sandbox_shopify):
    layout = request.param
    app = app_factory(database_url, sandbox_shopify_url=sandbox_shopify.base_url)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sandbox_shopify.register_app(API_KEY, API_SECRET, f"http://127.0.0.1:{server.server_port}", webhook_topics=["orders/create", "orders/paid", "orders/updated"])
    services = app.extensions["services"]
    services.tokens.save(SHOP, sandbox_shopify.issue_access_token(SHOP, API_KEY)["access_token"], None, None, None, "write_orders")
    sftp = SandboxSftpServer(tmp_path / "sftp", {USER: PASSWORD}).start()
    supplier_side = SandboxFileSupplier(sftp.home(USER), layout, stock={"W-TEE-S": 1234, "W-MUG": 3, "W-CAP": 8})
    settings = file_settings(sftp, layout, po_format="xlsx" if layout == LAYOUT_XLSX else "csv", poll_minutes=1)
    with services.session_factory.begin() as session:
        supplier = Supplier(shop_domain=SHOP, name="File Wholesale", kind="files", settings=settings,
                            credentials_enc=services.box.encrypt(json.dumps({"password": PASSWORD})))
        session.add(supplier)
        session.flush()
        session.add(ProductMapping(shop_domain=SHOP, sku="TEE-S", supplier_id=supplier.id, supplier_sku="W-TEE-S", cost="4.50"))
        session.add(ProductMapping(shop_domain=SHOP, sku="MUG-WHT", supplier_id=supplier.id, supplier_sku="W-MUG", cost="3.25"))
        session.add(ProductMapping(shop_domain=SHOP, sku="CAP", supplier_id=supplier.id, supplier_sku="W-CAP"))
        supplier_id = supplier.id
    headers = {"Authorization": f"Bearer {sandbox_shopify.mint_session_token(SHOP, API_KEY, ttl=600)}"}
    yield app, sandbox_shopify, sftp, supplier_side, supplier_id, headers
    server.shutdown()
    sftp.stop()


def deliveries(app) -> list[SupplierOrder]:
    with app.extensions["services"].session_factory() as session:
        rows = session.query(SupplierOrder).order_by(SupplierOrder.id).all()
        for row in rows:
            row.lines  # noqa: B018 - load before the session closes
        return rows


def poll(app, times: int = 2) -> None:
    """Run the job as the scheduler would, `times` polls (a file is read at the second look that agrees)."""
    [job] = [fn for job_id, _, fn in PERIODIC_JOBS if job_id == "file-suppliers"]
    for _ in range(times):
        with app.extensions["services"].session_factory.begin() as session:
            for state in session.query(FileChannelPoll):
                state.next_poll_at = utcnow()
        job(app.extensions["services"])


def shopify_order(shopify, order_gid):
    query = """query($id: ID!) { order(id: $id) { displayFulfillmentStatus fulfillments { trackingInfo { number company } fulfillmentLineItems(first: 10) { nodes { quantity lineItem { sku } } } } } }"""
    token = shopify.issue_access_token(SHOP, API_KEY)["access_token"]
    response = shopify.http_client().post(f"https://{SHOP}/admin/api/2026-10/graphql.json", json={"query": query, "variables": {"id": order_gid}}, headers={"X-Shopify-Access-Token": token})
    return response.json()["data"]["order"]


def ledger(app) -> list[tuple[str, str, int, int]]:
    with app.extensions["services"].session_factory() as session:
        return [(row.kind, row.status, row.rows_applied, row.rows_refused) for row in session.query(FileChannelFile).order_by(FileChannelFile.id) if row.status != "waiting"]


def test_an_order_goes_out_as_one_po_file_and_comes_back_as_a_fulfillment_and_stock(world):
    app, shopify, sftp, supplier_side, supplier_id, headers = world
    services = app.extensions["services"]
    order = shopify.place_order(SHOP, [{"sku": "TEE-S", "quantity": 2}, {"sku": "MUG-WHT", "quantity": 1}], email="buyer@example.com")
    InboxWorker(services.session_factory, services.settings, services).drain()
    # The first write lands on the server but its answer is lost: outcome unknown, looked up, never written twice.
    sftp.queue_fault("drop_connection")
    ForwardingWorker(services.session_factory, services.box).drain()
    for _ in range(3):
        with services.session_factory.begin() as session:
            for delivery in session.query(SupplierOrder):
                delivery.next_attempt_at = utcnow()
        ForwardingWorker(services.session_factory, services.box).drain()
    [delivery] = deliveries(app)
    assert delivery.state == "placed", delivery.last_error
    po_number = delivery.supplier_order_id
    po_files = [path for path in sftp.renamed if "PO-" in path]
    assert len(po_files) == 1, po_files  # exactly one PO file was ever put in place
    ext = "xlsx" if supplier_side.layout == LAYOUT_XLSX else "csv"
    po_path = supplier_side.home / "to_supplier" / po_files[0].rsplit("/", 1)[1]
    assert po_path.name.endswith(f".{ext}")
    rows = _read_rows(po_path)  # the supplier's own reader
    assert sorted((r["po_number"], r["sku"], r["quantity"]) for r in rows) == [(po_number, "W-MUG", "1"), (po_number, "W-TEE-S", "2")]

    # The supplier takes the PO (acknowledges it) and ships everything; the job reads both files.
    assert supplier_side.take_orders() == [po_number]
    supplier_side.ship(po_number, carrier="DHL")
    poll(app)
    status = shopify_order(shopify, order["id"])
    assert status["displayFulfillmentStatus"] == "FULFILLED"
    [fulfillment] = status["fulfillments"]
    assert fulfillment["trackingInfo"][0]["company"].startswith("DHL")  # Shopify names the carrier
    assert sorted((n["lineItem"]["sku"], n["quantity"]) for n in fulfillment["fulfillmentLineItems"]["nodes"]) == [("MUG-WHT", 1), ("TEE-S", 2)]
    assert deliveries(app)[0].state == "shipped"
    assert sorted(ledger(app)) == [("acknowledgements", "applied", 1, 0), ("tracking", "applied", 2, 0)]
    assert sorted(p.name for p in (supplier_side.home / "from_supplier" / "archive" / "tracking").iterdir())  # archived
    assert not list((supplier_side.home / "from_supplier" / "tracking").iterdir())

    # Stock: 1.234,0 (decimal comma) in the CSV layout, a number cell in the XLSX one -> the inventory plan.
    supplier_side.publish_stock()
    poll(app)
    with services.session_factory() as session:
        stock = {m.supplier_sku: (m.stock, m.in_stock) for m in session.query(ProductMapping)}
        assert stock == {"W-TEE-S": (1234, True), "W-MUG": (3, True), "W-CAP": (8, True)}
        [run] = session.query(StockFeedRun).all()
        assert run.source == "file" and run.full and run.status == "applied"

    # The same stock file dropped twice (under two names): applied once, the copy is a duplicate.
    supplier_side.set_stock("W-MUG", 0)
    supplier_side.duplicate_next()
    supplier_side.publish_stock()
    poll(app)
    with services.session_factory() as session:
        assert session.query(StockFeedRun).count() == 2
        assert {m.supplier_sku: m.stock for m in session.query(ProductMapping)}["W-MUG"] == 0
    assert [status for kind, status, *_ in ledger(app) if kind == "stock"] == ["applied", "applied", "duplicate"]

    # The admin sees every file with its outcome.
    listed = app.test_client().get(f"/api/suppliers/{supplier_id}/files", headers=headers).get_json()
    assert {(f["kind"], f["status"]) for f in listed["files"]} >= {("tracking", "applied"), ("stock", "duplicate")}
    assert listed["poll"]["failures"] == 0
