"""REST settings for real APIs: OAuth 2.0 client credentials and refresh tokens, composed request fields, envelope rules, settings refused early."""
from __future__ import annotations

import httpx
import pytest
from jsonschema import Draft202012Validator

from integrations.suppliers.base import CredentialsRejected
from integrations.suppliers.rest.config import InvalidRestSettings, parse_settings
from integrations.suppliers.rest.presets import with_preset
from integrations.suppliers.rest.transforms import apply_rule, check_rule
from integrations.suppliers.runtime import SupplierRef
from rest_testkit import make_rest_adapter, rest_sandbox, rest_sandbox_server, rest_webhook_receiver  # noqa: F401 (fixtures)
from shopify_app.suppliers.credentials import RefreshingAdapter
from supplier_contract import order_request
from rest_testkit import RestSandboxController

OAUTH = {
    "auth": {"header": "Authorization", "template": "Bearer {access_token}"},
    "token": {"endpoint": "POST /oauth/token", "form": True, "access_token": "access_token", "refresh_token": "refresh_token", "expires_in": "expires_in",
              "body": {"grant_type": "client_credentials", "client_id": "{client_id}", "client_secret": "{client_secret}"},
              "refresh_endpoint": "POST /oauth/token",
              "refresh_body": {"grant_type": "refresh_token", "refresh_token": "{refresh_token}", "client_id": "{client_id}", "client_secret": "{client_secret}"}},
}
CLIENT = {"client_id": "sandbox-client", "client_secret": "sandbox-client-secret", "webhook_secret": "w" * 20}
# RFC 6749 section 5.1, as a schema: what a token answer must hold.
TOKEN_ANSWER = {"type": "object", "required": ["access_token", "token_type"], "properties": {
    "access_token": {"type": "string", "minLength": 1}, "token_type": {"type": "string"}, "expires_in": {"type": "integer"}, "refresh_token": {"type": "string"}}}


def oauth_adapter(rest_sandbox, credentials=CLIENT) -> RefreshingAdapter:
    inner = make_rest_adapter(rest_sandbox, OAUTH, dict(credentials))
    settings = {**rest_sandbox.adapter_settings(), **OAUTH}
    return RefreshingAdapter(inner, SupplierRef("demo.myshopify.com", 1), "rest", settings, dict(credentials), None)


def test_client_credentials_then_refresh_tokens_when_the_token_expires(rest_sandbox):
    adapter = oauth_adapter(rest_sandbox)
    assert adapter.find_order("nope") is None  # no token yet: client credentials grant first
    assert rest_sandbox.oauth.grants == ["client_credentials"]
    adapter.place_order(order_request(RestSandboxController(rest_sandbox, None), "so-oauth"))
    assert rest_sandbox.oauth.grants == ["client_credentials"]  # the token is reused
    rest_sandbox.oauth.expire_all()  # the supplier ends it before our clock does: a 401, refreshed once
    assert adapter.find_order("so-oauth").external_id == "so-oauth"
    assert rest_sandbox.oauth.grants == ["client_credentials", "refresh_token"]
    held = adapter.credentials
    assert set(held) == {"client_id", "client_secret", "webhook_secret", "access_token", "refresh_token", "expires_at"}
    answer = httpx.post(rest_sandbox.base_url + "/oauth/token", data={"grant_type": "client_credentials", "client_id": "sandbox-client", "client_secret": "sandbox-client-secret"})
    assert not list(Draft202012Validator(TOKEN_ANSWER).iter_errors(answer.json()))


def test_a_spent_refresh_token_falls_back_to_the_first_grant_and_a_wrong_secret_is_a_credentials_error(rest_sandbox):
    adapter = oauth_adapter(rest_sandbox)
    adapter.find_order("nope")
    rest_sandbox.oauth.reset()  # every token and refresh token forgotten
    assert adapter.find_order("nope") is None
    assert rest_sandbox.oauth.grants == ["client_credentials"]  # refresh refused (invalid_grant): a new grant
    with pytest.raises(CredentialsRejected):
        oauth_adapter(rest_sandbox, {**CLIENT, "client_secret": "wrong-secret-value"}).find_order("nope")


class _Tracked:
    """An inner adapter whose old generation answers 401 and whose close() is recorded."""

    def __init__(self, name: str, closed: list, release=None):
        self.name, self.closed, self.release = name, closed, release

    def credentials_expire_at(self, credentials):
        return None

    def refresh_credentials(self, old):
        return {"access_token": "new"}

    def get_stock(self, skus):
        if self.name == "old":
            raise CredentialsRejected("401")
        return ["ok"]

    def slow_call(self):
        self.release.wait(10)
        return self.name

    def close(self):
        self.closed.append(self.name)


def test_the_adapter_a_refresh_replaced_is_closed_once_no_call_uses_it(monkeypatch):
    import threading

    from shopify_app.suppliers import credentials as credentials_module

    closed, release, started = [], threading.Event(), threading.Event()
    monkeypatch.setattr(credentials_module, "build_adapter", lambda kind, new, settings, ref: _Tracked("new", closed))
    old = _Tracked("old", closed, release)
    adapter = RefreshingAdapter(old, SupplierRef("demo.myshopify.com", 1), "rest", {}, {"access_token": "old"}, None)
    slow_result = []
    original_slow = old.slow_call
    old.slow_call = lambda: (started.set(), slow_result.append(original_slow()))
    worker = threading.Thread(target=adapter.slow_call)
    worker.start()
    assert started.wait(10)
    assert adapter.get_stock(["X"]) == ["ok"]  # 401 on the old adapter, refreshed, repeated on the new one
    assert closed == []  # another call is still on the old adapter
    release.set()
    worker.join(10)
    assert slow_result == ["old"] and closed == ["old"]


def test_composed_fields_join_map_format_and_country_names():
    values = {"address.address1": "Hauptstr. 1", "address.address2": None, "address.company": "ACME", "address.country_code": "DE", "external_id": "so-1", "note": None}
    assert apply_rule({"join": ["address.address1", "address.address2", "address.company"], "separator": ", "}, values) == "Hauptstr. 1, ACME"
    assert apply_rule({"format": "{external_id}/{address.country_code}", "then": "lower"}, values) == "so-1/de"
    assert apply_rule({"map": "address.country_code", "values": {"DE": "DEU"}}, values) == "DEU"
    assert apply_rule({"map": "address.country_code", "values": {"FR": "FRA"}, "default": "other"}, values) == "other"
    assert apply_rule({"country_name": "address.country_code"}, values) == "Germany"
    assert apply_rule({"format": "{address.address1}", "max_length": 4}, values) == "Haup"


@pytest.mark.parametrize("rule", [
    {"format": "{address.__class__}"},  # no attribute access: a template cannot reach the interpreter
    {"format": "{address.city!r}"},
    {"format": "{external_id:>500}"},
    {"format": "{line.quantity}"},  # a line field in an order-level rule
    {"join": "address.city"},
    {"map": "address.city"},
    {"format": "{external_id}", "join": ["note"]},
    {"country_name": "address.country_code", "then": "reverse"},
])
def test_rules_that_could_misbehave_are_refused_when_saved(rule):
    with pytest.raises(ValueError):
        check_rule(rule, line=False)


def test_envelope_token_and_stock_settings_are_checked_when_saved():
    base = with_preset({"preset": "sandbox-rest", "base_url": "https://supplier.example"})
    for bad, fragment in [
        ({"envelope": {"message": "message"}}, "needs success"),
        ({"envelope": {"code": "code"}}, "ok_codes"),
        ({"envelope": {"success": "ok", "codes": {"7": "maybe"}}}, "codes maps"),
        ({"token": {"endpoint": "POST /token"}}, "access_token"),
        ({"token": {"endpoint": "POST /token", "access_token": "t", "refresh_endpoint": "POST /token", "refresh_body": {"x": "y"}}}, "refresh_token"),
        ({"rate_limit": {"requests_per_second": 0}}, "rate_limit"),
        ({"stock_warehouses": {"ships_to": {"CN": "*"}}, "response": {**base["response"], "stock.warehouse_country": "wh"}}, "ships_to"),
        ({"compose": {"shipping.name": {"format": "{address.nope}"}}}, "address.nope"),
    ]:
        with pytest.raises(InvalidRestSettings) as refused:
            parse_settings({**base, **bad})
        assert fragment in str(refused.value), (bad, str(refused.value))
    with pytest.raises(InvalidRestSettings) as missing:
        parse_settings({**base, "stock_warehouses": {"ships_to": {"CN": ["*"]}}})
    assert "stock.warehouse_country" in str(missing.value)
