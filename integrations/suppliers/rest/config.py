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
  envelope    success inside a 2xx body: {"success": "result", "code": "code", "ok_codes": [200],
              "message": "message", "codes": {"1603001": "not_found", ...}, "otherwise": "permanent"}
              (kinds: not_found, credentials, duplicate, too_late, transient, permanent)
  token       a token endpoint whose answer fills {access_token} (see tokens.py): {"endpoint", "body",
              "form", "refresh_endpoint", "refresh_body", "access_token", "refresh_token",
              "expires_at" | "expires_in", "lifetime_seconds"}
  compose, compose_line   their path -> {"format": "{address.city}, {address.zip}"} | {"join": [...],
              "separator": " "} | {"map": "address.country_code", "values": {...}} |
              {"country_name": "address.country_code"} (see transforms.py)
  shipped_statuses  with response shipment.status: the parcel statuses that mean "it has left"
  cancellable_when  our statuses in which the supplier still cancels (CJ: only before payment)
  rate_limit  {"requests_per_second": 1}: every call for this account waits its turn
  stock_warehouses   {"ships_to": {"US": ["US"], "CN": ["*"]}, "countries": ["US"]}: stock is
              summed over the rows of warehouses that ship to `countries` (default the
              supplier's ship_to_countries; "*" = anywhere)

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
    "token": frozenset(),  # settings.token.endpoint / refresh_endpoint
    "refresh_token": frozenset(),
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

SHIPMENT_FIELDS = ("id", "status", "carrier", "tracking_number", "tracking_url", "shipped_at", "estimated_delivery", "delivered_at", "lines")
RESPONSE_FIELDS = frozenset(
    {"order", "order_list", "order.id", "order.external_id", "order.status", "order.cost", "shipments", "stock",
     "stock.sku", "stock.available", "stock.in_stock", "stock.warehouse_country", "error_message",
     "return", "return.rma_number", "return.status", "return.label_url", "return.address", "return.note"}
    | {f"shipment.{name}" for name in SHIPMENT_FIELDS}
    | {"shipment.line.line_ref", "shipment.line.supplier_sku", "shipment.line.quantity"}
)
REQUIRED_RESPONSE_FIELDS = ("order.id", "order.status")

TOP_LEVEL_KEYS = frozenset({
    "base_url", "timeout_seconds", "connect_timeout_seconds", "auth", "headers", "endpoints", "request", "response",
    "status_map", "static_body", "duplicate_statuses", "duplicate_message_contains", "cancel_refused_statuses", "webhook",
    "update_accepts", "update_refused_statuses",
    "envelope", "token", "compose", "compose_line", "rate_limit", "stock_warehouses", "shipped_statuses", "cancellable_when",
    "preset",  # consumed by presets.with_preset; tolerated here so a resolved dict still parses
    "sla_hours", "ship_to_countries",  # the app's own per-supplier settings (reconcile, routing), not the API's
})
ENVELOPE_KINDS = ("not_found", "credentials", "duplicate", "too_late", "transient", "permanent")
MAX_RATE = 100.0
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
class EnvelopeSettings:
    """How a 2xx body says whether the call worked: a true flag and/or an ok code; other codes sorted by `codes`."""

    success: str | None  # path to a boolean that must be true
    code: str | None  # path to the supplier's code
    ok_codes: frozenset[str]
    message: str | None
    codes: Mapping[str, str]  # their code (as text) -> one of ENVELOPE_KINDS
    otherwise: str  # the kind of a failure whose code is not listed


@dataclass(frozen=True)
class TokenSettings:
    """A token endpoint: its answer fills the `access_token` credential (and `refresh_token`, `expires_at`)."""

    endpoint: Endpoint
    body: Mapping[str, str]  # field -> template over credentials
    form: bool  # form-encoded (OAuth2) instead of JSON
    access_token: str  # path in the answer
    refresh_token: str | None = None
    expires_at: str | None = None  # path to an ISO 8601 time or epoch seconds
    expires_in: str | None = None  # path to seconds from now
    lifetime_seconds: float = 3600.0  # when the answer says nothing about expiry
    refresh_endpoint: Endpoint | None = None
    refresh_body: Mapping[str, str] = field(default_factory=dict)

    def credential_names(self) -> set[str]:
        """The credentials the token request needs (the first one: refresh_token is optional)."""
        return {name for template in self.body.values() for name in _placeholders(template)}


@dataclass(frozen=True)
class StockWarehouses:
    """Which warehouses' rows count: their country -> where they ship; summed for `countries`."""

    ships_to: Mapping[str, frozenset[str]]
    countries: frozenset[str]  # empty: every warehouse counts


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
    envelope: EnvelopeSettings | None = None
    token: TokenSettings | None = None
    compose: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    compose_line: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    requests_per_second: float | None = None
    stock_warehouses: StockWarehouses | None = None
    shipped_statuses: frozenset[str] = frozenset()  # with response shipment.status: only these parcels have left
    cancellable_when: frozenset[SupplierOrderStatus] | None = None  # our statuses the supplier still cancels in (None: the adapter's default)

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
    if settings.get("stock_warehouses") is not None and "stock.warehouse_country" not in response:
        raise InvalidRestSettings("settings.stock_warehouses needs settings.response.stock.warehouse_country (where a stock row names its warehouse's country)")
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
        envelope=_envelope(settings.get("envelope")),
        token=_token(settings.get("token")),
        compose=_compose("settings.compose", settings.get("compose"), line=False),
        compose_line=_compose("settings.compose_line", settings.get("compose_line"), line=True),
        requests_per_second=_rate(settings.get("rate_limit")),
        stock_warehouses=_stock_warehouses(settings.get("stock_warehouses"), settings.get("ship_to_countries")),
        shipped_statuses=frozenset(_strings("settings.shipped_statuses", settings.get("shipped_statuses", []))),
        cancellable_when=_our_statuses("settings.cancellable_when", settings.get("cancellable_when")),
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
    if settings.token is not None:
        # The token endpoint supplies these; what it needs must be there instead.
        needed = (needed - {"access_token", "refresh_token", "expires_at"}) | settings.token.credential_names()
    missing = sorted(name for name in needed if not isinstance(credentials.get(name), str) or not credentials.get(name))
    if missing:
        raise InvalidRestSettings(f"credentials lack {', '.join(missing)} (used by settings.auth.template or settings.token.body)")


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


def _envelope(value: Any) -> EnvelopeSettings | None:
    if value is None:
        return None
    where = "settings.envelope"
    if not isinstance(value, Mapping):
        raise InvalidRestSettings(f"{where} must be an object")
    _no_unknown_keys(where, value, frozenset({"success", "code", "ok_codes", "message", "codes", "otherwise"}))
    for key in ("success", "code", "message"):
        if value.get(key) is not None and not isinstance(value.get(key), str):
            raise InvalidRestSettings(f"{where}.{key} must be a dotted path")
    if not value.get("success") and not value.get("code"):
        raise InvalidRestSettings(f"{where} needs success (a true/false field) or code (with ok_codes)")
    ok_codes = value.get("ok_codes", [])
    if not isinstance(ok_codes, list) or not all(isinstance(c, (str, int)) and not isinstance(c, bool) for c in ok_codes):
        raise InvalidRestSettings(f"{where}.ok_codes must be a list of codes")
    if value.get("code") and not value.get("success") and not ok_codes:
        raise InvalidRestSettings(f"{where}.ok_codes is required when only code says whether a call worked")
    codes = value.get("codes") or {}
    if not isinstance(codes, Mapping) or any(kind not in ENVELOPE_KINDS for kind in codes.values()):
        raise InvalidRestSettings(f"{where}.codes maps their codes to one of {', '.join(ENVELOPE_KINDS)}")
    otherwise = value.get("otherwise", "permanent")
    if otherwise not in ("permanent", "transient"):
        raise InvalidRestSettings(f'{where}.otherwise must be "permanent" or "transient"')
    return EnvelopeSettings(value.get("success"), value.get("code"), frozenset(str(c) for c in ok_codes), value.get("message"), {str(k): v for k, v in codes.items()}, otherwise)


def _token(value: Any) -> TokenSettings | None:
    if value is None:
        return None
    where = "settings.token"
    if not isinstance(value, Mapping):
        raise InvalidRestSettings(f"{where} must be an object")
    _no_unknown_keys(where, value, frozenset({"endpoint", "body", "form", "access_token", "refresh_token", "expires_at", "expires_in", "lifetime_seconds", "refresh_endpoint", "refresh_body"}))
    if "endpoint" not in value or not isinstance(value.get("access_token"), str):
        raise InvalidRestSettings(f"{where} needs endpoint and access_token (where the token is in the answer)")
    if value.get("expires_at") is not None and value.get("expires_in") is not None:
        raise InvalidRestSettings(f"{where}: give expires_at or expires_in, not both")
    for key in ("refresh_token", "expires_at", "expires_in"):
        if value.get(key) is not None and not isinstance(value.get(key), str):
            raise InvalidRestSettings(f"{where}.{key} must be a dotted path")
    refresh = _endpoint("refresh_token", value["refresh_endpoint"]) if value.get("refresh_endpoint") is not None else None
    refresh_body = _string_map(f"{where}.refresh_body", value.get("refresh_body") or {})
    if refresh is not None and "refresh_token" not in {n for t in refresh_body.values() for n in _placeholders(t)}:
        raise InvalidRestSettings(f"{where}.refresh_body must use {{refresh_token}}")
    return TokenSettings(
        endpoint=_endpoint("token", value["endpoint"]),
        body=_string_map(f"{where}.body", value.get("body") or {}),
        form=bool(value.get("form", False)),
        access_token=value["access_token"],
        refresh_token=value.get("refresh_token"),
        expires_at=value.get("expires_at"),
        expires_in=value.get("expires_in"),
        lifetime_seconds=_positive_number(f"{where}.lifetime_seconds", value.get("lifetime_seconds", 3600)),
        refresh_endpoint=refresh,
        refresh_body=refresh_body,
    )


def _compose(where: str, value: Any, *, line: bool) -> dict[str, dict[str, Any]]:
    from .transforms import check_rule

    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidRestSettings(f"{where} must map their paths to rules")
    rules = {}
    for path, rule in value.items():
        try:
            segments(path)
            check_rule(rule, line=line)
        except ValueError as exc:
            raise InvalidRestSettings(f"{where}.{path}: {exc}") from None
        rules[path] = dict(rule)
    return rules


def _rate(value: Any) -> float | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) != {"requests_per_second"}:
        raise InvalidRestSettings('settings.rate_limit must be {"requests_per_second": n}')
    rate = value["requests_per_second"]
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate <= MAX_RATE:
        raise InvalidRestSettings(f"settings.rate_limit.requests_per_second must be above 0 and at most {MAX_RATE:g}")
    return float(rate)


def _stock_warehouses(value: Any, ship_to_countries: Any) -> StockWarehouses | None:
    if value is None:
        return None
    where = "settings.stock_warehouses"
    if not isinstance(value, Mapping):
        raise InvalidRestSettings(f"{where} must be an object")
    _no_unknown_keys(where, value, frozenset({"ships_to", "countries"}))
    ships_to = value.get("ships_to")
    if not isinstance(ships_to, Mapping) or not all(isinstance(v, list) and all(isinstance(c, str) for c in v) for v in ships_to.values()):
        raise InvalidRestSettings(f'{where}.ships_to maps a warehouse country to the countries it ships to (["*"]: anywhere)')
    countries = value.get("countries", ship_to_countries or [])
    if not isinstance(countries, list) or not all(isinstance(c, str) for c in countries):
        raise InvalidRestSettings(f"{where}.countries must be a list of country codes")
    return StockWarehouses({k.upper(): frozenset(c.upper() for c in v) for k, v in ships_to.items()}, frozenset(c.upper() for c in countries))


def _our_statuses(where: str, value: Any) -> frozenset[SupplierOrderStatus] | None:
    if value is None:
        return None
    try:
        statuses = frozenset(SupplierOrderStatus(v) for v in _strings(where, value))
    except ValueError:
        raise InvalidRestSettings(f"{where} must list our statuses ({', '.join(s.value for s in SupplierOrderStatus)})") from None
    if statuses & {SupplierOrderStatus.SHIPPED, SupplierOrderStatus.CANCELLED}:
        raise InvalidRestSettings(f"{where} cannot hold shipped or cancelled")
    return statuses
