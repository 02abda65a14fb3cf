"""Shopify Admin GraphQL figures, recorded by the gateway (integrations/shopify/gateway.py)."""
from __future__ import annotations

import json
from typing import Any, Mapping

from .instruments import GRAPHQL_COST, GRAPHQL_PACING_SECONDS, GRAPHQL_REQUESTS, GRAPHQL_SECONDS, GRAPHQL_THROTTLES
from .safety import never_raises


THROTTLED_CODE = "THROTTLED"


@never_raises
def graphql_answer(shop: str, operation: str, result: Any, seconds: float) -> None:
    """Record one HTTP request of a GraphQL document (a GQLResult): its outcome, duration, cost and any throttling."""
    status = result.response.status
    extensions = result.extensions
    if result.ok and result.data is not None:
        outcome = "ok"
    elif result.log.code == "graphql_errors":
        body = _json(result.response.body)
        extensions = body.get("extensions")
        codes = {((e.get("extensions") or {}).get("code")) for e in body.get("errors") or [] if isinstance(e, Mapping)}
        outcome = "throttled" if THROTTLED_CODE in codes else "graphql_errors"
    elif status == 401:
        outcome = "unauthorized"
    elif status == 429:
        outcome = "rate_limited"
    elif status == 0 or status >= 500 or result.ok:
        outcome = "transient"
    else:
        outcome = "rejected"
    GRAPHQL_REQUESTS.labels(operation, outcome).inc()
    GRAPHQL_SECONDS.labels(operation).observe(seconds)
    graphql_cost(shop, extensions)
    if outcome in ("throttled", "rate_limited"):
        graphql_throttled(shop, "throttled" if outcome == "throttled" else "http_429")


def _json(text: str | None) -> dict:
    try:
        body = json.loads(text or "{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


@never_raises
def graphql_cost(shop: str, extensions: Mapping[str, Any] | None) -> None:
    """Add the requested and actual query cost Shopify reported (extensions.cost) to the shop's counters."""
    cost = (extensions or {}).get("cost") if isinstance(extensions, Mapping) else None
    if not isinstance(cost, Mapping):
        return
    for kind, key in (("requested", "requestedQueryCost"), ("actual", "actualQueryCost")):
        value = cost.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
            GRAPHQL_COST.labels(shop, kind).inc(value)


@never_raises
def graphql_throttled(shop: str, reason: str) -> None:
    """Shopify throttled a request of the shop: reason "throttled" (HTTP 200 THROTTLED) or "http_429"."""
    GRAPHQL_THROTTLES.labels(shop, reason).inc()


@never_raises
def graphql_paced(shop: str, seconds: float) -> None:
    """The gateway waited for the shop's cost bucket before sending."""
    if seconds > 0:
        GRAPHQL_PACING_SECONDS.labels(shop).inc(seconds)
