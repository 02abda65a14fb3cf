"""Bulk query operations as Shopify runs them: in the background, unpaginated, written as JSONL.

`bulkOperationRunQuery` validates the inner query, records a BulkOperation (CREATED) and
runs it on a thread (RUNNING): every connection returns all of its items, whatever
`first` says. The result is flattened like Shopify's file: one line per node of every
connection; the nodes of a nested connection are lines of their own with `__parentId`
(the id of the enclosing connection node) and leave the parent's line. Since 2026-01 the
file is ungrouped unless `groupObjects: true`: Shopify then promises no order between a
child and its parent, and the sandbox writes each parent's children BEFORE it, so a
reader that relies on position fails here as it would on Shopify. The file is served
at `<sandbox>/bulk/<token>.jsonl`; when it is ready the operation is COMPLETED and the
`bulk_operations/finish` webhook is published. Bulk runs cost nothing against the bucket.
One query operation runs per shop and app at a time.
"""
from __future__ import annotations

import json
import os
import secrets
import tempfile
import threading
from typing import Any, Callable

from graphql import GraphQLSchema, parse

from .ids import make_gid

BULK_DIR = tempfile.mkdtemp(prefix="sandbox-bulk-")
RUNNING = frozenset({"CREATED", "RUNNING"})


def _is_connection(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and set(value) <= {"edges", "nodes", "pageInfo"} and ("edges" in value or "nodes" in value)


def _nodes(connection: dict) -> list:
    if "edges" in connection:
        return [edge["node"] for edge in connection["edges"] if isinstance(edge, dict) and "node" in edge]
    return list(connection.get("nodes") or [])


def _split(obj: Any, parent_id: str | None, nested: list[tuple[list, str | None]]) -> Any:
    """The object without its connections (collected into `nested` with the parent id they belong to)."""
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            if _is_connection(value):
                nested.append((_nodes(value), parent_id))
            else:
                out[key] = _split(value, parent_id, nested)
        return out
    if isinstance(obj, list):
        return [_split(item, parent_id, nested) for item in obj]
    return obj


def _emit(out, node: Any, parent_id: str | None, grouped: bool) -> int:
    """Write a node's line and its nested connections' nodes: after it when grouped, before it when not."""
    nested: list[tuple[list, str | None]] = []
    # Nested connections' nodes point at this connection node, however deep inside it they sit.
    line = _split(node, node.get("id") if isinstance(node, dict) else None, nested)
    if parent_id is not None:
        line["__parentId"] = parent_id
    written = 0
    if grouped:
        out.write(json.dumps(line, separators=(",", ":")) + "\n")
        written += 1
    for children, owner in nested:
        for child in children:
            written += _emit(out, child, owner, grouped)
    if not grouped:
        out.write(json.dumps(line, separators=(",", ":")) + "\n")
        written += 1
    return written


def write_jsonl(data: dict, path: str, *, grouped: bool = False) -> tuple[int, int]:
    """Flatten query data into Shopify's JSONL layout; (objects, root objects) written."""
    objects = roots = 0
    with open(path, "w", encoding="utf-8") as out:
        for value in data.values():
            if _is_connection(value):
                for node in _nodes(value):
                    objects += _emit(out, node, None, grouped)
                    roots += 1
    return objects, roots


class BulkRunner:
    """Starts and tracks bulk query operations for a store."""

    def __init__(self, store, schema_for: Callable[[str], GraphQLSchema], on_finish: Callable[[], None]):
        self.store = store
        self.schema_for = schema_for
        self.on_finish = on_finish
        self.base_url = ""
        self.files: dict[str, str] = {}  # token -> path

    def start(self, shop, client_id: str | None, query: str, api_version: str, *, grouped: bool = False) -> dict:
        """Record a CREATED operation and run it on a thread; ShopifyUserError-like dict errors are raised as ValueError."""
        with self.store.lock:
            running = [op for op in shop.all("BulkOperation") if op["_clientId"] == client_id and op["status"] in RUNNING]
            if running:
                raise BulkRefused(f"A bulk query operation for this app and shop is already in progress: {running[0]['id']}.", "OPERATION_IN_PROGRESS")
            operation = shop.index({
                "__typename": "BulkOperation", "id": make_gid("BulkOperation", self.store.next_number()), "status": "CREATED", "type": "QUERY",
                "errorCode": None, "createdAt": self.store.now_iso(), "completedAt": None, "objectCount": "0", "rootObjectCount": "0",
                "fileSize": None, "url": None, "partialDataUrl": None, "query": query, "_clientId": client_id,
            })
        threading.Thread(target=self._run, args=(shop, operation, client_id, query, api_version, grouped), name="sandbox-bulk", daemon=True).start()
        return operation

    def _run(self, shop, operation: dict, client_id: str | None, query: str, api_version: str, grouped: bool) -> None:
        from .executor import RequestContext, execute_document

        operation["status"] = "RUNNING"
        schema = self.schema_for(api_version)
        with self.store.lock:
            app = self.store.apps.get(client_id) if client_id else None
            context = RequestContext(self.store, shop, client_id, app.scopes if app else (), api_version, bulk=True)
            result = execute_document(schema, parse(query), context)
        token = secrets.token_urlsafe(16)
        path = os.path.join(BULK_DIR, f"{token}.jsonl")
        if result.errors or result.data is None:
            status, error_code, objects, roots, url = "FAILED", "INTERNAL_SERVER_ERROR", 0, 0, None
        else:
            objects, roots = write_jsonl(result.data, path, grouped=grouped)
            self.files[token] = path
            status, error_code, url = "COMPLETED", None, (f"{self.base_url}/bulk/{token}.jsonl" if objects else None)
        with self.store.lock:
            operation.update(status=status, errorCode=error_code, completedAt=self.store.now_iso(), objectCount=str(objects), rootObjectCount=str(roots),
                             fileSize=str(os.path.getsize(path)) if url else None, url=url)
            self.store.publish(shop, "bulk_operations/finish", {
                "admin_graphql_api_id": operation["id"], "completed_at": operation["completedAt"], "created_at": operation["createdAt"],
                "error_code": error_code.lower() if error_code else None, "status": status.lower(), "type": "query",
            })
        self.on_finish()

    def path_of(self, token: str) -> str | None:
        """The file behind a result URL's token."""
        return self.files.get(token)


class BulkRefused(Exception):
    """A bulk operation Shopify would not start: message and BulkOperationUserErrorCode."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.message, self.code = message, code
