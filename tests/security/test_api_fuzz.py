"""Property-based fuzz of every JSON API operation against the published OpenAPI document (issue 12, item 7).

Schemathesis reads /api/openapi.json from the app in-process (WSGI), generates valid and invalid
bodies, path ids and query strings for each operation, and sends them with a valid session token
for shop A. Every answer must be below 500, documented (status, content type, schema), and shop B's
rows in every table must be exactly as before. The budget is fixed and the generation deterministic,
so a run is reproducible and takes well under a minute and a half on two cores.
"""
from __future__ import annotations

import json

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, negative_data_rejection, response_schema_conformance,
                                               status_code_conformance)

from schemathesis.generation import GenerationMode

from conftest import API_KEY, API_SECRET, make_settings, sample_json, webhook_headers
from shopify_app.migrate import upgrade_to_head
from shopify_app.web.openapi import build_document

SHOP_A, SHOP_B = "demo.myshopify.com", "other.myshopify.com"
EXAMPLES_PER_OPERATION = 40
SEEDED_IDS = range(1, 7)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance, negative_data_rejection]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One app on SQLite with two installed shops holding data (shop B's rows first, so small ids are B's)."""
    from sandbox.shopify.server import SandboxShopify
    from shopify_app.factory import create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'app.db'}"
    upgrade_to_head(url)
    sandbox = SandboxShopify()
    sandbox.start()
    sandbox.register_app(API_KEY, API_SECRET, "http://127.0.0.1:9")
    sandbox.add_shop(SHOP_B)
    app = create_app(make_settings(url, sandbox_shopify_url=sandbox.base_url))
    services = app.extensions["services"]
    for shop in (SHOP_B, SHOP_A):
        token = sandbox.issue_access_token(shop, API_KEY)
        services.tokens.save(shop, token["access_token"], None, None, None, token.get("scope"))
        _seed(app, sandbox, shop)
    yield app, sandbox
    services.close()
    sandbox.stop()


def _auth(sandbox, shop: str) -> dict:
    return {"Authorization": f"Bearer {sandbox.mint_session_token(shop, API_KEY)}"}


def _seed(app, sandbox, shop: str) -> None:
    """A supplier with mappings, terms and a feed; settings; an order; a dead letter; an alert."""
    from shopify_app.alerts import raise_alert
    from shopify_app.webhooks.worker import InboxWorker

    client, headers = app.test_client(), _auth(sandbox, shop)
    supplier = client.post("/api/suppliers", json={"name": "Acme", "kind": "printful", "priority": 3, "credentials": {"token": "pf-fuzz"}}, headers=headers).get_json()["supplier"]
    for method, path, body in (
        ("post", f"/api/suppliers/{supplier['id']}/mappings", {"mappings": [{"sku": "MUG-WHT", "supplier_sku": "A-1", "cost": "4.00"}]}),
        ("put", f"/api/suppliers/{supplier['id']}/inventory", {"terms": {"pull_every_minutes": 0}}),
        ("put", f"/api/suppliers/{supplier['id']}/return-terms", {"window_days": 30}),
        ("put", "/api/settings/return-policy", {"window_days": 30}),
        ("put", "/api/settings/kpi-targets", {"forward_hours": 6}),
        ("put", "/api/settings/alert-channels", {"emails": ["ops@example.com"]}),
    ):
        assert getattr(client, method)(path, json=body, headers=headers).status_code == 200, path
    feed = client.post(f"/api/suppliers/{supplier['id']}/stock-feed", data=b"sku,available\nMUG-WHT,5\n", headers={**headers, "Content-Type": "text/csv"})
    assert feed.status_code == 201, feed.get_json()
    order = sample_json("orders_create")
    for topic, payload in (("orders/create", order), ("orders/create", {**order, "line_items": "poison"})):
        body = json.dumps(payload).encode()
        assert client.post("/webhooks", data=body, headers=webhook_headers(topic, body, shop=shop)).status_code == 200
    services = app.extensions["services"]
    InboxWorker(services.session_factory, services.settings, services).drain()
    with services.session_factory.begin() as session:
        raise_alert(session, shop, "fuzz_seed", f"fuzz_seed:{shop}", "A seeded alert.")


def _shop_b_rows(app) -> dict[str, list]:
    """Every row of every table that belongs to shop B: by shop_domain, the shops row, or a parent that has one."""
    engine = app.extensions["services"].engine
    metadata = sa.MetaData()
    metadata.reflect(engine)
    snapshot = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if "shop_domain" in table.c:
                query = sa.select(table).where(table.c.shop_domain == SHOP_B)
            elif table.name == "shops":
                query = sa.select(table).where(table.c.domain == SHOP_B)
            else:
                parent = next(((fk.column.table, fk.parent) for fk in table.foreign_keys
                               if "shop_domain" in fk.column.table.c or fk.column.table.name == "shops"), None)
                if parent is None:
                    continue  # global tables (job runs): no tenant data
                parent_table, column = parent
                owner = parent_table.c.shop_domain if "shop_domain" in parent_table.c else parent_table.c.domain
                query = sa.select(table).join(parent_table, column == list(column.foreign_keys)[0].column).where(owner == SHOP_B)
            snapshot[table.name] = sorted(map(repr, conn.execute(query).all()))
    return snapshot


@pytest.fixture(scope="module")
def api_schema(world):
    app, _ = world
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    schema.config.generation.update(max_examples=EXAMPLES_PER_OPERATION, deterministic=True, database="none", with_security_parameters=False)
    return schema


@pytest.fixture
def shop_b_untouched(world):
    """Shop B's data is the same after the operation's whole fuzz run as before it."""
    app, _ = world
    before = _shop_b_rows(app)
    assert sum(map(len, before.values())) > 10  # the seed reached the tables
    yield
    assert _shop_b_rows(app) == before


# Collected from the document itself, so a new route is fuzzed without touching this file.
OPERATIONS = [(path, method) for path, ops in build_document()["paths"].items() for method in ops]


@pytest.mark.parametrize("path, method", OPERATIONS, ids=[f"{m.upper()} {p}" for p, m in OPERATIONS])
def test_every_operation_answers_below_500_as_documented_and_never_touches_another_shop(api_schema, world, shop_b_untouched, path, method):
    _, sandbox = world
    operation = api_schema[path][method]
    # Schema-valid and schema-violating requests (bodies, path ids, query strings) in one run, and
    # valid requests on the small ids that name seeded rows (shop B's first, then shop A's).
    strategies = [operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)]
    ids = [p["name"] for p in api_schema.raw_schema["paths"][path][method].get("parameters", []) if p["in"] == "path" and p["schema"].get("type") == "integer"]
    strategies += [operation.as_strategy(GenerationMode.POSITIVE, path_parameters={name: n for name in ids}) for n in SEEDED_IDS if ids]
    cases = st.one_of(strategies)

    @given(case=cases)
    @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def fuzz(case):
        case.call_and_validate(headers=_auth(sandbox, SHOP_A), checks=CHECKS)

    fuzz()


def test_the_fuzz_covers_every_operation_of_the_served_document(api_schema):
    served = {(path, method) for path, ops in api_schema.raw_schema["paths"].items() for method in ops}
    assert served == set(OPERATIONS) and len(OPERATIONS) >= 30
    assert all(api_schema[path][method].label == f"{method.upper()} {path}" for path, method in OPERATIONS)
