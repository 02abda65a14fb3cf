"""Every document the app sends is valid against the Admin schema it targets (2026-10), uses
nothing deprecated there, and carries @idempotent wherever 2026-10 requires it. 2025-01 is
kept only to compare: moving to a newer version is the same check against its schema."""
from __future__ import annotations

import pytest
from graphql import FieldNode, NonNullTypeNode, OperationDefinitionNode, OperationType, parse, validate

from integrations.shopify.deprecations import deprecated_usages
from integrations.shopify.documents import DOCUMENTS, DOCUMENTS_DIR, get_document, idempotency_key_variable, operation_of
from integrations.shopify.schema import (
    TARGET_API_VERSION,
    load_admin_schema,
    mutations_requiring_idempotency,
)

EXPECTED_DOCUMENTS = {
    "ShopInfo", "WebhookSubscriptions", "WebhookSubscriptionCreate", "WebhookSubscriptionDelete",
    "ProductsPage", "OrdersForSync", "OrderForSync", "InventoryLevelsByItem", "LocationsList",
    "InventorySetQuantities", "InventoryAdjustQuantities", "FulfillmentServiceCreate", "BulkOperationRunQuery", "BulkOperation",
}


def test_the_target_is_2026_10() -> None:
    assert TARGET_API_VERSION == "2026-10"
    assert "changeFromQuantity" in load_admin_schema().get_type("InventoryQuantityInput").fields
    assert "compareQuantity" not in load_admin_schema().get_type("InventoryQuantityInput").fields


def test_every_expected_document_is_present_and_no_versioned_copies_remain() -> None:
    assert EXPECTED_DOCUMENTS <= set(DOCUMENTS)
    assert set(DOCUMENTS) == {p.stem for p in DOCUMENTS_DIR.glob("*.graphql")}
    assert not [p for p in DOCUMENTS_DIR.iterdir() if p.is_dir() and p.name[:1].isdigit()]


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_validates_against_2026_10(name: str) -> None:
    errors = validate(load_admin_schema(), parse(get_document(name)))
    assert errors == [], [e.message for e in errors]


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_uses_nothing_deprecated_in_2026_10(name: str) -> None:
    # Deprecated fields, arguments, input fields and enum values are what later versions remove.
    assert deprecated_usages(load_admin_schema(), parse(get_document(name))) == []


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_holds_one_operation_named_like_its_file(name: str) -> None:
    operations = [d for d in parse(get_document(name)).definitions if isinstance(d, OperationDefinitionNode)]
    assert len(operations) == 1
    assert operations[0].name is not None and operations[0].name.value == name


def test_the_required_idempotency_list_is_read_from_the_schema() -> None:
    required = mutations_requiring_idempotency()
    assert {"inventorySetQuantities", "inventoryAdjustQuantities", "refundCreate", "inventoryMoveQuantities"} <= required
    assert "fulfillmentCreate" not in required and "productVariantsBulkUpdate" not in required
    # 2025-01 had no such rule: the list is a fact of the version, not of our code.
    assert mutations_requiring_idempotency(load_admin_schema("2025-01")) == frozenset()


MUTATIONS = sorted(name for name in DOCUMENTS if operation_of(name).operation is OperationType.MUTATION)


@pytest.mark.parametrize("name", MUTATIONS)
def test_every_mutation_that_2026_10_requires_to_be_idempotent_carries_a_key_variable(name: str) -> None:
    required = mutations_requiring_idempotency()
    operation = operation_of(name)
    for field in (s for s in operation.selection_set.selections if isinstance(s, FieldNode)):
        if field.name.value not in required:
            continue
        variable = idempotency_key_variable(name)
        assert variable is not None, f"{name}: {field.name.value} needs @idempotent(key: $variable)"
        definition = next(d for d in operation.variable_definitions if d.variable.name.value == variable)
        assert isinstance(definition.type, NonNullTypeNode) and definition.type.type.name.value == "String"  # String!: never sent without a key


def test_a_document_written_for_2025_01_fails_the_2026_10_check() -> None:
    # What the app used to send: deprecated fields and arguments that 2026-10 flags.
    old = "query Old { currentBulkOperation(type: QUERY) { id } shop { plan { displayName } } }"
    found = deprecated_usages(load_admin_schema(), parse(old))
    assert any("currentBulkOperation" in f for f in found) and any("displayName" in f for f in found)
    old_argument = "mutation C($id: ID!) { orderCancel(orderId: $id, reason: OTHER, refund: true, restock: false) { job { id } } }"
    assert any("refund" in f for f in deprecated_usages(load_admin_schema(), parse(old_argument)))
    old_input = 'mutation W { webhookSubscriptionCreate(topic: ORDERS_CREATE, webhookSubscription: {callbackUrl: "https://x.example/w"}) { userErrors { message } } }'
    assert any("callbackUrl" in f for f in deprecated_usages(load_admin_schema(), parse(old_input)))


def test_2025_01_is_only_a_comparison_and_differs_where_it_matters() -> None:
    # The current InventorySetQuantities does not even validate on 2025-01 (no @idempotent there).
    errors = validate(load_admin_schema("2025-01"), parse(get_document("InventorySetQuantities")))
    assert any("idempotent" in e.message for e in errors)


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


def test_variables_the_app_builds_use_no_deprecated_input_fields() -> None:
    # Input objects sent as variables are not in the documents: check what the app builds.
    from integrations.shopify.deprecations import deprecated_variable_types
    from shopify_app.webhooks.subscriptions import create_subscription

    class Recorder:
        def mutate(self, name, variables, payload_key=None, **kw):
            self.variables = variables
            return {}

    recorder = Recorder()
    create_subscription(recorder, "ORDERS_CREATE", "https://app.example.com/webhooks")
    deprecated = deprecated_variable_types(load_admin_schema(), "WebhookSubscriptionInput")
    assert "callbackUrl" in deprecated  # what the app used to send
    assert not set(recorder.variables["webhookSubscription"]) & set(deprecated)
    assert not set(deprecated_variable_types(load_admin_schema(), "InventoryQuantityInput"))  # compareQuantity is gone, not deprecated
