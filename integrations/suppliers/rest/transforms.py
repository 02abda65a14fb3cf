"""Request fields built from several of ours, with simple value transforms (settings.compose / compose_line).

A rule names our fields by dotted names (`external_id`, `address.city`, `line.supplier_sku`)
and yields one value:
  {"format": "{address.address1} {address.address2}"}  fields dropped in; a missing one is ""
  {"join": ["address.address1", "address.address2"], "separator": ", "}  non-empty values joined
  {"map": "address.country_code", "values": {"GB": "UK"}, "default": "keep" | any}  a lookup
  {"country_name": "address.country_code"}  the ISO 3166 short name (pycountry)
Any rule may add "then": "upper" | "lower" | "strip", and "max_length": n (cut, never refused).
Templates are parsed, never evaluated: only our field names may appear, with no attribute,
index, conversion or format spec, so a tenant's template cannot reach anything else.
"""
from __future__ import annotations

import string
from typing import Any, Mapping

import pycountry

from ..base import Address, OrderLine, PlaceOrder

ORDER_FIELDS = ("external_id", "shipping_method", "currency", "note")
ADDRESS_FIELDS = ("name", "company", "address1", "address2", "city", "province_code", "zip", "country_code", "phone", "email")
LINE_FIELDS = ("line_ref", "supplier_sku", "quantity", "name", "retail_price")
ORDER_SOURCES = frozenset(ORDER_FIELDS) | {f"address.{name}" for name in ADDRESS_FIELDS}
LINE_SOURCES = ORDER_SOURCES | {f"line.{name}" for name in LINE_FIELDS}
RULE_KINDS = ("format", "join", "map", "country_name")
AFTER = {"upper": str.upper, "lower": str.lower, "strip": str.strip}


def check_rule(rule: Any, *, line: bool) -> None:
    """ValueError naming what is wrong with one rule."""
    sources = LINE_SOURCES if line else ORDER_SOURCES
    if not isinstance(rule, Mapping):
        raise ValueError("a rule must be an object")
    kinds = [kind for kind in RULE_KINDS if kind in rule]
    if len(kinds) != 1:
        raise ValueError(f"a rule has exactly one of {', '.join(RULE_KINDS)}")
    unknown = set(rule) - {kinds[0], "separator", "values", "default", "then", "max_length"}
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(sorted(unknown))}")
    kind = kinds[0]
    if kind == "format" and not isinstance(rule["format"], str):
        raise ValueError("format must be a string")
    if kind == "join" and (not isinstance(rule["join"], list) or not rule["join"] or not all(isinstance(n, str) for n in rule["join"])):
        raise ValueError("join must be a list of our field names")
    if not isinstance(rule.get("separator", " "), str):
        raise ValueError("separator must be a string")
    if kind == "map" and not isinstance(rule.get("values"), Mapping):
        raise ValueError("map needs values (theirs for ours)")
    bad = [name for name in rule_sources(rule) if not isinstance(name, str) or name not in sources]
    if bad:
        raise ValueError(f"{', '.join(map(repr, bad))} is not one of our fields here ({', '.join(sorted(sources))})")
    if rule.get("then") is not None and rule["then"] not in AFTER:
        raise ValueError(f"then must be one of {', '.join(AFTER)}")
    limit = rule.get("max_length")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError("max_length must be a whole number of at least 1")


def rule_sources(rule: Mapping[str, Any]) -> list[str]:
    """Our field names a checked rule reads."""
    if "format" in rule:
        return _template_names(rule["format"])
    if "join" in rule:
        return list(rule["join"])
    return [rule["map"] if "map" in rule else rule["country_name"]]


def order_values(order: PlaceOrder) -> dict[str, Any]:
    """Our order's fields by dotted name."""
    values: dict[str, Any] = {name: getattr(order, name) for name in ORDER_FIELDS}
    values.update(address_values(order.shipping_address))
    return values


def address_values(address: Address | None) -> dict[str, Any]:
    """An address's fields by dotted name (all None without an address)."""
    return {f"address.{name}": getattr(address, name) if address is not None else None for name in ADDRESS_FIELDS}


def line_values(line: OrderLine, order: Mapping[str, Any]) -> dict[str, Any]:
    """A line's fields by dotted name, with the order's."""
    return {**order, **{f"line.{name}": getattr(line, name) for name in LINE_FIELDS}}


def apply_rule(rule: Mapping[str, Any], values: Mapping[str, Any]) -> Any:
    """The value one checked rule yields (None when its sources are all empty)."""
    if "format" in rule:
        pieces = []
        for literal, name, _, _ in string.Formatter().parse(rule["format"]):
            pieces.append(literal)
            if name is not None:
                pieces.append(_text(values.get(name)))
        result: Any = "".join(pieces)
    elif "join" in rule:
        parts = [_text(values.get(name)) for name in rule["join"]]
        result = rule.get("separator", " ").join(part for part in parts if part) or None
    elif "map" in rule:
        source = values.get(rule["map"])
        default = rule.get("default", "keep")
        result = rule["values"].get(_text(source), source if default == "keep" else default)
    else:
        code = _text(values.get(rule["country_name"]))
        country = pycountry.countries.get(alpha_2=code.upper()) if len(code) == 2 else None
        result = getattr(country, "common_name", None) or getattr(country, "name", None) or (code or None)
    if isinstance(result, str):
        if rule.get("then"):
            result = AFTER[rule["then"]](result)
        if rule.get("max_length"):
            result = result[: rule["max_length"]]
    return result


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _template_names(template: str) -> list[str]:
    names = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"format is malformed: {exc}") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if spec or conversion:
            raise ValueError("format fields take no conversion or format spec")
        names.append(name)
    return names
