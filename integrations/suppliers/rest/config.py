"""The REST adapter's settings: parsed once from the supplier record's JSON, refused early when wrong.

Everything a supplier's API looks like lives here as data (see presets.py for a complete
example and the README-style schema in adapter.py's docstring):

  base_url, timeout_seconds, connect_timeout_seconds
  auth        {"header": "Authorization", "template": "Bearer {token}"}  ({names} come from credentials)
  headers     static extra headers (never secrets: those go in credentials via `auth`)
  endpoints   name -> "METHOD /path/{placeholder}" or {"method", "path", "query": {name: template}, "returns"}
  request     our field -> dotted path in their create-order JSON
  response    our field -> dotted path in their answers
  status_map  their order status -> ours (SupplierOrderStatus value)
  static_body constant JSON merged into every create-order body
  duplicate_statuses, duplicate_message_contains, cancel_refused_statuses
  update_accepts   what endpoints.update_order takes: ["address", "lines"] (default both)
  update_refused_statuses   statuses meaning "too late to change" (default 409, 422)
  webhook     signature and event layout (see WebhookSettings)

A typo in a key is an error, not silently ignored: a supplier record that cannot work
should fail when it is saved, not on the first order.
"""
from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import urlsplit

from ..base import SupplierEventKind, SupplierOrderStatus
from .paths import segments

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

# Which placeholders each endpoint may use in its path and query templates.
ENDPOINT_PLACEHOLDERS: dict[str, frozenset[str]] = {
    "create_order": frozenset({"external_id"}),
    "get_order": frozenset({"supplier_order_id"}),
    "find_order": frozenset({"external_id"}),
    "cancel_order": frozenset({"supplier_order_id"}),
    "update_order": frozenset({"supplier_order_id"}),  # optional: the create body's address and/or lines
    "get_shipments": frozenset({"supplier_order_id"}),
    "get_stock": frozenset({"sku", "skus"}),
    "create_return": frozenset({"supplier_order_id"}),
}
REQUIRED_ENDPOINTS = ("create_order", "get_order", "find_order")

ADDRESS_FIELDS = ("name", "company", "address1", "address2", "city", "province_code", "zip", "country_code", "phone", "email")
LINE_FIELDS = ("line_ref", "supplier_sku", "quantity", "name", "retail_price")
REQUEST_FIELDS = frozenset(
    {"external_id", "shipping_method", "currency", "note", "lines"}
    | {f"address.{name}" for name in ADDRESS_FIELDS}
    | {f"line.{name}" for name in LINE_FIELDS}
)
REQUIRED_REQUEST_FIELDS = ("external_id", "lines", "line.supplier_sku", "line.quantity", "address.name", "address.address1", "address.city", "address.country_code")

SHIPMENT_FIELDS = ("id", "carrier", "tracking_number", "tracking_url", "shipped_at", "estimated_delivery", "delivered_at", "lines")
RESPONSE_FIELDS = frozenset(
    {"order", "order_list", "order.id", "order.external_id", "order.status", "order.cost", "shipments", "stock",
     "stock.sku", "stock.available", "stock.in_stock", "error_message",
     "return", "return.rma_number", "return.status", "return.label_url", "return.address", "return.note"}
    | {f"shipment.{name}" for name in SHIPMENT_FIELDS}
    | {"shipment.line.line_ref", "shipment.line.supplier_sku", "shipment.line.quantity"}
)
REQUIRED_RESPONSE_FIELDS = ("order.id", "order.status")

TOP_LEVEL_KEYS = frozenset({
    "base_url", "timeout_seconds", "connect_timeout_seconds", "auth", "headers", "endpoints", "request", "response",
    "status_map", "static_body", "duplicate_statuses", "duplicate_message_contains", "cancel_refused_statuses", "webhook",
    "update_accepts", "update_refused_statuses",
    "preset",  # consumed by presets.with_preset; tolerated here so a resolved dict still parses
})
WEBHOOK_KEYS = frozenset({"signature_header", "signature_encoding", "signature_prefix", "event_type", "event_id", "order", "shipment", "reason", "stock", "return", "events"})


class InvalidRestSettings(ValueError):
    """Settings or credentials that cannot describe a working REST supplier (the message names the key)."""


@dataclass(frozen=True)
class Endpoint:
    """One call: method, path template, query templates; `returns` says if find_order gets one order or a list."""

    name: str
    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    returns: str = "order"  # "order" | "list" (find_order only)

    def placeholders(self) -> set[str]:
        """Every {name} used in the path and query templates."""
        return _placeholders(self.path) | {name for template in self.query.values() for name in _placeholders(template)}


@dataclass(frozen=True)
class AuthSettings:
    """One header carrying the credential, e.g. Authorization: Bearer {token}."""

    header: str
    template: str

    def credential_names(self) -> set[str]:
        """The credentials keys the template needs."""
        return _placeholders(self.template)


@dataclass(frozen=True)
class WebhookSettings:
    """How the supplier signs and shapes webhooks (paths are dotted, into the event JSON)."""

    signature_header: str
    signature_encoding: str  # "hex" | "base64"
    signature_prefix: str  # e.g. "sha256=", stripped before comparing
    event_type: str
    event_id: str | None
    order: str | None  # where the order sits in an event (read with the response order.* paths)
    shipment: str | None  # where a shipment sits (read with the response shipment.* paths)
    reason: str | None
    stock: str | None  # where a list of stock entries sits (read with the response stock.* paths)
    events: Mapping[str, SupplierEventKind]
    return_: str | None = None  # where a return sits: its RMA (response return.rma_number) and items [{sku, received_qty}]


@dataclass(frozen=True)
class RestSettings:
    """A parsed, checked description of one supplier's REST API."""

    base_url: str
    endpoints: Mapping[str, Endpoint]
    request: Mapping[str, str]
    response: Mapping[str, str]
    status_map: Mapping[str, SupplierOrderStatus]
    auth: AuthSettings | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    static_body: Mapping[str, Any] = field(default_factory=dict)
    timeout_seconds: float = 30.0
    connect_timeout_seconds: float = 5.0
    duplicate_statuses: frozenset[int] = frozenset({409})
    duplicate_message_contains: tuple[str, ...] = ()
    cancel_refused_statuses: frozenset[int] = frozenset({409, 422})
    webhook: WebhookSettings | None = None
    update_accepts: frozenset[str] = frozenset()  # of "address", "lines"; empty without an update_order endpoint
    update_refused_statuses: frozenset[int] = frozenset({409, 422})

    def response_path(self, name: str) -> str | None:
        """The configured path for a response field (None when not mapped)."""
        return self.response.get(name)


def parse_settings(settings: Mapping[str, Any]) -> RestSettings:
    """Check and parse a supplier record's settings; InvalidRestSettings names the first problem."""
    if not isinstance(settings, Mapping):
        raise InvalidRestSettings("settings must be a JSON object")
    _no_unknown_keys("settings", settings, TOP_LEVEL_KEYS)
    endpoints = _endpoints(settings.get("endpoints"))
    request = _field_map("settings.request", settings.get("request"), REQUEST_FIELDS, REQUIRED_REQUEST_FIELDS)
    response = _field_map("settings.response", settings.get("response"), RESPONSE_FIELDS, REQUIRED_RESPONSE_FIELDS)
    _check_response_covers_endpoints(endpoints, response)
    return RestSettings(
        base_url=_base_url(settings.get("base_url")),
        endpoints=endpoints,
        request=request,
        response=response,
        status_map=_status_map(settings.get("status_map")),
        auth=_auth(settings.get("auth")),
        headers=_string_map("settings.headers", settings.get("headers") or {}),
        static_body=_static_body(settings.get("static_body")),
        timeout_seconds=_positive_number("settings.timeout_seconds", settings.get("timeout_seconds", 30.0)),
        connect_timeout_seconds=_positive_number("settings.connect_timeout_seconds", settings.get("connect_timeout_seconds", 5.0)),
        duplicate_statuses=_statuses("settings.duplicate_statuses", settings.get("duplicate_statuses", [409])),
        duplicate_message_contains=tuple(s.lower() for s in _strings("settings.duplicate_message_contains", settings.get("duplicate_message_contains", []))),
        cancel_refused_statuses=_statuses("settings.cancel_refused_statuses", settings.get("cancel_refused_statuses", [409, 422])),
        webhook=_webhook(settings.get("webhook")),
        update_accepts=_update_accepts(endpoints, settings.get("update_accepts", ["address", "lines"])),
        update_refused_statuses=_statuses("settings.update_refused_statuses", settings.get("update_refused_statuses", [409, 422])),
    )


def _update_accepts(endpoints: Mapping[str, Endpoint], value: Any) -> frozenset[str]:
    accepts = _strings("settings.update_accepts", value)
    unknown = set(accepts) - {"address", "lines"}
    if unknown:
        raise InvalidRestSettings(f"settings.update_accepts may hold only 'address' and 'lines', not {', '.join(sorted(unknown))}")
    return frozenset(accepts) if "update_order" in endpoints else frozenset()


def check_credentials(settings: RestSettings, credentials: Mapping[str, Any]) -> None:
    """Every credential the auth template (and webhook check) needs is present; names keys, never values."""
    if not isinstance(credentials, Mapping):
        raise InvalidRestSettings("credentials must be a JSON object")
    needed = settings.auth.credential_names() if settings.auth else set()
    missing = sorted(name for name in needed if not isinstance(credentials.get(name), str) or not credentials.get(name))
    if missing:
        raise InvalidRestSettings(f"credentials lack {', '.join(missing)} (used by settings.auth.template)")


# -- pieces ----------------------------------------------------------------------------------


def _placeholders(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise InvalidRestSettings(f"template {template!r} is malformed: {exc}") from None


def _no_unknown_keys(where: str, values: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise InvalidRestSettings(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}")


def _base_url(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidRestSettings("settings.base_url is required (an http or https URL)")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise InvalidRestSettings("settings.base_url must be an http(s) URL without query or fragment")
    if parts.username is not None or parts.password is not None:
        raise InvalidRestSettings("settings.base_url must not carry a user name or password (use settings.auth and credentials)")
    return value.rstrip("/")


def _endpoint(name: str, value: Any) -> Endpoint:
    where = f"settings.endpoints.{name}"
    if isinstance(value, str):
        method, _, path = value.strip().partition(" ")
        value = {"method": method, "path": path.strip()}
    if not isinstance(value, Mapping):
        raise InvalidRestSettings(f'{where} must be "METHOD /path" or an object with method and path')
    _no_unknown_keys(where, value, frozenset({"method", "path", "query", "returns"}))
    method = str(value.get("method", "")).upper()
    if method not in METHODS:
        raise InvalidRestSettings(f"{where}.method must be one of {', '.join(METHODS)}")
    path = value.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidRestSettings(f"{where}.path must be a string starting with /")
    returns = value.get("returns", "order")
    if returns not in ("order", "list") or (returns == "list" and name != "find_order"):
        raise InvalidRestSettings(f'{where}.returns must be "order" (or "list", for find_order only)')
    endpoint = Endpoint(name, method, path, _string_map(f"{where}.query", value.get("query") or {}), returns)
    unknown = endpoint.placeholders() - ENDPOINT_PLACEHOLDERS[name]
    if unknown:
        allowed = ", ".join("{" + p + "}" for p in sorted(ENDPOINT_PLACEHOLDERS[name]))
        raise InvalidRestSettings(f"{where} uses {', '.join('{' + p + '}' for p in sorted(unknown))}; it may use {allowed}")
    return endpoint


def _endpoints(value: Any) -> dict[str, Endpoint]:
    if not isinstance(value, Mapping):
        raise InvalidRestSettings("settings.endpoints is required (an object)")
    _no_unknown_keys("settings.endpoints", value, frozenset(ENDPOINT_PLACEHOLDERS))
    missing = [name for name in REQUIRED_ENDPOINTS if name not in value]
    if missing:
        raise InvalidRestSettings(f"settings.endpoints lacks {', '.join(missing)}")
    endpoints = {name: _endpoint(name, spec) for name, spec in value.items()}
    for name in ("get_order", "cancel_order", "get_shipments"):
        if name in endpoints and "supplier_order_id" not in endpoints[name].placeholders():
            raise InvalidRestSettings(f"settings.endpoints.{name} must use {{supplier_order_id}}")
    if "external_id" not in endpoints["find_order"].placeholders():
        raise InvalidRestSettings("settings.endpoints.find_order must use {external_id} (in the path or the query)")
    stock = endpoints.get("get_stock")
    if stock is not None and len(stock.placeholders() & {"sku", "skus"}) != 1:
        raise InvalidRestSettings("settings.endpoints.get_stock must use exactly one of {sku} (one call per SKU) or {skus} (comma-separated)")
    return endpoints


def _field_map(where: str, value: Any, allowed: frozenset[str], required: tuple[str, ...]) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidRestSettings(f"{where} is required (our field -> dotted path)")
    _no_unknown_keys(where, value, allowed)
    mapped = _string_map(where, value)
    for name, path in mapped.items():
        try:
            segments(path)
        except ValueError as exc:
            raise InvalidRestSettings(f"{where}.{name}: {exc}") from None
    missing = [name for name in required if name not in mapped]
    if missing:
        raise InvalidRestSettings(f"{where} lacks {', '.join(missing)}")
    return mapped


def _check_response_covers_endpoints(endpoints: Mapping[str, Endpoint], response: Mapping[str, str]) -> None:
    if endpoints["find_order"].returns == "list" and "order.external_id" not in response:
        # Without it a list that ignores our filter would pass some other order off as ours.
        raise InvalidRestSettings("settings.response needs order.external_id when endpoints.find_order returns a list")
    if "get_stock" in endpoints:
        if "stock.sku" not in response or not ({"stock.available", "stock.in_stock"} & set(response)):
            raise InvalidRestSettings("settings.response needs stock.sku and stock.available or stock.in_stock for endpoints.get_stock")
    if "shipments" in response or "get_shipments" in endpoints:
        if not ({"shipment.id", "shipment.tracking_number"} & set(response)):
            raise InvalidRestSettings("settings.response needs shipment.id or shipment.tracking_number to read shipments")
        if "shipment.lines" in response and "shipment.line.quantity" not in response:
            raise InvalidRestSettings("settings.response.shipment.lines needs shipment.line.quantity")


def _status_map(value: Any) -> dict[str, SupplierOrderStatus]:
    if not isinstance(value, Mapping) or not value:
        raise InvalidRestSettings("settings.status_map is required (their status -> ours)")
    statuses: dict[str, SupplierOrderStatus] = {}
    for theirs, ours in value.items():
        try:
            statuses[str(theirs)] = SupplierOrderStatus(ours)
        except ValueError:
            allowed = ", ".join(s.value for s in SupplierOrderStatus)
            raise InvalidRestSettings(f"settings.status_map.{theirs}: {ours!r} is not one of {allowed}") from None
    return statuses


def _auth(value: Any) -> AuthSettings | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not isinstance(value.get("header"), str) or not isinstance(value.get("template"), str):
        raise InvalidRestSettings('settings.auth must be {"header": ..., "template": ...}')
    _no_unknown_keys("settings.auth", value, frozenset({"header", "template"}))
    auth = AuthSettings(value["header"], value["template"])
    if not auth.header.strip() or not auth.credential_names():
        raise InvalidRestSettings("settings.auth.template must name a credential, e.g. 'Bearer {token}'")
    return auth


def _webhook(value: Any) -> WebhookSettings | None:
    if value is None:
        return None
    where = "settings.webhook"
    if not isinstance(value, Mapping):
        raise InvalidRestSettings(f"{where} must be an object")
    _no_unknown_keys(where, value, WEBHOOK_KEYS)
    header = value.get("signature_header")
    if not isinstance(header, str) or not header:
        raise InvalidRestSettings(f"{where}.signature_header is required")
    encoding = value.get("signature_encoding", "hex")
    if encoding not in ("hex", "base64"):
        raise InvalidRestSettings(f'{where}.signature_encoding must be "hex" or "base64"')
    events_value = value.get("events")
    if not isinstance(events_value, Mapping) or not events_value:
        raise InvalidRestSettings(f"{where}.events is required (their event type -> our event kind)")
    events: dict[str, SupplierEventKind] = {}
    for theirs, ours in events_value.items():
        try:
            events[str(theirs)] = SupplierEventKind(ours)
        except ValueError:
            allowed = ", ".join(k.value for k in SupplierEventKind)
            raise InvalidRestSettings(f"{where}.events.{theirs}: {ours!r} is not one of {allowed}") from None
    paths = {key: value.get(key) for key in ("event_type", "event_id", "order", "shipment", "reason", "stock", "return")}
    for key, path in paths.items():
        if path is not None and not isinstance(path, str):
            raise InvalidRestSettings(f"{where}.{key} must be a dotted path")
    return WebhookSettings(
        signature_header=header,
        signature_encoding=encoding,
        signature_prefix=str(value.get("signature_prefix", "")),
        event_type=paths["event_type"] or "type",
        event_id=paths["event_id"],
        order=paths["order"],
        shipment=paths["shipment"],
        reason=paths["reason"],
        stock=paths["stock"],
        events=events,
        return_=paths["return"],
    )


def _string_map(where: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise InvalidRestSettings(f"{where} must map names to strings")
    return dict(value)


def _static_body(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidRestSettings("settings.static_body must be a JSON object")
    return dict(value)


def _positive_number(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InvalidRestSettings(f"{where} must be a positive number")
    return float(value)


def _statuses(where: str, value: Any) -> frozenset[int]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) and 400 <= v < 500 for v in value):
        raise InvalidRestSettings(f"{where} must be a list of 4xx status codes")
    return frozenset(value)


def _strings(where: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidRestSettings(f"{where} must be a list of non-empty strings")
    return value
