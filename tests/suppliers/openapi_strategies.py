"""Hypothesis strategies for bodies an OpenAPI 3.0 schema allows, straight from the published spec.

Covers what Printful's response schemas use: $ref, allOf (merged), oneOf/anyOf (one
branch), nullable, enum, object properties (required always, optional sometimes, no
extras), arrays (short) and the scalar types with their formats. Generated bodies are then
checked by openapi-core (an independent validator) before a test uses them, so a gap here
can only make the search narrower, never let an invalid body through.
"""
from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

MAX_DEPTH = 8


def _resolve(spec: dict, node: dict) -> dict:
    while "$ref" in node:
        target = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def _merged(spec: dict, schemas: list[dict]) -> dict:
    """allOf as one schema: properties and required united, the first type/enum/format kept."""
    merged: dict[str, Any] = {"properties": {}, "required": []}
    for schema in schemas:
        schema = _resolve(spec, schema)
        if "allOf" in schema:
            schema = {**_merged(spec, schema["allOf"]), **{k: v for k, v in schema.items() if k != "allOf"}}
        merged["properties"].update(schema.get("properties", {}))
        merged["required"] += [name for name in schema.get("required", []) if name not in merged["required"]]
        for key in ("type", "enum", "format", "items", "nullable", "oneOf", "anyOf"):
            if key in schema and key not in merged:
                merged[key] = schema[key]
    if merged["properties"] and "type" not in merged:
        merged["type"] = "object"
    return merged


SCALARS = {
    "integer": st.integers(min_value=-(2**31), max_value=2**31),
    "number": st.floats(allow_nan=False, allow_infinity=False, width=32),
    "boolean": st.booleans(),
}
FORMATS = {
    "date-time": st.datetimes(timezones=st.just(__import__("datetime").timezone.utc)).map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")),
    "date": st.dates().map(lambda d: d.isoformat()),
}


def from_schema(spec: dict, schema: dict, depth: int = 0) -> st.SearchStrategy:
    """Values the schema allows (within the subset above)."""
    schema = _resolve(spec, schema)
    if "allOf" in schema:
        schema = {**_merged(spec, schema["allOf"]), **{k: v for k, v in schema.items() if k not in ("allOf",)}}
        schema.pop("allOf", None)
    nullable = schema.get("nullable") is True
    strategy: st.SearchStrategy
    if "oneOf" in schema or "anyOf" in schema:
        branches = schema.get("oneOf") or schema.get("anyOf")
        strategy = st.one_of([from_schema(spec, branch, depth + 1) for branch in branches])
    elif "enum" in schema:
        strategy = st.sampled_from([value for value in schema["enum"] if value is not None])
    elif schema.get("type") == "object" or "properties" in schema:
        strategy = _object(spec, schema, depth)
    elif schema.get("type") == "array":
        if depth >= MAX_DEPTH:
            strategy = st.just([])
        else:
            strategy = st.lists(from_schema(spec, schema.get("items", {}), depth + 1), max_size=3)
    elif schema.get("type") == "string":
        strategy = FORMATS.get(schema.get("format"), st.text(max_size=12))
    elif schema.get("type") in SCALARS:
        strategy = SCALARS[schema["type"]]
    else:
        strategy = st.one_of(st.none(), st.integers(), st.text(max_size=5))
    return st.one_of(st.none(), strategy) if nullable else strategy


def _object(spec: dict, schema: dict, depth: int) -> st.SearchStrategy:
    properties = schema.get("properties", {})
    required = [name for name in schema.get("required", []) if name in properties]
    optional = [name for name in properties if name not in required]
    if depth >= MAX_DEPTH:
        optional = []
    fixed = st.fixed_dictionaries({name: from_schema(spec, properties[name], depth + 1) for name in required},
                                  optional={name: from_schema(spec, properties[name], depth + 1) for name in optional})
    return fixed
