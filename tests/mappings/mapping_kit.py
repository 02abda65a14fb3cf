"""A shop whose catalog mirror came from the sandbox Shopify's bulk export (titles and barcodes included), with suppliers made through the API."""
from __future__ import annotations

import io
from dataclasses import dataclass

from conftest import API_KEY
from shopify_app.inventory.catalog_mirror import mirror_catalog

SHOP = "demo.myshopify.com"
OTHER = "other.myshopify.com"
TEE_S_BARCODE = "5901234123457"
STICKERS = 30  # with the demo shop's 7 variants: more than one page of 25


def auth(sandbox, shop: str = SHOP) -> dict:
    return {"Authorization": f"Bearer {sandbox.mint_session_token(shop, API_KEY)}"}


def install(app, sandbox, shop: str = SHOP) -> None:
    """Install the app on the shop with a real sandbox-issued token (the API serves installed shops only)."""
    token = sandbox.issue_access_token(shop, API_KEY)
    app.extensions["services"].tokens.save(shop, token["access_token"], None, None, None, token.get("scope"))


@dataclass
class MappingWorld:
    app: object
    shopify: object
    suppliers: dict  # name -> id, per shop: {(shop, name): id}

    @property
    def client(self):
        return self.app.test_client()

    def call(self, method: str, path: str, shop: str = SHOP, **kwargs):
        return getattr(self.client, method)(path, headers={**auth(self.shopify, shop), **kwargs.pop("headers", {})}, **kwargs)

    def upload(self, path: str, data: bytes, content_type: str = "text/csv", shop: str = SHOP):
        return self.call("post", path, shop, data=data, content_type=content_type)

    def mirror(self, shop: str = SHOP) -> None:
        services = self.app.extensions["services"]
        mirror_catalog(services.session_factory, services.gateway(shop), services.http_client, shop, poll_every=0.02)


def build_world(app, sandbox) -> MappingWorld:
    """Two installed shops; the demo shop gets a barcode on TEE-S and 30 sticker variants; both catalogs mirrored."""
    store = sandbox.store
    shop = store.require_shop(SHOP)
    warehouse = next(iter(shop.all("Location")))["id"]
    store.variant_by_sku(SHOP, "TEE-S")["barcode"] = TEE_S_BARCODE
    store.add_product(SHOP, "Vinyl Sticker", [{"sku": f"STK-{n:02d}", "title": f"Design {n:02d}", "quantities": {warehouse: 5}} for n in range(STICKERS)])
    sandbox.add_shop(OTHER)
    world = MappingWorld(app, sandbox, {})
    for domain in (SHOP, OTHER):
        install(app, sandbox, domain)
        world.mirror(domain)
        for name, kind, credentials in (("Acme", "printful", {"token": "pf-test"}), ("Globex", "printful", {"token": "pf-test-2"})):
            created = world.call("post", "/api/suppliers", domain, json={"name": name, "kind": kind, "credentials": credentials})
            assert created.status_code == 201, created.get_json()
            world.suppliers[(domain, name)] = created.get_json()["supplier"]["id"]
    return world


def xlsx(rows: list[list]) -> bytes:
    """A real XLSX workbook (openpyxl writes it; the app reads it with openpyxl read-only, the test checks the reading)."""
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
