"""The Admin GraphQL endpoint's pipeline: parse, validate, cost, bucket, execute, refund.

Kept apart from Flask so it can be called directly; the server only maps HTTP to it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from graphql import GraphQLSchema, GraphQLSyntaxError

import datetime as dt

from .api_versions import resolve_version
from .cost import MAX_QUERY_COST, THROTTLE_DOCUMENTATION, actual_query_cost, requested_query_cost
from .executor import RequestContext, checked_document, execute_document, format_execution_errors
from .oauth import OAuthAuthority
from .store import Store

INVALID_TOKEN_MESSAGE = "[API] Invalid API key or access token (unrecognized login or wrong password)"
MAX_COST_MESSAGE = (
    "Query cost is {cost}, which exceeds the single query max cost limit ({max}).\n\n"
    "See https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\n"
    "cost of a query is calculated.\n\n"
    "To query larger amounts of data with fewer limits, bulk operations should be used instead.\n"
    "See https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api for usage details.\n"
)


@dataclass
class Answer:
    """An HTTP answer: status, JSON body, extra headers."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class GraphQLEndpoint:
    """Answers Admin GraphQL requests for every shop in the store."""

    def __init__(self, store: Store, oauth: OAuthAuthority, schema: GraphQLSchema):
        self.store = store
        self.oauth = oauth
        self.schema = schema

    def version(self, api_version: str):
        """What a request to `api_version` is served as today (the store's wall clock); None: 404."""
        today = dt.datetime.fromtimestamp(self.store.wall_clock(), dt.timezone.utc).date()
        return resolve_version(self.schema, api_version, today)

    def handle(self, shop_domain: str, access_token: str | None, body: Any, api_version: str = "2026-10") -> Answer:
        """One POST /admin/api/<version>/graphql.json."""
        shop = self.store.shop(shop_domain)
        version = self.version(api_version)
        if shop is None or version is None:
            return Answer(404, {"errors": "Not Found"})
        token = self.oauth.authenticate(shop, access_token)
        if token is None:
            return Answer(401, {"errors": INVALID_TOKEN_MESSAGE})
        # The version actually used: a retired one falls forward to the oldest supported.
        headers = {"X-Shopify-API-Version": version.served}
        if not isinstance(body, Mapping) or not isinstance(body.get("query"), str) or not body["query"].strip():
            return Answer(400, {"errors": {"query": "Required parameter missing or invalid"}}, headers)
        variables = body.get("variables")
        if isinstance(variables, str):
            try:
                variables = json.loads(variables) if variables.strip() else None
            except ValueError:
                variables = None
        if variables is not None and not isinstance(variables, Mapping):
            return Answer(400, {"errors": {"variables": "Variables must be a JSON object"}}, headers)
        operation_name = body.get("operationName") or None

        schema = version.schema
        try:
            document, errors = checked_document(schema, body["query"])
        except GraphQLSyntaxError as exc:
            error = {"message": exc.message, "locations": [{"line": loc.line, "column": loc.column} for loc in exc.locations or ()], "extensions": {"code": "parseError"}}
            return Answer(200, {"errors": [error]}, headers)
        if errors:
            return Answer(200, {"errors": errors}, headers)

        try:
            requested = requested_query_cost(schema, document, operation_name, variables)
        except (ValueError, TypeError):
            requested = None  # no such operation, or unusable variables: execution reports it
        bucket = shop.bucket
        if requested is not None and requested > MAX_QUERY_COST:
            error = {"message": MAX_COST_MESSAGE.format(cost=requested, max=MAX_QUERY_COST), "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested, "maxCost": MAX_QUERY_COST}}
            return Answer(200, {"errors": [error], "extensions": {"cost": _cost(requested, None, bucket.status())}}, headers)
        if requested is not None and not bucket.try_take(requested):
            error = {"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": THROTTLE_DOCUMENTATION}}
            return Answer(200, {"errors": [error], "extensions": {"cost": _cost(requested, None, bucket.status())}}, headers)

        context = RequestContext(self.store, shop, token.client_id, token.scopes, version.served, version=version)
        result = execute_document(schema, document, context, variables, operation_name)
        actual = actual_query_cost(schema, document, result.data, operation_name, variables) if requested is not None else 0
        if requested is not None:
            actual = min(actual, requested)
            bucket.refund(requested - actual)
        response: dict[str, Any] = {}
        if result.errors:
            response["errors"] = format_execution_errors(result)
        # Execution started (errors have paths, or none at all): `data` is present, maybe null.
        # Request errors such as bad variables stop before execution and carry no data.
        if result.data is not None or not result.errors or any(e.path for e in result.errors):
            response["data"] = result.data
        response["extensions"] = {"cost": _cost(requested or 0, actual, bucket.status())}
        return Answer(200, response, headers)


def _cost(requested: int, actual: int | None, throttle_status: dict[str, Any]) -> dict[str, Any]:
    return {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": throttle_status}
