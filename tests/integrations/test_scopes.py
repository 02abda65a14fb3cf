"""The app asks for exactly the scopes its documents and webhook topics need (computed from the
2026-10 schema's scope notes), so a new document needing a new scope fails here."""
from __future__ import annotations

import tomllib
from pathlib import Path

from graphql import parse

from integrations.shopify.documents import DOCUMENTS
from integrations.shopify.scopes import Requirement, choose_scopes, document_requirements, required_scopes, topic_requirement
from shopify_app.config import DEFAULT_SCOPES

REPO = Path(__file__).resolve().parents[2]


def app_toml() -> dict:
    return tomllib.loads((REPO / "shopify.app.toml").read_text())


def declared_topics() -> list[str]:
    return [t for sub in app_toml()["webhooks"]["subscriptions"] for t in sub.get("topics", [])]


def needed() -> set[str]:
    scopes, _ = required_scopes([parse(text) for text in DOCUMENTS.values()], declared_topics())
    return scopes


def test_the_toml_and_the_config_ask_for_exactly_what_the_documents_and_topics_need() -> None:
    toml_scopes = set(app_toml()["access_scopes"]["scopes"].split(","))
    assert toml_scopes == needed(), f"add {sorted(needed() - toml_scopes)}, drop {sorted(toml_scopes - needed())}"
    assert set(DEFAULT_SCOPES.split(",")) == toml_scopes


def test_unused_scopes_are_gone() -> None:
    scopes = needed()
    # write_orders only for the returns' own order writes (issue 16): a complaint's replacement
    # order, and the invoice for an exchange's balance; nothing else writes orders.
    order_writers = {"ReplacementOrderCreate", "ExchangeBalanceInvoiceSend"}
    others, _ = required_scopes([parse(text) for name, text in DOCUMENTS.items() if name not in order_writers], declared_topics())
    assert "write_orders" in scopes and "write_orders" not in others
    assert not {s for s in scopes if "third_party_fulfillment_orders" in s}  # other apps' fulfillment orders are not ours
    assert not {s for s in scopes if "marketplace" in s}
    assert {"write_assigned_fulfillment_orders", "write_merchant_managed_fulfillment_orders"} <= scopes  # both of our models


def test_a_document_needing_a_new_scope_changes_the_answer() -> None:
    base = needed()
    extra = parse("query Discounts { discountNodes(first: 5) { nodes { id } } }")
    scopes, _ = required_scopes([parse(text) for text in DOCUMENTS.values()] + [extra], declared_topics())
    assert scopes - base == {"read_discounts"}


def test_requirements_come_from_fields_types_and_topic_descriptions() -> None:
    found = document_requirements(parse(DOCUMENTS["InventorySetQuantities"]))
    assert Requirement("Mutation.inventorySetQuantities", ("write_inventory",)) in found
    assert topic_requirement("inventory_levels/update") == Requirement("topic inventory_levels/update", ("read_inventory",))
    assert "read_orders" in topic_requirement("orders/paid").scopes
    assert topic_requirement("app/uninstalled") is None


def test_a_write_scope_stands_for_its_read_scope() -> None:
    chosen = choose_scopes([Requirement("a", ("read_products",)), Requirement("b", ("write_products",))])
    assert chosen == {"write_products"}
