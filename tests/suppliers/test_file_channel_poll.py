"""The file suppliers' poll against real folders: a file is read when complete, applied once, and every run is reported.

Local-folder suppliers (the operator's FILE_SUPPLIER_ROOT) for the folder cases; the sandbox
SFTP server for outages and a changed host key.
"""
from __future__ import annotations

import io
import json
import os
import time
import uuid

import jwt
import pytest

from conftest import API_KEY, API_SECRET, install_shop
from integrations.suppliers.email_po.sent_log import SentLine, SentPurchaseOrder
from integrations.suppliers.files.inbound import FileChanged, fetch
from integrations.suppliers.files.transport import LocalFolderTransport
from sandbox.supplier.sftp_server import SandboxSftpServer
from shopify_app.alerts import open_alerts
from shopify_app.models import utcnow
from shopify_app.suppliers import file_channel
from shopify_app.suppliers.file_channel import poll_file_supplier
from shopify_app.suppliers.file_channel_models import FileChannelFile, FileChannelPoll
from shopify_app.suppliers.models import ProductMapping, Supplier
from shopify_app.suppliers.tracking_imports import sent_log_of

SHOP = "files.myshopify.com"
OTHER_SHOP = "other.myshopify.com"
PO = "do-0123456789abcdef"
HEADER = "po_number,sku,quantity,carrier,tracking_number\n"


def bearer(shop: str = SHOP) -> dict:
    now = int(time.time())
    token = jwt.encode({"iss": f"https://{shop}/admin", "dest": f"https://{shop}", "aud": API_KEY, "sub": "1", "exp": now + 60, "nbf": now - 1,
                        "iat": now, "jti": str(uuid.uuid4()), "sid": uuid.uuid4().hex}, API_SECRET, algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def world(app_factory, database_url, tmp_path):
    """An installed shop with a local-folder file supplier, one PO in its log, and the supplier's folder."""
    root = tmp_path / "files"
    app = app_factory(database_url, file_supplier_root=str(root))
    install_shop(app, SHOP, OTHER_SHOP)
    services = app.extensions["services"]
    with services.session_factory.begin() as session:
        supplier = Supplier(shop_domain=SHOP, name="Local Wholesale", kind="files", settings={"transport": "local", "local_folder": "acme", "poll_minutes": 1})
        foreign = Supplier(shop_domain=OTHER_SHOP, name="Theirs", kind="files", settings={"transport": "local", "local_folder": "theirs"})
        session.add_all([supplier, foreign])
        session.flush()
        session.add(ProductMapping(shop_domain=SHOP, sku="TEE", supplier_id=supplier.id, supplier_sku="W-TEE"))
        ids = supplier.id, foreign.id
    sent_log_of(services.session_factory, SHOP, ids[0]).add(
        SentPurchaseOrder(PO, (SentLine("11", "W-TEE", 2), SentLine("12", "W-MUG", 1)), "2026-12-01T10:00:00+00:00", f"file:PO-{PO}.csv"))
    folder = root / SHOP / "acme"  # every shop's local folders live under FILE_SUPPLIER_ROOT/<shop>/
    for sub in ("from_supplier/tracking", "from_supplier/stock", "from_supplier/acknowledgements"):
        (folder / sub).mkdir(parents=True)
    return app, ids, folder


def polls(app, supplier_id, times=2):
    result = None
    for _ in range(times):
        result = poll_file_supplier(app.extensions["services"], supplier_id)
    return result


def files(app, kind=None):
    with app.extensions["services"].session_factory() as session:
        query = session.query(FileChannelFile).order_by(FileChannelFile.id)
        return [(r.name, r.status, r.rows_applied, r.rows_refused) for r in query if kind is None or r.kind == kind]


def parcels(app, supplier_id):
    return sent_log_of(app.extensions["services"].session_factory, SHOP, supplier_id).get(PO).shipments


def test_a_half_written_file_is_read_only_once_two_looks_agree_and_temporaries_never(world):
    app, (supplier_id, _), folder = world
    tracking = folder / "from_supplier/tracking"
    (tracking / "upload.csv.part").write_text(HEADER + f"{PO},W-TEE,2,DHL,JJD1\n")  # a writer's temporary name
    whole = (HEADER + f"{PO},W-TEE,2,DHL,JJD1\n").encode()
    (tracking / "t1.csv").write_bytes(whole[:20])  # the supplier's upload has just begun
    poll_file_supplier(app.extensions["services"], supplier_id)
    (tracking / "t1.csv").write_bytes(whole)  # ...and finished
    os.utime(tracking / "t1.csv", (time.time() + 5, time.time() + 5))
    poll_file_supplier(app.extensions["services"], supplier_id)
    assert files(app) == [("t1.csv", "waiting", 0, 0)] and parcels(app, supplier_id) == ()
    poll_file_supplier(app.extensions["services"], supplier_id)
    assert files(app) == [("t1.csv", "applied", 1, 0)]
    assert [s.tracking_number for s in parcels(app, supplier_id)] == ["JJD1"]
    assert sorted(p.name for p in tracking.iterdir()) == ["upload.csv.part"]  # the temporary was never touched
    assert (folder / "from_supplier/archive/tracking/t1.csv").read_bytes() == whole


class ReplacingTransport(LocalFolderTransport):
    """Streams the first bytes of a file, then the supplier replaces it (a new export) before we finish."""

    replaced = False

    def download(self, folder, name, sink):
        path = self._dir(folder) / name
        data = path.read_bytes()
        sink.write(data[:10])
        if not ReplacingTransport.replaced:
            ReplacingTransport.replaced = True
            path.write_bytes(data + f"{PO},W-MUG,1,DHL,JJD2\n".encode())
            os.utime(path, (time.time() + 10, time.time() + 10))
            return 10
        sink.write(data[10:])
        return len(data)


def test_a_file_replaced_while_being_read_is_left_for_the_next_poll_and_applied_once(world, monkeypatch):
    app, (supplier_id, _), folder = world
    (folder / "from_supplier/tracking/t.csv").write_text(HEADER + f"{PO},W-TEE,2,DHL,JJD1\n")
    built = file_channel.adapter_for

    def with_replacing_transport(services, supplier, **kw):
        adapter = built(services, supplier, **kw)
        adapter.open_transport = lambda: ReplacingTransport(folder)
        return adapter

    monkeypatch.setattr(file_channel, "adapter_for", with_replacing_transport)
    ReplacingTransport.replaced = False
    result = polls(app, supplier_id)
    assert result.changed == 1 and parcels(app, supplier_id) == ()  # nothing of the half-read file was applied
    polls(app, supplier_id, times=2)  # two looks at the new version
    assert files(app) == [("t.csv", "applied", 2, 0)]
    assert sorted(s.tracking_number for s in parcels(app, supplier_id)) == ["JJD1", "JJD2"]
    # And fetch itself refuses a changed file outright.
    transport = LocalFolderTransport(folder)
    (folder / "x.csv").write_text("a")
    seen = transport.list("")[0]
    (folder / "x.csv").write_text("abc")
    with pytest.raises(FileChanged):
        fetch(transport, "", seen)


def test_the_same_file_twice_and_a_crash_before_archiving_apply_nothing_twice(world, monkeypatch):
    app, (supplier_id, _), folder = world
    content = HEADER + f"{PO},W-TEE,2,DHL,JJD1\n"
    (folder / "from_supplier/tracking/t.csv").write_text(content)
    # The first time, the process dies after applying and before moving the file to the archive.
    monkeypatch.setattr(LocalFolderTransport, "move", lambda self, *a: (_ for _ in ()).throw(OSError("killed")))
    with pytest.raises(OSError):
        polls(app, supplier_id)
    monkeypatch.undo()
    assert len(parcels(app, supplier_id)) == 1
    polls(app, supplier_id)
    (folder / "from_supplier/tracking/t-again.csv").write_text(content)  # the supplier sends it again under another name
    polls(app, supplier_id)
    assert [(name, status) for name, status, *_ in files(app)] == [("t.csv", "applied"), ("t.csv", "duplicate"), ("t-again.csv", "duplicate")]
    assert len(parcels(app, supplier_id)) == 1
    assert not list((folder / "from_supplier/tracking").iterdir())


def test_refused_rows_are_reported_in_the_admin_with_their_reasons(world):
    app, (supplier_id, foreign_id), folder = world
    (folder / "from_supplier/tracking/t.csv").write_text(
        HEADER + f"{PO},W-TEE,2,DHL,JJD1\nPO-NEVER-SENT,W-TEE,1,DHL,JJD9\n{PO},W-MUG,two,DHL,JJD3\n\n{PO},W-HAT,1,DHL,JJD4\n")
    (folder / "from_supplier/stock/s.csv").write_text("sku,available\nW-TEE,4\nW-NOPE,3\nW-TEE,5\n")
    polls(app, supplier_id)
    client = app.test_client()
    answer = client.get(f"/api/suppliers/{supplier_id}/files?kind=tracking", headers=bearer())
    [tracking] = answer.get_json()["files"]
    assert (tracking["status"], tracking["rows_applied"], tracking["rows_refused"]) == ("applied", 1, 3)
    assert [(r["row"], r["outcome"], r["reason"]) for r in tracking["refused"]] == [
        (3, "unknown_po", "PO PO-NEVER-SENT is not a purchase order we sent to this supplier"),
        (4, "unreadable", "quantity 'two' is not a whole number"),
        (6, "unreadable", f"unknown SKU W-HAT for PO {PO}: it is not on that purchase order"),
    ]
    [stock] = client.get(f"/api/suppliers/{supplier_id}/files?kind=stock", headers=bearer()).get_json()["files"]
    assert (stock["rows_applied"], stock["rows_refused"]) == (1, 2)
    assert stock["refused"] == [{"row": 4, "reason": "SKU W-TEE is listed again (first on row 2)"},
                                {"row": None, "sku": "W-NOPE", "reason": "unknown SKU: no product is mapped to it for this supplier"}]
    with app.extensions["services"].session_factory() as session:
        assert session.query(ProductMapping).one().stock == 4
    # Another shop's supplier is not ours to read; a bad kind is a 400 naming the field.
    assert client.get(f"/api/suppliers/{foreign_id}/files", headers=bearer()).status_code == 404
    assert client.get(f"/api/suppliers/{supplier_id}/files?kind=invoices", headers=bearer()).get_json()["fields"][0]["field"] == "kind"


def test_the_mapping_editor_saves_a_checked_mapping_and_previews_a_sample(world):
    app, (supplier_id, _), _ = world
    client = app.test_client()
    bad = client.put(f"/api/suppliers/{supplier_id}/file-mappings/stock", headers=bearer(), json={"columns": {"colour": "Farbe"}})
    assert bad.status_code == 400 and bad.get_json()["fields"][0]["message"].startswith("mappings.stock.columns: 'colour' is not a field")
    mapping = {"delimiter": ";", "decimal_comma": True, "columns": {"sku": "Artikel", "quantity": "Bestand"}}
    saved = client.put(f"/api/suppliers/{supplier_id}/file-mappings/stock", headers=bearer(), json=mapping)
    assert saved.status_code == 200 and saved.get_json()["mapping"]["columns"] == {"sku": "Artikel", "available": "Bestand"}
    sample = "\ufeffArtikel;Bestand\nW-TEE;1.234,0\nW-MUG;viele\n".encode()
    shown = client.post(f"/api/suppliers/{supplier_id}/file-mappings/stock/preview", headers=bearer(),
                        data={"file": (io.BytesIO(sample), "stock.csv")}, content_type="multipart/form-data").get_json()["preview"]
    assert shown["rows"][0] == {"row": 2, "values": {"sku": "W-TEE", "available": "1234"}}
    assert shown["refused"] == [{"row": 3, "reason": "available 'viele' is not a whole number"}]
    other = client.post(f"/api/suppliers/{supplier_id}/file-mappings/stock/preview", headers=bearer(),
                        data={"file": (io.BytesIO(b"sku,available\nA,1\n"), "s.csv"), "mapping": json.dumps({"columns": {"sku": 1, "available": 2}, "header_row": 0})},
                        content_type="multipart/form-data").get_json()["preview"]
    assert [r["values"] for r in other["rows"]] == [{"sku": "sku", "available": "available"}, {"sku": "A", "available": "1"}]
    assert other["refused"] == [{"row": 1, "reason": "available 'available' is not a whole number"}]
    assert client.post(f"/api/suppliers/{supplier_id}/file-mappings/stock/preview", headers=bearer(), json={}).status_code == 415


def test_an_unreachable_server_is_retried_later_and_alerted_and_a_changed_host_key_at_once(app_factory, database_url, tmp_path):
    app = app_factory(database_url)
    install_shop(app, SHOP)
    services = app.extensions["services"]
    with SandboxSftpServer(tmp_path / "sftp", {"shop": "pw"}) as server, SandboxSftpServer(tmp_path / "other", {"shop": "pw"}) as impostor:
        settings = {"transport": "sftp", "host": server.host, "port": server.port, "username": "shop", "host_key_fingerprint": server.fingerprint, "timeout_seconds": 15}
        with services.session_factory.begin() as session:
            good = Supplier(shop_domain=SHOP, name="Down Wholesale", kind="files", settings=settings, credentials_enc=services.box.encrypt(json.dumps({"password": "pw"})))
            moved = Supplier(shop_domain=SHOP, name="Moved Wholesale", kind="files", settings={**settings, "port": impostor.port},
                             credentials_enc=services.box.encrypt(json.dumps({"password": "pw"})))
            session.add_all([good, moved])
            session.flush()
            good_id, moved_id = good.id, moved.id
        server.down = True
        for _ in range(3):
            result = poll_file_supplier(services, good_id)
            assert result.error and "connection failed" in result.error
        result = poll_file_supplier(services, moved_id)
        assert "host key" in result.error
        with services.session_factory() as session:
            kinds = {alert.kind: alert for alert in open_alerts(session, SHOP)}
            assert kinds["file_supplier_unreachable"].severity == "warning"
            assert kinds["file_supplier_host_key"].severity == "critical" and impostor.fingerprint in kinds["file_supplier_host_key"].message
            state = session.query(FileChannelPoll).filter_by(supplier_id=good_id).one()
            assert state.failures == 3 and state.next_poll_at > utcnow()
        assert impostor.connections == 1 and not list(impostor.home("shop").iterdir())  # refused before logging in
        server.down = False
        assert poll_file_supplier(services, good_id).error is None
        with services.session_factory() as session:
            assert "file_supplier_unreachable" not in {alert.kind for alert in open_alerts(session, SHOP)}


def test_the_sandbox_suppliers_malformed_and_half_written_files(world):
    from sandbox.supplier.file_supplier import LAYOUT_CSV, MAPPINGS, SandboxFileSupplier

    app, (supplier_id, _), folder = world
    with app.extensions["services"].session_factory.begin() as session:
        supplier = session.get(Supplier, supplier_id)
        supplier.settings = {**supplier.settings, "mappings": MAPPINGS[LAYOUT_CSV]}
    wholesaler = SandboxFileSupplier(folder, LAYOUT_CSV, stock={"W-TEE": 12})
    wholesaler.orders[PO] = __import__("sandbox.supplier.file_supplier", fromlist=["SupplierPo"]).SupplierPo(PO, {"11": ("W-TEE", 2), "12": ("W-MUG", 1)}, "London")
    wholesaler.malformed_next()
    wholesaler.ship(PO)  # a copy of the first row with "zwei" as its quantity goes first
    wholesaler.partial_next()
    wholesaler.publish_stock()  # half-written under its final name: the first look sees it
    polls(app, supplier_id, times=1)
    wholesaler.finish_partial()  # the upload goes on: the second look sees another size
    polls(app, supplier_id, times=1)
    assert [(name.split("_")[0], status, applied, refused) for name, status, applied, refused in files(app)] == [
        ("tracking", "applied", 0, 3), ("stock", "waiting", 0, 0)]  # the stock file grew between the looks: not read yet
    polls(app, supplier_id, times=1)
    assert [(name.split("_")[0], status, applied, refused) for name, status, applied, refused in files(app)] == [
        ("tracking", "applied", 0, 3), ("stock", "applied", 1, 0)]
    with app.extensions["services"].session_factory() as session:
        [tracking] = session.query(FileChannelFile).filter_by(kind="tracking").all()
        reasons = [r["reason"] for r in tracking.report]
    assert reasons[0] == "quantity 'zwei' is not a whole number"  # the malformed row, and its parcel's other rows left out with it
    assert all("left out with parcel" in reason for reason in reasons[1:])
    assert parcels(app, supplier_id) == ()
    with app.extensions["services"].session_factory() as session:
        assert session.query(ProductMapping).one().stock == 12


def test_local_folders_are_confined_to_the_shops_own_folder(world):
    """Shop B naming shop A's folder (or the root, or '..') never reaches A's files (review item 7)."""
    from integrations.suppliers.files.config import InvalidFileSettings, parse_settings
    from integrations.suppliers.files.transport import TransportError

    app, (supplier_id, foreign_id), folder = world
    root = folder.parent.parent
    (folder / "from_supplier/stock/a-secret.csv").write_text("sku,available\nW-TEE,4\n")
    services = app.extensions["services"]
    with services.session_factory.begin() as session:
        foreign = session.get(Supplier, foreign_id)
        foreign.settings = {"transport": "local", "local_folder": "acme"}  # the same name as shop A's folder
    with services.session_factory() as session:
        theirs = file_channel.adapter_for(services, session.get(Supplier, foreign_id))
    transport = theirs.open_transport()
    assert transport.root == (root / OTHER_SHOP / "acme").resolve()
    with pytest.raises(TransportError):
        transport.list("from_supplier/stock")  # B's own (empty) folder, not A's
    transport.write_atomic("to_supplier", "PO-x.csv", b"po")
    assert (root / OTHER_SHOP / "acme/to_supplier/PO-x.csv").read_bytes() == b"po"
    assert not (folder / "to_supplier").exists()
    with pytest.raises(ValueError):
        transport.list("../../" + SHOP + "/acme/from_supplier/stock")
    for bad in ("", "..", "../" + SHOP + "/acme", "a/../.."):
        with pytest.raises(InvalidFileSettings):
            parse_settings({"transport": "local", "local_folder": bad}, local_allowed=True)


def test_a_stock_snapshot_returning_to_an_earlier_content_is_applied_and_a_resend_is_not(world):
    """3 -> 5 -> 3 must end at 3; the same snapshot sent again right after stays a duplicate (review item 9)."""
    app, (supplier_id, _), folder = world
    stock = folder / "from_supplier/stock"

    def level():
        with app.extensions["services"].session_factory() as session:
            return session.query(ProductMapping).one().stock

    for name, available in (("s1.csv", 3), ("s2.csv", 5), ("s3.csv", 3)):
        (stock / name).write_text(f"sku,available\nW-TEE,{available}\n")
        polls(app, supplier_id)
        assert level() == available, name
    (stock / "s4.csv").write_text("sku,available\nW-TEE,3\n")  # the same snapshot re-sent
    polls(app, supplier_id)
    assert [(name, status) for name, status, *_ in files(app, "stock")] == [
        ("s1.csv", "applied"), ("s2.csv", "applied"), ("s3.csv", "applied"), ("s4.csv", "duplicate")]
    assert level() == 3


@pytest.mark.parametrize("depth", [900, 990, 5000], ids=["parses", "just-parses", "too-deep-to-parse"])
def test_a_mapping_nested_too_deeply_is_a_400_not_a_crash(world, depth):
    app, (supplier_id, _), _ = world
    client = app.test_client()
    deep = '{"columns": ' * depth + "{}" + "}" * depth
    previewed = client.post(f"/api/suppliers/{supplier_id}/file-mappings/stock/preview", headers=bearer(),
                            data={"file": (io.BytesIO(b"sku,available\nA,1\n"), "s.csv"), "mapping": deep}, content_type="multipart/form-data")
    saved = client.put(f"/api/suppliers/{supplier_id}/file-mappings/stock", headers={**bearer(), "Content-Type": "application/json"}, data=deep)
    assert (previewed.status_code, saved.status_code) == (400, 400), (previewed.get_data(as_text=True)[:200], saved.get_data(as_text=True)[:200])
