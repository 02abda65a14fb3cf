"""A local CJdropshipping (API 2.0) as a real HTTP server on 127.0.0.1, following CJ's documented shapes.

    cj = CjSandbox(api_key="CJ0000000@api@0123456789abcdef")
    cj.start()                       # -> http://127.0.0.1:<port>; the API lives under /api2.0/v1
    ...                              # the REST adapter with the `cjdropshipping` preset talks to it
    cj.ship(order_id)                # the order leaves the warehouse with a tracking number
    cj.stop()

Everything answers CJ's envelope {code, result, message, data, requestId} with HTTP 200, failures
included (result false), as CJ does; sandbox/supplier/cj_spec.py holds the shapes and their sources.

  POST /api2.0/v1/authentication/getAccessToken      {apiKey} -> tokens; at most once per
                                                      `token_call_window` seconds (CJ: 5 minutes)
  POST /api2.0/v1/authentication/refreshAccessToken  {refreshToken} -> new tokens
  every other call needs header CJ-Access-Token (a live access token) else code 1600001
  POST /api2.0/v1/shopping/order/createOrderV2        the documented body -> {orderId, orderNumber,
                                                      orderStatus, amounts}; payType 2 pays from the
                                                      balance (UNSHIPPED), else CREATED; a taken
                                                      orderNumber is refused (code 1603002)
  GET  /api2.0/v1/shopping/order/getOrderDetail?orderId=  CJ's order id or our orderNumber
  DELETE /api2.0/v1/shopping/order/deleteOrder?orderId=   only before payment (CREATED, IN_CART,
                                                      UNPAID); later: code 1603101
  GET  /api2.0/v1/logistic/trackInfo?trackNumber=     the parcel's tracking state
  GET  /api2.0/v1/product/stock/queryByVid?vid=       one row per warehouse {vid, areaId, areaEn,
                                                      countryCode, storageNum}; unknown vid: 1604001

Error codes: 1600100 "Param error" is quoted in CJ's examples; the others (1600001 credentials,
1600200 too many requests, 1603001 order not found, 1603002 duplicate order number, 1603101 not
deletable, 1604001 product not found) stand in for Appendix 1 (global error codes) and are
listed once, in CODES, which the `cjdropshipping` preset mirrors: confirm them when onboarding.

Controls: `ship`, `deliver`, `set_stock(vid, {"CN": 500, "US": 0})`, `expire_tokens()`,
`rate_limit(per_second)` (answers 1600200 past it, per token), `received` (every call).
"""
from __future__ import annotations

import collections
import datetime as dt
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, g, request
from jsonschema import Draft202012Validator

from ..serving import BackgroundServer
from .cj_spec import REQUESTS
from .faults import GARBAGE_BODY, FaultControls, SupplierFaults

API = "/api2.0/v1"
CODES = {"credentials": 1600001, "param": 1600100, "rate": 1600200, "order_not_found": 1603001, "duplicate": 1603002,
         "not_deletable": 1603101, "product_not_found": 1604001}
TOKEN_DAYS, REFRESH_DAYS = 15, 180
WAREHOUSES = {"CN": (1, "China Warehouse"), "US": (2, "US Warehouse")}


@dataclass
class CjOrder:
    """One order as CJ keeps it."""

    order_id: str
    order_number: str
    status: str
    body: dict[str, Any]
    amount: float
    created: str
    track_number: str | None = None
    logistic_name: str | None = None
    delivered_at: str | None = None
    deleted: bool = False

    def detail(self) -> dict[str, Any]:
        """getOrderDetail's data."""
        return {
            "orderId": self.order_id, "orderNum": self.order_number, "cjOrderId": self.order_id, "orderStatus": self.status,
            "shippingCountryCode": self.body["shippingCountryCode"], "shippingCustomerName": self.body["shippingCustomerName"],
            "logisticName": self.logistic_name or self.body.get("logisticName"), "trackNumber": self.track_number,
            "orderAmount": self.amount, "productAmount": self.amount, "postageAmount": 0.0, "createDate": self.created,
            "paymentDate": self.created if self.status not in ("CREATED", "IN_CART", "UNPAID") else None,
            "productList": [{"vid": p["vid"], "quantity": p["quantity"], "sellPrice": 4.0} for p in self.body["products"]],
        }


@dataclass
class CjState:
    """Everything the sandbox holds, behind one lock."""

    stock: dict[str, dict[str, int]] = field(default_factory=dict)  # vid -> warehouse country -> units
    orders: dict[str, CjOrder] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)  # access token -> expiry (epoch)
    refresh_tokens: dict[str, float] = field(default_factory=dict)
    last_token_call: float | None = None
    calls: dict[str, collections.deque] = field(default_factory=dict)  # token -> recent call times


def demo_stock() -> dict[str, dict[str, int]]:
    """A few variants: vids as CJ spells them, and two mapped by the demo shop's SKUs."""
    return {
        "92511400-C758-4474-93CA-66D442F5F787": {"CN": 500, "US": 0},
        "439FC05B-1311-4349-87FA-1E1EF942C418": {"CN": 0, "US": 12},
        "MUG-WHT": {"CN": 40, "US": 5},
        "TEE-S": {"CN": 30, "US": 0},
    }


class CjSandbox(FaultControls):
    """The CJ sandbox in a background thread (fault controls as every sandbox supplier: faults.py; never on authentication)."""

    def __init__(self, api_key: str = "CJ0000000@api@" + "0" * 32, *, token_call_window: float = 300.0):
        self.api_key = api_key
        self.token_call_window = token_call_window
        self.state = CjState(stock=demo_stock())
        self.lock = threading.Lock()
        self.per_second: float | None = None
        self.received: collections.deque[tuple[str, str, Any]] = collections.deque(maxlen=2000)
        self.refused_for_rate = 0
        self.faults = SupplierFaults()
        self.base_url = ""
        self._server = BackgroundServer()

    # -- serving and controls ------------------------------------------------------------------

    def start(self, port: int = 0, host: str = "127.0.0.1") -> str:
        """Serve in a daemon thread; the base URL (the API is under /api2.0/v1)."""
        self.base_url = self._server.start(build_cj_app(self), host=host, port=port, name="sandbox-cj")
        return self.base_url

    def stop(self) -> None:
        """Stop serving."""
        self._server.stop()

    def reset(self) -> None:
        """No orders, no tokens, demo stock, no rate limit."""
        with self.lock:
            self.state = CjState(stock=demo_stock())
            self.per_second = None
            self.received.clear()
            self.refused_for_rate = 0
        self.faults.clear()

    def adapter_settings(self, requests_per_second: float = 50) -> dict[str, Any]:
        """Settings for the REST adapter: the cjdropshipping preset at this server's URL (paced faster than CJ's free level, for tests)."""
        return {"preset": "cjdropshipping", "base_url": self.base_url, "rate_limit": {"requests_per_second": requests_per_second}}

    def adapter_credentials(self) -> dict[str, str]:
        """What a merchant pastes: the API key."""
        return {"api_key": self.api_key}

    def ship(self, order_id: str, lines: Any = None, carrier: str = "CJPacket Ordinary") -> str:
        """The order leaves the warehouse (CJ ships whole orders); its tracking number."""
        with self.lock:
            order = self._order(order_id)
            order.status, order.logistic_name = "SHIPPED", carrier
            order.track_number = order.track_number or f"CJPKL{uuid.uuid4().int % 10**10:010d}YQ"
            return order.track_number

    def deliver(self, order_id: str) -> None:
        """The carrier delivered it."""
        with self.lock:
            order = self._order(order_id)
            order.status, order.delivered_at = "DELIVERED", _now()

    def set_stock(self, vid: str, in_stock: bool | None = None, *, available: int | None = None, warehouses: dict[str, int] | None = None) -> None:
        """Units per warehouse country (or `available` in CN only, or in/out as 100/0 in CN)."""
        with self.lock:
            if warehouses is None:
                warehouses = {"CN": available if available is not None else (100 if in_stock else 0), "US": 0}
            self.state.stock[vid] = dict(warehouses)

    def expire_tokens(self) -> None:
        """Every access token expires now (refresh tokens stay valid)."""
        with self.lock:
            self.state.tokens = {token: 0.0 for token in self.state.tokens}

    def rate_limit(self, per_second: float | None) -> None:
        """Refuse calls past this many per second per access token (None: no limit)."""
        self.per_second = per_second

    def order(self, order_id: str) -> CjOrder:
        """An order by CJ id or our number."""
        with self.lock:
            return self._order(order_id)

    def orders_created(self, order_number: str) -> int:
        """Orders created with this number."""
        with self.lock:
            return sum(1 for o in self.state.orders.values() if o.order_number == order_number)

    def calls_to(self, name: str) -> int:
        """How many calls reached the endpoint whose path ends with `name`."""
        return sum(1 for _, path, _ in list(self.received) if path.endswith("/" + name))

    def _order(self, order_id: str) -> CjOrder:
        found = self.state.orders.get(order_id) or next((o for o in self.state.orders.values() if o.order_number == order_id), None)
        if found is None:
            raise CjRefusal("order_not_found", "Order not found")
        return found


class CjRefusal(Exception):
    """A refusal CJ reports in its envelope."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.code, self.message = CODES[kind], message


def _now() -> str:
    return dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).replace(microsecond=0).isoformat()  # CJ writes +08:00


def _envelope(data: Any = None, *, code: int = 200, message: str = "Success") -> Response:
    body = {"code": code, "result": code == 200, "message": message, "data": data, "requestId": str(uuid.uuid4())}
    return Response(json.dumps(body), status=200, content_type="application/json")


def build_cj_app(cj: CjSandbox) -> Flask:
    """The Flask app serving `cj`'s state."""
    app = Flask("sandbox-cj")
    validators = {name: Draft202012Validator(schema) for name, schema in REQUESTS.items()}

    def body_of(name: str) -> dict[str, Any]:
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or any(True for _ in validators[name].iter_errors(body)):
            raise CjRefusal("param", "Param error")
        return body

    @app.before_request
    def record_and_authenticate() -> Response | None:
        cj.received.append((request.method, request.path, request.get_json(silent=True)))
        if request.path.startswith(f"{API}/authentication/"):
            return None
        token = request.headers.get("CJ-Access-Token", "")
        now = time.time()
        with cj.lock:
            if cj.state.tokens.get(token, 0.0) <= now:
                return _envelope(code=CODES["credentials"], message="Invalid API key or access token")
            if cj.per_second:
                recent = cj.state.calls.setdefault(token, collections.deque())
                while recent and recent[0] <= now - 1.0:
                    recent.popleft()
                if len(recent) >= cj.per_second:
                    cj.refused_for_rate += 1
                    return _envelope(code=CODES["rate"], message="Too Many Requests")
                recent.append(now)
        fault = cj.faults.take(f"{request.method} {request.path}")
        g.fault = fault
        if fault is not None and not fault.processes_request:
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
            return Response(json.dumps({"code": fault.status, "result": False, "message": "sandbox fault", "data": None, "requestId": str(uuid.uuid4())}),
                            status=fault.status, headers=headers, content_type="application/json")
        return None

    @app.after_request
    def lose_the_answer(response: Response) -> Response:
        fault = g.get("fault")
        if fault is not None and fault.kind == "timeout":
            time.sleep(fault.hold_seconds)  # the work is done; the answer comes after the client gave up
        if fault is not None and fault.kind == "garbage":
            return Response(GARBAGE_BODY, status=200, content_type="application/json")
        return response

    @app.errorhandler(CjRefusal)
    def refused(refusal: CjRefusal) -> Response:
        return _envelope(code=refusal.code, message=refusal.message)

    def tokens() -> dict[str, Any]:
        access, refresh = secrets.token_hex(16), secrets.token_hex(16)
        now = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).replace(microsecond=0)
        cj.state.tokens[access] = (now + dt.timedelta(days=TOKEN_DAYS)).timestamp()
        cj.state.refresh_tokens[refresh] = (now + dt.timedelta(days=REFRESH_DAYS)).timestamp()
        return {"openId": 123456789, "accessToken": access, "accessTokenExpiryDate": (now + dt.timedelta(days=TOKEN_DAYS)).isoformat(),
                "refreshToken": refresh, "refreshTokenExpiryDate": (now + dt.timedelta(days=REFRESH_DAYS)).isoformat(), "createDate": now.isoformat()}

    @app.post(f"{API}/authentication/getAccessToken")
    def get_access_token() -> Response:
        body = body_of("getAccessToken")
        with cj.lock:
            if body["apiKey"] != cj.api_key:
                raise CjRefusal("credentials", "Invalid API key or access token")
            if cj.state.last_token_call is not None and time.time() - cj.state.last_token_call < cj.token_call_window:
                raise CjRefusal("rate", "Too Many Requests: getAccessToken can be called once every 5 minutes")
            cj.state.last_token_call = time.time()
            return _envelope(tokens())

    @app.post(f"{API}/authentication/refreshAccessToken")
    def refresh_access_token() -> Response:
        body = body_of("refreshAccessToken")
        with cj.lock:
            if cj.state.refresh_tokens.pop(body["refreshToken"], 0.0) <= time.time():
                raise CjRefusal("credentials", "Invalid refresh token")
            return _envelope(tokens())

    @app.post(f"{API}/shopping/order/createOrderV2")
    def create_order() -> Response:
        body = body_of("createOrderV2")
        with cj.lock:
            if any(o.order_number == body["orderNumber"] for o in cj.state.orders.values()):
                raise CjRefusal("duplicate", f"The order number {body['orderNumber']} already exists")
            unknown = [p["vid"] for p in body["products"] if p["vid"] not in cj.state.stock]
            if unknown:
                raise CjRefusal("product_not_found", f"Variant not found: {unknown[0]}")
            order_id = f"{int(time.time())}{len(cj.state.orders) + 1:08d}"
            amount = round(4.0 * sum(p["quantity"] for p in body["products"]), 2)
            status = "UNSHIPPED" if str(body.get("payType")) == "2" else "CREATED"
            cj.state.orders[order_id] = CjOrder(order_id, body["orderNumber"], status, body, amount, _now())
            return _envelope({"orderId": order_id, "orderNumber": body["orderNumber"], "orderStatus": status, "orderAmount": amount,
                              "productAmount": amount, "postageAmount": 0.0, "cjPayUrl": None})

    @app.get(f"{API}/shopping/order/getOrderDetail")
    def order_detail() -> Response:
        with cj.lock:
            return _envelope(cj._order(request.args.get("orderId", "")).detail())

    @app.delete(f"{API}/shopping/order/deleteOrder")
    def delete_order() -> Response:
        with cj.lock:
            order = cj._order(request.args.get("orderId", ""))
            if order.status not in ("CREATED", "IN_CART", "UNPAID", "CANCELLED"):
                raise CjRefusal("not_deletable", f"Order status {order.status} cannot be deleted")
            order.status = "CANCELLED"
            return _envelope(order.order_id)

    @app.get(f"{API}/logistic/trackInfo")
    def track_info() -> Response:
        number = request.args.get("trackNumber", "")
        with cj.lock:
            order = next((o for o in cj.state.orders.values() if o.track_number and o.track_number == number), None)
            if order is None:
                return _envelope([])
            return _envelope([{"trackingNumber": number, "logisticName": order.logistic_name, "trackingFrom": "CN",
                               "trackingTo": order.body["shippingCountryCode"], "deliveryDay": "7-12", "deliveryTime": order.delivered_at,
                               "trackingStatus": "Delivered" if order.status == "DELIVERED" else "In transit"}])

    @app.get(f"{API}/product/stock/queryByVid")
    def stock_by_vid() -> Response:
        vid = request.args.get("vid", "")
        with cj.lock:
            warehouses = cj.state.stock.get(vid)
            if warehouses is None:
                raise CjRefusal("product_not_found", "Product not found")
            return _envelope([{"vid": vid, "areaId": WAREHOUSES.get(country, (9, ""))[0], "areaEn": WAREHOUSES.get(country, (9, country))[1],
                               "countryCode": country, "storageNum": units} for country, units in warehouses.items()])

    @app.errorhandler(404)
    def not_found(_error: Any) -> Response:
        return Response(json.dumps({"code": 404, "result": False, "message": "Not Found", "data": None, "requestId": str(uuid.uuid4())}), status=404, content_type="application/json")

    return app
