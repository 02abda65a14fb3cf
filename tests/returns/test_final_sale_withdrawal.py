"""Final sale limits the store's own policy, never the statutory withdrawal; the law's own exceptions have their own setting.

Clearance is no exception under Directive 2011/83 art. 16 nor Israel's s. 14C(d): only goods
made to the customer's specification, personalised or perishable are (withdrawal_exempt_tags).
"""
from __future__ import annotations

import datetime as dt

import pytest

from shopify_app.returns import legal_profiles as lp
from shopify_app.returns.models import Decision
from shopify_app.returns.policy import LineFacts, ReturnPolicy, decide, policy_from

from conftest import API_KEY
from returns.returns_world import SHOP, serve_world

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.timezone.utc)


def judged(age: float, profile, tags=("final-sale",), reason="UNWANTED", policy=None, **kw):
    line = LineFacts(reason=reason, quantity=1, returnable_quantity=1, delivered_at=NOW - dt.timedelta(days=age), product_tags=tags, profile=profile, **kw)
    return decide([line], policy or ReturnPolicy(), NOW)[0]


@pytest.mark.parametrize("profile", [lp.EU, lp.PL, lp.IL])
def test_a_final_sale_item_can_still_be_withdrawn_within_the_statutory_period(profile) -> None:
    by_tag = judged(5, profile)
    assert by_tag.decision == Decision.APPROVE and "legal withdrawal" in by_tag.note, by_tag
    by_product = judged(5, profile, tags=(), product_id="gid://shopify/Product/9", policy=ReturnPolicy(final_sale_product_ids=("gid://shopify/Product/9",)))
    assert by_product.decision == Decision.APPROVE


def test_final_sale_still_ends_the_stores_own_policy() -> None:
    assert (judged(5, lp.NONE).decision, judged(5, lp.NONE).decline_reason) == (Decision.DECLINE, "FINAL_SALE")
    # A store window of 30 days: day 20 is past the statutory 14, so only the store's policy could accept it.
    late = judged(20, lp.PL, policy=ReturnPolicy(window_days=30))
    assert (late.decision, late.decline_reason) == (Decision.DECLINE, "FINAL_SALE")
    assert judged(20, lp.PL, tags=(), policy=ReturnPolicy(window_days=30)).decision == Decision.APPROVE


def test_the_laws_own_exceptions_take_the_withdrawal_away_but_never_the_guarantee() -> None:
    assert ReturnPolicy().withdrawal_exempt_tags == ("custom-made", "personalized", "perishable")
    custom = judged(3, lp.PL, tags=("Custom-Made",))
    assert (custom.decision, custom.decline_reason) == (Decision.DECLINE, "FINAL_SALE") and "law" in custom.note
    assert judged(3, lp.IL, tags=("perishable",)).decline_reason == "FINAL_SALE"
    assert judged(40, lp.PL, tags=("custom-made",), reason="DEFECTIVE").complaint  # the guarantee stays
    # The merchant decides which tags mark the exceptions.
    assert judged(3, lp.PL, tags=("custom-made",), policy=ReturnPolicy(withdrawal_exempt_tags=())).decision == Decision.APPROVE
    assert judged(3, lp.PL, tags=("engraved",), policy=policy_from({"withdrawal_exempt_tags": ["Engraved"]})).decline_reason == "FINAL_SALE"


@pytest.fixture
def world(sandboxed_app, sandbox_shopify):
    yield from serve_world(sandboxed_app, sandbox_shopify)


def test_the_exempt_tags_are_a_validated_setting_shown_on_the_settings_page(world) -> None:
    refused = world.api("put", "/api/settings/return-policy", json={"withdrawal_exempt_tags": "engraved"})
    assert refused.status_code == 400 and refused.get_json()["fields"][0]["field"] == "withdrawal_exempt_tags", refused.get_json()
    saved = world.api("put", "/api/settings/return-policy", json={"withdrawal_exempt_tags": ["engraved", "made-to-measure"]})
    assert saved.status_code == 200, saved.get_json()
    assert world.api("get", "/api/settings/return-policy").get_json()["policy"]["withdrawal_exempt_tags"] == ["engraved", "made-to-measure"]
    token = world.shopify.mint_session_token(SHOP, API_KEY)
    page = world.app.test_client().get(f"/settings?shop={SHOP}&host=abc&embedded=1&id_token={token}").get_data(as_text=True)
    assert 'name="withdrawal_exempt_tags"' in page and "engraved, made-to-measure" in page
    # A Polish customer withdraws a final-sale item on day 5: approved; an engraved one is not.
    order = world.delivered_order("TEE-S", 1, delivered_days_ago=5, country="PL")
    set_tags(world, "TEE-S", ["final-sale"])
    case = world.request_return(order, "TEE-S")
    assert case.decision == "approve", case.decision_note
    order = world.delivered_order("MUG-WHT", 1, delivered_days_ago=5, country="PL")
    set_tags(world, "MUG-WHT", ["engraved"])
    case = world.request_return(order, "MUG-WHT")
    assert (case.decision, case.decline_reason) == ("decline", "FINAL_SALE")


def set_tags(world, sku: str, tags: list[str]) -> None:
    shop = world.store.require_shop(SHOP)
    with world.store.lock:
        shop.get(world.store.variant_by_sku(SHOP, sku)["product"].gid)["tags"] = tags


def test_each_approval_names_the_right_it_rests_on() -> None:
    assert "legal withdrawal" in judged(5, lp.PL).note  # final sale: only the law takes it back
    assert judged(5, lp.PL, tags=()).note == "Within the return window."
    assert judged(1, lp.PL, tags=("custom-made",), reason="DEFECTIVE").note == "Within the return window."  # no withdrawal for it: the store's promise
