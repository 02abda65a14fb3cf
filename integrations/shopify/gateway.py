"""The one way the app talks to the Shopify Admin GraphQL API.

Sends the named documents from `integrations.shopify.documents` through Shopify's SDK
(`admin_graphql_request`, with its own retries switched off) and adds what the SDK does
not do: pacing against the shop's cost bucket, retrying THROTTLED answers (HTTP 200),
429s, 5xx and network failures with backoff, one token refresh on 401, userErrors as
exceptions, cursor pagination, and the idempotency key of `@idempotent` mutations: one
fresh key (uuid4) per logical call, reused only by that call's own retries.
"""
from __future__ import annotations

import email.utils
import json
import logging
import random
import time
import uuid
from typing import Any, Callable, Iterator, Mapping, Protocol

import httpx

from integrations.shopify import documents
from integrations.shopify.errors import (
    ShopifyError,
    ShopifyGraphQLError,
    ShopifyHTTPError,
    ShopifyThrottledError,
    ShopifyTransientError,
    ShopifyUnauthorizedError,
    ShopifyUserError,
)
from integrations.shopify.pacing import (
    DEFAULT_QUERY_COST,
    ThrottleStatus,
    bucket_for,
    estimate_query_cost,
    query_costs,
    requested_cost,
)
from shopify_app.metrics.shopify import graphql_answer, graphql_paced
from shopify_app.sdk import admin_graphql_request
from shopify_app.types import GQLResult

logger = logging.getLogger(__name__)

DEFAULT_API_VERSION = "2026-10"
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 30.0
# A Retry-After beyond this is more likely a misconfigured proxy than Shopify's intent.
RETRY_AFTER_CAP_SECONDS = 60.0
DEFAULT_RETRY_AFTER_SECONDS = 1.0
THROTTLED_CODE = "THROTTLED"
# Shopify paginates a connection through its first 25,000 objects only (since 2026-01).
CONNECTION_CAP = 25_000


class TokenSource(Protocol):
    """Where the gateway gets the shop's offline access token."""

    def access_token(self) -> str:
        """A token believed valid now (refreshing an expiring one if needed)."""

    def invalidate(self) -> None:
        """Forget the current token: Shopify just answered 401 to it."""


def shop_name_of(shop_domain: str) -> str:
    """`example.myshopify.com` -> `example`, the form Shopify's SDK builds URLs from."""
    return shop_domain.strip().lower().removesuffix(".myshopify.com")


class ShopifyGateway:
    """Admin GraphQL client for one shop: paced, retried, typed errors, no secrets in logs."""

    def __init__(
        self,
        shop_domain: str,
        token_source: TokenSource,
        *,
        api_version: str = DEFAULT_API_VERSION,
        http_client: httpx.Client,
        max_attempts: int = 6,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        connection_cap: int | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.shop_domain = shop_domain.strip().lower()
        self.shop_name = shop_name_of(shop_domain)
        self.api_version = api_version
        self._token_source = token_source
        self._http_client = http_client
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._bucket = bucket_for(self.shop_name)
        self.connection_cap = connection_cap or CONNECTION_CAP
        self.served_version: str | None = None  # X-Shopify-API-Version of the last answer

    # -- public API -------------------------------------------------------------------

    def query(self, name: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run the query document `name` and return its `data`."""
        if documents.is_mutation(name):
            raise ValueError(f"{name} is a mutation: send it with mutate() so userErrors are checked")
        return self._execute(name, variables, retry_ambiguous=True)

    def mutate(
        self,
        name: str,
        variables: Mapping[str, Any] | None = None,
        payload_key: str | None = None,
        *,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        """Run the mutation `name`, return `data`; raise ShopifyUserError on userErrors.

        `payload_key` names the root field whose `userErrors` to check (default: every
        root field). Pass `idempotent=False` for mutations that must not run twice
        (e.g. fulfillmentCreate): a 5xx or network failure then raises at once with
        `outcome_unknown=True` instead of being retried blindly. A document with
        `@idempotent(key: $var)` gets a fresh key in `$var` (unless the caller passes one)
        and is retried like an idempotent call, since Shopify deduplicates by the key.
        """
        if not documents.is_mutation(name):
            raise ValueError(f"{name} is a query: send it with query()")
        variables = dict(variables or {})
        key_variable = documents.idempotency_key_variable(name)
        if key_variable is not None:
            # One key per logical call: every retry inside _execute resends these exact
            # variables, so Shopify applies the call once; the next call gets a new key even
            # when its content is identical (a second, intended adjustment). Never derived
            # from the content.
            variables.setdefault(key_variable, str(uuid.uuid4()))
        # With a key, a call whose answer was lost is safe to repeat: Shopify replays it.
        data = self._execute(name, variables, retry_ambiguous=idempotent or key_variable is not None)
        keys = [payload_key] if payload_key else list(data)
        user_errors: list[Mapping[str, Any]] = []
        for key in keys:
            payload = data.get(key)
            if isinstance(payload, Mapping):
                user_errors.extend(payload.get("userErrors") or [])
        if user_errors:
            logger.warning(
                "shopify userErrors shop=%s operation=%s codes=%s",
                self.shop_domain, name, [e.get("code") for e in user_errors],
            )
            raise ShopifyUserError(user_errors, operation=name)
        return data

    def paginate(
        self,
        name: str,
        variables: Mapping[str, Any] | None,
        connection_path: tuple[str, ...],
        *,
        next_window: Callable[[Mapping[str, Any], Mapping[str, Any]], Mapping[str, Any]] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield every node of the connection at `connection_path`, page after page.

        The document must take an `$after: String` variable and select
        `pageInfo { hasNextPage endCursor }` and `nodes` (or `edges { node }`).

        Shopify stops a connection at 25,000 objects (hasNextPage false). When a run of
        pages reaches that many, `next_window(variables, last_node)` gives the variables
        of the next window (a narrower query, e.g. `updated_at:>=` the last node's) and
        pagination goes on there, skipping nodes already yielded. Without `next_window`
        reaching the cap raises instead of silently stopping.
        """
        page_variables = dict(variables or {})
        seen_cursors: set[str] = set()
        yielded: set[Any] = set()
        in_window, new_in_window, last_node = 0, 0, None
        while True:
            data = self.query(name, page_variables)
            connection: Any = data
            for key in connection_path:
                connection = connection.get(key) if isinstance(connection, Mapping) else None
            if not isinstance(connection, Mapping):
                return  # e.g. the parent object does not exist (inventoryItem: null)
            nodes = connection["nodes"] or [] if "nodes" in connection else [edge["node"] for edge in connection.get("edges") or []]
            for node in nodes:
                in_window += 1
                last_node = node
                node_id = node.get("id") if next_window is not None and isinstance(node, Mapping) else None
                if node_id is not None:
                    if node_id in yielded:
                        continue  # already yielded by the previous window (they overlap on purpose)
                    yielded.add(node_id)
                new_in_window += 1
                yield node
            page_info = connection.get("pageInfo") or {}
            if not page_info.get("hasNextPage"):
                if in_window < self.connection_cap:
                    return
                if next_window is None:
                    raise ShopifyError(f"connection stopped at Shopify's {self.connection_cap} objects; narrow the query", operation=name)
                if not new_in_window:
                    raise ShopifyError("a whole window held nothing new: the query cannot be narrowed further", operation=name)
                logger.info("shopify connection cap reached shop=%s operation=%s objects=%d: next window",
                            self.shop_domain, name, in_window)
                page_variables = {k: v for k, v in next_window(variables or {}, last_node).items() if k != "after"}
                in_window, new_in_window = 0, 0
                continue
            cursor = page_info.get("endCursor")
            if not cursor or cursor in seen_cursors:
                # Guard against an endless loop if the server keeps answering the same page.
                raise ShopifyError("pagination cursor did not advance", operation=name)
            seen_cursors.add(cursor)
            page_variables["after"] = cursor

    # -- the request loop -------------------------------------------------------------

    def _execute(self, name: str, variables: Mapping[str, Any] | None, *, retry_ambiguous: bool) -> dict[str, Any]:
        document = documents.get_document(name)
        is_mutation = documents.is_mutation(name)
        variables = dict(variables) if variables else None
        token_refreshed = False
        attempt = 0
        while True:
            attempt += 1
            self._pace(name, variables, attempt)
            sent = time.perf_counter()
            result = self._send(document, variables, name)
            status = result.response.status
            graphql_answer(self.shop_domain, name, result, time.perf_counter() - sent)

            if result.ok and result.data is not None:
                self._observe(name, variables, result.extensions)
                self._notice_served_version(result)
                logger.debug(  # every call: the graphql_answer metrics count and time them (INFO cost CPU per order, session 30 part C)
                    "shopify graphql ok shop=%s operation=%s cost=%s attempt=%d",
                    self.shop_domain, name, _actual_cost(result.extensions), attempt,
                )
                return result.data
            if result.log.code == "graphql_errors":
                delay = self._after_graphql_errors(name, variables, attempt, result)
            elif status == 401:
                if token_refreshed:
                    raise ShopifyUnauthorizedError("401 with a freshly obtained token", operation=name)
                logger.warning("shopify 401, refreshing token shop=%s operation=%s attempt=%d",
                               self.shop_domain, name, attempt)
                self._token_source.invalidate()
                token_refreshed = True
                attempt -= 1  # a token refresh is not a failed attempt
                continue
            elif status == 429:
                delay = self._after_rate_limited(name, attempt, result)
            elif status == 0 or status >= 500 or result.ok:
                # (ok without data: a 200 that is not GraphQL, e.g. a proxy's HTML page.)
                failure = "network error" if status == 0 else "HTTP 200 without data" if result.ok else f"HTTP {status}"
                delay = self._after_transient_failure(
                    name, attempt, failure, status, ambiguous=is_mutation, retry_ambiguous=retry_ambiguous)
            else:
                logger.warning("shopify request rejected shop=%s operation=%s status=%s",
                               self.shop_domain, name, status)
                raise ShopifyHTTPError(status, operation=name)
            if delay > 0:
                self._sleep(delay)

    def _notice_served_version(self, result: GQLResult) -> None:
        """Warn (once per gateway) when Shopify answers with another version than asked: ours was retired and fell forward."""
        headers = {k.lower(): v for k, v in (result.response.headers or {}).items()}
        served = headers.get("x-shopify-api-version")
        if served and served != self.api_version and served != self.served_version:
            logger.warning("shopify served API version %s instead of %s shop=%s: the configured version is retired; "
                           "validate the documents against a supported version and move SHOPIFY_API_VERSION",
                           served, self.api_version, self.shop_domain)
        if served:
            self.served_version = served

    def _pace(self, name: str, variables: Mapping[str, Any] | None, attempt: int) -> None:
        """Wait until the shop's bucket holds this request's expected cost."""
        cost = self._expected_cost(name, variables)
        wait = self._bucket.reserve(cost, self._clock())
        if wait > 0:
            logger.info("shopify pacing shop=%s operation=%s cost=%s wait=%.2fs attempt=%d",
                        self.shop_domain, name, cost, wait, attempt)
            self._sleep(wait)
            graphql_paced(self.shop_domain, wait)

    def _send(self, document: str, variables: Mapping[str, Any] | None, name: str) -> GQLResult:
        token = self._token_source.access_token()
        if not token:
            raise ShopifyUnauthorizedError("no access token available", operation=name)
        return admin_graphql_request(
            document,
            shop=self.shop_name,
            access_token=token,
            api_version=self.api_version,
            variables=dict(variables) if variables else None,
            max_retries=0,  # retries live here, next to pacing and the typed errors
            http_client=self._http_client,
        )

    def _after_graphql_errors(
        self, name: str, variables: Mapping[str, Any] | None, attempt: int, result: GQLResult
    ) -> float:
        """Seconds to wait before retrying a THROTTLED answer; raise for any other error."""
        body = _json_body(result)
        extensions = body.get("extensions")
        throttle = self._observe(name, variables, extensions)
        errors = [e for e in body.get("errors") or [] if isinstance(e, Mapping)]
        if not any(_error_code(e) == THROTTLED_CODE for e in errors):
            logger.warning("shopify graphql errors shop=%s operation=%s codes=%s attempt=%d",
                           self.shop_domain, name, [_error_code(e) for e in errors], attempt)
            raise ShopifyGraphQLError(errors, operation=name)
        self._give_up_if_exhausted(attempt, ShopifyThrottledError(
            f"still THROTTLED after {attempt} attempts", operation=name))
        logger.warning("shopify throttled shop=%s operation=%s cost=%s attempt=%d",
                       self.shop_domain, name, requested_cost(extensions), attempt)
        if throttle is None:
            # No bucket in the answer, so pacing cannot compute the wait.
            return max(DEFAULT_RETRY_AFTER_SECONDS, self._backoff(attempt))
        # The bucket and the requested cost are recorded: the next _pace() waits until
        # exactly that cost is restored.
        return 0.0

    def _after_rate_limited(self, name: str, attempt: int, result: GQLResult) -> float:
        """Seconds to wait after an HTTP 429 (its Retry-After); raise when out of attempts."""
        self._give_up_if_exhausted(attempt, ShopifyThrottledError(
            f"HTTP 429 after {attempt} attempts", operation=name))
        delay = _retry_after_seconds(result)
        logger.warning("shopify 429 shop=%s operation=%s retry_after=%.2fs attempt=%d",
                       self.shop_domain, name, delay, attempt)
        return delay

    def _after_transient_failure(
        self, name: str, attempt: int, failure: str, status: int, *, ambiguous: bool, retry_ambiguous: bool
    ) -> float:
        """Backoff before retrying a 5xx or network failure; raise when out of attempts."""
        # A mutation that reached Shopify may have been applied before the failure.
        if ambiguous and not retry_ambiguous:
            raise ShopifyTransientError(f"{failure}; not retried, outcome unknown", operation=name,
                                        status=status or None, outcome_unknown=True)
        self._give_up_if_exhausted(attempt, ShopifyTransientError(
            f"{failure} after {attempt} attempts", operation=name,
            status=status or None, outcome_unknown=ambiguous))
        delay = self._backoff(attempt)
        logger.warning("shopify transient failure shop=%s operation=%s failure=%s backoff=%.2fs attempt=%d",
                       self.shop_domain, name, failure, delay, attempt)
        return delay

    # -- helpers ----------------------------------------------------------------------

    def _expected_cost(self, name: str, variables: Mapping[str, Any] | None) -> float:
        remembered = query_costs.recall(name, variables)
        if remembered is not None:
            return remembered
        try:
            return estimate_query_cost(documents.parsed_document(name), variables)
        except Exception:  # an estimate must never stop a request
            return DEFAULT_QUERY_COST

    def _observe(
        self, name: str, variables: Mapping[str, Any] | None, extensions: Mapping[str, Any] | None
    ) -> ThrottleStatus | None:
        cost = requested_cost(extensions)
        if cost is not None:
            query_costs.remember(name, variables, cost)
        return self._bucket.observe(extensions, self._clock())

    def _give_up_if_exhausted(self, attempt: int, error: ShopifyError) -> None:
        if attempt >= self._max_attempts:
            logger.warning("shopify giving up shop=%s operation=%s attempts=%d error=%s",
                           self.shop_domain, error.operation, attempt, type(error).__name__)
            raise error

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter: uniform(0, min(cap, base * 2^(attempt-1)))."""
        ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
        return self._rng.uniform(0, ceiling)


def _json_body(result: GQLResult) -> dict[str, Any]:
    try:
        body = json.loads(result.response.body or "{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error_code(error: Any) -> str | None:
    return ((error or {}).get("extensions") or {}).get("code") if isinstance(error, Mapping) else None


def _actual_cost(extensions: Mapping[str, Any] | None) -> Any:
    return ((extensions or {}).get("cost") or {}).get("actualQueryCost")


def _retry_after_seconds(result: GQLResult) -> float:
    """Retry-After of the 429, read from the SDK's HTTP log (its summary drops headers)."""
    for http_log in reversed(result.http_logs or []):
        headers = {k.lower(): v for k, v in (http_log.res.headers or {}).items()}
        value = headers.get("retry-after")
        if value is None:
            continue
        try:
            seconds = float(value)
        except ValueError:
            try:  # Retry-After may also be an HTTP date
                seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError):
                continue
        return min(RETRY_AFTER_CAP_SECONDS, max(0.0, seconds))
    return DEFAULT_RETRY_AFTER_SECONDS


def updated_at_window(variables: Mapping[str, Any], last_node: Mapping[str, Any]) -> dict[str, Any]:
    """The next window of a listing sorted by UPDATED_AT: the same query from the last node's updatedAt on.

    `>=` rather than `>`: objects sharing that second would otherwise be lost; the overlap is
    skipped by id in `paginate`. The base query is joined with AND, so it must not use OR.
    """
    query = (variables.get("query") or "").strip()
    bound = f"updated_at:>='{last_node['updatedAt']}'"
    return {**variables, "query": f"{query} AND {bound}" if query else bound}
