"""Every document the app sends must be valid against the real Admin schema (2025-01)."""
from __future__ import annotations

import pytest
from graphql import OperationDefinitionNode, parse, validate
from graphql.validation import NoDeprecatedCustomRule

from integrations.shopify.documents import DOCUMENTS, DOCUMENTS_DIR, get_document
from integrations.shopify.schema import load_admin_schema

EXPECTED_DOCUMENTS = {
    "ShopInfo", "WebhookSubscriptions", "WebhookSubscriptionCreate", "WebhookSubscriptionDelete",
    "ProductsPage", "OrdersForSync", "OrderForSync", "InventoryLevelsByItem", "LocationsList",
    "InventorySetQuantities", "FulfillmentServiceCreate", "BulkOperationRunQuery", "CurrentBulkOperation",
}


def test_every_expected_document_is_present() -> None:
    assert EXPECTED_DOCUMENTS <= set(DOCUMENTS)
    assert set(DOCUMENTS) == {p.stem for p in DOCUMENTS_DIR.glob("*.graphql")}


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_validates_against_admin_schema(name: str) -> None:
    errors = validate(load_admin_schema(), parse(get_document(name)))
    assert errors == [], [e.message for e in errors]


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_uses_no_deprecated_fields(name: str) -> None:
    # Deprecated fields are the ones the next API versions remove.
    errors = validate(load_admin_schema(), parse(get_document(name)), [NoDeprecatedCustomRule])
    assert errors == [], [e.message for e in errors]


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_holds_one_operation_named_like_its_file(name: str) -> None:
    operations = [d for d in parse(get_document(name)).definitions if isinstance(d, OperationDefinitionNode)]
    assert len(operations) == 1
    assert operations[0].name is not None and operations[0].name.value == name


def test_schema_check_rejects_a_wrong_document() -> None:
    wrong = "query Broken { shop { id notAShopField } }"
    errors = validate(load_admin_schema(), parse(wrong))
    assert any("notAShopField" in e.message for e in errors)


def test_schema_check_rejects_a_wrong_argument_type() -> None:
    wrong = "query Broken($id: String!) { order(id: $id) { id } }"
    assert validate(load_admin_schema(), parse(wrong)) != []


def test_unknown_document_name_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="NoSuchQuery"):
        get_document("NoSuchQuery")
