"""An EDI partner end to end: sandbox Shopify -> app -> 850 in the exchange folder (once, across a crash and a lost answer) -> the sandbox partner's 997/855/856/846 -> a Shopify fulfillment and stock in the inventory plan."""
from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from conftest import API_KEY, API_SECRET
from edi_testkit import edi_settings
from integrations.suppliers.edi_x12.x12 import Party
from integrations.suppliers.files import transport as transport_module
from integrations.suppliers.files.transport import LocalFolderTransport, TransportError
from sandbox.supplier.edi_partner import EdiPartner
from scheduler.embedded import PERIODIC_JOBS
from shopify_app.inventory.models import StockFeedRun
from shopify_app.suppliers.edi_models import EdiDocument, EdiInterchange
from shopify_app.suppliers.forwarding import ForwardingWorker
from shopify_app.suppliers.models import ProductMapping, Supplier, SupplierOrder
from shopify_app.webhooks.worker import InboxWorker
from test_email_supplier_loop import shopify_order

SHOP = "demo.myshopify.com"


@pytest.fixture
def world(app_factory, database_url, sandbox_shopify, tmp_path):
    # The operator's FILE_SUPPLIER_ROOT: the same setting the file channel's local folders live under.
    app = app_factory(database_url, sandbox_shopify_url=sandbox_shopify.base_url, file_supplier_root=str(tmp_path / "files"))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sandbox_shopify.register_app(API_KEY, API_SECRET, f"http://127.0.0.1:{server.server_port}", webhook_topics=["orders/create", "orders/paid", "orders/updated"])
    services = app.extensions["services"]
    services.tokens.save(SHOP, sandbox_shopify.issue_access_token(SHOP, API_KEY)["access_token"], None, None, None, "write_orders")
    # Unique per test: adapters are cached per process by their settings, and each test has its own folder and database.
    settings = {**edi_settings(our_application_code=f"APP{tmp_path.name[-10:]}".replace("_", "")[:15]), "transport": {"kind": "local"}}
    with services.session_factory.begin() as session:
        supplier = Supplier(shop_domain=SHOP, name="EDI Wholesale", kind="edi_x12", settings=settings)
        session.add(supplier)
        session.flush()
        session.add(ProductMapping(shop_domain=SHOP, sku="TEE-S", supplier_id=supplier.id, supplier_sku="W-TEE-S", cost="4.50"))
        session.add(ProductMapping(shop_domain=SHOP, sku="MUG-WHT", supplier_id=supplier.id, supplier_sku="W-MUG", cost="3.25"))
        supplier_id = supplier.id
    folder = tmp_path / "files" / SHOP.replace("_", "_") / str(supplier_id)
    folder.mkdir(parents=True, exist_ok=True)
    partner = EdiPartner(LocalFolderTransport(folder), Party("01", "123456789", "WHOLESALE"), Party("ZZ", "DROPSHIPAPP", settings["our_application_code"]),
                         known_skus={"W-TEE-S": 30, "W-MUG": 4})
    yield app, sandbox_shopify, partner, folder, supplier_id
    server.shutdown()


def make_due(app) -> None:
    """Pretend the forwarding backoff has run out."""
    import datetime as dt

    from sqlalchemy import update

    with app.extensions["services"].session_factory.begin() as session:
        session.execute(update(SupplierOrder).values(next_attempt_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1), lease_until=None))


def run_job(app, name):
    [job] = [fn for job_id, _, fn in PERIODIC_JOBS if job_id == name]
    return job(app.extensions["services"])


def test_an_order_goes_out_once_as_an_850_and_its_856_becomes_a_shopify_fulfillment(world, monkeypatch):
    app, shopify, partner, folder, supplier_id = world
    services = app.extensions["services"]
    order = shopify.place_order(SHOP, [{"sku": "TEE-S", "quantity": 2}, {"sku": "MUG-WHT", "quantity": 1}], email="buyer@example.com")
    InboxWorker(services.session_factory, services.settings, services).drain()

    # First attempt: the process "crashes" after recording the 850, before the file is written.
    real_write = transport_module.LocalFolderTransport.write_atomic
    faults = ["crash", "lost answer"]

    def flaky_write(self, folder_name, name, data):
        fault = faults.pop(0) if faults and name.startswith("850_") else None
        if fault == "crash":
            raise TransportError("connection reset")
        real_write(self, folder_name, name, data)
        if fault == "lost answer":
            raise TransportError("timed out waiting for the rename's answer")

    monkeypatch.setattr(transport_module.LocalFolderTransport, "write_atomic", flaky_write)
    worker = ForwardingWorker(services.session_factory, services.box)
    for _ in range(4):
        worker.drain()
        make_due(app)
    with services.session_factory() as session:
        [delivery] = session.query(SupplierOrder).all()
        assert delivery.state == "placed", delivery.state
        documents = session.query(EdiDocument).filter_by(kind="850").all()
        assert len(documents) == 1 and documents[0].reference == delivery.supplier_order_id
    assert faults == []
    files = sorted(p.name for p in (folder / "to_partner").iterdir())
    assert files == [f"850_{delivery.supplier_order_id}.x12"]

    partner.run_once()
    assert partner.interchanges_for(delivery.supplier_order_id) == 1
    assert sorted(partner.orders[delivery.supplier_order_id].skus.values()) == ["W-MUG", "W-TEE-S"]

    # The partner answers (997 + 855), ships everything (856) and advises stock (846); the job reads it all.
    run_job(app, "edi-partners")
    tracking = partner.ship(delivery.supplier_order_id)
    partner.advise_stock({"W-TEE-S": 11, "W-MUG": 0})
    run_job(app, "edi-partners")

    status = shopify_order(shopify, order["id"])
    assert status["displayFulfillmentStatus"] == "FULFILLED"
    [fulfillment] = status["fulfillments"]
    assert fulfillment["trackingInfo"][0]["number"] == tracking
    with services.session_factory() as session:
        stock = {m.supplier_sku: (m.stock, m.in_stock) for m in session.query(ProductMapping)}
        assert stock == {"W-TEE-S": (11, True), "W-MUG": (0, False)}
        assert [run.source for run in session.query(StockFeedRun)] == ["edi_846"]
        runs = session.query(EdiInterchange).order_by(EdiInterchange.id).all()
        assert [run.outcome for run in runs] == ["applied"] * 4

    # The same 856 dropped again under another name: a duplicate, no second fulfillment.
    shipped = next((folder / "archive").glob("856_*.x12"))
    (folder / "from_partner" / "856_again.x12").write_bytes(shipped.read_bytes())
    run_job(app, "edi-partners")
    assert len(shopify_order(shopify, order["id"])["fulfillments"]) == 1
    with services.session_factory() as session:
        assert session.query(EdiInterchange).order_by(EdiInterchange.id.desc()).first().outcome == "duplicate"

    # The merchant sees every file's run: through the API and on the supplier page.
    token = shopify.mint_session_token(SHOP, API_KEY, ttl=600)
    listed = app.test_client().get(f"/api/suppliers/{supplier_id}/edi-runs", headers={"Authorization": f"Bearer {token}"}).get_json()["edi_runs"]
    assert [run["outcome"] for run in listed] == ["duplicate", "applied", "applied", "applied", "applied"]
    assert "was applied already" in listed[0]["reasons"][0]
    html = app.test_client().get(f"/suppliers/{supplier_id}?shop={SHOP}&host=abc&embedded=1&id_token={token}").get_data(as_text=True)
    section = html.split('id="edi-runs"', 1)[1].split('<div class="card"', 1)[0]
    assert section.count('data-outcome="applied"') == 4 and section.count('data-outcome="duplicate"') == 1 and "856_again.x12" in section


def test_a_refused_file_is_reported_with_its_reason_and_other_kinds_have_no_edi_runs(world):
    app, shopify, partner, folder, supplier_id = world
    (folder / "from_partner").mkdir(parents=True, exist_ok=True)
    (folder / "from_partner" / "stock.csv").write_bytes(b"sku,qty\nW-MUG,3\n")
    run_job(app, "edi-partners")
    token = shopify.mint_session_token(SHOP, API_KEY, ttl=600)
    headers = {"Authorization": f"Bearer {token}"}
    [run] = app.test_client().get(f"/api/suppliers/{supplier_id}/edi-runs", headers=headers).get_json()["edi_runs"]
    assert (run["outcome"], run["reasons"]) == ("unreadable", ["the file does not start with an ISA segment"])
    assert (folder / "rejected" / "stock.csv").exists()
    services = app.extensions["services"]
    with services.session_factory.begin() as session:
        other = Supplier(shop_domain=SHOP, name="Mail", kind="email", settings={"to_addresses": ["po@example.com"]})
        session.add(other)
        session.flush()
        other_id = other.id
    assert app.test_client().get(f"/api/suppliers/{other_id}/edi-runs", headers=headers).status_code == 409
    assert app.test_client().get("/api/suppliers/999999/edi-runs", headers=headers).status_code == 404


def test_an_855_rejecting_every_line_fails_the_delivery_with_an_alert(world):
    from shopify_app.suppliers.models import Alert

    app, shopify, partner, folder, supplier_id = world
    services = app.extensions["services"]
    partner.stock.clear()  # the partner no longer carries either SKU: its 855 rejects both lines
    shopify.place_order(SHOP, [{"sku": "TEE-S", "quantity": 1}, {"sku": "MUG-WHT", "quantity": 1}], email="buyer@example.com")
    InboxWorker(services.session_factory, services.settings, services).drain()
    ForwardingWorker(services.session_factory, services.box).drain()
    partner.run_once()
    run_job(app, "edi-partners")
    with services.session_factory() as session:
        [delivery] = session.query(SupplierOrder).all()
        assert delivery.state == "failed"
        kinds = sorted(alert.dedupe_key.split(":")[0] for alert in session.query(Alert).filter(Alert.resolved_at.is_(None)))
        assert kinds == ["edi_line_rejected", "edi_line_rejected", "supplier_failed"]


def test_an_unreachable_folder_backs_off_then_alerts_and_the_alert_closes_when_it_is_back(world, monkeypatch):
    import datetime as dt

    import shopify_app.suppliers.edi_polling as polling
    from shopify_app.suppliers.models import Alert

    app, shopify, partner, folder, supplier_id = world
    services = app.extensions["services"]
    (folder / "from_partner").mkdir(parents=True, exist_ok=True)

    def refused(self, folder_name):
        raise TransportError("connection refused")

    patch = monkeypatch.context()
    patch.__enter__().setattr(transport_module.LocalFolderTransport, "list", refused)
    start = dt.datetime.now(dt.timezone.utc)
    assert polling.poll_edi_partners(services, now=start) == 1
    assert polling.poll_edi_partners(services, now=start + dt.timedelta(seconds=30)) == 0  # backing off (1 minute)
    assert polling.poll_edi_partners(services, now=start + dt.timedelta(minutes=1, seconds=1)) == 1
    assert polling.poll_edi_partners(services, now=start + dt.timedelta(minutes=2)) == 0  # 2 minutes now

    def open_alerts():
        with services.session_factory() as session:
            return [a.dedupe_key for a in session.query(Alert).filter(Alert.resolved_at.is_(None))]

    assert open_alerts() == []
    assert polling.poll_edi_partners(services, now=start + dt.timedelta(minutes=3, seconds=2)) == 1
    assert open_alerts() == [polling.outage_key(supplier_id)]
    patch.__exit__(None, None, None)
    assert polling.poll_edi_partners(services, now=start + dt.timedelta(minutes=8)) == 1
    assert open_alerts() == []


def test_an_850_without_a_997_in_the_window_raises_an_alert_that_the_997_closes(world):
    import datetime as dt

    from sqlalchemy import update

    import shopify_app.suppliers.edi_polling as polling
    from shopify_app.suppliers.models import Alert

    app, shopify, partner, folder, supplier_id = world
    services = app.extensions["services"]
    (folder / "from_partner").mkdir(parents=True, exist_ok=True)
    shopify.place_order(SHOP, [{"sku": "TEE-S", "quantity": 1}], email="buyer@example.com")
    InboxWorker(services.session_factory, services.settings, services).drain()
    ForwardingWorker(services.session_factory, services.box).drain()

    def open_alerts():
        with services.session_factory() as session:
            return [a.dedupe_key.rsplit(":", 1)[0] for a in session.query(Alert).filter(Alert.resolved_at.is_(None))]

    run_job(app, "edi-partners")
    assert open_alerts() == []  # still inside the 60-minute window
    with services.session_factory.begin() as session:
        session.execute(update(EdiDocument).values(delivered_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=61)))
    run_job(app, "edi-partners")
    assert open_alerts() == [f"edi_997_overdue:{supplier_id}"]
    partner.run_once()  # the partner's 997 (and 855) arrive late
    run_job(app, "edi-partners")
    assert open_alerts() == []


def test_make_runs_sandbox_edi_partner_takes_an_order_over_sftp_and_ships_it(app_factory, database_url, sandbox_shopify, tmp_path, monkeypatch):
    """`make run`'s sandbox EDI partner and its demo supplier record (shopify_app/devserver.py), over the sandbox SFTP server."""
    import time

    from shopify_app import devserver

    app = app_factory(database_url, sandbox_shopify_url=sandbox_shopify.base_url)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sandbox_shopify.register_app(API_KEY, API_SECRET, f"http://127.0.0.1:{server.server_port}", webhook_topics=["orders/create", "orders/paid", "orders/updated"])
    services = app.extensions["services"]
    services.tokens.save(SHOP, sandbox_shopify.issue_access_token(SHOP, API_KEY)["access_token"], None, None, None, "write_orders")
    monkeypatch.setenv("SANDBOX_SFTP_PORT", "0")
    monkeypatch.setenv("SANDBOX_SFTP_ROOT", str(tmp_path / "sftp"))
    sftp = devserver.start_file_supplier(type("Settings", (), {"port": 0})())  # the SFTP server, the file supplier and the EDI partner
    try:
        supplier_id = devserver.seed_edi_supplier(services, sftp, SHOP)
        assert devserver.seed_edi_supplier(services, sftp, SHOP) == supplier_id  # idempotent across restarts
        with services.session_factory.begin() as session:
            session.add(ProductMapping(shop_domain=SHOP, sku="TEE-S", supplier_id=supplier_id, supplier_sku="TEE-S", cost="4.50"))
        banner = devserver.banner(type("S", (), {"app_url": "http://app"})(), (), sftp)
        assert f"Sandbox EDI partner (X12 850/855/856/846 over the same SFTP server): sftp://demo-edi@127.0.0.1:{sftp.port}" in banner
        order = sandbox_shopify.place_order(SHOP, [{"sku": "TEE-S", "quantity": 1}], email="buyer@example.com")
        InboxWorker(services.session_factory, services.settings, services).drain()
        ForwardingWorker(services.session_factory, services.box).drain()
        with services.session_factory() as session:
            [delivery] = session.query(SupplierOrder).all()
            assert delivery.state == "placed" and delivery.supplier_id == supplier_id, delivery.state
        # The 850 went over SFTP into the partner's folder on the server (its own user, not the file supplier's).
        assert any(path.endswith(f"850_{delivery.supplier_order_id}.x12") for path in sftp.renamed)
        deadline = time.time() + 60
        while shopify_order(sandbox_shopify, order["id"])["displayFulfillmentStatus"] != "FULFILLED" and time.time() < deadline:
            run_job(app, "edi-partners")
            time.sleep(0.5)
        status = shopify_order(sandbox_shopify, order["id"])
        assert status["displayFulfillmentStatus"] == "FULFILLED"
        assert sftp.edi_partner.interchanges_for(delivery.supplier_order_id) == 1
    finally:
        sftp.supplier_stop.set()
        sftp.edi_partner.stop()
        sftp.stop()
        server.shutdown()


def test_an_edi_partner_whose_sftp_host_key_changed_alerts_at_once_and_backs_off_in_the_database(world, tmp_path):
    """The file channel's poll state and alerts serve EDI partners too: a changed host key is critical at the first read."""
    import datetime as dt
    import json

    import shopify_app.suppliers.edi_polling as polling
    from sandbox.supplier.sftp_server import SandboxSftpServer
    from shopify_app.suppliers.file_channel_models import FileChannelPoll
    from shopify_app.suppliers.models import Alert

    app, shopify, partner, folder, supplier_id = world
    services = app.extensions["services"]
    with SandboxSftpServer(tmp_path / "sftp", {"edi": "pw-edi"}) as server:
        with services.session_factory.begin() as session:
            supplier = session.get(Supplier, supplier_id)
            supplier.settings = {**supplier.settings, "transport": {"kind": "sftp", "host": server.host, "port": server.port, "username": "edi",
                                                                    "host_key_fingerprint": "SHA256:" + "q" * 43}}
            supplier.credentials_enc = services.box.encrypt(json.dumps({"password": "pw-edi"}))
        start = dt.datetime.now(dt.timezone.utc)
        assert polling.poll_edi_partners(services, now=start) == 1
        assert polling.poll_edi_partners(services, now=start + dt.timedelta(seconds=30)) == 0  # paused, and every process sees it
        with services.session_factory() as session:
            [alert] = session.query(Alert).filter(Alert.resolved_at.is_(None)).all()
            state = session.query(FileChannelPoll).filter_by(supplier_id=supplier_id).one()
        assert alert.kind == "file_supplier_host_key" and alert.severity == "critical" and server.fingerprint in alert.message
        assert state.failures == 1 and state.next_poll_at > start and "host key" in state.last_error
        assert server.renamed == []  # nothing was read or written
