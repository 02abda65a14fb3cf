"""Suppliers set up in the admin: the forms per kind come from schemas the adapters agree with, credentials stay masked and rotate in place,
validation answers name the field, another shop's supplier is a 404, choosing the fulfillment-service model registers a location in
(the sandbox) Shopify and removal deregisters it, and deleting states what happens to open orders."""
from __future__ import annotations

import copy
import re

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from sqlalchemy import select

from conftest import install_shop
from shopify_app.models import ShopSetting
from shopify_app.suppliers.audit import SupplierAuditEntry
from shopify_app.suppliers.models import DeliveryState, Supplier, SupplierOrder
from shopify_app.suppliers.settings_forms import example_settings, flat_fields, supplier_forms
from shopify_app.web.suppliers_api import adapter_config_problem
from ui.setup_world import SHOP, serve_fresh

OTHER = "other.myshopify.com"
SAMPLE = {"uri": "http://127.0.0.1:9/api", "email": "orders@example.com", "hostname": "127.0.0.1"}  # loopback: the tests' egress allow-list


@pytest.fixture
def shop(sandboxed_app, sandbox_shopify):
    for fresh in serve_fresh(sandboxed_app, sandbox_shopify):
        fresh.install()
        yield fresh


def _sample(schema: dict):
    if schema.get("contentMediaType") == "application/x-pem-file":  # an AS2 partner's certificate: a real one, valid now
        from sandbox.supplier.as2_partner import make_certificate

        return make_certificate("form sample")[1].decode()
    if schema.get("type") == "array":
        return [_sample(schema["items"])] if schema["items"].get("format") else ["US"]
    if schema.get("type") == "boolean":
        return True
    if schema.get("examples"):
        return schema["examples"][0]
    if schema.get("type") in ("number", "integer"):
        return schema.get("default", 24)
    if schema.get("examples"):  # the form's own example (EDI IDs have fixed lengths and patterns)
        return schema["examples"][0]
    if schema.get("format") in SAMPLE:  # no DNS here: every address is the loopback one
        return SAMPLE[schema["format"]]
    if "default" in schema:
        return schema["default"]
    if schema.get("pattern") == r"^[A-Z]{3}$":
        return "EUR"
    return SAMPLE.get(schema.get("format"), "value-1234567890")


def _filled(form) -> tuple[dict, dict]:
    """Every field of the form filled with a plausible value, as a merchant would."""
    settings, credentials = example_settings(form), {}
    for target, schema in ((settings, form.settings), (credentials, form.credentials)):
        for field in flat_fields(schema):
            node = target
            *parents, leaf = field["name"].split(".")
            for parent in parents:
                node = node.setdefault(parent, {})
            node[leaf] = _sample(field["schema"])
    return settings, credentials


def _without(data: dict, dotted: str) -> dict:
    out = copy.deepcopy(data)
    node = out
    *parents, leaf = dotted.split(".")
    for parent in parents:
        node = node[parent]
    node.pop(leaf)
    return out


@pytest.mark.parametrize("form", supplier_forms(sandbox=True), ids=lambda f: f.id)
def test_each_kinds_form_schema_agrees_with_the_adapters_own_checks(form) -> None:
    settings, credentials = _filled(form)
    resolved = form.as_json()
    # An independent validator (jsonschema) and the adapter's config both accept a filled form.
    for schema in (resolved["settings"], resolved["credentials"]):
        Draft202012Validator.check_schema(schema)
    assert list(Draft202012Validator(resolved["settings"], format_checker=FormatChecker()).iter_errors(settings)) == []
    assert list(Draft202012Validator(resolved["credentials"], format_checker=FormatChecker()).iter_errors(credentials)) == []
    assert adapter_config_problem(form.kind, settings, credentials) is None
    # Whatever the form leaves optional, the adapter does not need.
    for group, data, schema in (("settings", settings, form.settings), ("credentials", credentials, form.credentials)):
        for field in flat_fields(schema):
            if field["required"]:
                continue
            reduced = _without(data, field["name"])
            args = (reduced, credentials) if group == "settings" else (settings, reduced)
            assert adapter_config_problem(form.kind, *args) is None, (form.id, field["name"])
    # And what the adapter needs is required by the form: dropping any required key fails one of the two checks.
    for group, data, schema in (("settings", settings, form.settings), ("credentials", credentials, form.credentials)):
        for field in flat_fields(schema):
            if field["required"]:
                reduced = _without(data, field["name"])
                assert list(Draft202012Validator(resolved[group]).iter_errors(reduced)), (form.id, field["name"])


def test_adapter_required_credentials_are_required_in_the_forms() -> None:
    for form in supplier_forms(sandbox=True):
        settings, credentials = _filled(form)
        for name in list(credentials):
            refused = adapter_config_problem(form.kind, settings, _without(credentials, name))
            required = name in form.credentials["required"]
            assert (refused is not None) == required, (form.id, name, refused)


def test_the_add_supplier_page_renders_one_form_per_kind_from_its_schema(shop) -> None:
    html = shop.page("/suppliers/new").get_data(as_text=True)
    kinds = re.findall(r'data-kind-form="([^"]+)"', html)
    assert kinds == [form.id for form in supplier_forms(sandbox=True)]
    sandbox_form = html.split('data-kind-form="rest:sandbox-rest"', 1)[1].split("</fieldset>", 1)[0]
    assert re.search(r'<input id="f-credentials-api_key" type="password" name="credentials.api_key"[^>]*required', sandbox_form)
    assert 'type="url" name="settings.base_url"' in sandbox_form
    assert 'name="settings.ship_to_countries" data-type="list"' in sandbox_form
    assert re.search(r'name="settings.sla_hours" data-type="number" value="72"\s+min="1" max="1440"', sandbox_form)
    email_form = html.split('data-kind-form="email"', 1)[1].split("</fieldset>", 1)[0]
    assert 'type="checkbox" name="settings.attach_pdf" data-type="bool" checked' in email_form
    assert "credentials." not in email_form  # email suppliers have no secret
    assert 'value="fulfillment_service"' in html and 'value="merchant_managed"' in html
    kinds_json = shop.api("get", "/api/supplier-kinds").get_json()
    assert [k["id"] for k in kinds_json["kinds"]] == kinds
    assert kinds_json["kinds"][0]["credentials"]["properties"]["token"]["writeOnly"] is True


def test_credentials_are_shown_masked_and_rotated_in_place(shop) -> None:
    body = shop.rest_supplier_body()
    body["credentials"]["api_key"] = "sandbox-rest-key"
    created = shop.api("post", "/api/suppliers", json=body)
    assert created.status_code == 201, created.get_json()
    supplier_id = created.get_json()["supplier"]["id"]
    html = shop.page(f"/suppliers/{supplier_id}").get_data(as_text=True)
    assert "sandbox-rest-key" not in html and body["credentials"]["webhook_secret"] not in html
    assert 'placeholder="saved: …-key (type to replace)"' in html  # the last 4 characters only
    # Rotation: one key replaced, the other kept; a wrong key is refused by the test before anything is saved.
    refused = shop.api("patch", f"/api/suppliers/{supplier_id}?test=1", json={"credentials": {"api_key": "wrong-key-123456"}})
    assert refused.status_code == 422 and refused.get_json()["test"]["error_kind"] == "credentials"
    shop.supplier_server.api_key = "rotated-key-987654"
    assert shop.api("post", f"/api/suppliers/{supplier_id}/test-connection").get_json()["test"]["ok"] is False
    rotated = shop.api("patch", f"/api/suppliers/{supplier_id}?test=1", json={"credentials": {"api_key": "rotated-key-987654"}})
    assert rotated.status_code == 200, rotated.get_json()
    assert rotated.get_json()["supplier"]["credentials"] == {"api_key": "…7654", "webhook_secret": "…" + body["credentials"]["webhook_secret"][-4:]}
    assert shop.api("post", f"/api/suppliers/{supplier_id}/test-connection").get_json()["test"]["ok"] is True
    html = shop.page(f"/suppliers/{supplier_id}").get_data(as_text=True)
    assert 'placeholder="saved: …7654 (type to replace)"' in html and "rotated-key-987654" not in html
    assert "connected" in html.split('id="test-result"', 1)[1].split("</div>", 1)[0]


def test_refusals_name_the_field_the_merchant_typed_into(shop) -> None:
    bad_url = shop.api("post", "/api/suppliers", json=shop.rest_supplier_body(settings={"preset": "sandbox-rest", "base_url": "ftp://nowhere"}))
    assert bad_url.status_code == 400
    [problem] = bad_url.get_json()["fields"]
    assert problem["field"] == "settings" and problem["message"].startswith("settings.base_url")
    countries = shop.rest_supplier_body()
    countries["settings"]["ship_to_countries"] = ["usa"]
    refused = shop.api("post", "/api/suppliers", json=countries).get_json()["fields"]
    assert refused == [{"field": "settings", "message": "settings.ship_to_countries must be a list of two-letter country codes such as US"}]
    no_key = shop.rest_supplier_body()
    del no_key["credentials"]["api_key"]
    assert shop.api("post", "/api/suppliers", json=no_key).get_json()["fields"][0]["message"].startswith("credentials lack api_key")
    created = shop.api("post", "/api/suppliers", json=shop.rest_supplier_body()).get_json()["supplier"]
    sla = shop.api("patch", f"/api/suppliers/{created['id']}", json={"sla_hours": 0})
    assert sla.status_code == 400 and sla.get_json()["fields"][0]["field"] == "sla_hours"
    terms = shop.api("put", f"/api/suppliers/{created['id']}/return-terms", json={"restocking_fee_percent": 150})
    assert terms.status_code == 400 and terms.get_json()["fields"][0]["field"] == "restocking_fee_percent"
    # Each of those fields has its error slot next to its input on the supplier's page.
    html = shop.page(f"/suppliers/{created['id']}").get_data(as_text=True)
    for name in ("sla_hours", "restocking_fee_percent", "settings.ship_to_countries", "settings.base_url", "credentials.api_key", "supplier_sku"):
        assert f'data-error-for="{name}"' in html, name
    # Valid terms are saved and shown again.
    assert shop.api("patch", f"/api/suppliers/{created['id']}", json={"sla_hours": 48, "priority": 5, "settings": {"ship_to_countries": ["US", "CA"]}}).status_code == 200
    html = shop.page(f"/suppliers/{created['id']}").get_data(as_text=True)
    assert 'name="settings.ship_to_countries" data-type="list" value="US, CA"' in html and 'name="sla_hours" data-type="number" value="48"' in html


def test_another_shops_supplier_is_a_404_everywhere(shop) -> None:
    shop.shopify.add_shop(OTHER)
    install_shop(shop.app, OTHER)
    supplier_id = shop.api("post", "/api/suppliers", json=shop.rest_supplier_body()).get_json()["supplier"]["id"]
    assert shop.page(f"/suppliers/{supplier_id}", shop=OTHER).status_code == 404
    for method, path, body in (("patch", "", {"priority": 1}), ("delete", "", None), ("post", "/test-connection", None), ("post", "/fulfillment-service", None),
                               ("delete", "/fulfillment-service", None), ("put", "/return-terms", {"window_days": 10}), ("put", "/inventory", {"terms": {"safety_buffer": 1}}),
                               ("post", "/mappings", {"mappings": [{"sku": "A", "supplier_sku": "B"}]})):
        answer = shop.api(method, f"/api/suppliers/{supplier_id}{path}", shop=OTHER, **({"json": body} if body is not None else {}))
        assert answer.status_code == 404, (method, path, answer.status_code)
    with shop.services.session_factory() as session:
        supplier = session.get(Supplier, supplier_id)
        assert (supplier.priority, supplier.deleted_at, supplier.return_terms or {}, supplier.inventory_terms or {}) == (100, None, {}, {})
    # The other shop's checklist knows nothing of it.
    assert '<li data-step="connect_supplier" data-done="false">' in shop.page("/", shop=OTHER).get_data(as_text=True)


def _service_locations(shop) -> list[dict]:
    return [loc for loc in shop.store.require_shop(SHOP).all("Location") if loc.get("isFulfillmentService")]


def test_the_fulfillment_service_model_registers_a_location_and_removal_deregisters_it(shop) -> None:
    created = shop.api("post", "/api/suppliers", json=shop.rest_supplier_body(fulfillment_model="fulfillment_service"))
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    supplier_id, location = body["supplier"]["id"], body["supplier"]["location_gid"]
    assert body["registration"] == {"ok": True, "location_gid": location}
    [registered] = _service_locations(shop)
    assert registered["id"] == location and registered["isActive"] is True
    assert [s["location"].gid for s in shop.store.require_shop(SHOP).all("FulfillmentService")] == [location]
    html = shop.page(f"/suppliers/{supplier_id}").get_data(as_text=True)
    assert f'<code id="location">{location}</code>' in html
    # Switching to merchant-managed removes it from Shopify; switching back registers again.
    switched = shop.api("delete", f"/api/suppliers/{supplier_id}/fulfillment-service").get_json()["supplier"]
    assert (switched["fulfillment_model"], switched["location_gid"]) == ("merchant_managed", None)
    assert shop.store.require_shop(SHOP).all("FulfillmentService") == []
    assert shop.store.require_shop(SHOP).get(location)["isActive"] is False
    again = shop.api("post", f"/api/suppliers/{supplier_id}/fulfillment-service").get_json()["supplier"]
    assert again["fulfillment_model"] == "fulfillment_service" and again["location_gid"] not in (None, location)
    # Deleting the supplier deregisters its service first.
    deleted = shop.api("delete", f"/api/suppliers/{supplier_id}")
    assert deleted.status_code == 200, deleted.get_json()
    assert shop.store.require_shop(SHOP).all("FulfillmentService") == []
    assert shop.store.require_shop(SHOP).get(again["location_gid"])["isActive"] is False
    with shop.services.session_factory() as session:
        assert session.get(Supplier, supplier_id).deleted_at is not None
        assert session.scalar(select(ShopSetting).where(ShopSetting.key == f"fulfillment_service:{supplier_id}")) is None


def test_deleting_is_refused_when_shopify_cannot_deregister_and_nothing_is_deleted(shop) -> None:
    supplier_id = shop.api("post", "/api/suppliers", json=shop.rest_supplier_body(fulfillment_model="fulfillment_service")).get_json()["supplier"]["id"]
    shop.shopify.stop()  # Shopify unreachable
    answer = shop.api("delete", f"/api/suppliers/{supplier_id}")
    assert answer.status_code == 502 and "nothing was deleted" in answer.get_json()["error"]
    with shop.services.session_factory() as session:
        supplier = session.get(Supplier, supplier_id)
        assert (supplier.deleted_at, supplier.fulfillment_model) == (None, "fulfillment_service")


def test_deactivate_and_delete_say_what_happens_to_open_orders(shop) -> None:
    supplier_id = shop.api("post", "/api/suppliers", json=shop.rest_supplier_body()).get_json()["supplier"]["id"]
    shop.api("post", f"/api/suppliers/{supplier_id}/mappings", json={"mappings": [{"sku": "MUG-WHT", "supplier_sku": "MUG-WHT"}]})
    placed = shop.shopify.place_order(SHOP, [{"sku": "MUG-WHT", "quantity": 1}], email="a@example.com")
    shop.drain()
    shop.forward()  # placed with the supplier
    waiting = shop.shopify.place_order(SHOP, [{"sku": "MUG-WHT", "quantity": 1}], email="b@example.com")
    shop.drain()  # routed, not yet forwarded
    with shop.services.session_factory() as session:
        states = sorted(session.scalars(select(SupplierOrder.state).where(SupplierOrder.supplier_id == supplier_id)))
    assert states == [DeliveryState.PENDING.value, DeliveryState.PLACED.value]
    html = shop.page(f"/suppliers/{supplier_id}").get_data(as_text=True)
    statement = html.split('id="open-orders">', 1)[1].split("</p>", 1)[0]
    assert "1 order is waiting to be sent to this supplier." in statement and "1 order is with the supplier and not shipped yet." in statement
    assert "Orders still waiting to be sent to it (1) fail with an alert" in html and "orders it already has (1) stay with it" in html
    deleted = shop.api("delete", f"/api/suppliers/{supplier_id}").get_json()
    assert deleted == {"deleted": supplier_id, "open_orders": {"waiting": 1, "placed": 1}}
    # What the statement said happens: the waiting one fails with an alert, the placed one keeps its tracking.
    shop.forward()
    with shop.services.session_factory() as session:
        by_order = dict(session.execute(select(SupplierOrder.order_id, SupplierOrder.state).where(SupplierOrder.supplier_id == supplier_id)).all())
    assert by_order[shop.order_id(waiting["id"])] == DeliveryState.FAILED.value
    assert by_order[shop.order_id(placed["id"])] == DeliveryState.PLACED.value
    assert shop.ship_everything() == 1
    with shop.services.session_factory() as session:
        assert session.scalar(select(SupplierOrder.state).where(SupplierOrder.order_id == shop.order_id(placed["id"]))) == DeliveryState.SHIPPED.value
    assert shop.page(f"/suppliers/{supplier_id}").status_code == 404


def test_the_email_kind_saves_an_sla_and_countries_like_the_others(shop) -> None:
    created = shop.api("post", "/api/suppliers", json={"name": "Mailer", "kind": "email", "settings": {"to_addresses": ["po@example.com"], "ship_to_countries": ["PL"]}})
    assert created.status_code == 201, created.get_json()
    patched = shop.api("patch", f"/api/suppliers/{created.get_json()['supplier']['id']}", json={"sla_hours": 24})
    assert patched.status_code == 200, patched.get_json()
    assert patched.get_json()["supplier"]["settings"] == {"to_addresses": ["po@example.com"], "ship_to_countries": ["PL"], "sla_hours": 24}


def test_a_connection_test_is_audited_with_its_outcome(shop) -> None:
    supplier_id = shop.api("post", "/api/suppliers", json=shop.rest_supplier_body()).get_json()["supplier"]["id"]
    assert shop.api("post", f"/api/suppliers/{supplier_id}/test-connection").get_json()["test"]["ok"] is True
    with shop.services.session_factory() as session:
        assert session.scalar(select(SupplierAuditEntry.detail).where(SupplierAuditEntry.action == "connection_tested"))["ok"] is True


@pytest.mark.parametrize("locale", ["pl-PL", "he-IL"])
def test_the_setup_pages_render_in_the_merchants_language_and_direction(shop, locale) -> None:
    supplier_id = shop.api("post", "/api/suppliers", json=shop.rest_supplier_body(fulfillment_model="fulfillment_service")).get_json()["supplier"]["id"]
    for path in ("/", "/suppliers", "/suppliers/new", f"/suppliers/{supplier_id}"):
        answer = shop.page(f"{path}?locale={locale}")
        assert answer.status_code == 200, (path, locale)
        html = answer.get_data(as_text=True)
        # Links between the pages keep the language (and never the session token).
        assert f"locale={locale}" in html.split("<main>", 1)[-1] and "id_token=" not in html.split("<main>", 1)[-1], path
