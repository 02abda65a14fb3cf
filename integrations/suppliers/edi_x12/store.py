"""What an EDI adapter remembers, and the interface of the store that keeps it (the app's is in its database).

Outbound documents (our 850s and 997s) are recorded with their control numbers in the same
transaction that takes the numbers from the partner's counter, before the file is written:
a retry rewrites the very same bytes. Inbound interchanges are recorded unique on
(supplier, sender, ISA13) in the same transaction that applies what they say, so a file
delivered twice is applied once.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from ..base import StockLevel


@dataclass(frozen=True)
class ControlNumbers:
    """The next interchange (ISA13), group (GS06) and transaction set (ST02) numbers of a partner."""

    interchange: int
    group: int
    transaction_set: int


@dataclass(frozen=True)
class Rendered:
    """A document ready to record: its file name, bytes and initial state."""

    file_name: str
    body: bytes
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutboundDocument:
    """An 850 or a 997 we wrote (or are about to write)."""

    kind: str
    reference: str  # 850: our PO number; 997: "<sender>:<ISA13>:<GS06>" it answers
    file_name: str
    body: bytes
    controls: ControlNumbers
    created_at: dt.datetime
    delivered_at: dt.datetime | None
    state: dict[str, Any]


@dataclass(frozen=True)
class InboundRecord:
    """One inbound file's run: which interchange, what came of it and why."""

    file_name: str
    checksum: str
    sender_id: str | None
    control: str | None  # ISA13; None for files that are no interchange of this partner
    outcome: str  # applied | partly_applied | refused | duplicate | wrong_partner | unreadable
    sets_accepted: int = 0
    sets_rejected: int = 0
    reasons: tuple[str, ...] = ()


StateChange = Callable[[dict[str, Any]], dict[str, Any]]
Build = Callable[[ControlNumbers], Rendered]


class EdiStore(Protocol):
    """The adapter's durable memory for one shop's EDI partner."""

    def outbound(self, kind: str, reference: str) -> OutboundDocument | None:
        """The recorded document, if any."""

    def record_outbound(self, kind: str, reference: str, build: Build) -> OutboundDocument:
        """Take control numbers and record build(numbers) in one transaction; an existing one of this kind and reference is returned instead."""

    def mark_delivered(self, kind: str, reference: str) -> None:
        """The file is written."""

    def undelivered(self, kind: str) -> list[OutboundDocument]:
        """Recorded, never confirmed written (a crash in between): write them again."""

    def po_for_group(self, group_control: str) -> list[str]:
        """Our 850s (PO numbers) sent in the functional group with this GS06."""

    def seen(self, sender_id: str, control: str) -> bool:
        """Whether this interchange was recorded already."""

    def apply_inbound(self, record: InboundRecord, changes: dict[str, list[StateChange]], stock: list[StockLevel], replies: list[tuple[str, str, Build]]) -> bool:
        """In one transaction: record the interchange, change our 850s' states, keep the stock levels, record the 997s to send. False (nothing done) when it was recorded already."""

    def record_run(self, record: InboundRecord) -> None:
        """Record a file that applied nothing (refused whole, duplicate, another partner's)."""

    def stock(self, skus: list[str]) -> list[StockLevel]:
        """Levels from the 846s, for these SKUs (unknown ones left out)."""

    def awaiting_acknowledgement(self, sent_before: dt.datetime) -> list[OutboundDocument]:
        """850s written before `sent_before` that no 997 has acknowledged yet."""
