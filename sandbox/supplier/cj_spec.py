"""CJdropshipping API 2.0 shapes, as JSON Schemas written from CJ's published documentation.

Used two ways: the CJ sandbox refuses request bodies that do not match (as CJ answers
"Param error"), and tests validate what the sandbox answers with jsonschema, so neither the
sandbox nor the REST adapter's preset is checked only against code written for both.

Sources (read 2026-12):
  envelope          https://developers.cjdropshipping.com/en/api/api2/standard/definition.html
                    (code, result, message, data, requestId on every answer)
  authentication    https://developers.cjdropshipping.com/en/api/api2/api/auth.html
                    (getAccessToken {apiKey}; refreshAccessToken {refreshToken}; token 15 days,
                    refresh token 180 days; getAccessToken at most once per 5 minutes)
  orders            https://developers.cjdropshipping.com/en/api/api2/api/shopping.html
                    (createOrderV2; getOrderDetail; deleteOrder; statuses CREATED, IN_CART,
                    UNPAID, UNSHIPPED, SHIPPED, DELIVERED, CANCELLED)
  tracking          https://developers.cjdropshipping.com/en/api/api2/api/logistic.html
  stock             https://developers.cjdropshipping.com/en/api/api2/api/product.html
                    (product/stock/queryByVid: one row per warehouse: areaEn, countryCode, storageNum)
  rate limits       https://developers.cjdropshipping.com/en/api/api2/standard/limit.html
                    (1 request/s per user at the free level)
Fields the documentation lists but this app never sends are allowed and ignored.
"""
from __future__ import annotations

from typing import Any

STR = {"type": "string"}
NSTR = {"type": ["string", "null"]}


def envelope(data: dict[str, Any]) -> dict[str, Any]:
    """CJ's answer: {code, result, message, data, requestId}."""
    return {
        "type": "object",
        "required": ["code", "result", "message", "data", "requestId"],
        "properties": {"code": {"type": "integer"}, "result": {"type": "boolean"}, "message": STR, "requestId": STR,
                       "data": {"anyOf": [data, {"type": "null"}]}},
    }


TOKEN = {
    "type": "object",
    "required": ["accessToken", "accessTokenExpiryDate", "refreshToken", "refreshTokenExpiryDate"],
    "properties": {"openId": {"type": "integer"}, "accessToken": STR, "accessTokenExpiryDate": STR, "refreshToken": STR,
                   "refreshTokenExpiryDate": STR, "createDate": STR},
}

REQUESTS: dict[str, dict[str, Any]] = {
    "getAccessToken": {"type": "object", "required": ["apiKey"], "properties": {"apiKey": {"type": "string", "minLength": 1, "maxLength": 200}}},
    "refreshAccessToken": {"type": "object", "required": ["refreshToken"], "properties": {"refreshToken": {"type": "string", "minLength": 1}}},
    "createOrderV2": {
        "type": "object",
        "required": ["orderNumber", "shippingCountryCode", "shippingCountry", "shippingProvince", "shippingCity", "shippingCustomerName",
                     "shippingAddress", "logisticName", "fromCountryCode", "products"],
        "properties": {
            "orderNumber": {"type": "string", "minLength": 1, "maxLength": 50},
            "shippingZip": {"type": "string", "maxLength": 20},
            "shippingCountryCode": {"type": "string", "pattern": "^[A-Z]{2}$"},
            "shippingCountry": {"type": "string", "minLength": 1, "maxLength": 200},
            "shippingProvince": {"type": "string", "maxLength": 200},
            "shippingCity": {"type": "string", "minLength": 1, "maxLength": 200},
            "shippingCounty": {"type": "string", "maxLength": 200},
            "shippingPhone": {"type": "string", "maxLength": 200},
            "shippingCustomerName": {"type": "string", "minLength": 1, "maxLength": 200},
            "shippingAddress": {"type": "string", "minLength": 1, "maxLength": 200},
            "shippingAddress2": {"type": "string", "maxLength": 200},
            "remark": {"type": "string", "maxLength": 500},
            "email": {"type": "string", "maxLength": 50},
            "payType": {"type": ["integer", "string"]},
            "logisticName": {"type": "string", "minLength": 1, "maxLength": 200},
            "fromCountryCode": {"type": "string", "pattern": "^[A-Z]{2}$"},
            "platform": STR,
            "products": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["vid", "quantity"],
                "properties": {"vid": {"type": "string", "minLength": 1, "maxLength": 200}, "quantity": {"type": "integer", "minimum": 1},
                               "storeLineItemId": STR},
            }},
        },
    },
}

ORDER = {
    "type": "object",
    "required": ["orderId", "orderNum", "orderStatus"],
    "properties": {
        "orderId": STR, "orderNum": STR, "cjOrderId": NSTR, "orderStatus": {"enum": ["CREATED", "IN_CART", "UNPAID", "UNSHIPPED", "SHIPPED", "DELIVERED", "CANCELLED"]},
        "shippingCountryCode": STR, "shippingCustomerName": STR, "logisticName": NSTR, "trackNumber": NSTR,
        "orderAmount": {"type": ["number", "null"]}, "productAmount": {"type": ["number", "null"]}, "postageAmount": {"type": ["number", "null"]},
        "createDate": NSTR, "paymentDate": NSTR,
        "productList": {"type": "array", "items": {"type": "object", "required": ["vid", "quantity"], "properties": {"vid": STR, "quantity": {"type": "integer"}, "sellPrice": {"type": "number"}}}},
    },
}

RESPONSES: dict[str, dict[str, Any]] = {
    "getAccessToken": envelope(TOKEN),
    "refreshAccessToken": envelope(TOKEN),
    "createOrderV2": envelope({"type": "object", "required": ["orderId", "orderNumber", "orderStatus"],
                               "properties": {"orderId": STR, "orderNumber": STR, "orderStatus": STR, "orderAmount": {"type": "number"},
                                              "productAmount": {"type": "number"}, "postageAmount": {"type": "number"}, "cjPayUrl": NSTR}}),
    "getOrderDetail": envelope(ORDER),
    "deleteOrder": envelope(STR),
    "trackInfo": envelope({"type": "array", "items": {"type": "object", "required": ["trackingNumber", "trackingStatus"],
                                                      "properties": {"trackingNumber": STR, "logisticName": STR, "trackingFrom": STR, "trackingTo": STR,
                                                                     "deliveryDay": STR, "deliveryTime": NSTR, "trackingStatus": STR}}}),
    "queryByVid": envelope({"type": "array", "items": {"type": "object", "required": ["vid", "countryCode", "storageNum"],
                                                       "properties": {"vid": STR, "areaId": {"type": ["integer", "string"]}, "areaEn": STR,
                                                                      "countryCode": STR, "storageNum": {"type": "integer"}}}}),
}
