"""The EDI partner over a real SFTP server (the file channel's SftpTransport and sandbox server), built the way the app builds it: from the saved settings."""
from __future__ import annotations

import pytest

from edi_testkit import IN_STOCK, edi_settings, independent_segments, make_world
from integrations import egress
from integrations.suppliers import runtime
from integrations.suppliers.base import Address, OrderLine, PlaceOrder
from integrations.suppliers.edi_x12.adapter import EdiX12Adapter
from integrations.suppliers.edi_x12.config import InvalidEdiSettings
from integrations.suppliers.edi_x12.factory import check_edi_settings, transport_opener
from integrations.suppliers.files.sftp import HostKeyMismatch, SftpTransport
from integrations.suppliers.files.transport import LocalFolderTransport, TransportError
from integrations.suppliers.runtime import SupplierRef
from sandbox.supplier.edi_partner import EdiPartner
from sandbox.supplier.sftp_server import SandboxSftpServer

USER, PASSWORD = "dropship", "s3cret-pass"
OWNER = SupplierRef("edi-shop.myshopify.com", 1)


@pytest.fixture
def sftp_server(tmp_path):
    with SandboxSftpServer(tmp_path / "sftp", {USER: PASSWORD}) as server:
        for folder in ("to_partner", "from_partner"):
            (server.home(USER) / folder).mkdir(parents=True, exist_ok=True)
        yield server


@pytest.fixture
def sandbox_egress():
    """The process egress policy of a sandbox install (127.0.0.1 reachable), as `make run` configures it."""
    previous = egress.configure(egress.EgressPolicy(sandbox=True))
    yield
    egress.configure(previous)


def sftp_settings(server, **transport):
    return {"kind": "sftp", "host": server.host, "port": server.port, "username": USER, "host_key_fingerprint": server.fingerprint,
            "timeout_seconds": 15, **transport}


def test_an_850_goes_out_over_sftp_and_the_partners_856_comes_back(tmp_path, sftp_server, sandbox_egress):
    world = make_world(tmp_path, edi_settings(known_skus=list(IN_STOCK)))
    home = sftp_server.home(USER)
    opener = transport_opener({**edi_settings(), "transport": sftp_settings(sftp_server)}, {"password": PASSWORD}, OWNER)
    assert isinstance(opener(), SftpTransport)  # the file channel's transport, not one of EDI's own
    adapter = EdiX12Adapter(world.adapter.settings, world.store, opener)
    partner = EdiPartner(LocalFolderTransport(home), world.adapter.settings.partner, world.adapter.settings.us, known_skus={IN_STOCK[0]: 5})
    order = PlaceOrder("sftp-order-1", Address(name="Ada", address1="1 Way", city="London", country_code="GB"), (OrderLine("L1", IN_STOCK[0], 2),))
    placed = adapter.place_order(order)
    segments, errors = independent_segments((home / "to_partner" / "850_sftp-order-1.x12").read_bytes())
    assert errors == [] and next(s for s in segments if s[0] == "BEG")[3] == "sftp-order-1"
    assert any(path.endswith("850_sftp-order-1.x12") for path in sftp_server.renamed)  # written under a temp name, then renamed in place

    partner.run_once()
    tracking = partner.ship(placed.supplier_order_id)
    run = adapter.poll_inbound()
    assert sorted(f.outcome for f in run.files) == ["applied", "applied", "applied"]  # 997, 855, 856
    [shipment] = adapter.get_shipments(placed.supplier_order_id)
    assert shipment.tracking_number == tracking
    assert sorted(p.name[:3] for p in (home / "archive").iterdir()) == ["855", "856", "997"]


def test_an_edi_partner_whose_server_shows_another_host_key_is_refused_before_login(tmp_path, sftp_server, sandbox_egress):
    other = "SHA256:" + "q" * 43
    opener = transport_opener({**edi_settings(), "transport": sftp_settings(sftp_server, host_key_fingerprint=other)}, {"password": PASSWORD}, OWNER)
    with pytest.raises(HostKeyMismatch) as refused:
        opener().list("from_partner")
    assert refused.value.permanent and refused.value.presented == sftp_server.fingerprint


def test_an_edi_partner_on_an_address_the_egress_policy_refuses_is_never_connected(tmp_path, sftp_server):
    previous = egress.configure(egress.EgressPolicy())  # production: loopback and private addresses refused
    try:
        opener = transport_opener({**edi_settings(), "transport": sftp_settings(sftp_server)}, {"password": PASSWORD}, OWNER)
        with pytest.raises(TransportError) as refused:
            opener().list("from_partner")
        assert refused.value.permanent and "egress" in str(refused.value)
        # And at save time, with the same check as a file supplier's host.
        with pytest.raises(InvalidEdiSettings, match="transport.host is refused"):
            check_edi_settings({**edi_settings(), "transport": sftp_settings(sftp_server)}, egress.EgressPolicy(), 30.0)
    finally:
        egress.configure(previous)
    assert sftp_server.renamed == []


@pytest.mark.parametrize("fingerprint", ["SHA256:short", "MD5:aa:bb", 42])
def test_an_edi_host_key_fingerprint_that_cannot_be_pinned_is_refused_at_save_time(sftp_server, fingerprint):
    with pytest.raises(InvalidEdiSettings, match="transport.host_key_fingerprint"):
        check_edi_settings({**edi_settings(), "transport": sftp_settings(sftp_server, host_key_fingerprint=fingerprint)}, egress.EgressPolicy(sandbox=True), 30.0)


def test_a_local_edi_partner_lives_under_the_file_channels_root_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("SUPPLIER_FILES_ROOT", str(tmp_path / "old-name"))  # the name EDI used to read: not a setting any more
    settings = {**edi_settings(), "transport": {"kind": "local"}}
    previous = runtime.configure(runtime.SupplierRuntime(file_root=None))  # an app built earlier in this process may have set one
    try:
        with pytest.raises(InvalidEdiSettings, match="FILE_SUPPLIER_ROOT"):
            transport_opener(settings, {}, OWNER)
        runtime.configure(runtime.SupplierRuntime(file_root=str(tmp_path / "files")))
        transport = transport_opener(settings, {}, OWNER)()
    finally:
        runtime.configure(previous)
    transport.write_atomic("to_partner", "850_x.x12", b"ISA")
    assert (tmp_path / "files" / "edi-shop.myshopify.com" / "1" / "to_partner" / "850_x.x12").read_bytes() == b"ISA"
    assert not (tmp_path / "old-name").exists()
