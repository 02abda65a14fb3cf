"""Client-side pacing for Shopify's GraphQL cost bucket (a leaky bucket per shop).

Shopify charges each query a calculated cost against a per-shop bucket
(`maximumAvailable` points, refilled at `restoreRate` points per second) and reports
the bucket in every response's `extensions.cost.throttleStatus`. Waiting before a
request that would not fit is cheaper than being throttled and retrying, and it keeps
several workers of one process from starving each other.

The bucket is per shop at Shopify, so here it is too: every gateway for a shop in this
process shares one `CostBucket` from `bucket_for(shop)`.
"""
from __future__ import annotations

import contextlib
import contextvars
import threading
from dataclasses import dataclass
from typing import Any, Mapping

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
)

# Used when nothing better is known: above what most of our documents really cost,
# far below a bucket's size, so it only delays requests when the bucket is nearly dry.
DEFAULT_QUERY_COST = 50
MUTATION_BASE_COST = 10
CONNECTION_BASE_COST = 2
# Shopify requires first/last on connections; if a variable is missing, assume its maximum.
UNKNOWN_PAGE_SIZE = 250


@dataclass(frozen=True)
class ThrottleStatus:
    """Shopify's bucket as reported at one monotonic instant."""

    maximum_available: float
    currently_available: float
    restore_rate: float
    observed_at: float

    @classmethod
    def from_extensions(cls, extensions: Mapping[str, Any] | None, observed_at: float) -> ThrottleStatus | None:
        """Read `extensions.cost.throttleStatus`; None when the response carries none."""
        status = ((extensions or {}).get("cost") or {}).get("throttleStatus")
        if not status:
            return None
        try:
            return cls(
                maximum_available=float(status["maximumAvailable"]),
                currently_available=float(status["currentlyAvailable"]),
                restore_rate=float(status["restoreRate"]),
                observed_at=observed_at,
            )
        except (KeyError, TypeError, ValueError):
            return None

    def projected_available(self, now: float) -> float:
        """Points available at `now`, assuming nobody else spent any since the observation."""
        elapsed = max(0.0, now - self.observed_at)
        return min(self.maximum_available, self.currently_available + self.restore_rate * elapsed)

    def wait_before(self, cost: float, now: float) -> float:
        """Seconds to wait from `now` until `cost` points are available (0 if they are)."""
        # A query costing more than the bucket holds can never fit; waiting for a full
        # bucket is the best we can do (Shopify will then accept or reject it on its own).
        needed = min(cost, self.maximum_available)
        # A reservation may date the status in the future: the points restored until
        # then are already promised to whoever reserved, so count only from that time.
        start = max(now, self.observed_at)
        missing = needed - self.projected_available(start)
        if missing <= 0 or self.restore_rate <= 0:
            return start - now
        # Waiting for exactly the deficit lands on the boundary, where float rounding on
        # either side turns "just enough" into another THROTTLED: wait for one point more.
        return (start - now) + (missing + WAIT_MARGIN_POINTS) / self.restore_rate


WAIT_MARGIN_POINTS = 1.0

# Share of the bucket that background calls (pushing fulfillments back) leave untouched, so
# a new order's reads go at once even while a backlog of shipments drains the bucket.
BACKGROUND_HEADROOM = 0.25
_background = contextvars.ContextVar("shopify_background_calls", default=False)


@contextlib.contextmanager
def background_calls():
    """Within this block (this thread), Shopify calls wait until the bucket keeps its headroom for others."""
    token = _background.set(True)
    try:
        yield
    finally:
        _background.reset(token)


class CostBucket:
    """Thread-safe view of one shop's bucket, shared by all gateways for that shop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._status: ThrottleStatus | None = None

    @property
    def status(self) -> ThrottleStatus | None:
        """The last observed (or reservation-adjusted) bucket state, if any."""
        with self._lock:
            return self._status

    def observe(self, extensions: Mapping[str, Any] | None, observed_at: float) -> ThrottleStatus | None:
        """Record the bucket from a response's extensions; returns what was recorded."""
        status = ThrottleStatus.from_extensions(extensions, observed_at)
        if status is not None:
            with self._lock:
                self._status = status
        return status

    def projected_available(self, now: float) -> float | None:
        """Points projected to be available at `now`; None if the bucket was never seen."""
        with self._lock:
            return None if self._status is None else self._status.projected_available(now)

    def wait_before(self, cost: float, now: float) -> float:
        """Seconds to wait so `cost` points are available; 0 if enough or unknown."""
        with self._lock:
            return 0.0 if self._status is None else self._status.wait_before(cost, now)

    def reserve(self, cost: float, now: float) -> float:
        """Like `wait_before`, and also spend `cost` at the end of that wait.

        Spending locally before Shopify's answer arrives keeps two threads that both
        see a full bucket from both sending a query that only fits once.
        """
        with self._lock:
            status = self._status
            if status is None:
                return 0.0
            keep = status.maximum_available * BACKGROUND_HEADROOM if _background.get() else 0.0
            wait = status.wait_before(min(cost, status.maximum_available) + keep, now)
            start = now + wait
            spent = min(cost, status.maximum_available)
            self._status = ThrottleStatus(
                maximum_available=status.maximum_available,
                currently_available=status.projected_available(start) - spent,
                restore_rate=status.restore_rate,
                observed_at=start,
            )
            return wait


_buckets: dict[str, CostBucket] = {}
_buckets_lock = threading.Lock()


def bucket_for(shop: str) -> CostBucket:
    """The process-wide bucket of `shop` (`name` or `name.myshopify.com`), created on first use."""
    key = shop.strip().lower().removesuffix(".myshopify.com")
    with _buckets_lock:
        bucket = _buckets.get(key)
        if bucket is None:
            bucket = _buckets[key] = CostBucket()
        return bucket


def reset_buckets() -> None:
    """Forget every shop's bucket (tests; or after a plan change)."""
    with _buckets_lock:
        _buckets.clear()


class QueryCostMemory:
    """Last `requestedQueryCost` Shopify reported, per document and page sizes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._costs: dict[tuple, float] = {}

    @staticmethod
    def key(document_name: str, variables: Mapping[str, Any] | None) -> tuple:
        """Cost depends on the document and its integer variables (page sizes), not cursors."""
        sizes = tuple(sorted((k, v) for k, v in (variables or {}).items() if type(v) is int))
        return (document_name, sizes)

    def remember(self, document_name: str, variables: Mapping[str, Any] | None, cost: float) -> None:
        """Store the cost Shopify calculated for this document with these page sizes."""
        with self._lock:
            self._costs[self.key(document_name, variables)] = cost

    def recall(self, document_name: str, variables: Mapping[str, Any] | None) -> float | None:
        """The remembered cost, or None if this document/page-size pair was never sent."""
        with self._lock:
            return self._costs.get(self.key(document_name, variables))

    def clear(self) -> None:
        """Forget every remembered cost (tests)."""
        with self._lock:
            self._costs.clear()


query_costs = QueryCostMemory()


def reset_pacing() -> None:
    """Forget all buckets and remembered query costs (tests)."""
    reset_buckets()
    query_costs.clear()


def requested_cost(extensions: Mapping[str, Any] | None) -> float | None:
    """`extensions.cost.requestedQueryCost`, if present."""
    value = ((extensions or {}).get("cost") or {}).get("requestedQueryCost")
    return float(value) if isinstance(value, (int, float)) else None


def estimate_query_cost(document: DocumentNode, variables: Mapping[str, Any] | None = None) -> int:
    """Static cost estimate following Shopify's rules: object 1, scalar 0,
    connection 2 + first × (cost of one node), mutation 10 plus what it returns."""
    variables = dict(variables or {})
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if not operations:
        return DEFAULT_QUERY_COST
    operation = operations[0]
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name not in variables and isinstance(definition.default_value, IntValueNode):
            variables[name] = int(definition.default_value.value)
    estimator = _CostEstimator(variables, fragments)
    if operation.operation is OperationType.MUTATION:
        root_fields = estimator.fields(operation.selection_set)
        return sum(MUTATION_BASE_COST + estimator.selection_cost(f.selection_set) for f in root_fields)
    return estimator.selection_cost(operation.selection_set)


class _CostEstimator:
    def __init__(self, variables: Mapping[str, Any], fragments: Mapping[str, FragmentDefinitionNode]):
        self._variables = variables
        self._fragments = fragments

    def fields(self, selection_set: SelectionSetNode | None) -> list[FieldNode]:
        """Fields of a selection set with fragments flattened in."""
        result: list[FieldNode] = []
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                result.append(selection)
            elif isinstance(selection, InlineFragmentNode):
                result.extend(self.fields(selection.selection_set))
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self._fragments.get(selection.name.value)
                if fragment is not None:
                    result.extend(self.fields(fragment.selection_set))
        return result

    def selection_cost(self, selection_set: SelectionSetNode | None) -> int:
        return sum(self.field_cost(f) for f in self.fields(selection_set))

    def field_cost(self, field: FieldNode) -> int:
        if field.selection_set is None:
            return 0  # scalars and enums are free
        page_size = self._page_size(field)
        if page_size is None:
            return 1 + self.selection_cost(field.selection_set)
        return CONNECTION_BASE_COST + page_size * self._node_cost(field.selection_set)

    def _node_cost(self, connection_selection: SelectionSetNode) -> int:
        """Cost of one node of a connection: `nodes` or `edges { node }`, pageInfo is free."""
        node_costs = []
        for child in self.fields(connection_selection):
            if child.name.value == "nodes":
                node_costs.append(1 + self.selection_cost(child.selection_set))
            elif child.name.value == "edges":
                for edge_field in self.fields(child.selection_set):
                    if edge_field.name.value == "node":
                        node_costs.append(1 + self.selection_cost(edge_field.selection_set))
        # `nodes` and `edges.node` are the same objects; count them once.
        return max(node_costs, default=1)

    def _page_size(self, field: FieldNode) -> int | None:
        for argument in field.arguments or ():
            if argument.name.value not in ("first", "last"):
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return int(value.value)
            if isinstance(value, VariableNode):
                supplied = self._variables.get(value.name.value)
                return supplied if isinstance(supplied, int) else UNKNOWN_PAGE_SIZE
        return None
