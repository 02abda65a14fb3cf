"""The store's return policy, each supplier's return terms, and the decision for a return request.

Windows count whole calendar days from delivery in the shop's zone (../shared/PRODUCT.md): 14 by default, the legal
minimum in the EU and Israel; per reason, a wrong size within 14, "not as described" within
30, and "damaged: report within 3 business days" (a service promise for fast replacement).
The customer's legal profile (legal_profiles.py, by shipping country) is a floor under all
of it: a withdrawal inside the statutory window is never declined for time, and a defect,
mismatch or wrong item inside the legal guarantee goes to the merchant as a complaint
instead of being declined. Final-sale products (by tag or id) are outside the store's own
policy only: "final sale" (clearance) is no exception under Directive 2011/83 art. 16 or
Israel's s. 14C exclusions, so inside the statutory withdrawal period they are accepted like
any item; only tags listed as withdrawal exemptions (made to the customer's specification,
personalised, perishable) take the statutory withdrawal away, never the guarantee. Anything the
rules cannot settle (delivery date unknown, a reason the merchant wants to see, lines with
different verdicts) goes to the merchant's review queue.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field, fields
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Mapping

from ..bounds import bounded_int, bounded_number
from ..i18n import gettext as _
from .business_days import calendar_days_between, within_business_days
from .decline_reasons import in_words, merged, reason
from .legal_profiles import CONFORMITY_REASONS, NONE, PROFILES, LegalProfile, override_errors
from .models import Decision

LEGAL_MINIMUM_DAYS = 14
MAX_RETURN_DAYS = 365  # every return window (store, per reason, supplier) is at most a year
DEFAULT_REASON_WINDOWS = {
    "DEFECTIVE": 3,  # damaged: report within 3 business days for a fast replacement (a promise, not the legal limit)
    "SIZE_TOO_SMALL": 14,
    "SIZE_TOO_LARGE": 14,
    "NOT_AS_DESCRIBED": 30,
    "WRONG_ITEM": 30,  # our mistake, like "not as described"
}
RETURN_REASONS = ("SIZE_TOO_SMALL", "SIZE_TOO_LARGE", "UNWANTED", "NOT_AS_DESCRIBED", "WRONG_ITEM", "DEFECTIVE", "STYLE", "COLOR", "OTHER", "UNKNOWN")
DAMAGE_REASONS = frozenset({"DEFECTIVE"})  # units that come back unsellable
DEFAULT_BUSINESS_DAY_REASONS = ("DEFECTIVE",)
DEFAULT_WITHDRAWAL_EXEMPT_TAGS = ("custom-made", "personalized", "perishable")


class PolicyError(ValueError):
    """A policy the merchant sent, refused: `fields` lists (field, reason) for each problem."""

    def __init__(self, fields: list[tuple[str, str]]):
        super().__init__("; ".join(f"{field}: {message}" for field, message in fields))
        self.fields = fields


@dataclass(frozen=True)
class ReturnPolicy:
    """The store's rules (ShopSetting "return_policy")."""

    window_days: int = LEGAL_MINIMUM_DAYS
    reason_windows: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_REASON_WINDOWS))
    final_sale_tags: tuple[str, ...] = ("final-sale",)  # the store's own policy: no voluntary return (the statutory withdrawal stays)
    final_sale_product_ids: tuple[str, ...] = ()
    review_reasons: tuple[str, ...] = ()  # always shown to the merchant first
    auto_decide: bool = True  # False: every request waits for the merchant
    business_day_reasons: tuple[str, ...] = DEFAULT_BUSINESS_DAY_REASONS  # their windows count business days
    legal_overrides: dict[str, dict[str, int]] = field(default_factory=dict)  # per profile key: figures raised for the consumer
    # Goods the law itself excludes from withdrawal (Directive 2011/83 art. 16(c)-(d); Israel s. 14C(d)):
    # made to the customer's specification or personalised, or liable to perish. Also final sale.
    withdrawal_exempt_tags: tuple[str, ...] = DEFAULT_WITHDRAWAL_EXEMPT_TAGS
    standard_delivery_price: str | None = None  # the least expensive standard delivery (decimal, order currency): the most a withdrawal refunds of delivery

    def window_for(self, reason: str) -> int:
        """Days from delivery within which a return for `reason` is accepted (business days for business_day_reasons)."""
        return self.reason_windows.get(reason, self.window_days)

    def as_dict(self) -> dict[str, Any]:
        """For JSON."""
        out = asdict(self)
        for name in LIST_FIELDS:
            out[name] = list(getattr(self, name))
        return out


LIST_FIELDS = ("final_sale_tags", "final_sale_product_ids", "review_reasons", "business_day_reasons", "withdrawal_exempt_tags")


def reason_floor(reason: str) -> int:
    """The shortest window the policy may set for a reason: a withdrawal needs no reason, so every
    reason but a conformity claim (whose legal path is the guarantee) keeps the statutory 14 days."""
    return 1 if reason in CONFORMITY_REASONS else LEGAL_MINIMUM_DAYS


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
        # Stored before the floor existed (e.g. {"UNWANTED": 3}): read as the floor, never below it.
        values["reason_windows"] = {**DEFAULT_REASON_WINDOWS, **{reason: bounded_int(days, reason_floor(reason), MAX_RETURN_DAYS, DEFAULT_REASON_WINDOWS.get(reason, LEGAL_MINIMUM_DAYS))
                                                              for reason, days in stored.items()}}
    for name in LIST_FIELDS:
        if name in values:
            values[name] = tuple(values[name])
    if "legal_overrides" in values:
        stored = values["legal_overrides"] if isinstance(values["legal_overrides"], Mapping) else {}
        values["legal_overrides"] = {key: dict(v) for key, v in stored.items() if key in PROFILES and isinstance(v, Mapping)}
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
    """Check a policy sent by the merchant; PolicyError lists each refused field with its reason."""
    if not isinstance(raw, Mapping):
        raise PolicyError([("(body)", _("the return policy must be an object"))])
    errors: list[tuple[str, str]] = [(name, _("unknown policy field")) for name in sorted(set(raw) - {f.name for f in fields(ReturnPolicy)})]
    if "window_days" in raw:
        errors += _whole_error(raw["window_days"], "window_days", LEGAL_MINIMUM_DAYS, why=_("customers keep their 14-day legal right to withdraw"))
    if "reason_windows" in raw:
        if not isinstance(raw["reason_windows"], Mapping):
            errors.append(("reason_windows", _("must map a return reason to days")))
        else:
            for reason, days in raw["reason_windows"].items():
                if reason not in RETURN_REASONS:
                    errors.append((f"reason_windows.{reason}", _("unknown return reason %(reason)r; use one of %(reasons)s", reason=reason, reasons=", ".join(RETURN_REASONS))))
                else:
                    errors += _whole_error(days, f"reason_windows.{reason}", reason_floor(reason),
                                           why=_("a withdrawal needs no reason, so every reason keeps the 14-day legal minimum"))
    for name in LIST_FIELDS:
        if name in raw and (not isinstance(raw[name], list) or not all(isinstance(v, str) for v in raw[name])):
            errors.append((name, _("must be a list of strings")))
        elif name in ("review_reasons", "business_day_reasons") and name in raw and set(raw[name]) - set(RETURN_REASONS):
            errors.append((name, _("must be return reasons")))
    if "auto_decide" in raw and not isinstance(raw["auto_decide"], bool):
        errors.append(("auto_decide", _("must be true or false")))
    if "legal_overrides" in raw:
        if not isinstance(raw["legal_overrides"], Mapping):
            errors.append(("legal_overrides", _("must map a legal profile (EU, PL, IL, NONE) to the figures you raise")))
        else:
            errors += [(f"legal_overrides.{field}", message) for key, overrides in raw["legal_overrides"].items() for field, message in override_errors(key, overrides)]
    if raw.get("standard_delivery_price") is not None:
        errors += _price_error(raw["standard_delivery_price"], "standard_delivery_price")
    if errors:
        raise PolicyError(errors)
    clean = dict(raw)
    if clean.get("standard_delivery_price") is not None:
        clean["standard_delivery_price"] = str(Decimal(str(clean["standard_delivery_price"])).quantize(Decimal("0.01")))
    return clean


def _price_error(value: Any, name: str) -> list[tuple[str, str]]:
    try:
        ok = not isinstance(value, bool) and isinstance(value, (int, float, str)) and Decimal(str(value)).is_finite() and 0 <= Decimal(str(value)) <= 100000
    except (InvalidOperation, ValueError):
        ok = False
    return [] if ok else [(name, _("must be an amount from 0 to 100000"))]


def standard_delivery_cap(policy: ReturnPolicy) -> Decimal | None:
    """The stored standard delivery price as a Decimal (None: not set or unreadable)."""
    try:
        return Decimal(str(policy.standard_delivery_price)) if policy.standard_delivery_price is not None else None
    except (InvalidOperation, ValueError):
        return None


def _whole_error(value: Any, name: str, minimum: int, maximum: int = MAX_RETURN_DAYS, why: str = "") -> list[tuple[str, str]]:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        message = _("must be a whole number from %(minimum)s to %(maximum)s", minimum=minimum, maximum=maximum)
        return [(name, message + (f" ({why})" if why and isinstance(value, int) and value < minimum else ""))]
    return []


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
    profile: LegalProfile = NONE  # the customer's statutory rights (shipping country), the store's raises applied
    country: str | None = None  # the shipping country, for business days
    timezone: str | None = None  # the shop's IANA time zone: business days are its calendar dates


@dataclass(frozen=True)
class Verdict:
    """The decision for one line, or for the whole return."""

    decision: str
    note: str
    decline_reason: str | None = None
    supplier_window_passed: bool = False
    complaint: bool = False  # a claim under the legal guarantee: the merchant answers it by a deadline
    reasons: tuple[dict, ...] = ()  # a decline's reasons as codes and figures (decline_reasons.py): told to the customer in their language


def supplier_window_passed(line: LineFacts, now: dt.datetime) -> bool:
    """Whether the line comes back past its supplier's terms (or the supplier takes no returns): then no RMA and no restock at the supplier.

    The supplier's window counts whole calendar days from delivery in the shop's zone and ends at
    the end of its last day, like the store's; an unknown delivery date passes no window.
    """
    terms = line.supplier_terms
    if terms is None:
        return False
    if not terms.accepts_returns:
        return True
    if terms.window_days is None or line.delivered_at is None:
        return False
    return calendar_days_between(line.delivered_at, now, line.timezone) > terms.window_days


def _declined(decline_reason: str, *reasons: dict) -> Verdict:
    return Verdict(Decision.DECLINE, in_words(reasons), decline_reason, reasons=reasons)


def _within_policy(line: LineFacts, policy: ReturnPolicy, days: int, now: dt.datetime) -> tuple[bool, dict]:
    """Inside the store's own window for the reason, and the reason to give when it is not."""
    window = policy.window_for(line.reason)
    code = "damage_window_ended" if line.reason in DAMAGE_REASONS else "window_ended"
    if line.reason in policy.business_day_reasons:
        return within_business_days(line.delivered_at, window, line.country, now, line.timezone), reason(code + "_business", days=window)
    return days <= window, reason(code, days=window)


def _final_sale(exempt: bool) -> Verdict:
    return _declined("FINAL_SALE", reason("withdrawal_exempt" if exempt else "final_sale"))


def judge_line(line: LineFacts, policy: ReturnPolicy, now: dt.datetime) -> Verdict:
    """Approve, decline, send to review, or open a complaint for one line."""
    profile = line.profile
    guarantee = line.reason in CONFORMITY_REASONS and profile.guarantee_days is not None
    tags = {t.strip().lower() for t in line.product_tags}
    exempt = bool(tags & {t.strip().lower() for t in policy.withdrawal_exempt_tags})  # excluded by law, not only by the store
    final_sale = exempt or bool(tags & {t.strip().lower() for t in policy.final_sale_tags}) or bool(line.product_id and line.product_id in policy.final_sale_product_ids)
    withdrawable = profile.withdrawal_days is not None and not exempt
    if final_sale and not (guarantee or withdrawable):  # final sale never takes away the legal guarantee nor a statutory withdrawal
        return _final_sale(exempt)
    # Judged whatever the verdict: a complaint or a review the merchant later approves must not ask a
    # supplier whose terms have passed for an RMA, nor restock at its location (intake, restock).
    supplier_passed = supplier_window_passed(line, now)
    if line.returnable_quantity is not None and line.quantity > line.returnable_quantity:
        return Verdict(Decision.REVIEW, f"{line.quantity} requested but only {line.returnable_quantity} delivered and not yet returned.",
                       supplier_window_passed=supplier_passed)
    if line.delivered_at is None:
        return Verdict(Decision.REVIEW, "The delivery date is unknown, so the return window cannot be checked.", supplier_window_passed=supplier_passed)
    # Whole calendar days in the shop's zone: a window of N days ends at the end of day N.
    days = calendar_days_between(line.delivered_at, now, line.timezone)
    in_policy, window_ended = _within_policy(line, policy, days, now)
    in_withdrawal = withdrawable and days <= profile.withdrawal_days
    if final_sale and not (guarantee or in_withdrawal):  # past the statutory period only the store's policy is left, and it excludes the item
        return _final_sale(exempt)
    if not (in_policy or in_withdrawal):
        if guarantee and days <= profile.guarantee_days:
            return Verdict(Decision.REVIEW, _("A complaint under the legal guarantee (%(days)s days from delivery): answer it before its deadline.",
                                              days=profile.guarantee_days), complaint=True, supplier_window_passed=supplier_passed)
        if guarantee:
            return _declined("RETURN_PERIOD_ENDED", reason("guarantee_ended", days=profile.guarantee_days))
        return _declined("RETURN_PERIOD_ENDED", window_ended)
    if line.reason in policy.review_reasons:
        return Verdict(Decision.REVIEW, f"Returns for {line.reason.lower().replace('_', ' ')} are reviewed by the merchant.", supplier_window_passed=supplier_passed)
    note = "Within the return window." if in_policy and not (final_sale and in_withdrawal) else _("Within the %(days)s-day legal withdrawal period.", days=profile.withdrawal_days)
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
    if any(v.complaint for v in verdicts):  # the merchant answers the whole request, by the complaint's deadline
        return Verdict(Decision.REVIEW, " ".join(dict.fromkeys(v.note for v in verdicts if v.decision != Decision.APPROVE)), complaint=True), verdicts
    if not policy.auto_decide:
        return Verdict(Decision.REVIEW, "The store reviews every return request."), verdicts
    if kinds == {Decision.APPROVE}:
        return Verdict(Decision.APPROVE, verdicts[0].note if len(verdicts) == 1 else "Every item is within the return window.",
                       supplier_window_passed=any(v.supplier_window_passed for v in verdicts)), verdicts
    if kinds == {Decision.DECLINE}:
        codes = {v.decline_reason for v in verdicts}
        return Verdict(Decision.DECLINE, " ".join(dict.fromkeys(v.note for v in verdicts)), codes.pop() if len(codes) == 1 else "OTHER",
                       reasons=tuple(merged(r for v in verdicts for r in v.reasons))), verdicts
    return Verdict(Decision.REVIEW, "; ".join(dict.fromkeys(v.note for v in verdicts if v.decision != Decision.APPROVE))), verdicts
