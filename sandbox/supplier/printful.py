"""A local supplier speaking a slice of Printful's API v2 (catalog variants and stock availability).

Shapes follow ../shared/suppliers/printful-v2/openapi.json. The orders issue grows this into
the full supplier sandbox (orders by external_id, confirmation, shipments, webhooks).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from flask import Flask, jsonify, request
from werkzeug.serving import make_server


@dataclass
class CatalogVariant:
    """A supplier product variant with stock per selling region."""

    id: int
    name: str
    sku: str
    price: str
    stock: dict[str, str] = field(default_factory=lambda: {"worldwide": "in stock"})


def demo_catalog() -> dict[int, CatalogVariant]:
    """A few seeded variants; SKUs match the sandbox Shopify's demo products."""
    return {
        4011: CatalogVariant(4011, "Unisex Staple T-Shirt | Black / S", "TSHIRT-BLK-S", "9.25"),
        4012: CatalogVariant(4012, "Unisex Staple T-Shirt | Black / M", "TSHIRT-BLK-M", "9.25"),
        4013: CatalogVariant(4013, "Unisex Staple T-Shirt | Black / L", "TSHIRT-BLK-L", "9.25", {"worldwide": "out of stock"}),
        19001: CatalogVariant(19001, "White Glossy Mug | 11 oz", "MUG-WHT-11", "5.95"),
    }


def build_app(catalog: dict[int, CatalogVariant], token: str) -> Flask:
    """The supplier's HTTP API (Bearer token auth, as Printful)."""
    app = Flask("sandbox-printful")

    @app.before_request
    def check_auth():
        if request.headers.get("Authorization") != f"Bearer {token}":
            return jsonify(type="https://developers.printful.com/docs/v2-beta/#section/Errors", status=401, title="Unauthorized", detail="Invalid token"), 401
        return None

    def link(path: str) -> dict:
        return {"href": f"{request.host_url.rstrip('/')}{path}"}

    @app.get("/v2/catalog-variants/<int:variant_id>")
    def get_variant(variant_id: int):
        variant = catalog.get(variant_id)
        if variant is None:
            return jsonify(status=404, title="Not Found", detail="Variant not found"), 404
        return jsonify(data={"id": variant.id, "name": variant.name, "_links": {"self": link(f"/v2/catalog-variants/{variant.id}")}})

    @app.get("/v2/catalog-variants/<int:variant_id>/availability")
    def get_availability(variant_id: int):
        variant = catalog.get(variant_id)
        if variant is None:
            return jsonify(status=404, title="Not Found", detail="Variant not found"), 404
        regions = [
            {"name": region, "availability": availability, "placement_option_availability": []}
            for region, availability in variant.stock.items()
        ]
        return jsonify(
            data={
                "catalog_variant_id": variant.id,
                "techniques": [{"technique": "dtg", "selling_regions": regions}],
                "_links": {"variant": link(f"/v2/catalog-variants/{variant.id}")},
            },
            filter_settings=[{"name": "selling_region_name", "value": "worldwide"}],
            _links={"self": link(f"/v2/catalog-variants/{variant.id}/availability"), "variant": link(f"/v2/catalog-variants/{variant.id}")},
        )

    return app


class SandboxSupplier:
    """The Printful-shaped supplier on 127.0.0.1 in a background thread."""

    def __init__(self, token: str = "sandbox-printful-token", catalog: dict[int, CatalogVariant] | None = None):
        self.token = token
        self.catalog = catalog if catalog is not None else demo_catalog()
        self._server = None
        self.base_url = ""

    def start(self, port: int = 0) -> str:
        """Serve in a daemon thread; returns the base URL."""
        self._server = make_server("127.0.0.1", port, build_app(self.catalog, self.token), threaded=True)
        threading.Thread(target=self._server.serve_forever, name="sandbox-supplier", daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        return self.base_url

    def stop(self) -> None:
        """Stop serving."""
        if self._server:
            self._server.shutdown()
