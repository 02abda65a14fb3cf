"""Input that reached a 500 outside the JSON body checks (session 34): query strings, forms, the file mapping editor.

Each case is sent as a merchant could type it: a NUL (%00) in any query parameter (PostgreSQL
refuses NUL in text, so every search answered 500 there), a superscript digit where a column
position is expected (str.isdigit() takes '²', int() refuses it).
"""
from __future__ import annotations

import io
import json

import pytest

from conftest import API_KEY, install_shop
from shopify_app.suppliers.models import Supplier

SHOP = "demo.myshopify.com"


@pytest.fixture
def client(sandboxed_app, sandbox_shopify):
    install_shop(sandboxed_app, SHOP)
    client = sandboxed_app.test_client()
    client.token = lambda: sandbox_shopify.mint_session_token(SHOP, API_KEY)
    return client


def _supplier(app, kind: str) -> int:
    with app.extensions["services"].session_factory.begin() as session:
        supplier = Supplier(shop_domain=SHOP, name="Acme", kind=kind, settings={})
        session.add(supplier)
        session.flush()
        return supplier.id


@pytest.mark.parametrize("value", ["%00", "a%00b"])
@pytest.mark.parametrize("path, name", [
    ("/api/mappings", "q"), ("/api/mappings.csv", "q"), ("/api/export/orders.csv", "q"), ("/api/export/orders.csv", "state"),
    ("/api/orders", "q"), ("/api/cases", "status"), ("/api/returns", "queue"),
])
def test_a_nul_in_an_api_query_parameter_is_a_400_naming_it(client, path, name, value):
    response = client.get(f"{path}?{name}={value}", headers={"Authorization": f"Bearer {client.token()}"})
    response.get_data()
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json() == {"error": "invalid request", "fields": [{"field": name, "message": "must not contain NUL characters"}]}


@pytest.mark.parametrize("path, name", [("/orders", "q"), ("/orders", "state"), ("/mappings", "q"), ("/cases", "kind")])
def test_a_nul_in_an_admin_pages_query_is_a_400_page(client, path, name):
    response = client.get(f"{path}?shop={SHOP}&id_token={client.token()}&{name}=a%00b")
    assert response.status_code == 400 and "must not contain NUL characters" in response.get_data(as_text=True)


def test_searches_without_nul_still_answer(client):
    bearer = {"Authorization": f"Bearer {client.token()}"}
    assert client.get("/api/mappings?q=%25_%5C", headers=bearer).status_code == 200  # LIKE's own characters are data
    assert client.get("/api/export/orders.csv?q=%ED%B3%80", headers=bearer).status_code == 200  # bad UTF-8 is decoded with U+FFFD
    assert client.get(f"/orders?shop={SHOP}&id_token={client.token()}&q=caf%C3%A9").status_code == 200


def test_a_superscript_digit_in_a_file_mapping_is_header_text_not_a_500(client, sandboxed_app):
    """'²'.isdigit() is true, so "²" was taken for a column position and int() raised (500 on save and on preview)."""
    supplier_id = _supplier(sandboxed_app, "files")
    bearer = {"Authorization": f"Bearer {client.token()}"}
    saved = client.put(f"/api/suppliers/{supplier_id}/file-mappings/stock", headers=bearer, json={"columns": {"sku": "²", "available": "3"}})
    assert saved.status_code == 200, saved.get_data(as_text=True)
    assert saved.get_json()["mapping"]["columns"] == {"sku": "²", "available": 3}
    shown = client.post(f"/api/suppliers/{supplier_id}/file-mappings/stock/preview", headers=bearer, content_type="multipart/form-data",
                        data={"file": (io.BytesIO("²,x,available\nW-TEE,,4\n".encode()), "s.csv"), "mapping": json.dumps({"columns": {"sku": "²", "available": "①"}})})
    assert shown.status_code == 200, shown.get_data(as_text=True)
    assert shown.get_json()["preview"]["mapping"]["columns"] == {"sku": "²", "available": "①"}


def test_a_json_stock_feed_with_text_and_counts_no_column_holds_is_answered_row_by_row(client, sandboxed_app):
    """NUL and lone-surrogate SKUs (JSON escapes) and a count past 32 bits reached the supplier catalog's write: a 500, nothing kept."""
    supplier_id = _supplier(sandboxed_app, "email_po")
    raw = b'[{"sku": "\\udc80", "available": 1}, {"sku": "A\\u0000", "available": 2}, {"sku": "B", "available": 99999999999999999999}, {"sku": "C", "available": 3}]'
    # Sent as a file (not application/json, whose body the schema check refuses up front), as a supplier's export is uploaded.
    response = client.post(f"/api/suppliers/{supplier_id}/stock-feed", data=raw, headers={"Authorization": f"Bearer {client.token()}", "Content-Type": "application/octet-stream"})
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["feed"]["rows_refused"] == 4  # nothing is mapped to this supplier: each row answered, none a crash


def test_a_number_of_thousands_of_digits_in_a_sample_file_is_shown_as_typed(client, sandboxed_app):
    """int() refuses 4300+ digits (ValueError out of the number normaliser): the whole preview was a 500 (and the file, in a poll)."""
    supplier_id = _supplier(sandboxed_app, "files")
    sample = b"sku,available\nA," + b"9" * 5000 + b"\nB,4\n"
    shown = client.post(f"/api/suppliers/{supplier_id}/file-mappings/stock/preview", headers={"Authorization": f"Bearer {client.token()}"},
                        data={"file": (io.BytesIO(sample), "s.csv"), "mapping": json.dumps({"columns": {"sku": "sku", "available": "available"}})},
                        content_type="multipart/form-data")
    assert shown.status_code == 200, shown.get_data(as_text=True)
    preview = shown.get_json()["preview"]
    assert [r["values"] for r in preview["rows"]] == [{"sku": "A", "available": "9" * 5000}, {"sku": "B", "available": "4"}]  # the importer refuses it


@pytest.mark.parametrize("name", ["x" * 64, "x" * 5000])
def test_a_shop_name_longer_than_any_domain_label_is_not_a_shop(client, name):
    """Shopify's sanitize_shop_domain accepts a name of any length: /auth/install stored its state row (a 500 on PostgreSQL)."""
    assert client.get(f"/auth/install?shop={name}.myshopify.com").status_code == 400
    assert client.get(f"/auth/install?shop={'x' * 63}.myshopify.com").status_code == 302  # the longest label a domain can have
