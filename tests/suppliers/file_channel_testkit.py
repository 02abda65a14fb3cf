"""A file supplier on a real SFTP server for the tests: the sandbox server, the sandbox supplier's side, and our adapter on it."""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pytest

from integrations import egress
from integrations.suppliers.email_po.sent_log import InMemorySentLog
from integrations.suppliers.files.adapter import FileChannelAdapter
from integrations.suppliers.files.config import parse_settings
from integrations.suppliers.files.factory import transport_factory
from integrations.suppliers.files.inbound import fetch, read_tracking
from integrations.suppliers.files.po_file import po_file_name
from sandbox.supplier.file_supplier import FOLDERS, LAYOUT_CSV, MAPPINGS, SandboxFileSupplier, _read_rows
from sandbox.supplier.sftp_server import SandboxSftpServer

SANDBOX = egress.EgressPolicy(sandbox=True)
USER, PASSWORD = "shop", "s3cret-pass"
IN_STOCK = ("WIDGET-RED", "WIDGET-BLUE")
OUT_OF_STOCK = "GADGET-XL"


def file_settings(server: SandboxSftpServer, layout: str = LAYOUT_CSV, **overrides: Any) -> dict[str, Any]:
    """Settings a merchant would save for the sandbox supplier on this server."""
    return {"transport": "sftp", "host": server.host, "port": server.port, "username": USER, "host_key_fingerprint": server.fingerprint,
            "folders": dict(FOLDERS), "mappings": MAPPINGS[layout], "timeout_seconds": 15, **overrides}


def build_adapter(settings: Mapping[str, Any], sent_log=None) -> FileChannelAdapter:
    """Our adapter on these settings, through a sandbox egress policy, with an in-memory PO log unless given one."""
    parsed = parse_settings(settings)
    return FileChannelAdapter(parsed, transport_factory(parsed, {"password": PASSWORD}, policy=SANDBOX), sent_log or InMemorySentLog())


@dataclass
class FileWorld:
    server: SandboxSftpServer
    supplier: SandboxFileSupplier
    settings: dict

    @property
    def home(self) -> Path:
        return self.server.home(USER)


@pytest.fixture
def file_world(tmp_path):
    """The sandbox SFTP server with the CSV-layout supplier in the shop user's home."""
    with SandboxSftpServer(tmp_path / "sftp", {USER: PASSWORD}) as server:
        supplier = SandboxFileSupplier(server.home(USER), LAYOUT_CSV, stock={IN_STOCK[0]: 40, IN_STOCK[1]: 7, OUT_OF_STOCK: 0})
        yield FileWorld(server, supplier, file_settings(server))


class FileSupplierController:
    """The contract suite's controller: the sandbox supplier's files and the SFTP server's faults; tracking read as the app's poll reads it."""

    in_stock_skus = IN_STOCK
    out_of_stock_sku = OUT_OF_STOCK
    unknown_sku = "NO-SUCH-SKU-1"
    supports_webhooks = False
    cancels_placed_orders = True

    def __init__(self, adapter: FileChannelAdapter, world: FileWorld):
        self.adapter, self.world = adapter, world

    def _import_tracking(self) -> None:
        folder = self.adapter.settings.folders["tracking"]
        transport = self.adapter.open_transport()
        try:
            for seen in transport.list(folder):
                stream, _ = fetch(transport, folder, seen)
                result = read_tracking(stream, self.adapter.settings.mapping("tracking"), self.adapter.sent_log.get)
                assert not result.errors, result.errors
                from integrations.suppliers.email_po.tracking_import import record_import

                record_import(self.adapter.sent_log, result)
                transport.move(folder, seen.name, self.adapter.settings.archive_folder("tracking"))
        finally:
            transport.close()

    def ship(self, supplier_order_id: str, lines: Mapping[str, int] | None = None) -> None:
        """The supplier takes its POs, drops a tracking file, and we read it."""
        self.world.supplier.take_orders()
        self.world.supplier.ship(supplier_order_id, lines)
        self._import_tracking()

    def supplier_has(self, supplier_order_id: str) -> tuple[dict[str, int], str]:
        """The lines and city of the PO file the supplier has (read with its own reader)."""
        name = po_file_name(supplier_order_id, self.adapter.settings.po_format)
        path = next(p for p in (self.world.home / FOLDERS["orders"] / name, self.world.home / FOLDERS["orders_taken"] / name) if p.exists())
        rows = _read_rows(path)
        return {row["line_ref"]: int(row["quantity"]) for row in rows}, rows[0]["ship_to_city"]

    def start_production(self, supplier_order_id: str) -> None:
        """The nearest a file supplier gets: a first parcel on record."""
        record = self.adapter.sent_log.get(supplier_order_id)
        self.ship(supplier_order_id, {record.lines[0].line_ref: 1})

    def set_stock(self, supplier_sku: str, in_stock: bool) -> None:
        """The supplier publishes a new stock file."""
        self.world.supplier.set_stock(supplier_sku, 5 if in_stock else 0)
        self.world.supplier.publish_stock()

    def fail_next_request(self, status: int = 503, retry_after: float | None = None) -> None:
        """The next upload is refused before anything is written."""
        self.world.server.queue_fault("refuse_write")

    def time_out_next_request(self) -> None:
        """The next write lands, its answer comes after the adapter gave up."""
        self.world.server.hold_seconds = 8
        self.world.server.queue_fault("hold_answer")

    def garble_next_response(self) -> None:
        """The next write lands, then the connection drops."""
        self.world.server.queue_fault("drop_connection")

    def orders_created(self, external_id: str) -> int:
        """PO files for this PO number that were put in place on the server (a rewrite of the same name counts too)."""
        name = po_file_name(external_id, self.adapter.settings.po_format)
        return sum(1 for path in self.world.server.renamed if path.endswith("/" + name))

    def fail_order(self, supplier_order_id: str, reason: str) -> None:
        """The supplier rejects the PO in an acknowledgement file."""
        self.world.supplier.acknowledge({supplier_order_id: reason})

    def take_webhooks(self):
        """File suppliers send no webhooks."""
        return []
