"""A token refresh whose answer is lost is repeated with the same refresh token, safely.

End to end through the sandbox Shopify: Shopify carries out the refresh, the answer is lost
(5xx after acting), Shopify accepts the previous refresh token again until its replacement
has been used, and the app stores the one new pair atomically.
"""
from __future__ import annotations

import app.test_auth as auth_kit
SHOP = auth_kit.SHOP


def test_a_refresh_whose_answer_is_lost_is_retried_and_stored_once(sandboxed_app, sandbox_shopify) -> None:
    auth_kit.open_app_home(sandboxed_app, sandbox_shopify)
    services = sandboxed_app.extensions["services"]
    services.tokens.sleep = lambda seconds: None
    first = services.tokens.access_token(SHOP)
    before = auth_kit.token_row(sandboxed_app)
    auth_kit.expire_soon(sandboxed_app)
    # Shopify refreshes, then the answer is lost three times (the SDK's own two retries
    # included); the app's next attempt gets the pair Shopify issued the first time.
    sandbox_shopify.faults.lose_answer_next(3, 502, route="oauth")
    second = services.tokens.access_token(SHOP)
    assert second != first
    shop = sandbox_shopify.store.require_shop(SHOP)
    assert sandbox_shopify.refresh_count(SHOP) == 1 and shop.refresh_retries == 3  # one refresh, answered four times
    after = auth_kit.token_row(sandboxed_app)
    assert after.generation == before.generation + 1 and after.refresh_lease_owner is None
    assert services.gateway(SHOP).query("ShopInfo")["shop"]["myshopifyDomain"] == SHOP  # the stored token works


def test_a_refresh_that_keeps_failing_keeps_the_old_refresh_token_for_a_later_try(sandboxed_app, sandbox_shopify) -> None:
    import pytest

    from shopify_app.auth.tokens import TokenUnavailable

    auth_kit.open_app_home(sandboxed_app, sandbox_shopify)
    services = sandboxed_app.extensions["services"]
    services.tokens.sleep = lambda seconds: None
    services.tokens.access_token(SHOP)
    auth_kit.expire_soon(sandboxed_app)
    sandbox_shopify.faults.lose_answer_next(9, 502, route="oauth")  # every attempt of this round is lost
    with pytest.raises(TokenUnavailable):
        services.tokens.access_token(SHOP)
    assert sandbox_shopify.refresh_count(SHOP) == 1  # Shopify did refresh once
    sandbox_shopify.faults.clear()
    # Later (the next job run): the same stored refresh token is accepted as a retry.
    assert services.gateway(SHOP).query("ShopInfo")["shop"]["myshopifyDomain"] == SHOP
    assert sandbox_shopify.refresh_count(SHOP) == 1
