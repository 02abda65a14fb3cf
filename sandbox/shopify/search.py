"""A subset of Shopify's search syntax (`query:` arguments) and of its sort keys.

Supported: space- or AND-separated terms `field:value`, with `>`, `>=`, `<`, `<=`
comparators, values quoted with ' or ", `-field:value` negation, and bare words
(matched against title/name). Unknown fields are ignored, as Shopify ignores them
(it only adds a warning). OR and parentheses are not supported.
"""
from __future__ import annotations

import datetime as dt
import re
import shlex
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from .ids import gid_number, is_gid

TERM_RE = re.compile(r"^(?P<neg>-)?(?P<field>[a-z_]+):(?P<op>>=|<=|>|<|=)?(?P<value>.*)$", re.S)


@dataclass(frozen=True)
class Term:
    """One `field:value` filter."""

    field: str | None  # None for a bare word
    op: str
    value: str
    negated: bool = False


def parse_query(query: str | None) -> list[Term]:
    """Split a Shopify search string into terms."""
    if not query or not query.strip():
        return []
    lexer = shlex.shlex(query, posix=True)
    lexer.whitespace_split = True
    lexer.quotes = "'\""
    terms = []
    for token in lexer:
        if token.upper() == "AND":
            continue
        match = TERM_RE.match(token)
        if match:
            terms.append(Term(match["field"], match["op"] or "=", match["value"], bool(match["neg"])))
        else:
            terms.append(Term(None, "=", token))
    return terms


def parse_datetime(value: str) -> dt.datetime | None:
    """An ISO date or datetime ('2025-01-01', '2025-01-01T10:00:00Z'), as aware UTC."""
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _compare(left: Any, op: str, right: Any) -> bool:
    if left is None:
        return False
    if op == "=":
        return left == right
    return {">": left > right, ">=": left >= right, "<": left < right, "<=": left <= right}[op]


# How a search field reads a value from a record: (kind, record key).
FieldSpec = tuple[str, str]

COMMON_FIELDS: dict[str, FieldSpec] = {
    "id": ("id", "id"),
    "created_at": ("date", "createdAt"),
    "updated_at": ("date", "updatedAt"),
}
FIELDS_BY_TYPE: dict[str, dict[str, FieldSpec]] = {
    "Product": {"title": ("text", "title"), "status": ("enum", "status"), "handle": ("text", "handle"), "vendor": ("text", "vendor"), "product_type": ("text", "productType"), "sku": ("skus", "_skus")},
    "ProductVariant": {"sku": ("text", "sku"), "title": ("text", "title"), "product_id": ("ref", "product")},
    "InventoryItem": {"sku": ("text", "sku")},
    "Location": {"name": ("text", "name"), "active": ("bool", "isActive")},
    "Order": {
        "name": ("text", "name"),
        "processed_at": ("date", "processedAt"),
        "financial_status": ("enum", "displayFinancialStatus"),
        "fulfillment_status": ("enum", "displayFulfillmentStatus"),
        "status": ("order_status", "closed"),
        "email": ("text", "email"),
        "sku": ("skus", "_skus"),
        "tag": ("skus", "tags"),  # membership, case-insensitive, as Shopify matches a tag
    },
    "WebhookSubscription": {"topic": ("enum", "topic")},
}


def _term_matches(term: Term, record: Mapping[str, Any], typename: str) -> bool | None:
    """True/False, or None when the field is unknown (ignored)."""
    if term.field is None:
        text = str(record.get("title") or record.get("name") or "").lower()
        return term.value.lower() in text
    spec = FIELDS_BY_TYPE.get(typename, {}).get(term.field) or COMMON_FIELDS.get(term.field)
    if spec is None:
        return None
    kind, key = spec
    raw = record.get(key)
    if kind == "id":
        target = int(gid_number(term.value)) if is_gid(term.value) else _int_or_none(term.value)
        return target is not None and _compare(gid_number(raw), term.op, target)
    if kind == "date":
        left, right = parse_datetime(raw or ""), parse_datetime(term.value)
        return right is not None and _compare(left, term.op, right)
    if kind == "text":
        return raw is not None and str(raw).lower() == term.value.lower()
    if kind == "enum":
        return raw is not None and str(raw).lower() == term.value.lower()
    if kind == "bool":
        return bool(raw) == (term.value.lower() == "true")
    if kind == "skus":
        return term.value.lower() in {str(s).lower() for s in raw or ()}
    if kind == "ref":
        ref_id = getattr(raw, "gid", raw)
        target = term.value if is_gid(term.value) else None
        return ref_id is not None and (ref_id == target or str(gid_number(ref_id)) == term.value)
    if kind == "order_status":
        value = term.value.lower()
        return {"open": not raw and not record.get("cancelledAt"), "closed": bool(raw), "cancelled": bool(record.get("cancelledAt"))}.get(value, False)
    return None


def _int_or_none(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def filter_records(records: Iterable[Mapping[str, Any]], query: str | None, typename: str) -> list[Mapping[str, Any]]:
    """Records matching every known term of the search string."""
    terms = parse_query(query)
    out = []
    for record in records:
        keep = True
        for term in terms:
            result = _term_matches(term, record, typename)
            if result is None:
                continue
            if result == term.negated:
                keep = False
                break
        if keep:
            out.append(record)
    return out


def _camel(enum_value: str) -> str:
    head, *rest = enum_value.lower().split("_")
    return head + "".join(w.capitalize() for w in rest)


def sort_key_function(sort_key: str | None) -> Callable[[Mapping[str, Any]], tuple]:
    """A key for Shopify's `sortKey` enums (UPDATED_AT -> updatedAt), ties broken by id."""

    def key(record: Mapping[str, Any]) -> tuple:
        number = gid_number(record["id"]) if is_gid(record.get("id")) else 0
        if not sort_key or sort_key in ("ID", "RELEVANCE", "POSITION"):
            return (number,)
        value = record.get(_camel(sort_key))
        if sort_key.endswith("_AT") and isinstance(value, str):
            # Compare instants, not strings: '...:00Z' and '...:00.000+00:00' are equal.
            parsed = parse_datetime(value)
            value = parsed.timestamp() if parsed else None
        elif isinstance(value, str):
            value = value.lower()
        # (has value, value, id): records without the value sort first, comparably.
        return (value is not None, value if value is not None else 0, number)

    return key
