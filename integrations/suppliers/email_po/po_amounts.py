"""The money on a purchase order: unit costs (the product mappings' cost), line totals, the PO total and its currency."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from ..base import OrderLine, PlaceOrder

CENT = Decimal("0.01")


def _money(text: str | None) -> Decimal | None:
    try:
        value = Decimal(str(text).strip()) if text not in (None, "") else None
    except InvalidOperation:
        return None
    return value if value is not None and value.is_finite() and value >= 0 else None


@dataclass(frozen=True)
class PricedLine:
    """A PO line with its unit cost and line total as text ("" when the cost is unknown)."""

    line: OrderLine
    unit_cost: str
    line_total: str


@dataclass(frozen=True)
class PoAmounts:
    """Every line priced, the total of the priced lines, and whether any line has no cost."""

    lines: tuple[PricedLine, ...]
    total: str
    currency: str
    incomplete: bool  # some line has no cost: the total covers the others only

    @property
    def any_cost(self) -> bool:
        """Whether at least one line has a cost."""
        return any(line.unit_cost for line in self.lines)


def po_amounts(order: PlaceOrder, currency: str | None = None) -> PoAmounts:
    """Price the PO's lines; `currency` overrides the order's (a supplier that invoices in its own)."""
    priced, total, incomplete = [], Decimal(0), False
    for line in order.lines:
        cost = _money(line.unit_cost)
        if cost is None:
            incomplete = True
            priced.append(PricedLine(line, "", ""))
            continue
        line_total = (cost * line.quantity).quantize(CENT, ROUND_HALF_UP)
        total += line_total
        priced.append(PricedLine(line, str(cost.quantize(CENT, ROUND_HALF_UP)), str(line_total)))
    return PoAmounts(tuple(priced), str(total.quantize(CENT)), (currency or order.currency or "").upper(), incomplete)
