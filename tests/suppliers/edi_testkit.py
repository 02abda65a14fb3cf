"""An EDI partner world for tests: a SQLite database with the EDI tables, an exchange folder, the adapter and the sandbox partner."""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Mapping

import pytest
import pyx12.x12file

from integrations.suppliers.edi_x12.adapter import EdiX12Adapter
from integrations.suppliers.edi_x12.config import parse_settings
from integrations.suppliers.files.transport import LocalFolderTransport
from integrations.suppliers.runtime import SupplierRef
from sandbox.supplier.edi_partner import EdiPartner, FaultyTransport
from supplier_contract import WebhookMessage

IN_STOCK = ("EDI-SKU-A", "EDI-SKU-B")
OUT_OF_STOCK = "EDI-SKU-ZERO"
UNKNOWN = "EDI-SKU-NEVER"


def edi_settings(**overrides: Any) -> dict[str, Any]:
    """A partner's settings as a merchant saves them."""
    return {"our_qualifier": "ZZ", "our_id": "DROPSHIPAPP", "our_application_code": "DROPSHIPAPP",
            "partner_qualifier": "01", "partner_id": "123456789", "partner_application_code": "WHOLESALE", "ack_window_minutes": 60, **overrides}


def independent_segments(data: bytes) -> tuple[list[list[str]], list]:
    """Every segment of an interchange as pyx12 reads it (not our reader), and pyx12's envelope errors."""
    reader = pyx12.x12file.X12Reader(io.StringIO(data.decode("ascii")))
    segments = [[segment.get_seg_id()] + [element.format() for element in segment.elements] for segment in reader]
    reader.cleanup()
    return segments, reader.pop_errors()


@dataclass
class EdiWorld:
    adapter: EdiX12Adapter
    partner: EdiPartner
    transport: FaultyTransport  # the app's side of the folder
    folder: Any
    store: Any
    session_factory: Any

    def poll(self):
        """The partner reads what we wrote; we read what it dropped."""
        self.partner.run_once()
        return self.adapter.poll_inbound()


def make_world(tmp_path, settings: Mapping[str, Any] | None = None, *, partner_separators=None) -> EdiWorld:
    settings = settings or edi_settings(known_skus=[*IN_STOCK, OUT_OF_STOCK])
    """A fresh database, folder, store, adapter and partner."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.orm import sessionmaker

    from shopify_app import all_models  # noqa: F401
    from shopify_app.models import Base
    from shopify_app.suppliers.edi_models import EdiControlCounter, EdiDocument, EdiInterchange, EdiStockLevel
    from shopify_app.suppliers.edi_store import DatabaseEdiStore
    from shopify_app.suppliers.models import Supplier

    engine = create_engine(f"sqlite:///{tmp_path / 'edi.db'}")
    event.listen(engine, "connect", lambda connection, _: connection.execute("PRAGMA busy_timeout=10000"))
    Base.metadata.create_all(engine, tables=[Supplier.__table__, EdiControlCounter.__table__, EdiDocument.__table__, EdiInterchange.__table__, EdiStockLevel.__table__])
    sessions = sessionmaker(engine, expire_on_commit=False)
    with sessions.begin() as session:
        supplier = Supplier(shop_domain="edi-shop.myshopify.com", name="Wholesale EDI", kind="edi_x12", settings={})
        session.add(supplier)
        session.flush()
        supplier_id = supplier.id
    folder = tmp_path / "exchange"
    for sub in ("to_partner", "from_partner"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    parsed = parse_settings(dict(settings))
    transport = FaultyTransport(LocalFolderTransport(folder))
    store = DatabaseEdiStore(sessions, SupplierRef("edi-shop.myshopify.com", supplier_id))
    adapter = EdiX12Adapter(parsed, store, lambda: transport)
    partner = EdiPartner(LocalFolderTransport(folder), parsed.partner, parsed.us, separators=partner_separators or parsed.separators,
                         known_skus={IN_STOCK[0]: 40, IN_STOCK[1]: 7, OUT_OF_STOCK: 0})
    return EdiWorld(adapter, partner, transport, folder, store, sessions)


class EdiController:
    """The contract's controller over the sandbox partner."""

    in_stock_skus = IN_STOCK
    out_of_stock_sku = OUT_OF_STOCK
    unknown_sku = UNKNOWN
    supports_webhooks = False
    cancels_placed_orders = False

    def __init__(self, world: EdiWorld):
        self.world = world
        world.partner.run_once()
        world.partner.advise_stock()
        world.adapter.poll_inbound()

    def ship(self, supplier_order_id: str, lines: Mapping[str, int] | None = None) -> None:
        self.world.partner.run_once()
        order = self.world.partner.orders[supplier_order_id]
        shipped: dict[str, int] = {}
        for shipment in self.world.adapter.get_shipments(supplier_order_id):
            for line in shipment.lines:
                shipped[line.line_ref] = shipped.get(line.line_ref, 0) + line.quantity
        wanted = dict(lines) if lines is not None else {ref: qty - shipped.get(ref, 0) for ref, qty in order.lines.items() if qty - shipped.get(ref, 0) > 0}
        self.world.partner.ship(supplier_order_id, wanted)
        self.world.adapter.poll_inbound()

    def set_stock(self, supplier_sku: str, in_stock: bool) -> None:
        self.world.partner.advise_stock({supplier_sku: 12 if in_stock else 0})
        self.world.adapter.poll_inbound()

    def fail_next_request(self, status: int = 503, retry_after: float | None = None) -> None:
        self.world.transport.fail_next_write = True

    def time_out_next_request(self) -> None:
        self.world.transport.lose_next_answer = True

    def garble_next_response(self) -> None:
        self.world.transport.lose_next_answer = True  # a file transport has no body to garble: the answer is lost the same way

    def orders_created(self, external_id: str) -> int:
        from integrations.suppliers.edi_x12.adapter import po_number_for

        self.world.partner.run_once()
        return self.world.partner.interchanges_for(po_number_for(external_id))

    def fail_order(self, supplier_order_id: str, reason: str) -> None:
        raise NotImplementedError

    def supplier_has(self, supplier_order_id: str) -> tuple[dict[str, int], str]:
        self.world.partner.run_once()
        order = self.world.partner.orders[supplier_order_id]
        return dict(order.lines), order.city

    def start_production(self, supplier_order_id: str) -> None:
        pass  # no changes are taken at any stage

    def take_webhooks(self) -> list[WebhookMessage]:
        return []


@pytest.fixture
def edi_world(tmp_path) -> EdiWorld:
    return make_world(tmp_path)


@pytest.fixture
def edi_supplier(edi_world):
    return edi_world.adapter, EdiController(edi_world)
