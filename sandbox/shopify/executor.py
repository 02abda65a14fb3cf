"""Validate and execute documents against the real Admin schema with the sandbox's resolvers."""
from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Any, Mapping

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    execute_sync,
    parse,
    validate,
)
from graphql.validation import specified_rules

from .connections import Listing, build_connection, full_connection
from .cost import is_connection_type
from integrations.shopify.schema import required_scopes_index

from .idempotency import run_mutation
from .registry import load_resolvers, lookup
from .store import ShopState, Store

ACCESS_SCOPES_DOCUMENTATION = "https://shopify.dev/api/usage/access-scopes"

# graphql-core's rules -> the error codes Shopify (graphql-ruby) reports for them.
RULE_CODES = {
    "ExecutableDefinitionsRule": "definitionNotExecutable",
    "KnownOperationTypesRule": "missingQueryConfiguration",
    "UniqueOperationNamesRule": "uniquelyNamedOperations",
    "LoneAnonymousOperationRule": "anonymousOperationMustBeAlone",
    "KnownTypeNamesRule": "undefinedType",
    "FragmentsOnCompositeTypesRule": "fragmentOnNonCompositeType",
    "VariablesAreInputTypesRule": "variableRequiresValidType",
    "ScalarLeafsRule": "selectionMismatch",
    "FieldsOnCorrectTypeRule": "undefinedField",
    "UniqueFragmentNamesRule": "fragmentNamesUnique",
    "KnownFragmentNamesRule": "undefinedFragment",
    "NoUnusedFragmentsRule": "useAndDefineFragment",
    "PossibleFragmentSpreadsRule": "cannotSpreadFragment",
    "NoFragmentCyclesRule": "infiniteLoop",
    "UniqueVariableNamesRule": "variableNotUnique",
    "NoUndefinedVariablesRule": "variableNotDefined",
    "NoUnusedVariablesRule": "variableNotUsed",
    "KnownDirectivesRule": "undefinedDirective",
    "UniqueDirectivesPerLocationRule": "directiveNotUniqueForLocation",
    "KnownArgumentNamesRule": "argumentNotAccepted",
    "UniqueArgumentNamesRule": "argumentNotUnique",
    "ValuesOfCorrectTypeRule": "argumentLiteralsIncompatible",
    "ProvidedRequiredArgumentsRule": "missingRequiredArguments",
    "VariablesInAllowedPositionRule": "variableMismatch",
    "OverlappingFieldsCanBeMergedRule": "fieldConflict",
    "UniqueInputFieldNamesRule": "inputFieldNotUnique",
}


@dataclass
class RequestContext:
    """What resolvers see as `info.context`: the store, the shop and the caller's grant."""

    store: Store
    shop: ShopState
    client_id: str | None = None
    scopes: tuple[str, ...] = ()
    api_version: str = "2026-10"  # the version served (after falling forward)
    bulk: bool = False  # a bulk operation: connections return every item, unpaginated
    version: Any = None  # api_versions.ServedVersion: the rules of the served version

    def has_any_scope(self, needed: tuple[str, ...]) -> bool:
        """True if the token holds one of `needed` (write_x also grants read_x)."""
        held = set(self.scopes) | {"read_" + s.removeprefix("write_") for s in self.scopes if s.startswith("write_")}
        return any(scope in held for scope in needed)


def _format_error(error: GraphQLError, default_code: str | None = None) -> dict[str, Any]:
    formatted = dict(error.formatted)
    extensions = dict(formatted.get("extensions") or {})
    if default_code and "code" not in extensions:
        extensions["code"] = default_code
    if extensions:
        formatted["extensions"] = extensions
    else:
        formatted.pop("extensions", None)
    return formatted


def checked_document(schema: GraphQLSchema, query: str) -> tuple[DocumentNode, list[dict[str, Any]]]:
    """The parsed document and its Shopify-shaped validation errors ([] if valid); raises GraphQLSyntaxError."""
    document, errors = _checked(schema, query)
    return document, copy.deepcopy(errors)


# An app sends the same few documents over and over: parsing and validating one against the
# Admin schema costs 2-3 ms of CPU, more than most executions. Documents are never mutated
# (execution and the cost walk only read them), so one parsed copy serves every request.
@functools.lru_cache(maxsize=512)
def _checked(schema: GraphQLSchema, query: str) -> tuple[DocumentNode, list[dict[str, Any]]]:
    document = parse(query)
    return document, validation_errors(schema, document)


def validation_errors(schema: GraphQLSchema, document: DocumentNode) -> list[dict[str, Any]]:
    """Shopify-shaped validation errors (message, locations, extensions.code); [] if valid."""
    errors = validate(schema, document)
    if not errors:
        return []
    # Only for invalid documents: re-run rule by rule to learn which rule each error broke.
    codes: dict[tuple, str] = {}
    for rule in specified_rules:
        for error in validate(schema, document, [rule]):
            codes.setdefault(_error_key(error), RULE_CODES.get(rule.__name__, "validationError"))
    return [_format_error(e, codes.get(_error_key(e), "validationError")) for e in errors]


def _error_key(error: GraphQLError) -> tuple:
    return (error.message, tuple((loc.line, loc.column) for loc in error.locations or ()))


def format_execution_errors(result: ExecutionResult) -> list[dict[str, Any]]:
    """Execution errors as JSON; request-level ones (bad variables) get INVALID_VARIABLE."""
    request_level = result.data is None
    return [_format_error(e, "INVALID_VARIABLE" if request_level and not e.path else None) for e in result.errors or ()]


def access_denied(field_name: str, scopes: tuple[str, ...]) -> GraphQLError:
    """Shopify's error for a field the token's scopes do not cover."""
    required = " or ".join(f"`{s}`" for s in scopes) + " access scope" + ("s" if len(scopes) > 1 else "") + "."
    return GraphQLError(
        f"Access denied for {field_name} field. Required access: {required}",
        extensions={"code": "ACCESS_DENIED", "documentation": ACCESS_SCOPES_DOCUMENTATION, "requiredAccess": required},
    )


def _default_value(source: Any, field_name: str, return_type: Any) -> Any:
    if isinstance(source, Mapping) and field_name in source:
        return source[field_name]
    # Absent lists and connections are empty (Shopify never answers null for them).
    inner = return_type.of_type if isinstance(return_type, GraphQLNonNull) else return_type
    if is_connection_type(return_type) or isinstance(inner, GraphQLList):
        return []
    return None


def field_resolver(source: Any, info, **args: Any) -> Any:
    """The one field resolver: registered resolver, else dict lookup; Refs followed, lists paged."""
    ctx: RequestContext = info.context
    parent = info.parent_type
    # Resolvers register on "Query"/"Mutation" whatever the schema calls its roots (QueryRoot).
    type_name = "Query" if parent is info.schema.query_type else "Mutation" if parent is info.schema.mutation_type else parent.name
    registered = lookup(type_name, info.field_name, tuple(i.name for i in parent.interfaces))
    if registered is not None:
        # Shopify's own note on the field (the schema's offline_scopes) where it has one.
        needed = required_scopes_index().get((parent.name, info.field_name)) or registered.scopes
        if needed and not ctx.has_any_scope(needed):
            raise access_denied(info.field_name, needed)
        if type_name == "Mutation":
            value = run_mutation(info, args, lambda: registered.fn(source, info, **args))
        else:
            value = registered.fn(source, info, **args)
    elif type_name in ("Query", "Mutation"):
        # An honest error beats a silent null: the app would take null for "not found".
        raise GraphQLError(
            f"{type_name}.{info.field_name} is not implemented by the sandbox Shopify (register a resolver for it).",
            extensions={"code": "NOT_IMPLEMENTED_IN_SANDBOX"},
        )
    else:
        value = _default_value(source, info.field_name, info.return_type)
    value = ctx.shop.deref(value)
    if isinstance(value, (list, tuple, Listing)) and is_connection_type(info.return_type) and ctx.bulk:
        value = full_connection(value, info.return_type)
    elif isinstance(value, (list, tuple, Listing)) and is_connection_type(info.return_type):
        value = build_connection(
            value,
            info.return_type,
            first=args.get("first"),
            last=args.get("last"),
            after=args.get("after"),
            before=args.get("before"),
            reverse=bool(args.get("reverse")),
            max_objects=ctx.store.max_paginated_objects,
        )
    return value


def type_resolver(value: Any, info, abstract_type) -> str | None:
    """Interfaces and unions: every stored object names its own type."""
    return value.get("__typename") if isinstance(value, Mapping) else None


def execute_document(
    schema: GraphQLSchema,
    document: DocumentNode,
    context: RequestContext,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
) -> ExecutionResult:
    """Run a validated document; holds the store lock so it sees (and makes) one consistent state."""
    load_resolvers()
    with context.store.lock:
        return execute_sync(
            schema,
            document,
            context_value=context,
            variable_values=dict(variables or {}),
            operation_name=operation_name,
            field_resolver=field_resolver,
            type_resolver=type_resolver,
        )
