"""The EDI partner over a real SFTP server (part F's transport and sandbox server): skipped until they are merged in."""
from __future__ import annotations

import pytest

sftp = pytest.importorskip("integrations.suppliers.files.sftp", reason="the SFTP transport (issue 15 part F) is not in this build")
sftp_server = pytest.importorskip("sandbox.supplier.sftp_server", reason="the sandbox SFTP server (issue 15 part F) is not in this build")

from edi_testkit import IN_STOCK, edi_settings, independent_segments, make_world  # noqa: E402
from integrations import egress  # noqa: E402
from integrations.suppliers.base import Address, OrderLine, PlaceOrder  # noqa: E402
from integrations.suppliers.edi_x12.adapter import EdiX12Adapter  # noqa: E402
from integrations.suppliers.files.transport import LocalFolderTransport  # noqa: E402
from sandbox.supplier.edi_partner import EdiPartner  # noqa: E402


def test_an_850_goes_out_over_sftp_and_the_partners_856_comes_back(tmp_path):
    world = make_world(tmp_path, edi_settings(known_skus=list(IN_STOCK)))
    with sftp_server.SandboxSftpServer(tmp_path / "sftp", {"dropship": "s3cret-pass"}) as server:
        home = server.home("dropship")
        for folder in ("to_partner", "from_partner"):
            (home / folder).mkdir(parents=True, exist_ok=True)

        def open_sftp():
            return sftp.SftpTransport(server.host, server.port, "dropship", host_key_fingerprint=server.fingerprint, password="s3cret-pass",
                                      timeout=15.0, policy=egress.EgressPolicy(sandbox=True))

        adapter = EdiX12Adapter(world.adapter.settings, world.store, open_sftp)
        partner = EdiPartner(LocalFolderTransport(home), world.adapter.settings.partner, world.adapter.settings.us, known_skus={IN_STOCK[0]: 5})
        order = PlaceOrder("sftp-order-1", Address(name="Ada", address1="1 Way", city="London", country_code="GB"), (OrderLine("L1", IN_STOCK[0], 2),))
        placed = adapter.place_order(order)
        segments, errors = independent_segments((home / "to_partner" / "850_sftp-order-1.x12").read_bytes())
        assert errors == [] and next(s for s in segments if s[0] == "BEG")[3] == "sftp-order-1"

        partner.run_once()
        tracking = partner.ship(placed.supplier_order_id)
        run = adapter.poll_inbound()
        assert sorted(f.outcome for f in run.files) == ["applied", "applied", "applied"]  # 997, 855, 856
        [shipment] = adapter.get_shipments(placed.supplier_order_id)
        assert shipment.tracking_number == tracking
        assert sorted(p.name[:3] for p in (home / "archive").iterdir()) == ["855", "856", "997"]
