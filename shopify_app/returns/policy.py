"""The store's return policy, each supplier's return terms, and the decision for a return request.

Windows count whole days from delivery (../shared/PRODUCT.md): 14 by default, the legal
minimum in the EU and Israel; per reason, a damaged item must be reported within 3 days,
a wrong size within 14, "not as described" within 30. Final-sale products (by tag or id)
are declined. Anything the rules cannot settle (delivery date unknown, a reason the
merchant wants to see, lines with different verdicts) goes to the merchant's review queue.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Iterable, Mapping

from ..bounds import bounded_int, bounded_number
from .models import Decision

LEGAL_MINIMUM_DAYS = 14
MAX_RETURN_DAYS = 365  # every return window (store, per reason, supplier) is at most a year
DEFAULT_REASON_WINDOWS = {
    "DEFECTIVE": 3,  # damaged: report within 1-3 business days
    "SIZE_TOO_SMALL": 14,
    "SIZE_TOO_LARGE": 14,
    "NOT_AS_DESCRIBED": 30,
    "WRONG_ITEM": 30,  # our mistake, like "not as described"
}
RETURN_REASONS = ("SIZE_TOO_SMALL", "SIZE_TOO_LARGE", "UNWANTED", "NOT_AS_DESCRIBED", "WRONG_ITEM", "DEFECTIVE", "STYLE", "COLOR", "OTHER", "UNKNOWN")
DAMAGE_REASONS = frozenset({"DEFECTIVE"})  # units that come back unsellable


@dataclass(frozen=True)
class ReturnPolicy:
    """The store's rules (ShopSetting "return_policy")."""

    window_days: int = LEGAL_MINIMUM_DAYS
    reason_windows: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_REASON_WINDOWS))
    final_sale_tags: tuple[str, ...] = ("final-sale",)
    final_sale_product_ids: tuple[str, ...] = ()
    review_reasons: tuple[str, ...] = ()  # always shown to the merchant first
    auto_decide: bool = True  # False: every request waits for the merchant

    def window_for(self, reason: str) -> int:
        """Days from delivery within which a return for `reason` is accepted."""
        return self.reason_windows.get(reason, self.window_days)

    def as_dict(self) -> dict[str, Any]:
        """For JSON."""
        out = asdict(self)
        out["final_sale_tags"], out["final_sale_product_ids"], out["review_reasons"] = list(self.final_sale_tags), list(self.final_sale_product_ids), list(self.review_reasons)
        return out


@dataclass(frozen=True)
class SupplierReturnTerms:
    """What a supplier agreed to (Supplier.return_terms)."""

    window_days: int | None = None  # None: no limit stated
    accepts_returns: bool = True
    return_shipping_paid_by: str = "customer"  # customer | merchant | supplier
    restocking_fee_percent: float = 0.0
    return_address: dict | None = None  # where parcels go when not the supplier's RMA address
    destination: str = "supplier"  # supplier (stock held by the supplier) | merchant (a merchant location)
    merchant_location_gid: str | None = None
    resellable: bool = True  # returned undamaged units can be sold again

    def as_dict(self) -> dict[str, Any]:
        """For JSON."""
        return asdict(self)


def policy_from(raw: Mapping[str, Any] | None) -> ReturnPolicy:
    """The stored policy with defaults filled in; windows clamped to their bounds whatever is stored."""
    raw = dict(raw or {})
    known = {f.name for f in fields(ReturnPolicy)}
    values = {k: v for k, v in raw.items() if k in known}
    if "window_days" in values:
        values["window_days"] = bounded_int(values["window_days"], LEGAL_MINIMUM_DAYS, MAX_RETURN_DAYS, LEGAL_MINIMUM_DAYS)
    if "reason_windows" in values:
        stored = values["reason_windows"] if isinstance(values["reason_windows"], Mapping) else {}
        values["reason_windows"] = {**DEFAULT_REASON_WINDOWS, **{reason: bounded_int(days, 1, MAX_RETURN_DAYS, DEFAULT_REASON_WINDOWS.get(reason, LEGAL_MINIMUM_DAYS))
                                                              for reason, days in stored.items()}}
    for name in ("final_sale_tags", "final_sale_product_ids", "review_reasons"):
        if name in values:
            values[name] = tuple(values[name])
    return ReturnPolicy(**values)


def supplier_terms_from(raw: Mapping[str, Any] | None) -> SupplierReturnTerms:
    """A supplier's stored terms with defaults filled in; numbers clamped to their bounds whatever is stored."""
    known = {f.name for f in fields(SupplierReturnTerms)}
    values = {k: v for k, v in (raw or {}).items() if k in known}
    if values.get("window_days") is not None:
        values["window_days"] = bounded_int(values["window_days"], 0, MAX_RETURN_DAYS, MAX_RETURN_DAYS)
    if "restocking_fee_percent" in values:
        values["restocking_fee_percent"] = bounded_number(values["restocking_fee_percent"], 0, 100, 0.0)
    return SupplierReturnTerms(**values)


def _whole(value: Any, name: str, minimum: int = 0, maximum: int = MAX_RETURN_DAYS) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ValueError(f"{name} must be a whole number from {minimum} to {maximum}")
    return value


def validate_policy(raw: Any) -> dict[str, Any]:
    """Check a policy sent by the merchant; ValueError with a clear message."""
    if not isinstance(raw, Mapping):
        raise ValueError("the return policy must be an object")
    unknown = sorted(set(raw) - {f.name for f in fields(ReturnPolicy)})
    if unknown:
        raise ValueError(f"unknown policy field(s): {', '.join(unknown)}")
    clean = dict(raw)
    if "window_days" in raw:
        _whole(raw["window_days"], "window_days", LEGAL_MINIMUM_DAYS)  # customers keep their legal right
    if "reason_windows" in raw:
        if not isinstance(raw["reason_windows"], Mapping):
            raise ValueError("reason_windows must map a return reason to days")
        for reason, days in raw["reason_windows"].items():
            if reason not in RETURN_REASONS:
                raise ValueError(f"unknown return reason {reason!r}; use one of {', '.join(RETURN_REASONS)}")
            _whole(days, f"reason_windows.{reason}", 1)
    for name in ("final_sale_tags", "final_sale_product_ids", "review_reasons"):
        if name in raw and (not isinstance(raw[name], list) or not all(isinstance(v, str) for v in raw[name])):
            raise ValueError(f"{name} must be a list of strings")
    if "review_reasons" in raw and set(raw["review_reasons"]) - set(RETURN_REASONS):
        raise ValueError("review_reasons must be return reasons")
    if "auto_decide" in raw and not isinstance(raw["auto_decide"], bool):
        raise ValueError("auto_decide must be true or false")
    return clean


def validate_supplier_terms(raw: Any) -> dict[str, Any]:
    """Check a supplier's return terms; ValueError with a clear message."""
    if not isinstance(raw, Mapping):
        raise ValueError("return_terms must be an object")
    unknown = sorted(set(raw) - {f.name for f in fields(SupplierReturnTerms)})
    if unknown:
        raise ValueError(f"unknown return term(s): {', '.join(unknown)}")
    if raw.get("window_days") is not None:
        _whole(raw["window_days"], "window_days", 0)
    if raw.get("return_shipping_paid_by", "customer") not in ("customer", "merchant", "supplier"):
        raise ValueError("return_shipping_paid_by must be customer, merchant or supplier")
    if raw.get("destination", "supplier") not in ("supplier", "merchant"):
        raise ValueError("destination must be supplier or merchant")
    if raw.get("destination") == "merchant" and not str(raw.get("merchant_location_gid") or "").startswith("gid://shopify/Location/"):
        raise ValueError("returns to the merchant need merchant_location_gid (a Location GID)")
    fee = raw.get("restocking_fee_percent", 0)
    if isinstance(fee, bool) or not isinstance(fee, (int, float)) or not 0 <= fee <= 100:
        raise ValueError("restocking_fee_percent must be between 0 and 100")
    return dict(raw)


def window_warnings(policy: ReturnPolicy, supplier_name: str, terms: SupplierReturnTerms) -> list[str]:
    """What the merchant should know when the store promises more than the supplier accepts."""
    warnings = []
    if not terms.accepts_returns:
        warnings.append(f"{supplier_name} accepts no returns: every return of its items is at your cost.")
    elif terms.window_days is not None:
        longest = max([policy.window_days, *policy.reason_windows.values()])
        if longest > terms.window_days:
            warnings.append(f"Your store accepts returns up to {longest} days after delivery but {supplier_name} only within "
                            f"{terms.window_days}: returns after that stay with you.")
    return warnings


@dataclass(frozen=True)
class LineFacts:
    """What the decision needs to know about one returned line."""

    reason: str
    quantity: int
    returnable_quantity: int | None  # fulfilled minus already returned; None: unknown
    delivered_at: dt.datetime | None
    product_id: str | None = None
    product_tags: tuple[str, ...] = ()
    supplier_terms: SupplierReturnTerms | None = None
    supplier_known: bool = True


@dataclass(frozen=True)
class Verdict:
    """The decision for one line, or for the whole return."""

    decision: str
    note: str
    decline_reason: str | None = None
    supplier_window_passed: bool = False


def judge_line(line: LineFacts, policy: ReturnPolicy, now: dt.datetime) -> Verdict:
    """Approve, decline or send to review one line."""
    tags = {t.strip().lower() for t in line.product_tags}
    if tags & {t.lower() for t in policy.final_sale_tags} or (line.product_id and line.product_id in policy.final_sale_product_ids):
        return Verdict(Decision.DECLINE, "This item was sold as final sale and cannot be returned.", "FINAL_SALE")
    if line.returnable_quantity is not None and line.quantity > line.returnable_quantity:
        return Verdict(Decision.REVIEW, f"{line.quantity} requested but only {line.returnable_quantity} delivered and not yet returned.")
    if line.delivered_at is None:
        return Verdict(Decision.REVIEW, "The delivery date is unknown, so the return window cannot be checked.")
    window = policy.window_for(line.reason)
    days = (now - line.delivered_at).total_seconds() / 86400
    if days > window:
        what = "damage must be reported" if line.reason in DAMAGE_REASONS else "returns are accepted"
        return Verdict(Decision.DECLINE, f"The return window has ended: for this reason {what} within {window} days of delivery.", "RETURN_PERIOD_ENDED")
    if line.reason in policy.review_reasons:
        return Verdict(Decision.REVIEW, f"Returns for {line.reason.lower().replace('_', ' ')} are reviewed by the merchant.")
    supplier_passed = bool(line.supplier_terms and (not line.supplier_terms.accepts_returns or (line.supplier_terms.window_days is not None and days > line.supplier_terms.window_days)))
    note = "Within the return window."
    if not line.supplier_known:
        note += " The supplier is no longer connected: arrange its side by hand."
    elif supplier_passed:
        note += " Past the supplier's terms: the item stays with the store."
    return Verdict(Decision.APPROVE, note, supplier_window_passed=supplier_passed)


def decide(lines: Iterable[LineFacts], policy: ReturnPolicy, now: dt.datetime) -> tuple[Verdict, list[Verdict]]:
    """The decision for a whole return (Shopify approves or declines a request as a whole) and per line."""
    verdicts = [judge_line(line, policy, now) for line in lines]
    if not verdicts:
        return Verdict(Decision.REVIEW, "The return lists no items."), verdicts
    kinds = {v.decision for v in verdicts}
    if not policy.auto_decide:
        return Verdict(Decision.REVIEW, "The store reviews every return request."), verdicts
    if kinds == {Decision.APPROVE}:
        return Verdict(Decision.APPROVE, verdicts[0].note if len(verdicts) == 1 else "Every item is within the return window.",
                       supplier_window_passed=any(v.supplier_window_passed for v in verdicts)), verdicts
    if kinds == {Decision.DECLINE}:
        reasons = {v.decline_reason for v in verdicts}
        reason = reasons.pop() if len(reasons) == 1 else "OTHER"
        return Verdict(Decision.DECLINE, " ".join(dict.fromkeys(v.note for v in verdicts)), reason), verdicts
    return Verdict(Decision.REVIEW, "; ".join(dict.fromkeys(v.note for v in verdicts if v.decision != Decision.APPROVE))), verdicts
