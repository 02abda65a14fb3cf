"""adapter_from_record reuses a supplier's adapter until its kind, credentials or settings change (the settings compared, not re-serialized, when unchanged)."""
from __future__ import annotations

from forwarding_kit import add_printful_supplier, app, sandbox, supplier_sandbox  # noqa: F401 - fixtures
from shopify_app.suppliers.forwarding import adapter_from_record
from shopify_app.suppliers.models import Supplier


def test_the_adapter_is_rebuilt_when_settings_change_even_in_place_and_reused_otherwise(app, sandbox):  # noqa: F811
    services = app.extensions["services"]
    supplier_id = add_printful_supplier(app, sandbox)
    with services.session_factory() as session:
        supplier = session.get(Supplier, supplier_id)
        first = adapter_from_record(supplier, services.box)
        assert adapter_from_record(supplier, services.box) is first
        supplier.settings["timeout_seconds"] = 5.0  # the same dict, changed in place
        changed = adapter_from_record(supplier, services.box)
        assert changed is not first
        assert adapter_from_record(supplier, services.box) is changed
        supplier.settings = dict(supplier.settings, products={})  # a new dict with other content
        assert adapter_from_record(supplier, services.box) is not changed
        rotated = adapter_from_record(supplier, services.box)
        supplier.credentials_enc = services.box.encrypt('{"token": "rotated"}')
        assert adapter_from_record(supplier, services.box) is not rotated
