"""The @idempotent(key:) directive as Shopify runs it on mutations.

- A mutation whose description says the key is required (from API 2026-04: inventory
  adjustments, refundCreate, ...) is refused without it: a top-level error on the field,
  "The @idempotent directive is required for this mutation but was not provided." (code
  BAD_REQUEST; wording as answered by Shopify, per public integrations that log it; the
  changelog says only "an error at runtime").
- A key seen before for the same app and shop, with the same mutation and arguments,
  replays the recorded answer: nothing is applied twice.
- The same key with other arguments is refused with IDEMPOTENCY_KEY_PARAMETER_MISMATCH
  ("The same idempotency key cannot be used with different operation parameters.", the
  schema's description of that code): a userError where the payload's error codes have it,
  else a top-level error.
"""
from __future__ import annotations

import json
from typing import Any, Callable

from graphql import GraphQLEnumType, GraphQLError, GraphQLList, GraphQLNonNull, GraphQLObjectType, get_named_type
from graphql.execution.values import get_directive_values

from integrations.shopify.schema import mutations_requiring_idempotency

MISSING_MESSAGE = "The @idempotent directive is required for this mutation but was not provided."
BLANK_MESSAGE = "The idempotency key cannot be an empty string or whitespace only."
MISMATCH_CODE = "IDEMPOTENCY_KEY_PARAMETER_MISMATCH"
MISMATCH_MESSAGE = "The same idempotency key cannot be used with different operation parameters."


def idempotency_key(info) -> str | None:
    """The key of an `@idempotent(key:)` directive on this field, if any."""
    directive = info.schema.get_directive("idempotent")
    if directive is None:
        return None
    values = get_directive_values(directive, info.field_nodes[0], info.variable_values)
    return values.get("key") if values else None


def _fingerprint(field_name: str, args: dict[str, Any]) -> str:
    return field_name + json.dumps(args, sort_keys=True, default=str, separators=(",", ":"))


def _mismatch_answer(info) -> dict[str, Any]:
    payload_type = get_named_type(info.return_type)
    errors_field = payload_type.fields.get("userErrors") if isinstance(payload_type, GraphQLObjectType) else None
    error_type = get_named_type(errors_field.type) if errors_field is not None else None
    code_type = get_named_type(error_type.fields["code"].type) if isinstance(error_type, GraphQLObjectType) and "code" in error_type.fields else None
    if not isinstance(code_type, GraphQLEnumType) or MISMATCH_CODE not in code_type.values:
        raise GraphQLError(MISMATCH_MESSAGE, extensions={"code": MISMATCH_CODE})
    return {"__typename": payload_type.name, "userErrors": [{"__typename": error_type.name, "field": None, "message": MISMATCH_MESSAGE, "code": MISMATCH_CODE}]}


def run_mutation(info, args: dict[str, Any], execute: Callable[[], Any]) -> Any:
    """Run a mutation field under Shopify's idempotency rules (refuse, replay, or run and record)."""
    ctx = info.context
    key = idempotency_key(info)
    if key is None:
        version = getattr(ctx, "version", None)
        if version is not None and version.idempotency_required and info.field_name in mutations_requiring_idempotency(info.schema):
            raise GraphQLError(MISSING_MESSAGE, extensions={"code": "BAD_REQUEST"})
        return execute()
    if not key.strip():
        raise GraphQLError(BLANK_MESSAGE, extensions={"code": "BAD_REQUEST"})
    records = ctx.shop.idempotent_results
    record_key = (ctx.client_id, key)
    fingerprint = _fingerprint(info.field_name, args)
    if record_key in records:
        seen_fingerprint, answer = records[record_key]
        return answer if seen_fingerprint == fingerprint else _mismatch_answer(info)
    answer = execute()
    records[record_key] = (fingerprint, answer)
    return answer
