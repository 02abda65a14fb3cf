"""A sandbox EDI trading partner: picks up our 850s from a folder, drops 997, 855, 856 (with tracking), 846 and 810 back.

It reads our files with pyx12 directly (not with the app's reader), so what it accepts is
what an independent X12 parser accepts. Fault controls: the next document it drops carries
a malformed segment or a wrong SE count, or is dropped twice (same ISA13, two file names);
an 856 for a PO it never got; slow; down (FaultyTransport, for the app's side of the folder).
"""
from __future__ import annotations

import datetime as dt
import io
import threading
import time
from dataclasses import dataclass, field

import pyx12.x12file

from integrations.suppliers.edi_x12.x12 import Party, Separators, TransactionSetOut, render_interchange
from integrations.suppliers.files.transport import FileTransport, RemoteFile, TransportError


@dataclass
class ReceivedOrder:
    """An 850 as the partner read it."""

    po_number: str
    lines: dict[str, int]  # line ref -> quantity
    skus: dict[str, str]  # line ref -> SKU
    city: str
    interchanges: set[str] = field(default_factory=set)  # ISA13s that carried it


class EdiPartner:
    """The partner's side of the exchange folder (`transport` rooted where both sides meet)."""

    def __init__(self, transport: FileTransport, partner: Party, us: Party, *, separators: Separators = Separators(), inbox: str = "to_partner",
                 outbox: str = "from_partner", processed: str = "partner_processed", known_skus: dict[str, int] | None = None):
        self.transport = transport
        self.partner, self.us, self.separators = partner, us, separators
        self.inbox, self.outbox, self.processed = inbox, outbox, processed
        self.stock = dict(known_skus or {})  # SKU -> quantity available
        self.orders: dict[str, ReceivedOrder] = {}
        self.acks_received: list[tuple[str, str]] = []  # (group control acknowledged, AK9 status) from our 997s
        self.refused_files: list[str] = []
        self.ta1_received: list[tuple[str, str]] = []  # (ISA13 refused, TA105 note code) from our TA1s
        self.malformed_next = False
        self.wrong_count_next = False
        self.duplicate_next = False
        self.slow_seconds = 0.0
        self.usage = "P"  # ISA15 of what it drops ("T": test interchanges)
        self._control = 0
        self._lock = threading.Lock()

    # -- picking up -------------------------------------------------------------------------

    def run_once(self) -> int:
        """Read every file in the inbox: 850s get a 997 and an 855; our 997s are noted. Returns files read."""
        if self.slow_seconds:
            time.sleep(self.slow_seconds)
        count = 0
        for remote in self.transport.list(self.inbox):
            sink = io.BytesIO()
            self.transport.download(self.inbox, remote.name, sink)
            self.transport.move(self.inbox, remote.name, self.processed)
            self._read(remote.name, sink.getvalue().decode("ascii"))
            count += 1
        return count

    def _read(self, name: str, text: str) -> None:
        reader = pyx12.x12file.X12Reader(io.StringIO(text))
        segments = [[seg.get_seg_id()] + [e.format() for e in seg.elements] for seg in reader]
        reader.cleanup()
        if reader.pop_errors():
            self.refused_files.append(name)
            return
        isa13 = segments[0][13]
        ta1 = next((s for s in segments if s[0] == "TA1"), None)
        if ta1 is not None:  # our interchange acknowledgement: it refused one of ours
            self.ta1_received.append((ta1[1], ta1[5] if len(ta1) > 5 else ""))
            return
        gs = next(s for s in segments if s[0] == "GS")
        st = next(s for s in segments if s[0] == "ST")
        if st[1] == "997":
            ak1 = next(s for s in segments if s[0] == "AK1")
            ak9 = next(s for s in segments if s[0] == "AK9")
            self.acks_received.append((ak1[2], ak9[1]))
            return
        if st[1] != "850":
            self.refused_files.append(name)
            return
        po_number = next(s for s in segments if s[0] == "BEG")[3]
        city = next(s for s in segments if s[0] == "N4")[1]
        order = self.orders.get(po_number) or ReceivedOrder(po_number, {}, {}, city)
        if isa13 not in order.interchanges:
            order.interchanges.add(isa13)
            order.lines = {s[1]: int(s[2]) for s in segments if s[0] == "PO1"}
            order.skus = {s[1]: s[7] for s in segments if s[0] == "PO1"}
        self.orders[po_number] = order
        self._drop("997", [("AK1", "PO", gs[6]), ("AK2", "850", st[2]), ("AK5", "A"), ("AK9", "A", "1", "1", "1")])
        body = [("BAK", "00", "AC", po_number, dt.date.today().strftime("%Y%m%d"))]
        for ref, quantity in order.lines.items():
            known = order.skus[ref] in self.stock
            body += [("PO1", ref, str(quantity), "EA", "", "", "VP", order.skus[ref]), ("ACK", "IA" if known else "IR", str(quantity), "EA")]
        body.append(("CTT", str(len(order.lines))))
        self._drop("855", body)

    # -- dropping ---------------------------------------------------------------------------

    def _drop(self, set_id: str, body: list[tuple]) -> str:
        with self._lock:
            self._control += 1
            control = self._control
        functional = {"997": "FA", "855": "PR", "856": "SH", "846": "IB", "810": "IN"}[set_id]
        data = render_interchange(self.partner, self.us, self.separators, functional_id=functional, interchange_control=control, group_control=control,
                                  sets=[TransactionSetOut(set_id, f"{control:04d}", tuple(body))], when=dt.datetime.now(dt.timezone.utc), usage=self.usage)
        if self.malformed_next:
            self.malformed_next = False
            data = data.replace(f"{self.separators.segment}".encode() + (b"\n" if self.separators.newline else b"") + body[0][0].encode(), f"{self.separators.segment}".encode() + (b"\n" if self.separators.newline else b"") + b"B@D", 1)
        if self.wrong_count_next:
            self.wrong_count_next = False
            data = data.replace(f"SE{self.separators.element}{len(body) + 2}".encode(), f"SE{self.separators.element}{len(body) + 5}".encode(), 1)
        name = f"{set_id}_{control:09d}.x12"
        self.transport.write_atomic(self.outbox, name, data)
        if self.duplicate_next:
            self.duplicate_next = False
            self.transport.write_atomic(self.outbox, f"{set_id}_{control:09d}_again.x12", data)
        return name

    def ship(self, po_number: str, lines: dict[str, int] | None = None, *, tracking: str | None = None, carrier: str = "UPSN", lines_for_unknown: dict[str, int] | None = None) -> str:
        """Drop an 856 for the PO (lines by our line ref; None: everything) with a tracking number."""
        order = self.orders.get(po_number)
        wanted = lines if lines is not None else (dict(order.lines) if order else dict(lines_for_unknown or {"1": 1}))
        self._control_ship = getattr(self, "_control_ship", 0) + 1
        tracking = tracking or f"1Z{abs(hash((po_number, self._control_ship))) % 10**12:012d}"
        body: list[tuple] = [("BSN", "00", f"SHP{po_number}-{self._control_ship}"[:30], dt.date.today().strftime("%Y%m%d"), "1200"),
                             ("HL", "1", "", "S"), ("TD5", "B", "2", carrier, "", "UPS Ground"), ("REF", "CN", tracking),
                             ("DTM", "011", dt.date.today().strftime("%Y%m%d")), ("HL", "2", "1", "O"), ("PRF", po_number)]
        for index, (ref, quantity) in enumerate(wanted.items(), start=3):
            sku = order.skus.get(ref, "") if order else ""
            body += [("HL", str(index), "2", "I"), ("LIN", ref, "VP", sku), ("SN1", ref, str(quantity), "EA")]
        body.append(("CTT", str(len(wanted))))
        self._drop("856", body)
        return tracking

    def advise_stock(self, levels: dict[str, int] | None = None) -> None:
        """Drop an 846 with these levels (None: everything it stocks)."""
        if levels:
            self.stock.update(levels)
        body: list[tuple] = [("BIA", "00", "MM", f"INV{self._control + 1}", dt.date.today().strftime("%Y%m%d"))]
        for sku, quantity in (levels or self.stock).items():
            body += [("LIN", "", "VP", sku), ("QTY", "33", str(quantity), "EA")]
        self._drop("846", body)

    def invoice(self, po_number: str, total_cents: int) -> None:
        """Drop an 810 for the PO."""
        order = self.orders[po_number]
        body: list[tuple] = [("BIG", dt.date.today().strftime("%Y%m%d"), f"INV-{po_number}"[:22], "", po_number)]
        for ref, quantity in order.lines.items():
            body.append(("IT1", ref, str(quantity), "EA", "1.00", "", "VP", order.skus[ref]))
        body += [("TDS", str(total_cents)), ("CTT", str(len(order.lines)))]
        self._drop("810", body)

    # -- running on its own (sandbox mode) -----------------------------------------------------

    def start(self, interval: float = 2.0, ship_after: float = 5.0) -> "EdiPartner":
        """Poll the inbox every `interval` seconds in a thread; ship each PO's accepted lines `ship_after` seconds after it came."""
        self._stop = threading.Event()
        self._received_at: dict[str, float] = {}
        self._shipped: set[str] = set()

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.step(ship_after)
                except (TransportError, OSError):  # the folder is briefly unavailable: next round
                    continue

        self._thread = threading.Thread(target=loop, name="sandbox-edi-partner", daemon=True)
        self._thread.start()
        return self

    def step(self, ship_after: float = 5.0, now: float | None = None) -> list[str]:
        """One round of the partner on its own: read the inbox, then ship what is due; returns the POs shipped."""
        now = time.monotonic() if now is None else now
        received_at = getattr(self, "_received_at", None)
        if received_at is None:
            received_at = self._received_at = {}
            self._shipped = set()
        self.run_once()
        shipped = []
        for po_number, order in self.orders.items():
            received_at.setdefault(po_number, now)
            if po_number in self._shipped or now - received_at[po_number] < ship_after:
                continue
            lines = {ref: quantity for ref, quantity in order.lines.items() if order.skus[ref] in self.stock}
            if lines:
                self.ship(po_number, lines)
            self._shipped.add(po_number)
            shipped.append(po_number)
        return shipped

    def stop(self) -> None:
        """Stop the thread started by start()."""
        if getattr(self, "_thread", None) is not None:
            self._stop.set()
            self._thread.join(timeout=10)
            self._thread = None

    def interchanges_for(self, po_number: str) -> int:
        """How many distinct interchanges carried this PO (1 = exactly once)."""
        order = self.orders.get(po_number)
        return len(order.interchanges) if order else 0


class FaultyTransport:
    """Wraps a transport for the app's side: `down` refuses everything; `fail_next_write` refuses before writing; `lose_next_answer` writes, then fails."""

    def __init__(self, inner: FileTransport):
        self.inner = inner
        self.down = False
        self.fail_next_write = False
        self.lose_next_answer = False

    def _check(self) -> None:
        if self.down:
            raise TransportError("connection refused (sandbox partner down)")

    def list(self, folder: str) -> list[RemoteFile]:
        self._check()
        return self.inner.list(folder)

    def download(self, folder, name, sink) -> int:
        self._check()
        return self.inner.download(folder, name, sink)

    def write_atomic(self, folder: str, name: str, data: bytes) -> None:
        self._check()
        if self.fail_next_write:
            self.fail_next_write = False
            raise TransportError("connection reset before the upload")
        self.inner.write_atomic(folder, name, data)
        if self.lose_next_answer:
            self.lose_next_answer = False
            raise TransportError("timed out waiting for the rename's answer")

    def exists(self, folder: str, name: str) -> bool:
        self._check()
        return self.inner.exists(folder, name)

    def move(self, folder: str, name: str, to_folder: str) -> None:
        self._check()
        self.inner.move(folder, name, to_folder)

    def close(self) -> None:
        self.inner.close()
