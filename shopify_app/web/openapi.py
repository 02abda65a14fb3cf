"""The JSON API as an OpenAPI 3.1 document, built from the routes themselves.

Paths, methods, path parameters, summaries (docstrings) and request bodies come from the
registered routes and their @validated_body schemas (api_schemas.py); this module adds what a
route cannot say about itself: its answers. A route missing from RESPONSES fails the build, so
the document cannot silently fall behind the API. `python -m shopify_app.cli openapi` prints it
(docs/openapi.json is that output).
"""
from __future__ import annotations

import re
from typing import Any

from flask import Flask

from .api_schemas import MAX_ID, BodySpec, IdConverter, request_schemas

TITLE = "Dropshipping app JSON API"
VERSION = "1.0.0"
JSON = "application/json"

ERROR_STATUSES = {
    400: "The request is invalid: `fields` lists each failing field and why.",
    401: "No valid session token, or the shop is not installed.",
    404: "No such object in this shop (ids outside 1..2^63-1 never match).",
    409: "The object is not in a state that allows this.",
    415: "The body is not JSON (or a type this route accepts).",
    422: "The feed could not be read, or a connection test before saving failed (nothing was saved).",
    429: "Too many of these requests for now: the Retry-After header says in how many seconds to try again.",
    502: "Shopify refused the change.",
}

# Answers each route gives besides 400/401/404/415 (added from its shape): {status: schema name or None}.
RESPONSES: dict[str, dict[int, str | None]] = {
    "api.openapi_document": {200: None},
    "api.shop_status": {200: "ShopStatus"},
    "api.orders": {200: "OrderList"},
    "api.order_timeline": {200: "OrderTimeline"},
    "api.dead_letters": {200: "DeadLetterList"},
    "api.retry_dead": {200: "Queued"},
    "alerts_api.list_alerts": {200: "AlertList"},
    "alerts_api.resolve": {200: "AlertEnvelope"},
    "alerts_api.get_alert_channels": {200: "AlertChannelsView"},
    "alerts_api.put_alert_channels": {200: "AlertChannelsView"},
    "admin_api.resolve_desync": {200: "Resolved"},
    "admin_api.reconcile_now": {200: "ReconcileReport"},
    "admin_api.kpi_targets": {200: "KpiTargetsView"},
    "admin_api.export_csv": {200: "csv"},
    "suppliers_api.list_suppliers": {200: "SupplierList"},
    "suppliers_api.create_supplier": {201: "SupplierEnvelope", 409: "Error"},
    "suppliers_api.delete_supplier": {200: "Deleted"},
    "suppliers_api.add_mappings": {200: "Mapped"},
    "suppliers_api.register_as_fulfillment_service": {200: "SupplierEnvelope", 502: "Error"},
    "suppliers_api.deregister_as_fulfillment_service": {200: "SupplierEnvelope", 502: "Error"},
    "supplier_pages.supplier_kinds": {200: "SupplierKinds"},
    "onboarding.place_test_order": {201: "TestOrder", 409: "Error", 502: "Error"},
    "suppliers_api.update_supplier": {200: "SupplierEnvelope", 409: "Error", 422: "ConnectionTestFailed"},
    "suppliers_api.test_connection": {200: "ConnectionTestEnvelope"},
    "suppliers_api.audit_trail": {200: "SupplierAudit"},
    "suppliers_api.supplier_reliability": {200: "SupplierReliability"},
    "suppliers_api.register_printful_webhooks": {200: "PrintfulWebhooks", 502: "PrintfulWebhooks"},
    "locations_api.managed_locations": {200: "ManagedLocationsView"},
    "locations_api.set_managed_locations": {200: "ManagedLocationsView"},
    "inventory_api.overview": {200: "InventoryOverview"},
    "inventory_api.feed_run": {200: "FeedEnvelope"},
    "inventory_api.upload_feed": {201: "FeedEnvelope", 422: "Error"},
    "inventory_api.decide_held_feed": {200: "FeedEnvelope", 409: "Error"},
    "inventory_api.set_inventory_terms": {200: "InventorySettingsView"},
    "inventory_api.sync_now": {200: "SyncEnvelope"},
    "email_suppliers_api.get_mailbox": {200: "MailboxView", 409: "Error"},
    "email_suppliers_api.put_mailbox": {200: "MailboxView", 409: "Error", 422: "Error"},
    "email_suppliers_api.delete_mailbox": {200: "Deleted", 409: "Error"},
    "email_suppliers_api.poll_now": {200: "MailboxPoll", 409: "Error"},
    "email_suppliers_api.upload_tracking": {201: "TrackingImportEnvelope", 409: "Error", 413: "Error", 422: "Error"},
    "email_suppliers_api.list_tracking_imports": {200: "TrackingImportList", 409: "Error"},
    "file_suppliers_api.put_file_mapping": {200: "FileMappingView", 409: "Error"},
    "file_suppliers_api.preview_file": {200: "FilePreview", 409: "Error", 413: "Error"},
    "file_suppliers_api.list_files": {200: "SupplierFileList", 409: "Error"},
    "file_suppliers_api.poll_files_now": {200: "SupplierFilePoll", 409: "Error"},
    "file_suppliers_api.get_po_batching": {200: "PoBatchingView", 409: "Error"},
    "file_suppliers_api.put_po_batching": {200: "PoBatchingView", 409: "Error"},
    "email_suppliers_api.get_tracking_import": {200: "TrackingImportEnvelope"},
    "edi_suppliers_api.list_edi_runs": {200: "EdiRunList", 409: "Error"},
    "as2_api.get_as2_setup": {200: "As2Setup", 409: "Error"},
    "as2_api.download_certificate": {200: "pem", 409: "Error"},
    "as2_api.roll_key_pair": {200: "As2Setup", 409: "Error", 429: "Error"},
    "returns_api.list_returns": {200: "ReturnList"},
    "returns_api.get_return": {200: "ReturnEnvelope"},
    "returns_api.decide": {200: "ReturnEnvelope", 409: "Error", 502: "Error"},
    "returns_api.receive_items": {200: "ReturnEnvelope", 502: "Error"},
    "returns_api.record_rma": {200: "ReturnEnvelope", 409: "Error"},
    "returns_api.carry_out_outcome": {200: "ReturnOutcomeEnvelope", 409: "Error", 422: "ReturnOutcomeEnvelope", 502: "Error"},
    "returns_api.complaint_answer": {200: "ReturnEnvelope", 404: "Error", 409: "Error", 502: "Error"},
    "returns_api.remedy_action": {200: "ReturnEnvelope", 404: "Error", 409: "Error"},
    "returns_api.exchange_forward_unpaid": {200: "ReturnOutcomeEnvelope", 404: "Error", 409: "Error"},
    "returns_api.return_policy": {200: "ReturnPolicyView"},
    "returns_api.supplier_return_terms": {200: "SupplierReturnTermsView"},
    "returns_api.analytics": {200: "ReturnAnalytics"},
    "mappings_api.list_mappings": {200: "MappingPage"},
    "mappings_api.export_mappings": {200: "csv"},
    "mappings_api.bulk_edit_mappings": {200: "MappingEdit", 404: "Error"},
    "mappings_api.auto_match": {200: "AutoMatchResult", 404: "Error"},
    "mappings_api.list_proposals": {200: "ProposalList"},
    "mappings_api.decide": {200: "ProposalDecisionResult", 404: "Error"},
    "mappings_api.import_mappings": {200: "MappingImport", 404: "Error", 413: "Error", 422: "Error"},
    "mappings_api.upload_catalog": {200: "SupplierCatalogUpload", 413: "Error", 422: "Error"},
    "settings_actions_api.put_human_targets": {200: "KpiTargetsHumanView"},
    "settings_actions_api.send_test_alert": {200: "AlertTestResult", 409: "Error", 429: "Error"},
    "notice_settings_api.get_notice_settings": {200: "NoticeSettingsView"},  # issue 17 part N
    "notice_settings_api.put_notice_settings": {200: "NoticeSettingsView"},
    "cases_api.list_cases": {200: "CaseList", 400: "Error"},
    "cases_api.reply_to_case": {201: "CaseReplied"},
    "cases_api.close": {200: "CaseEnvelope"},
    "cases_api.link": {200: "CaseEnvelope"},
    "cases_api.get_settings": {200: "CaseSettingsView"},
    "cases_api.put_settings": {200: "CaseSettingsView"},
}

# Query parameters a route reads: {endpoint: {name: schema}}.
# Free text filters: any value is accepted (unknown ones match nothing or fall back to the default).
QUERY: dict[str, dict[str, dict]] = {
    "suppliers_api.update_supplier": {"test": {"type": "string", "enum": ["0", "1"], "description": "1: save only if a test connection with the new settings and credentials succeeds."}},
    "returns_api.list_returns": {"queue": {"type": "string", "description": "Any non-empty value: only requests waiting for the merchant."},
                                 "complaints": {"type": "string", "description": "Any non-empty value: only open complaints, soonest answer deadline first."}},
    "email_suppliers_api.upload_tracking": {"filename": {"type": "string", "description": "The file's name, for the report (form uploads carry their own)."}},
    **{endpoint: {
        "q": {"type": "string", "description": "Search: SKU prefix, barcode, or words of the title."},
        "filter": {"type": "string", "description": "unmapped, out_of_stock or no_cost (others: no filter)."},
        "supplier": {"type": "string", "description": "A supplier's id: its mappings only."},
        "after": {"type": "string", "description": "The page after this row id (next_after)."},
        "before": {"type": "string", "description": "The page before this row id (prev_before)."},
        "limit": {"type": "string", "description": "Rows per page, at most 200 (default 50)."},
    } for endpoint in ("mappings_api.list_mappings", "mappings_api.export_mappings", "mappings_api.list_proposals")},
    "mappings_api.import_mappings": {
        "supplier": {"type": "string", "description": "The supplier of rows that name none (a file without a supplier column)."},
        "apply": {"type": "string", "enum": ["0", "1"], "description": "1: write the accepted rows; otherwise only the preview."},
    },
    "cases_api.list_cases": {"status": {"type": "string", "enum": ["", "open", "answered", "closed"], "description": "Empty: every status."},
                             "kind": {"type": "string", "enum": ["", "damaged", "wrong_item", "not_arrived", "late", "question", "out_of_stock"],
                                      "description": "Empty: every kind."}},
    "admin_api.export_csv": {
        "q": {"type": "string", "description": "Orders: search text."}, "state": {"type": "string"}, "supplier": {"type": "string"},
        "problem": {"type": "string"}, "bucket": {"type": "string", "description": "KPIs: day (default), week or month."},
    },
}
PUBLIC = {"api.openapi_document"}  # no session token needed

_PARAM = re.compile(r"<(?:([a-zA-Z_]+)(?:\(([^)]*)\))?:)?([a-zA-Z_][a-zA-Z0-9_]*)>")


def _obj(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict:
    """A response object: the listed properties typed, others allowed (answers may grow)."""
    return {"type": "object", "properties": properties, "required": list(required or properties)}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _list_of(key: str, item: str) -> dict:
    return _obj({key: {"type": "array", "items": _ref(item)}})


ANY_OBJECT = {"type": "object"}
STR = {"type": "string"}
NSTR = {"type": ["string", "null"]}
INT = {"type": "integer"}
NINT = {"type": ["integer", "null"]}
BOOL = {"type": "boolean"}


def response_schemas() -> dict[str, dict]:
    """Schemas of the answers (loose where the content is a report; strict on the envelope)."""
    return {
        "Error": _obj({"error": STR, "fields": {"type": "array", "items": _obj({"field": STR, "message": STR})}}, ("error",)),
        "ShopStatus": _obj({
            "shop": STR, "installed": BOOL, "installed_at": NSTR, "webhooks": ANY_OBJECT,
            "backfill": {"oneOf": [{"type": "null"}, _obj({"status": STR, "window_days": INT, "method": NSTR, "seen": INT, "total": NINT, "finished_at": NSTR})]},
        }),
        "OrderList": _obj({"orders": {"type": "array", "items": _obj({"id": INT, "name": NSTR, "state": STR, "supplier_orders": {"type": "array"}}, ("id", "state"))}}),
        "OrderTimeline": _obj({"id": INT, "name": NSTR, "state": STR, "timeline": {"type": "array"}}),
        "DeadLetterList": _obj({"dead_letters": {"type": "array", "items": ANY_OBJECT}}),
        "Queued": _obj({"queued": INT}),
        "Alert": _obj({"id": INT, "kind": STR, "severity": STR, "message": STR, "status": {"enum": ["open", "resolved"]}, "notifications": ANY_OBJECT}),
        "AlertList": _list_of("alerts", "Alert"),
        "AlertEnvelope": _obj({"alert": _ref("Alert")}),
        "AlertChannelsView": _obj({"emails": {"type": "array", "items": STR}, "min_severity": STR, "slack_webhook_configured": BOOL, "slack_webhook_host": NSTR}),
        "Resolved": _obj({"resolved": INT}),
        "ReconcileReport": _obj({"report": {"type": ["object", "null"]}}),
        "KpiTargetsView": _obj({"targets": {"type": "object", "additionalProperties": {"type": "number"}}}),
        "Supplier": _obj({"id": INT, "name": STR, "kind": STR, "vendor": NSTR, "priority": INT, "fulfillment_model": STR, "active": BOOL,
                          "settings": ANY_OBJECT, "location_gid": NSTR, "inventory_terms": ANY_OBJECT, "return_terms": ANY_OBJECT, "has_credentials": BOOL,
                          "credentials": {"type": "object", "additionalProperties": STR, "description": "Masked: at most the last 4 characters of each."}}),
        "ConnectionTest": _obj({"ok": BOOL, "checked": NSTR, "error": NSTR, "error_kind": {"enum": [None, "credentials", "permanent", "transient", "configuration"]}, "duration_ms": INT}, ("ok",)),
        "ConnectionTestEnvelope": _obj({"test": _ref("ConnectionTest")}),
        "ConnectionTestFailed": _obj({"error": STR, "test": _ref("ConnectionTest"), "unsaved": ANY_OBJECT}, ("error", "test")),
        "SupplierAudit": _obj({"audit": {"type": "array", "items": _obj({"at": STR, "actor": STR, "action": STR, "fields": {"type": "array", "items": STR}, "detail": ANY_OBJECT})}}),
        "SupplierList": _list_of("suppliers", "Supplier"),
        "SupplierEnvelope": _obj({"supplier": _ref("Supplier")}),
        "Deleted": _obj({"deleted": INT}),
        "SupplierKinds": _obj({"kinds": {"type": "array", "items": _obj({"id": STR, "kind": STR, "label": STR, "help": STR, "settings": ANY_OBJECT,
                                                                        "credentials": ANY_OBJECT, "fixed_settings": ANY_OBJECT})},
                               "fulfillment_models": {"type": "array", "items": _obj({"value": STR, "label": STR, "help": STR})}}),
        "TestOrder": _obj({"order": _obj({"id": STR, "name": STR, "sku": STR})}),
        "Mapped": _obj({"mapped": INT}),
        "PrintfulWebhooks": _obj({"webhooks": _obj({"registered": BOOL, "expires_at": STR, "error": STR}, ("registered",))}),
        "ManagedLocationsView": _obj({"locations": {"type": "array", "items": _obj({"location_gid": STR, "name": NSTR, "supplier_ids": {"type": "array", "items": INT}})},
                                      "primary_location_default": BOOL}),
        "InventoryOverview": _obj({"suppliers": {"type": "array"}, "last_sync": {"type": ["object", "null"]}, "levels": ANY_OBJECT, "drift": {"type": "array"}, "failures": {"type": "array"}}),
        "Feed": _obj({"id": INT, "supplier_id": INT, "source": STR, "full": BOOL, "status": STR, "rows_total": NINT, "rows_refused": NINT}, ("id", "status")),
        "FeedEnvelope": _obj({"feed": _ref("Feed")}),
        "InventorySettingsView": _obj({"location_gid": NSTR, "terms": ANY_OBJECT}),
        "SyncEnvelope": _obj({"sync": {"type": ["object", "null"]}}),
        "Return": _obj({"id": INT, "return_gid": STR, "status": STR, "decision": STR, "rma": ANY_OBJECT, "lines": {"type": "array"},
                        "kind": {"enum": ["return", "complaint"]}, "legal_profile": NSTR, "country_code": NSTR, "refund_due_at": NSTR,
                        "complaint": {"oneOf": [{"type": "null"}, ANY_OBJECT]},
                        "clocks": {"type": "array", "items": _obj({"kind": {"enum": ["refund", "complaint_answer", "damaged_answer"]}, "due_at": STR,
                                                                   "state": {"enum": ["running", "due_soon", "overdue", "waiting_for_goods", "done"]},
                                                                   "hours_left": {"type": ["number", "null"]}})}}),
        "ReturnList": _list_of("returns", "Return"),
        "ReturnEnvelope": _obj({"return_": _ref("Return")}),
        "ReturnOutcomeEnvelope": _obj({"outcome": _obj({
            "kind": {"enum": ["refund", "store_credit", "exchange", "replacement"]}, "state": {"enum": ["pending", "sent", "unknown", "done", "failed"]},
            "amount": NSTR, "currency": NSTR, "goods": NSTR, "restocking_fee": NSTR, "return_shipping_fee": NSTR,
            "fee_notes": {"type": "array", "items": STR}, "legal_profile": NSTR, "refund_gid": NSTR, "error": NSTR,
            "delivery_refund": NSTR, "difference_refunded": NSTR, "balance_due": NSTR,
            "balance_state": {"enum": [None, "awaiting_payment", "paid", "forward_unpaid"]}, "replacement_order": NSTR}, ("kind", "state")),
            "return_": _ref("Return")}, ("outcome", "return_")),
        "ReturnPolicyView": _obj({"policy": ANY_OBJECT, "warnings": {"type": "array", "items": STR},
                                  "legal_profiles": {"type": "object", "description": "Per profile key: name, the law's figures (the floor) and the figures applied."}}),
        "SupplierReturnTermsView": _obj({"terms": ANY_OBJECT, "warnings": {"type": "array", "items": STR}}),
        "ReturnAnalytics": ANY_OBJECT,
        "SupplierReliability": _obj({
            "breaker": _obj({"state": {"enum": ["closed", "open", "half_open"]}, "since": NSTR, "opened_last_24h": INT,
                             "changes": {"type": "array", "items": _obj({"at": STR, "from": STR, "to": STR, "reason": STR})}}),
            "orders": _obj({"count": INT, "retried": INT, "retries_p50": INT, "retries_p90": INT, "retries_max": INT,
                            "backoff_wait_seconds": {"type": "number"}, "breaker_wait_seconds": {"type": "number"},
                            "mean_backoff_wait_seconds": {"type": "number"}, "mean_breaker_wait_seconds": {"type": "number"}}),
            "waited_longest": {"type": "array", "items": _obj({"order_id": INT, "order": NSTR, "state": STR, "retries": INT,
                                                               "backoff_wait_seconds": {"type": "number"}, "breaker_wait_seconds": {"type": "number"}})},
        }),
        "Mailbox": _obj({"supplier_id": INT, "host": STR, "port": INT, "security": STR, "username": STR, "password_set": BOOL, "folder": STR,
                         "processed_folder": NSTR, "poll_minutes": INT, "enabled": BOOL, "last_polled_at": NSTR, "last_error": NSTR, "failures": INT}),
        "MailboxView": _obj({"mailbox": {"oneOf": [{"type": "null"}, _ref("Mailbox")]}}),
        "TrackingImport": _obj({"id": INT, "supplier_id": INT, "source": STR, "reference": NSTR, "message": NSTR, "created_at": STR,
                                "counts": _obj({"applied": INT, "duplicate": INT, "unknown_po": INT, "unreadable": INT}),
                                "rows": {"type": "array", "items": _obj({"source": STR, "row": INT, "outcome": {"enum": ["applied", "duplicate", "unknown_po", "unreadable"]},
                                                                           "message": STR, "po_number": STR, "carrier": STR, "tracking_number": STR})}},
                               ("id", "supplier_id", "source", "counts", "created_at")),
        "TrackingImportEnvelope": _obj({"tracking_import": _ref("TrackingImport")}),
        "TrackingImportList": _list_of("tracking_imports", "TrackingImport"),
        "EdiRun": _obj({"id": INT, "file_name": STR, "interchange": NSTR, "sender": NSTR,
                        "outcome": {"enum": ["applied", "partly_applied", "refused", "duplicate", "wrong_partner", "unreadable"]},
                        "sets_accepted": INT, "sets_rejected": INT, "reasons": {"type": "array", "items": STR}, "received_at": STR},
                       ("id", "file_name", "outcome", "sets_accepted", "sets_rejected", "reasons", "received_at")),
        "EdiRunList": _list_of("edi_runs", "EdiRun"),
        "As2Setup": _obj({"as2": _obj({"our_as2_id": STR, "partner_as2_id": STR, "inbound_url": STR, "certificate_pem": STR, "certificate_not_after": STR, "sign_from": NSTR,
                                       "previous_certificate_not_after": NSTR, "partner_certificate_subject": NSTR, "partner_certificate_not_after": NSTR,
                                       "messages": {"type": "array", "items": _obj({"direction": {"enum": ["in", "out"]}, "message_id": STR, "file_name": STR,
                                                                                      "status": STR, "folder": STR, "attempts": INT, "detail": NSTR, "updated_at": STR},
                                                                                     ("direction", "message_id", "file_name", "status", "attempts", "updated_at"))}},
                                      ("our_as2_id", "partner_as2_id", "inbound_url", "certificate_pem", "messages"))}),
        "MappingPage": _obj({"rows": {"type": "array", "items": _obj({"id": INT, "variant_gid": STR, "sku": NSTR, "title": NSTR, "barcode": NSTR,
                                                                        "mappings": {"type": "array", "items": _obj({"id": INT, "supplier_id": INT, "supplier": STR, "supplier_sku": STR,
                                                                                                                     "cost": NSTR, "stock": NINT, "in_stock": BOOL})}})},
                             "next_after": NINT, "prev_before": NINT}),
        "MappingEdit": _obj({"edit": _obj({"variants": INT, "without_sku": INT, "created": INT, "changed": INT, "removed": INT})}),
        "AutoMatchResult": _obj({"found": _obj({"by_sku": INT, "by_barcode": INT}), "pending": INT}),
        "ProposalList": _obj({"proposals": {"type": "array", "items": _obj({"id": INT, "supplier_id": INT, "supplier": STR, "sku": STR, "title": NSTR, "barcode": NSTR,
                                                                             "supplier_sku": STR, "matched_by": {"enum": ["sku", "barcode"]}, "cost": NSTR})},
                              "pending": INT}),
        "ProposalDecisionResult": _obj({"decision": _obj({"decided": INT, "mapped": INT, "pending": INT})}),
        "SpreadsheetCheck": _obj({"rows_total": INT, "accepted": INT, "refused": INT, "preview": {"type": "array", "items": ANY_OBJECT},
                                  "refused_rows": {"type": "array", "items": _obj({"row": INT, "sku": STR, "reason": STR})}}),
        "MappingImport": _obj({"import_": {"allOf": [_ref("SpreadsheetCheck")], "properties": {"applied": _obj({"written": INT, "created": INT, "updated": INT})}}}),
        "SupplierCatalogUpload": _obj({"catalog": {"allOf": [_ref("SpreadsheetCheck")], "properties": {"catalog_size": INT}, "required": ["catalog_size"]}}),
        "KpiTargetsHumanView": _obj({"targets": {"type": "object", "additionalProperties": {"type": "number"}},
                                     "human": {"type": "array", "items": _obj({"key": STR, "label": STR, "unit": {"enum": ["%", "h"]}, "value": {"type": "number"},
                                                                               "default": {"type": "number"}, "max": {"type": "number"}})}}),
        "AlertTestResult": _obj({"results": {"type": "array", "items": _obj({"channel": STR, "ok": BOOL, "detail": STR})}}),
        "FileMappingView": _obj({"kind": STR, "mapping": ANY_OBJECT}),
        "PoBatchingView": _obj({"batching": _obj({
            "po_batching": ANY_OBJECT, "timezone": STR, "next_slot": NSTR, "waiting_orders": INT,
            "batches": {"type": "array", "items": _obj({"file_name": STR, "slot": STR, "state": {"enum": ["recorded", "written"]}, "orders": INT,
                                                         "written_at": NSTR, "error": NSTR})}})}),
        "FilePreview": _obj({"preview": _obj({"kind": STR, "mapping": ANY_OBJECT, "fields": {"type": "array", "items": STR}, "rows_read": INT, "file_refused": BOOL,
                                               "rows": {"type": "array", "items": _obj({"row": INT, "values": ANY_OBJECT})},
                                               "refused": {"type": "array", "items": _obj({"row": INT, "reason": STR})}})}),
        "SupplierFile": _obj({"id": INT, "supplier_id": INT, "kind": STR, "name": STR, "status": STR, "size": INT, "rows_applied": INT, "rows_refused": INT,
                              "message": NSTR, "checksum": NSTR, "first_seen_at": NSTR, "processed_at": NSTR, "refused": {"type": "array", "items": ANY_OBJECT}}),
        "SupplierFileList": _obj({"files": {"type": "array", "items": _ref("SupplierFile")}, "poll": {"type": ["object", "null"]}}),
        "SupplierFilePoll": _obj({"poll": _obj({"seen": INT, "duplicates": INT, "changed": INT, "error": NSTR, "files": {"type": "array", "items": _ref("SupplierFile")}})}),
        "NoticeSettingsView": _obj({"steps": {"type": "object", "additionalProperties": BOOL}, "follow_up_days": INT, "review_url": NSTR,
                                    "sender_name": NSTR, "sender_address": NSTR, "sender_verified": BOOL}),
        "Case": _obj({"id": INT, "order_id": INT, "kind": {"enum": ["damaged", "wrong_item", "not_arrived", "late", "question", "out_of_stock"]},
                      "status": {"enum": ["open", "answered", "closed"]}, "source": {"enum": ["customer", "app"]}, "owner": NSTR,
                      "opened_at": STR, "due_at": STR, "first_reply_at": NSTR, "closed_at": NSTR, "return_case_id": NINT, "replacement_order": NSTR},
                     ("id", "order_id", "kind", "status", "opened_at", "due_at")),
        "CaseList": _obj({"cases": {"type": "array", "items": _ref("Case")}, "as_of": STR}, ("cases",)),
        "CaseEnvelope": _obj({"case": _ref("Case")}, ("case",)),
        "CaseReplied": _obj({"case": _ref("Case"), "message_id": INT}, ("case", "message_id")),
        "CaseSettingsView": _obj({"out_of_stock_choice": {"enum": ["wait", "substitute", "refund"]}}, ("out_of_stock_choice",)),
        "MailboxPoll": _obj({"poll": _obj({"messages": INT, "skipped": INT, "error": NSTR, "imports": {"type": "array", "items": _ref("TrackingImport")}})}),
    }


def api_app() -> Flask:
    """A bare app with only the JSON API's routes (no services: enough to read the routes)."""
    from .admin_api import blueprint as admin_api
    from .alerts_api import blueprint as alerts_api
    from .api import blueprint as api
    from .edi_suppliers_api import blueprint as edi_suppliers_api
    from .cases_api import blueprint as cases_api
    from .email_suppliers_api import blueprint as email_suppliers_api
    from .file_suppliers_api import blueprint as file_suppliers_api
    from .inventory_api import blueprint as inventory_api
    from .locations_api import blueprint as locations_api
    from .mappings_api import blueprint as mappings_api
    from .notice_settings_api import blueprint as notice_settings_api
    from .onboarding import blueprint as onboarding
    from .returns_api import blueprint as returns_api
    from .settings_actions_api import blueprint as settings_actions_api
    from .supplier_pages import blueprint as supplier_pages
    from .suppliers_api import blueprint as suppliers_api

    app = Flask("openapi")
    for blueprint in (api, alerts_api, admin_api, suppliers_api, email_suppliers_api, edi_suppliers_api, file_suppliers_api, locations_api, inventory_api, returns_api, supplier_pages, onboarding, mappings_api, settings_actions_api, cases_api):
        app.register_blueprint(blueprint)
    app.register_blueprint(notice_settings_api)  # issue 17 part N
    from .as2_api import blueprint as as2_api

    app.register_blueprint(as2_api)  # issue 15: EDI over AS2
    return app


def _path_and_parameters(rule) -> tuple[str, list[dict]]:
    parameters = []

    def to_template(match: re.Match) -> str:
        converter, arguments, name = match.groups()
        converter_obj = rule._converters.get(name)
        if isinstance(converter_obj, IdConverter):
            schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
        elif converter == "any":
            schema = {"type": "string", "enum": sorted(converter_obj.items)}
        elif converter == "int":
            schema = {"type": "integer", "minimum": 0}
        else:
            schema = {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
        return "{" + name + "}"

    return _PARAM.sub(to_template, rule.rule), parameters


def _content(name: str | None) -> dict:
    if name is None:
        return {JSON: {"schema": ANY_OBJECT}}
    if name == "csv":
        return {"text/csv": {"schema": STR}}
    if name == "pem":
        return {"application/x-pem-file": {"schema": STR}}
    return {JSON: {"schema": _ref(name)}}


def _operation(endpoint: str, method: str, view, path_parameters: list[dict], multi_method: bool) -> dict:
    if endpoint not in RESPONSES:
        raise KeyError(f"{endpoint} is not documented in openapi.RESPONSES")
    doc = (view.__doc__ or "").strip().splitlines()
    operation: dict[str, Any] = {
        "operationId": endpoint.replace(".", "_") + (f"_{method}" if multi_method else ""),
        "summary": doc[0] if doc else endpoint,
        "tags": [endpoint.split(".")[0]],
    }
    parameters = path_parameters + [{"name": n, "in": "query", "required": False, "schema": s} for n, s in QUERY.get(endpoint, {}).items()]
    if parameters:
        operation["parameters"] = parameters
    responses: dict[int, str | None] = dict(RESPONSES[endpoint])
    spec: BodySpec | None = getattr(view, "body_spec", None)
    if spec is not None and spec.applies_to(method):
        content = {JSON: {"schema": _ref(spec.schema)}}
        content.update({media: {"schema": STR} for media in spec.other_media})
        operation["requestBody"] = {"required": not spec.optional, "content": content}
        responses.setdefault(400, "Error")
        responses.setdefault(415, "Error")
    if endpoint in PUBLIC:
        operation["security"] = []
    else:
        responses.setdefault(401, "Error")
    if path_parameters:
        responses.setdefault(404, "Error")
    operation["responses"] = {
        str(status): {"description": ERROR_STATUSES.get(status, "OK"), "content": _content(schema)} for status, schema in sorted(responses.items())
    }
    return operation


def build_document() -> dict:
    """The OpenAPI 3.1 document of the JSON API."""
    app = api_app()
    paths: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith("/api/"):
            continue
        path, parameters = _path_and_parameters(rule)
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        for method in methods:
            view = app.view_functions[rule.endpoint]
            paths.setdefault(path, {})[method.lower()] = _operation(rule.endpoint, method.lower(), view, parameters, len(methods) > 1)
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION,
                 "description": "The admin UI's JSON API. Every call carries the App Bridge session token of one shop and sees only that shop's data."},
        "servers": [{"url": "/"}],
        "security": [{"sessionToken": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"sessionToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                                 "description": "The App Bridge session token (ID token) of the shop."}},
            "schemas": {**request_schemas(), **response_schemas()},
        },
    }
