"""Bulk query operations: start one, read the current one, cancel it."""
from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from ..bulk_operations import RUNNING, BulkRefused
from ..executor import checked_document
from ..registry import resolver
from .common import object_of_type

BULK_SCOPES = ("read_products", "read_orders", "read_inventory")


def _error(message: str, code: str, field: list[str] | None = None) -> dict:
    return {"__typename": "BulkOperationUserError", "field": field, "message": message, "code": code}


@resolver("Mutation", "bulkOperationRunQuery", scopes=BULK_SCOPES)
def bulk_operation_run_query(root: Any, info, query: str, groupObjects: bool = False) -> dict:
    """Validate the inner query and start it in the background."""
    ctx = info.context
    try:
        _, problems = checked_document(info.schema, query)
    except GraphQLError as exc:
        return {"__typename": "BulkOperationRunQueryPayload", "bulkOperation": None, "userErrors": [_error(f"Invalid bulk query: {exc.message}", "INVALID", ["query"])]}
    if problems:
        return {"__typename": "BulkOperationRunQueryPayload", "bulkOperation": None, "userErrors": [_error(f"Invalid bulk query: {problems[0]['message']}", "INVALID", ["query"])]}
    try:
        operation = ctx.store.bulk.start(ctx.shop, ctx.client_id, query, ctx.api_version, grouped=bool(groupObjects))
    except BulkRefused as refused:
        return {"__typename": "BulkOperationRunQueryPayload", "bulkOperation": None, "userErrors": [_error(refused.message, refused.code)]}
    return {"__typename": "BulkOperationRunQueryPayload", "bulkOperation": operation, "userErrors": []}


@resolver("Query", "bulkOperation", scopes=BULK_SCOPES)
def bulk_operation(root: Any, info, id: str) -> dict | None:
    """One of the app's bulk operations by id (another app's is not found)."""
    operation = object_of_type(info, id, "BulkOperation")
    return operation if operation is not None and operation["_clientId"] == info.context.client_id else None


@resolver("Query", "currentBulkOperation", scopes=BULK_SCOPES)
def current_bulk_operation(root: Any, info, type: str = "QUERY") -> dict | None:
    """The app's most recent bulk operation of this type on the shop."""
    ctx = info.context
    mine = [op for op in ctx.shop.all("BulkOperation") if op["_clientId"] == ctx.client_id and op["type"] == type]
    return mine[-1] if mine else None


@resolver("Mutation", "bulkOperationCancel", scopes=BULK_SCOPES)
def bulk_operation_cancel(root: Any, info, id: str) -> dict:
    """Cancel a running operation (the sandbox marks it CANCELED; a finished one cannot be)."""
    operation = object_of_type(info, id, "BulkOperation")
    if operation is None:
        return {"__typename": "BulkOperationCancelPayload", "bulkOperation": None, "userErrors": [{"__typename": "UserError", "field": ["id"], "message": "Bulk operation does not exist"}]}
    if operation["status"] not in RUNNING:
        return {"__typename": "BulkOperationCancelPayload", "bulkOperation": operation, "userErrors": [{"__typename": "UserError", "field": None, "message": f"A bulk operation cannot be canceled when it is {operation['status'].lower()}"}]}
    operation["status"] = "CANCELING"
    return {"__typename": "BulkOperationCancelPayload", "bulkOperation": operation, "userErrors": []}
