"""JSON Schemas of every JSON API request body, the decorator that enforces them, and bounded path ids.

The OpenAPI document (openapi.py) publishes these very schemas, so what is documented is what
is enforced. A body that fails answers 400 {"error": "invalid request", "fields": [{"field", "message"}]}
and never reaches the route; the domain validators behind the routes stay as a second line.
"""
from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from flask import Blueprint, Flask, Response, g, jsonify, request
from jsonschema import Draft202012Validator
from werkzeug.exceptions import NotFound
from werkzeug.routing import BaseConverter

from ..bounds import MAX_ID  # paths naming ids outside 1..MAX_ID answer 404 before any query
from ..inventory.terms import MAX_UNITS
from ..reconcile.checks import SLA_HOURS_BOUNDS as SLA_HOURS

MAX_FIELDS_REPORTED = 20
MAX_MESSAGE = 200

# Domain bounds (inventory terms, return windows, KPI targets) are imported from the domain
# validators in request_schemas(), so the schema and the save-time checks cannot disagree.
MAX_PRIORITY = 10_000
MAX_MAPPINGS = 1000
MAX_RECEIPT_LINES = 500
MAX_LIST = 500
MAX_OBJECT_KEYS = 100
MAX_FEED_ROWS = 100_000
MAX_BULK_IDS = 5000

LOCATION_GID = r"^gid://shopify/Location/[0-9]{1,19}$"
HTTP_URL = r"^https?://[^\s]+$"
NON_BLANK = r"\S"


class IdConverter(BaseConverter):
    """`<id:name>`: a database id, 1..2**63-1; anything else does not match (404)."""

    regex = r"[0-9]{1,19}"
    weight = 50

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 1 <= number <= MAX_ID:
            # NotFound, not ValidationError: the matcher would go on to the same path's rules for
            # other methods and answer 405 for an id that simply names nothing.
            raise NotFound()
        return number

    def to_url(self, value: Any) -> str:
        return str(int(value))


def refuse_nul_in_query(app: Flask) -> None:
    """Every route: a query string carrying NUL (%00) answers 400 before any view reads it.

    PostgreSQL refuses NUL in text, so ?q=%00 on a search (orders, mappings, the CSV exports) was
    a 500 there; no parameter of ours means anything with it. (Werkzeug decodes bad UTF-8 in a
    query with replacement characters, so NUL is the one thing a query can carry that no column holds.)
    """

    @app.before_request
    def _no_nul_in_query():
        for name, value in request.args.items(multi=True):
            if "\x00" in name or "\x00" in value:
                field = name.replace("\x00", "\\0")
                message = "must not contain NUL characters"
                if request.path.startswith("/api/"):
                    return jsonify(error="invalid request", fields=[{"field": field, "message": message}]), 400
                return Response(f"Bad request: the query parameter {field!r} {message}.", status=400, mimetype="text/plain")
        return None


def bounded_ids(blueprint: Blueprint) -> None:
    """Make `<id:...>` available to the blueprint's routes (call before defining them)."""
    blueprint.record_once(lambda state: state.app.url_map.converters.setdefault("id", IdConverter))


# -- schema building blocks ------------------------------------------------------------------------


def text(max_length: int, *, min_length: int = 0, non_blank: bool = False, nullable: bool = False, **extra) -> dict:
    """A string schema with a length bound (and optionally at least one non-space character)."""
    schema: dict[str, Any] = {"type": ["string", "null"] if nullable else "string", "minLength": max(min_length, 1 if non_blank else 0), "maxLength": max_length}
    if non_blank:
        schema["pattern"] = NON_BLANK
    return {**schema, **extra}


def whole(minimum: int, maximum: int, *, nullable: bool = False, **extra) -> dict:
    """An integer schema with both bounds."""
    return {"type": ["integer", "null"] if nullable else "integer", "minimum": minimum, "maximum": maximum, **extra}


def obj(properties: dict, *, required: tuple[str, ...] = (), min_properties: int = 0, **extra) -> dict:
    """A closed object: only the listed properties."""
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    if min_properties:
        schema["minProperties"] = min_properties
    return {**schema, **extra}


def free_object(max_properties: int = MAX_OBJECT_KEYS, **extra) -> dict:
    """An open object of bounded size (its content is checked elsewhere, e.g. by an adapter's config)."""
    return {"type": "object", "maxProperties": max_properties, **extra}


EMPTY = obj({}, description="No fields: send {} or no body at all.")


@functools.cache
def request_schemas() -> dict[str, dict]:
    """Every request body schema by name (the OpenAPI document's components use the same dicts)."""
    from integrations.suppliers.registry import known_kinds

    from ..cases.service import MAX_MESSAGE_CHARS as CASE_MAX_CHARS, OUT_OF_STOCK_CHOICES
    from ..inventory.terms import OUT_OF_STOCK_POLICIES, WHOLE_NUMBER_BOUNDS
    from ..kpis.targets import DEFAULT_TARGETS, MAX_TARGET_HOURS, RATE_KEYS
    from ..notify.alert_channels import MAX_EMAILS, SEVERITIES
    from ..notify.notice_settings import FOLLOW_UP_DAYS, STEPS as NOTICE_STEPS
    from ..returns.complaints import REMEDIES
    from ..returns.legal_profiles import MAX_OVERRIDE_DAYS, OVERRIDABLE, PROFILES as LEGAL_PROFILES
    from ..returns.policy import LEGAL_MINIMUM_DAYS, MAX_RETURN_DAYS, RETURN_REASONS
    from ..suppliers.models import FulfillmentModel

    days = whole(1, MAX_RETURN_DAYS)
    address = {"type": ["object", "null"], "maxProperties": 20, "additionalProperties": text(255, nullable=True)}
    return {
        "Empty": EMPTY,
        "As2KeyPair": obj({
            "sign_from": text(10, nullable=True, pattern=r"^\d{4}-\d{2}-\d{2}$",
                              description="The day (UTC, YYYY-MM-DD, today to 60 days ahead) the new pair starts signing; until then the pair in use signs. "
                                          "Omitted, null or today: at once. A day before today (UTC) is a 400."),
        }),
        "SupplierCreate": obj({
            "name": text(255, non_blank=True),
            "kind": {"type": "string", "enum": known_kinds()},
            "credentials": free_object(50, description="Kind-specific secrets (write-only; checked by the adapter's config)."),
            "settings": free_object(description="Kind-specific settings (checked by the adapter's config)."),
            "vendor": text(255, nullable=True),
            "priority": whole(0, MAX_PRIORITY, description="Lower wins."),
            "fulfillment_model": {"type": "string", "enum": [m.value for m in FulfillmentModel]},
        }, required=("name", "kind")),
        "SupplierUpdate": obj({
            "name": text(255, non_blank=True),
            "sla_hours": {"type": "number", "minimum": SLA_HOURS[0], "maximum": SLA_HOURS[1]},
            "priority": whole(0, MAX_PRIORITY),
            "active": {"type": "boolean"},
            "vendor": text(255, nullable=True),
            "settings": free_object(description="A JSON merge patch (RFC 7396) on the saved settings: keys given replace, null removes; checked as on create."),
            "credentials": free_object(50, description="A JSON merge patch on the saved credentials (write-only): rotate one key, null removes one; checked as on create."),
        }, min_properties=1),
        "SupplierConnectionTest": obj({
            "settings": free_object(description="Unsaved changes to test (a merge patch on the saved settings)."),
            "credentials": free_object(50, description="Unsaved credentials to test (a merge patch on the saved ones)."),
        }),
        "Mappings": obj({
            "mappings": {"type": "array", "minItems": 1, "maxItems": MAX_MAPPINGS, "items": obj({
                "sku": text(255, non_blank=True),
                "supplier_sku": text(255, non_blank=True),
                "variant_id": {"type": ["string", "integer", "null"], "pattern": r"^[0-9]{1,19}$", "minimum": 1, "maximum": MAX_ID,
                               "description": "The Shopify variant's numeric id."},
                "cost": {"type": ["string", "number", "null"], "maxLength": 32, "minimum": 0, "maximum": 1_000_000_000,
                         "description": "Unit cost, a decimal as spreadsheets write it ('4.50', '4,50', '1.234,50'); read by mappings.files.parse_cost."},
                "safety_buffer": whole(0, MAX_UNITS, nullable=True),
            }, required=("sku", "supplier_sku"))},
        }, required=("mappings",)),
        "StockFeed": {
            "description": 'Either {"url": ...} to fetch the feed, or the feed itself: a list of {sku, available, in_stock} or {"items": [...]}.',
            "anyOf": [
                obj({"url": text(2048, min_length=1, pattern=HTTP_URL)}, required=("url",)),
                {"type": "array", "maxItems": MAX_FEED_ROWS},
                obj({"items": {"type": "array", "maxItems": MAX_FEED_ROWS}}, required=("items",)),
            ],
        },
        "InventorySettings": obj({
            "location_gid": text(255, nullable=True, pattern=LOCATION_GID),
            "terms": obj({
                **{name: whole(low, high) for name, (low, high) in WHOLE_NUMBER_BOUNDS.items()},
                "out_of_stock_policy": {"type": "string", "enum": list(OUT_OF_STOCK_POLICIES)},
                "guard_share": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            }),
        }),
        "InventorySync": obj({"refresh_catalog": {"type": "boolean"}}),
        "ManagedLocations": obj({
            "locations": {"type": "array", "maxItems": MAX_LIST, "items": obj({
                "location_gid": text(255, pattern=LOCATION_GID),
                "name": text(255, nullable=True),
                "supplier_ids": {"type": "array", "maxItems": MAX_LIST, "items": whole(1, MAX_ID),
                                 "description": "Merchant-managed suppliers allowed here; empty or absent: all of them."},
            }, required=("location_gid",))},
        }, required=("locations",)),
        "ReturnDecision": obj({
            "reason": {"type": "string", "enum": ["RETURN_PERIOD_ENDED", "FINAL_SALE", "OTHER"], "description": "Decline only."},
            "note": text(300, nullable=True),
        }),
        "ReturnReceipt": obj({
            "lines": {"type": "array", "minItems": 1, "maxItems": MAX_RECEIPT_LINES, "items": obj({
                "line_id": whole(1, MAX_ID),
                "received": whole(0, MAX_UNITS),
                "damaged": whole(0, MAX_UNITS),
            }, required=("line_id", "received"))},
        }, required=("lines",)),
        "ReturnOutcome": obj({
            "kind": {"type": "string", "enum": ["refund", "store_credit", "exchange"],
                     "description": "Default: the decision's outcome (exchange when the customer chose items), else refund."},
            "customer_agreed": {"type": "boolean",
                                "description": "The customer expressly agreed to store credit instead of a refund (needed on a statutory withdrawal)."},
        }),
        "ExchangeForwardUnpaid": obj({}, description="No fields: the merchant's word to send the replacement before payment."),
        "ReturnRemedy": obj({
            "action": {"type": "string", "enum": ["replace", "repair", "done"],
                       "description": "replace / repair: the remedy for a complaint the law accepted; done: the replacement or repair was given."},
        }, required=("action",)),
        "ReturnRma": obj({
            "rma_number": text(128, non_blank=True),
            "label_url": text(2048, nullable=True, pattern=HTTP_URL),
            "address": address,
        }, required=("rma_number",)),
        "ReturnPolicy": obj({
            "window_days": whole(LEGAL_MINIMUM_DAYS, MAX_RETURN_DAYS, description="Never below the legal minimum."),
            "reason_windows": {"type": "object", "propertyNames": {"enum": list(RETURN_REASONS)}, "additionalProperties": days},
            "final_sale_tags": {"type": "array", "maxItems": MAX_LIST, "items": text(255),
                                "description": "No return under the store's own policy; a statutory withdrawal is still accepted."},
            "final_sale_product_ids": {"type": "array", "maxItems": MAX_LIST, "items": text(64)},
            "withdrawal_exempt_tags": {"type": "array", "maxItems": MAX_LIST, "items": text(255),
                                       "description": "Product tags the law excludes from the statutory withdrawal (made to order, personalised, perishable). "
                                                      "Final-sale tags apply to the store's own policy only."},
            "review_reasons": {"type": "array", "maxItems": len(RETURN_REASONS), "items": {"type": "string", "enum": list(RETURN_REASONS)}},
            "auto_decide": {"type": "boolean"},
            "business_day_reasons": {"type": "array", "maxItems": len(RETURN_REASONS), "items": {"type": "string", "enum": list(RETURN_REASONS)},
                                     "description": "Reasons whose window counts business days in the customer's country."},
            "legal_overrides": {"type": "object", "propertyNames": {"enum": list(LEGAL_PROFILES)}, "additionalProperties": {
                "type": "object", "propertyNames": {"enum": list(OVERRIDABLE)}, "additionalProperties": whole(1, MAX_OVERRIDE_DAYS)},
                "description": "Per legal profile, figures the store improves for the customer (never below the law)."},
            "standard_delivery_price": {"type": ["string", "number", "null"], "pattern": r"^\d{1,6}(\.\d{1,2})?$", "minimum": 0, "maximum": 100000,
                                        "description": "The least expensive standard delivery: the most a withdrawal from the whole order refunds of the delivery cost."},
        }),
        "ComplaintAnswer": obj({
            "answer": {"type": "string", "enum": ["accept", "reject"]},
            "remedy": {"type": "string", "enum": list(REMEDIES), "description": "Accept only."},
            "note": text(300, nullable=True, description="Reject: the reason the customer reads."),
        }, required=("answer",)),
        "SupplierReturnTerms": obj({
            "window_days": whole(0, MAX_RETURN_DAYS, nullable=True),
            "accepts_returns": {"type": "boolean"},
            "return_shipping_paid_by": {"type": "string", "enum": ["customer", "merchant", "supplier"]},
            "restocking_fee_percent": {"type": "number", "minimum": 0, "maximum": 100},
            "return_address": address,
            "destination": {"type": "string", "enum": ["supplier", "merchant"]},
            "merchant_location_gid": text(255, nullable=True, pattern=LOCATION_GID),
            "resellable": {"type": "boolean"},
        }),
        "KpiTargets": obj({
            key: ({"type": "number", "minimum": 0, "maximum": 1, "description": "A rate: 0.95 for 95 %."} if key in RATE_KEYS
                  else {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_TARGET_HOURS, "description": "Hours."})
            for key in DEFAULT_TARGETS
        }, min_properties=1),
        "Mailbox": obj({
            "host": text(253, non_blank=True), "port": whole(1, 65535),
            "security": {"type": "string", "enum": ["ssl", "starttls", "none"], "description": "none: only to hosts the operator allowed."},
            "username": text(255, non_blank=True), "password": text(1024, min_length=1, description="Write-only; leave out to keep the stored one (same host and user)."),
            "folder": text(255, non_blank=True), "processed_folder": text(255, nullable=True), "poll_minutes": whole(1, 24 * 60),
            "enabled": {"type": "boolean"},
        }, required=("host", "username")),
        "TrackingFile": obj({}, description="Send the CSV or XLSX file itself as the body (or a multipart form's \"file\" field); JSON is answered 415."),
        # issue 15 part F: file suppliers (the mapping is checked field by field by integrations/suppliers/files/mapping.py)
        "FileMapping": obj({
            "format": {"type": "string", "enum": ["auto", "csv", "xlsx"]}, "header_row": whole(0, 50, description="0: no header (columns by position)."),
            "columns": {"type": "object", "maxProperties": 20, "additionalProperties": {"type": ["string", "integer"]},
                        "description": "Our field -> the column's header text, or its position (1 = first column)."},
            "delimiter": {"type": "string", "enum": ["auto", ",", ";", "tab", "|"]}, "encoding": text(20, non_blank=True),
            "decimal_comma": {"type": "boolean"}, "date_formats": {"type": "array", "maxItems": 5, "items": text(40, non_blank=True)},
            "sheet": text(31, nullable=True),
        }),
        # issue 15: batched POs (checked field by field by integrations/suppliers/files/batch_schedule.py)
        "PoBatching": obj({
            "mode": {"type": "string", "enum": ["per_order", "batched"], "description": "per_order: one PO file per order at once; batched: one file per slot."},
            "times": {"type": "array", "maxItems": 24, "items": text(5), "description": "Times of day HH:MM in the shop's time zone (batched, instead of every_minutes)."},
            "every_minutes": whole(15, 1440, description="Every N minutes from local midnight; N divides a day (batched, instead of times)."),
            "weekdays": {"type": "array", "maxItems": 7, "items": {"type": "string", "enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]},
                         "description": "Days the slots are on (default: every day)."},
        }, required=("mode",)),
        "FileSample": obj({}, description="A sample file (CSV or XLSX) as the body, or a multipart form with \"file\" and optionally \"mapping\" (JSON text, else the saved mapping)."),
        # issue 18 part M: mappings at catalog scale, Settings in human units
        "MappingBulkEdit": obj({
            "variant_ids": {"type": "array", "minItems": 1, "maxItems": MAX_BULK_IDS, "items": whole(1, MAX_ID), "description": "Ids of rows of GET /api/mappings."},
            "supplier_id": whole(1, MAX_ID, description="Each variant is then supplied by this supplier alone (supplier SKU and cost carry over)."),
            "cost": text(32, nullable=True, description="Unit cost of the variants' mappings (decimal comma allowed); null clears it."),
            "unmap": {"type": "boolean", "description": "Remove the variants' mappings."},
        }, required=("variant_ids",)),
        "AutoMatch": obj({"supplier_id": whole(1, MAX_ID)}, required=("supplier_id",)),
        "ProposalDecision": obj({
            "ids": {"type": "array", "minItems": 1, "maxItems": MAX_BULK_IDS, "items": whole(1, MAX_ID)},
            "all": {"type": "boolean", "description": "true: every pending proposal."},
        }),
        "SpreadsheetFile": obj({}, description="Send the CSV or XLSX file itself as the body (or a multipart form's \"file\" field); JSON is answered 415."),
        "KpiTargetsHuman": obj({
            key: ({"type": "number", "minimum": 0, "maximum": 100, "description": "Percent: 95 for 95 %."} if key in RATE_KEYS
                  else {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_TARGET_HOURS, "description": "Hours."})
            for key in DEFAULT_TARGETS
        }, min_properties=1),
        "NoticeSettings": obj({  # issue 17 part N: customer notices
            "steps": {"type": "object", "additionalProperties": False, "properties": {step: {"type": "boolean"} for step in NOTICE_STEPS},
                      "description": "Which customer notices are sent; steps not given keep their setting."},
            "follow_up_days": whole(*FOLLOW_UP_DAYS, description="Days after delivery before the follow-up asks how it went."),
            "review_url": text(2048, nullable=True, description="The merchant's review page (absolute http(s)); null removes it."),
            "sender_name": text(255, nullable=True),
            "sender_address": text(254, nullable=True, description="Sent from once confirmed by the link emailed to it; null sends from the app's address."),
        }, min_properties=1),
        "AlertChannels": obj({
            "emails": {"type": "array", "maxItems": MAX_EMAILS, "items": text(254)},
            "slack_webhook_url": text(2048, nullable=True, description="https only; write-only, null removes it."),
            "min_severity": {"type": "string", "enum": list(SEVERITIES)},
        }),
        # issue 17 part P: the merchant's answer to a customer case, and what an out-of-stock notice offers.
        "CaseReply": obj({"body": text(CASE_MAX_CHARS, non_blank=True, description="Shown on the customer's page and emailed."),
                          "owner": text(255, nullable=True, description="Who handles the case (kept when first set).")}, required=("body",)),
        "CaseLink": obj({"return_case_id": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_ID, "description": "A return of the same order (null unlinks)."},
                         "replacement_order": {"type": ["string", "null"], "pattern": r"^#?[A-Za-z0-9-]{1,40}$", "description": "The replacement order's name, e.g. #1042 (null clears)."}},
                        min_properties=1),
        "CaseSettings": obj({"out_of_stock_choice": {"type": "string", "enum": list(OUT_OF_STOCK_CHOICES)}}, required=("out_of_stock_choice",)),
    }


@functools.cache
def _validator(name: str) -> Draft202012Validator:
    schema = request_schemas()[name]
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


# -- the decorator ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BodySpec:
    """What a route accepts: a JSON body of `schema`, or nothing when optional, or raw `other_media`; on `methods` (None: all)."""

    schema: str
    optional: bool = False
    other_media: tuple[str, ...] = ()
    methods: tuple[str, ...] | None = None

    def applies_to(self, method: str) -> bool:
        """Whether requests with this HTTP method carry the body."""
        return self.methods is None or method.upper() in self.methods


def validated_body(schema: str, *, optional: bool = False, other_media: tuple[str, ...] = (), methods: tuple[str, ...] | None = None) -> Callable:
    """Route decorator: check the JSON body against `schema`; 400/415 with the reasons, else g.body is set."""
    spec = BodySpec(schema, optional, other_media, methods)
    request_schemas()  # fail at import time on a broken schema, not on the first request
    _validator(schema)

    def wrap(view):
        @functools.wraps(view)
        def checked(*args, **kwargs):
            refused = check_body(spec) if spec.applies_to(request.method) else None
            return refused if refused is not None else view(*args, **kwargs)

        checked.body_spec = spec  # read by openapi.py
        return checked

    return wrap


def invalid(fields: list[tuple[str, str]]):
    """The 400 answer listing failing fields."""
    return jsonify(error="invalid request", fields=[{"field": f, "message": m[:MAX_MESSAGE]} for f, m in fields[:MAX_FIELDS_REPORTED]]), 400


def check_body(spec: BodySpec):
    """None when the request body fits `spec` (g.body holds it), else the error response."""
    raw = request.get_data(cache=True)
    g.body = None
    if not raw.strip():
        if spec.optional:
            g.body = {}
            return None
        return invalid([("(body)", "a JSON object is required")])
    mimetype = request.mimetype
    if not is_json(mimetype):
        if mimetype in spec.other_media:
            return None
        expected = ", ".join(("application/json", *spec.other_media))
        return jsonify(error="unsupported media type", fields=[{"field": "(content-type)", "message": f"send {expected}"}]), 415
    try:
        body = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        return invalid([("(body)", "malformed JSON: nested too deeply")])
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, over-long integers
        where = f": {exc.msg} at char {exc.pos}" if isinstance(exc, json.JSONDecodeError) else ""
        return invalid([("(body)", f"malformed JSON{where}")])
    # Values no column can hold first (inf from 1e400, NUL): the schema's verdict on them would only repeat it.
    problems = list(_unstorable(body, "")) or [(_field(e), _message(e)) for e in sorted(_validator(spec.schema).iter_errors(body), key=lambda e: [str(p) for p in e.path])]
    if problems:
        return invalid(problems)
    g.body = body
    return None


def is_json(mimetype: str) -> bool:
    """application/json or any application/*+json."""
    return mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _join(path: str, part) -> str:
    return f"{path}[{part}]" if isinstance(part, int) else (f"{path}.{part}" if path else str(part))


def _unstorable(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Values no database column can hold, anywhere in the body (free-form objects included)."""
    if isinstance(value, float) and not math.isfinite(value):
        yield path or "(body)", "must be a finite number"
    elif isinstance(value, str) and "\x00" in value:
        yield path or "(body)", "must not contain NUL characters"
    elif isinstance(value, str) and not _encodable(value):
        yield path or "(body)", "must be Unicode text (a \\uD800-\\uDFFF escape not in a pair is not a character)"
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                yield path or "(body)", "keys must not contain NUL characters"
            elif not _encodable(key):
                yield path or "(body)", "keys must be Unicode text (a \\uD800-\\uDFFF escape not in a pair is not a character)"
            yield from _unstorable(item, _join(path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unstorable(item, _join(path, index))


def _encodable(text: str) -> bool:
    """Text UTF-8 can hold: JSON's \\uD800 escapes parse to lone surrogates, which no database driver can write."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _field(error) -> str:
    path = ""
    for part in error.absolute_path:
        path = _join(path, part)
    instance, validator = error.instance, error.validator
    if validator == "required" and isinstance(instance, dict):
        missing = [name for name in error.validator_value if name not in instance]
        return _join(path, missing[0]) if missing else path or "(body)"
    if validator == "additionalProperties" and isinstance(instance, dict):
        extra = [name for name in instance if name not in error.schema.get("properties", {})]
        return _join(path, str(extra[0])[:64]) if extra else path or "(body)"
    return path or "(body)"


def _types(value) -> str:
    names = [value] if isinstance(value, str) else list(value)
    article = {"integer": "a whole number", "number": "a number", "string": "a string", "boolean": "true or false",
               "object": "an object", "array": "a list", "null": "null"}
    return " or ".join(article.get(n, n) for n in names)


def _message(error) -> str:
    """A short reason that never echoes the value sent (it may be a secret pasted in the wrong place)."""
    v, limit = error.validator, error.validator_value
    messages = {
        "type": lambda: f"must be {_types(limit)}",
        "minimum": lambda: f"must be at least {limit}",
        "maximum": lambda: f"must be at most {limit}",
        "exclusiveMinimum": lambda: f"must be more than {limit}",
        "exclusiveMaximum": lambda: f"must be less than {limit}",
        "minLength": lambda: "must not be empty" if limit == 1 else f"must have at least {limit} characters",
        "maxLength": lambda: f"must have at most {limit} characters",
        "minItems": lambda: "must not be empty" if limit == 1 else f"must have at least {limit} items",
        "maxItems": lambda: f"must have at most {limit} items",
        "minProperties": lambda: "must not be empty" if limit == 1 else f"must have at least {limit} fields",
        "maxProperties": lambda: f"must have at most {limit} fields",
        "enum": lambda: "must be one of " + ", ".join(map(str, limit)),
        "pattern": lambda: "must not be blank" if limit == NON_BLANK else f"must match {limit}",
        "required": lambda: "is required",
        "additionalProperties": lambda: "is not a known field",
        "propertyNames": lambda: "has an unknown key",
        "anyOf": lambda: error.schema.get("description", "is not valid"),
    }
    return messages.get(v, lambda: "is not valid")()
