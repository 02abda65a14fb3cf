"""The access scopes the app needs, computed from its documents, its webhook topics and the schema.

Shopify's schema file says what each type and field needs (`offline_scopes`: any one of a
list of scopes), and each webhook topic's description says the same ("Requires at least
one of the following scopes: ..."). A requirement is met by one of its scopes; a `write_x`
scope also grants `read_x`. Where a requirement offers several scopes the app picks:

- never the scopes of other kinds of app (marketplace, POS quick sale, B2B buyer
  memberships, Markets home): we are none of them;
- for fulfillment orders, the kinds the app handles: `assigned` (its own fulfillment-service
  location) and `merchant_managed` (merchant locations mapped to a supplier). Shopify shows
  an app only the fulfillment orders of the kinds it holds a scope for, so both are needed
  where both are offered; `third_party` (orders assigned to other apps) is not ours;
- otherwise a scope already needed elsewhere, else the first Shopify lists.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLSchema,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    get_named_type,
    visit,
)

from .schema import load_admin_schema, required_scopes_index

OTHER_APP_KINDS = re.compile(r"marketplace|quick_sale|buyer_membership|markets_home")
FULFILLMENT_ORDER_SCOPE = re.compile(r"^(read|write)_(\w+)_fulfillment_orders$")
OUR_FULFILLMENT_ORDER_KINDS = ("assigned", "merchant_managed")
_TOPIC_SCOPES = re.compile(r"Requires (?:at least one of the following scopes:\s*(?P<many>[\w\s,]+?)\.|the `(?P<one>\w+)` scope)", re.S)


@dataclass(frozen=True)
class Requirement:
    """Somewhere the app needs one of `scopes` (where: `Type.field`, `Type` or `topic x/y`)."""

    where: str
    scopes: tuple[str, ...]


class _Collector(Visitor):
    def __init__(self, type_info: TypeInfo, index) -> None:
        super().__init__()
        self.type_info, self.index = type_info, index
        self.found: list[Requirement] = []

    def enter_field(self, node: FieldNode, *_args) -> None:
        parent = get_named_type(self.type_info.get_parent_type())
        field = self.type_info.get_field_def()
        if parent is None or field is None:
            return
        for key, where in (((parent.name, node.name.value), f"{parent.name}.{node.name.value}"), ((parent.name, None), parent.name),
                           ((get_named_type(field.type).name, None), get_named_type(field.type).name)):
            scopes = self.index.get(key)
            if scopes:
                self.found.append(Requirement(where, scopes))


def document_requirements(document: DocumentNode, schema: GraphQLSchema | None = None) -> list[Requirement]:
    """Every scope requirement of the fields (and their types) a document selects."""
    schema = schema or load_admin_schema()
    type_info = TypeInfo(schema)
    collector = _Collector(type_info, required_scopes_index())
    visit(document, TypeInfoVisitor(type_info, collector))
    return collector.found


def topic_requirement(topic: str, schema: GraphQLSchema | None = None) -> Requirement | None:
    """What a webhook topic (`orders/create`) needs, from its WebhookSubscriptionTopic description; None if nothing."""
    schema = schema or load_admin_schema()
    enum = schema.get_type("WebhookSubscriptionTopic")
    value = enum.values.get(topic.upper().replace("/", "_"))
    if value is None:
        raise KeyError(f"{topic} is not a webhook topic of this API version")
    match = _TOPIC_SCOPES.search(re.sub(r"\s+", " ", value.description or ""))
    if match is None:
        return None
    scopes = (match.group("one"),) if match.group("one") else tuple(s.strip() for s in match.group("many").split(",") if s.strip())
    return Requirement(f"topic {topic}", scopes)


def _grants(chosen: set[str], scope: str) -> bool:
    return scope in chosen or (scope.startswith("read_") and "write_" + scope.removeprefix("read_") in chosen)


def _candidates(requirement: Requirement) -> list[str]:
    return [s for s in requirement.scopes if not OTHER_APP_KINDS.search(s)]


def choose_scopes(requirements: Iterable[Requirement]) -> set[str]:
    """The smallest set meeting every requirement under the rules above (write_x stands for read_x)."""
    requirements = list(requirements)
    chosen: set[str] = set()
    # Requirements with one possible scope first, so later choices can reuse them.
    for requirement in sorted(requirements, key=lambda r: len(_candidates(r))):
        candidates = _candidates(requirement)
        if not candidates:
            raise ValueError(f"{requirement.where} needs a scope only other kinds of app hold: {requirement.scopes}")
        kinds = [s for s in candidates if (m := FULFILLMENT_ORDER_SCOPE.match(s)) and m.group(2) in OUR_FULFILLMENT_ORDER_KINDS]
        if kinds and all(FULFILLMENT_ORDER_SCOPE.match(s) for s in candidates):
            chosen.update(s for s in kinds if not _grants(chosen, s))
            continue
        if any(_grants(chosen, s) for s in candidates):
            continue
        chosen.add(candidates[0])
    # write_x grants read_x: listing both would ask for nothing more.
    return {s for s in chosen if not (s.startswith("read_") and "write_" + s.removeprefix("read_") in chosen)}


def required_scopes(documents: Iterable[DocumentNode], topics: Iterable[str], schema: GraphQLSchema | None = None) -> tuple[set[str], list[Requirement]]:
    """(the scopes the app needs, every requirement they meet) for these documents and webhook topics."""
    schema = schema or load_admin_schema()
    requirements: list[Requirement] = []
    for document in documents:
        requirements.extend(document_requirements(document, schema))
    for topic in topics:
        requirement = topic_requirement(topic, schema)
        if requirement is not None:
            requirements.append(requirement)
    return choose_scopes(requirements), requirements
