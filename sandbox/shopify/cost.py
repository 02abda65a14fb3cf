"""Shopify's GraphQL cost model: a static requested cost, an actual cost, and a leaky bucket per shop.

Requested cost (computed from the document before anything runs):
  - scalar and enum fields cost 0;
  - object, interface and union fields cost 1 plus their selection;
  - connection fields cost 2 + size * max(1, cost of one item), where size is `first`
    or `last` (1 when neither is given) and "one item" is what is selected under
    `edges { node }` and `nodes`; `pageInfo` and `cursor` are free;
  - `nodes(ids:)` costs len(ids) * max(1, cost of one item);
  - each root mutation field costs 10 plus its selection.
Actual cost uses the same rules with the real item counts found in the response data.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLCompositeType,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    is_leaf_type,
)
from graphql.utilities import value_from_ast_untyped

MAX_QUERY_COST = 1000
MUTATION_ROOT_COST = 10
CONNECTION_BASE_COST = 2
OBJECT_COST = 1
FREE_CONNECTION_FIELDS = frozenset({"pageInfo"})
# Plain list fields whose size is given by an argument (Shopify charges per requested id).
LIST_SIZE_ARGUMENTS = {("Query", "nodes"): "ids"}

THROTTLE_DOCUMENTATION = "https://shopify.dev/api/usage/rate-limits"


@dataclass(frozen=True)
class Plan:
    """A Shopify plan's bucket: its size and how many points per second flow back."""

    name: str
    maximum_available: int
    restore_rate: int
    display_name: str
    shopify_plus: bool


PLANS: dict[str, Plan] = {
    "Standard": Plan("Standard", 2000, 100, "Basic", False),
    "Advanced": Plan("Advanced", 4000, 200, "Advanced", False),
    "Plus": Plan("Plus", 20000, 1000, "Shopify Plus", True),
    "Enterprise": Plan("Enterprise", 20000, 2000, "Commerce Components", True),
}


def plan_named(name: str) -> Plan:
    """The plan called `name` (Standard, Advanced, Plus, Enterprise)."""
    try:
        return PLANS[name]
    except KeyError:
        raise ValueError(f"unknown plan {name!r}; choose one of {sorted(PLANS)}") from None


class LeakyBucket:
    """Shopify's per-shop cost bucket: drains by each query's cost, refills at restore_rate/s."""

    def __init__(self, plan: Plan, clock: Callable[[], float] = time.monotonic):
        self._lock = threading.Lock()
        self._clock = clock
        self.plan = plan
        self._available = float(plan.maximum_available)
        self._updated_at = clock()

    def set_plan(self, plan: Plan) -> None:
        """Switch plans (a shop upgrading); the points already available are kept, capped."""
        with self._lock:
            self._refill()
            self.plan = plan
            self._available = min(self._available, plan.maximum_available)

    def try_take(self, cost: int) -> bool:
        """Deduct `cost` if that much is available now; False (and no change) otherwise."""
        with self._lock:
            self._refill()
            if cost > self._available:
                return False
            self._available -= cost
            return True

    def refund(self, points: float) -> None:
        """Give back points that were reserved but not spent."""
        with self._lock:
            self._refill()
            self._available = min(self.plan.maximum_available, self._available + max(0.0, points))

    def drain(self, points: float | None = None) -> None:
        """Test helper: remove `points` (or everything) from the bucket."""
        with self._lock:
            self._refill()
            self._available = 0.0 if points is None else max(0.0, self._available - points)

    def status(self) -> dict[str, Any]:
        """`throttleStatus` as Shopify reports it."""
        with self._lock:
            self._refill()
            return {
                "maximumAvailable": float(self.plan.maximum_available),
                "currentlyAvailable": int(self._available),
                "restoreRate": float(self.plan.restore_rate),
            }

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._updated_at)
        self._updated_at = now
        self._available = min(float(self.plan.maximum_available), self._available + elapsed * self.plan.restore_rate)


# -- static cost ------------------------------------------------------------------------


class _Walk:
    """Shared state for walking one operation: schema, fragments and variable values."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, variables: Mapping[str, Any] | None):
        self.schema = schema
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        values = {}
        for definition in operation.variable_definitions or ():
            if definition.default_value is not None:
                values[definition.variable.name.value] = value_from_ast_untyped(definition.default_value)
        values.update(variables or {})
        self.variables = values
        # The Admin schema calls its query root QueryRoot; tables here say "Query".
        self.root_names = {t.name: alias for t, alias in ((schema.query_type, "Query"), (schema.mutation_type, "Mutation")) if t}

    def type_key(self, parent: GraphQLCompositeType) -> str:
        """The name tables use for a type ("Query" for the query root)."""
        return self.root_names.get(parent.name, parent.name)

    def argument(self, field: FieldNode, name: str) -> Any:
        """An argument's value with variables substituted (None when absent)."""
        for arg in field.arguments or ():
            if arg.name.value == name:
                return value_from_ast_untyped(arg.value, self.variables)
        return None

    def included(self, node) -> bool:
        """Honour @skip and @include, as execution would."""
        for directive in node.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                continue
            condition = bool(self.argument(directive, "if"))  # directives have arguments like fields
            if (name == "skip" and condition) or (name == "include" and not condition):
                return False
        return True

    def flatten(self, selection_set: SelectionSetNode | None, parent: GraphQLCompositeType) -> list[tuple[str | None, FieldNode, GraphQLCompositeType]]:
        """Every field in the selection, fragments expanded: (type condition, field, its parent type)."""
        out: list[tuple[str | None, FieldNode, GraphQLCompositeType]] = []
        self._flatten(selection_set, parent, None, out, set())
        return out

    def _flatten(self, selection_set, parent, condition, out, seen_fragments) -> None:
        if selection_set is None:
            return
        for selection in selection_set.selections:
            if not self.included(selection):
                continue
            if isinstance(selection, FieldNode):
                out.append((condition, selection, parent))
            elif isinstance(selection, InlineFragmentNode):
                inner, inner_condition = self._fragment_parent(selection.type_condition, parent, condition)
                self._flatten(selection.selection_set, inner, inner_condition, out, seen_fragments)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen_fragments:
                    continue
                inner, inner_condition = self._fragment_parent(fragment.type_condition, parent, condition)
                self._flatten(fragment.selection_set, inner, inner_condition, out, seen_fragments | {name})

    def _fragment_parent(self, type_condition, parent, condition):
        if type_condition is None:
            return parent, condition
        named = self.schema.get_type(type_condition.name.value) or parent
        # A fragment on the parent itself (or on an interface the parent object has) always applies.
        if named is parent or (isinstance(parent, GraphQLObjectType) and named in parent.interfaces):
            return parent, condition
        return named, named.name


def field_definition(parent: GraphQLCompositeType, name: str) -> GraphQLField | None:
    """The schema field `parent.name`, or None for `__typename` and unknown names."""
    fields = getattr(parent, "fields", None)
    return fields.get(name) if fields else None


def is_connection_type(type_: Any) -> bool:
    """True for Relay connection object types (`...Connection` with edges or nodes)."""
    named = get_named_type(type_)
    return (
        isinstance(named, GraphQLObjectType)
        and named.name.endswith("Connection")
        and ("edges" in named.fields or "nodes" in named.fields)
    )


def connection_item_type(connection: GraphQLObjectType) -> GraphQLCompositeType:
    """The node type of a connection."""
    if "nodes" in connection.fields:
        return get_named_type(connection.fields["nodes"].type)
    edge = get_named_type(connection.fields["edges"].type)
    return get_named_type(edge.fields["node"].type)


def _operation(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    for op in operations:
        if operation_name is None or (op.name and op.name.value == operation_name):
            return op
    raise ValueError(f"no operation named {operation_name!r}")


def _root_type(schema: GraphQLSchema, operation: OperationDefinitionNode) -> GraphQLObjectType:
    return schema.mutation_type if operation.operation == OperationType.MUTATION else schema.query_type


def requested_query_cost(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None = None, variables: Mapping[str, Any] | None = None) -> int:
    """The cost Shopify reserves before running the (already validated) document."""
    operation = _operation(document, operation_name)
    walk = _Walk(schema, document, operation, variables)
    root = _root_type(schema, operation)
    is_mutation = operation.operation == OperationType.MUTATION
    total = 0
    for _, field, parent in walk.flatten(operation.selection_set, root):
        if is_mutation and field_definition(parent, field.name.value) is not None:
            named = _named_field_type(parent, field)
            total += MUTATION_ROOT_COST + (_requested_selection(walk, field.selection_set, named) if named else 0)
        else:
            total += _requested_field(walk, field, parent)
    return total


def _named_field_type(parent, field: FieldNode):
    """The named composite type a field returns, or None for leaves and __typename."""
    definition = field_definition(parent, field.name.value)
    if definition is None:
        return None
    named = get_named_type(definition.type)
    return None if is_leaf_type(named) else named


def _requested_selection(walk: _Walk, selection_set, parent) -> int:
    """Fields common to every possible type, plus the most expensive type-specific group."""
    always = 0
    groups: dict[str, int] = {}
    for condition, field, field_parent in walk.flatten(selection_set, parent):
        cost = _requested_field(walk, field, field_parent)
        if condition is None:
            always += cost
        else:
            groups[condition] = groups.get(condition, 0) + cost
    return always + max(groups.values(), default=0)


def _requested_field(walk: _Walk, field: FieldNode, parent) -> int:
    definition = field_definition(parent, field.name.value)
    if definition is None or is_leaf_type(get_named_type(definition.type)):
        return 0
    named = get_named_type(definition.type)
    if is_connection_type(named):
        size = walk.argument(field, "first") or walk.argument(field, "last") or 1
        item, extra = _requested_connection_parts(walk, field.selection_set, named)
        return CONNECTION_BASE_COST + int(size) * max(1, item) + extra
    size_argument = LIST_SIZE_ARGUMENTS.get((walk.type_key(parent), field.name.value))
    if size_argument:
        ids = walk.argument(field, size_argument) or []
        return len(ids) * max(1, _requested_selection(walk, field.selection_set, named))
    return OBJECT_COST + _requested_selection(walk, field.selection_set, named)


def _requested_connection_parts(walk: _Walk, selection_set, connection: GraphQLObjectType) -> tuple[int, int]:
    """(cost of one item, cost of the connection's other object fields)."""
    item = extra = 0
    node_type = connection_item_type(connection)
    for _, field, parent in walk.flatten(selection_set, connection):
        name = field.name.value
        if name == "nodes":
            item += _requested_selection(walk, field.selection_set, node_type)
        elif name == "edges":
            edge_type = get_named_type(connection.fields["edges"].type)
            for _, edge_field, edge_parent in walk.flatten(field.selection_set, edge_type):
                if edge_field.name.value == "node":
                    item += _requested_selection(walk, edge_field.selection_set, node_type)
                else:
                    item += _requested_field(walk, edge_field, edge_parent)
        elif name not in FREE_CONNECTION_FIELDS:
            extra += _requested_field(walk, field, parent)
    return item, extra


# -- actual cost ------------------------------------------------------------------------


def actual_query_cost(schema: GraphQLSchema, document: DocumentNode, data: Mapping[str, Any] | None, operation_name: str | None = None, variables: Mapping[str, Any] | None = None) -> int:
    """The cost of what was really returned (real item counts), never above the requested cost."""
    if data is None:
        return 0
    operation = _operation(document, operation_name)
    walk = _Walk(schema, document, operation, variables)
    root = _root_type(schema, operation)
    is_mutation = operation.operation == OperationType.MUTATION
    total = 0
    for field, parent in _present_fields(walk, operation.selection_set, root, data):
        value = data.get(_response_key(field))
        if is_mutation and field_definition(parent, field.name.value) is not None:
            named = _named_field_type(parent, field)
            total += MUTATION_ROOT_COST + (_actual_selection(walk, field.selection_set, named, value) if named else 0)
        else:
            total += _actual_field(walk, field, parent, value)
    return total


def _response_key(field: FieldNode) -> str:
    return field.alias.value if field.alias else field.name.value


def _present_fields(walk: _Walk, selection_set, parent, data: Mapping[str, Any]):
    """Fields whose response key is in `data`, each key once (fragments that did not apply are absent)."""
    seen: set[str] = set()
    for _, field, field_parent in walk.flatten(selection_set, parent):
        key = _response_key(field)
        if key in data and key not in seen:
            seen.add(key)
            yield field, field_parent


def _actual_selection(walk: _Walk, selection_set, parent, data: Any) -> int:
    if not isinstance(data, Mapping):
        return 0
    return sum(_actual_field(walk, field, fparent, data.get(_response_key(field))) for field, fparent in _present_fields(walk, selection_set, parent, data))


def _actual_field(walk: _Walk, field: FieldNode, parent, value: Any) -> int:
    definition = field_definition(parent, field.name.value)
    if definition is None or is_leaf_type(get_named_type(definition.type)):
        return 0
    named = get_named_type(definition.type)
    if is_connection_type(named):
        if not isinstance(value, Mapping):
            return CONNECTION_BASE_COST if value is not None else 0
        return CONNECTION_BASE_COST + _actual_connection_items(walk, field.selection_set, named, value)
    if (walk.type_key(parent), field.name.value) in LIST_SIZE_ARGUMENTS:
        items = [v for v in value or [] if v is not None]
        return sum(max(1, _actual_selection(walk, field.selection_set, named, v)) for v in items)
    if value is None:
        return 0
    if isinstance(value, list):
        # Like the requested cost, a plain list of objects is charged as one object.
        return OBJECT_COST + max((_actual_selection(walk, field.selection_set, named, v) for v in value), default=0)
    return OBJECT_COST + _actual_selection(walk, field.selection_set, named, value)


def _actual_connection_items(walk: _Walk, selection_set, connection: GraphQLObjectType, value: Mapping[str, Any]) -> int:
    node_type = connection_item_type(connection)
    per_item: list[int] = []
    extra = 0

    def add(index: int, cost: int) -> None:
        while len(per_item) <= index:
            per_item.append(0)
        per_item[index] += cost

    for field, parent in _present_fields(walk, selection_set, connection, value):
        name, items = field.name.value, value.get(_response_key(field))
        if name == "nodes":
            for i, node in enumerate(items or []):
                add(i, _actual_selection(walk, field.selection_set, node_type, node))
        elif name == "edges":
            edge_type = get_named_type(connection.fields["edges"].type)
            for i, edge in enumerate(items or []):
                add(i, 0)
                for edge_field, edge_parent in _present_fields(walk, field.selection_set, edge_type, edge or {}):
                    edge_value = (edge or {}).get(_response_key(edge_field))
                    if edge_field.name.value == "node":
                        add(i, _actual_selection(walk, edge_field.selection_set, node_type, edge_value))
                    else:
                        add(i, _actual_field(walk, edge_field, edge_parent, edge_value))
        elif name not in FREE_CONNECTION_FIELDS:
            extra += _actual_field(walk, field, parent, items)
    return sum(max(1, c) for c in per_item) + extra
