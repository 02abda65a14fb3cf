"""What the merchant fills in to add a supplier of each kind: JSON Schemas of its settings and credentials, per adapter kind and REST preset.

The adapters' own config checks (adapter_config_problem) stay the judge of what is saved;
these schemas describe the same keys for the admin's forms (types, required, enums, help
text) and are tested against those checks. Credentials are marked `writeOnly` (shown masked).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Mapping

from ..i18n import lazy_gettext as _l
from ..reconcile.checks import SLA_HOURS_BOUNDS

COUNTRY_CODE = r"^[A-Z]{2}$"
CURRENCY_CODE = r"^[A-Z]{3}$"


@dataclass(frozen=True)
class SupplierForm:
    """One choice in "Add supplier": an adapter kind (and REST preset) with the fields it needs."""

    id: str
    kind: str
    label: Any
    help: Any
    settings: dict[str, Any]
    credentials: dict[str, Any]
    fixed_settings: Mapping[str, Any]  # sent as they are (the preset's name), never shown as fields
    sandbox_only: bool = False

    def as_json(self) -> dict[str, Any]:
        """The form with every text resolved in the current language."""
        return _resolved({"id": self.id, "kind": self.kind, "label": self.label, "help": self.help, "settings": self.settings,
                          "credentials": self.credentials, "fixed_settings": dict(self.fixed_settings)})


def _resolved(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _resolved(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolved(item) for item in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)  # a lazy translation


def _object(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required)}


def _secret(title, help_text) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "writeOnly": True, "title": title, "description": help_text}


def _url(title, help_text, default: str | None = None) -> dict[str, Any]:
    schema = {"type": "string", "format": "uri", "pattern": r"^https?://\S+$", "title": title, "description": help_text}
    if default:
        schema["default"] = default
    return schema


def common_settings() -> dict[str, Any]:
    """The app's own per-supplier settings, the same for every kind (routing and the SLA check read them)."""
    return {
        "ship_to_countries": {"type": "array", "items": {"type": "string", "pattern": COUNTRY_CODE}, "title": _l("Ships to countries"),
                              "description": _l("Two-letter country codes separated by commas (e.g. US, CA). Empty: ships everywhere.")},
        "sla_hours": {"type": "number", "minimum": SLA_HOURS_BOUNDS[0], "maximum": SLA_HOURS_BOUNDS[1], "default": 72,
                      "title": _l("Ships within (hours)"), "description": _l("Orders not shipped by then are reported as late.")},
    }


def _with_common(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "properties": {**schema["properties"], **common_settings()}}


def _rest_credentials(preset: str) -> dict[str, Any]:
    """The credentials a REST preset needs, read from the preset itself (its auth template and token request)."""
    from integrations.suppliers.rest.config import parse_settings
    from integrations.suppliers.rest.presets import with_preset

    parsed = parse_settings(with_preset({"preset": preset, "base_url": "https://supplier.example"}))
    needed = parsed.auth.credential_names() if parsed.auth else set()
    if parsed.token is not None:
        needed = (needed - {"access_token", "refresh_token", "expires_at"}) | parsed.token.credential_names()
    properties = {name: _secret(CREDENTIAL_TITLES.get(name, name.replace("_", " ").capitalize()), _l("Given to you by the supplier; stored encrypted."))
                  for name in sorted(needed)}
    if parsed.webhook is not None:
        properties["webhook_secret"] = _secret(_l("Webhook secret"), _l("Optional: the secret that signs the supplier's webhooks (without it, updates are polled)."))
    return _object(properties, tuple(sorted(needed)))


CREDENTIAL_TITLES = {"api_key": _l("API key"), "api_token": _l("API token"), "token": _l("API token")}


def supplier_forms(*, sandbox: bool) -> list[SupplierForm]:
    """Every kind the merchant may add (the sandbox supplier only in sandbox mode)."""
    forms = [
        SupplierForm(
            "printful", "printful", _l("Printful"), _l("Print-on-demand: orders go to your Printful store through its API."),
            _with_common(_object({
                "store_id": {"type": "string", "title": _l("Store id"), "description": _l("Your Printful store's id (needed when the token can reach several stores).")},
                "base_url": _url(_l("API address"), _l("Leave empty for Printful's own API (in sandbox mode: the sandbox supplier's address the app printed when it started)."), None),
            })),
            _object({"token": _secret(_l("API token"), _l("A private token from Printful's developer portal; stored encrypted."))}, ("token",)),
            {},
        ),
        SupplierForm(
            "rest:cjdropshipping", "rest", _l("CJdropshipping"), _l("CJdropshipping's API 2.0 (orders, tracking, stock)."),
            _with_common(_object({"base_url": _url(_l("API address"), _l("CJdropshipping's API address."), "https://developers.cjdropshipping.com")}, ("base_url",))),
            _rest_credentials("cjdropshipping"), {"preset": "cjdropshipping"},
        ),
        SupplierForm(
            "rest:shipbob", "rest", _l("ShipBob"), _l("ShipBob's API 1.0 (orders, shipments)."),
            _with_common(_object({
                "base_url": _url(_l("API address"), _l("https://api.shipbob.com, or https://sandbox-api.shipbob.com to try it out."), "https://api.shipbob.com"),
                "headers": _object({"shipbob_channel_id": {"type": "string", "minLength": 1, "title": _l("Channel id"),
                                                           "description": _l("Your ShipBob channel with write access.")}}, ("shipbob_channel_id",)),
            }, ("base_url", "headers"))),
            _rest_credentials("shipbob"), {"preset": "shipbob"},
        ),
        SupplierForm(
            "email", "email", _l("Email purchase orders"), _l("Any supplier that takes orders by email: each order is mailed as a purchase order (CSV and PDF)."),
            _with_common(_object({
                "to_addresses": {"type": "array", "minItems": 1, "items": {"type": "string", "format": "email"}, "title": _l("Send orders to"),
                                 "description": _l("Email addresses separated by commas.")},
                "cc_addresses": {"type": "array", "items": {"type": "string", "format": "email"}, "title": _l("Copy to"), "description": _l("Optional.")},
                "reply_to": {"type": "string", "format": "email", "title": _l("Replies go to"), "description": _l("Where the supplier's answers should go.")},
                "shop_name": {"type": "string", "title": _l("Shop name"), "description": _l("Signs the purchase orders.")},
                "currency": {"type": "string", "pattern": CURRENCY_CODE, "title": _l("Invoicing currency"),
                             "description": _l("Three letters, e.g. EUR. Empty: the order's currency.")},
                "attach_pdf": {"type": "boolean", "default": True, "title": _l("Attach a PDF copy")},
            }, ("to_addresses",))),
            _object({}), {},
        ),
        SupplierForm(
            "edi_x12", "edi_x12", _l("EDI X12 trading partner"),
            _l("Wholesalers and distributors that trade EDI: 850 purchase orders out; 855, 856, 846 and 810 back, with 997 acknowledgements, over SFTP."),
            _with_common(_object({
                "our_qualifier": {"type": "string", "pattern": r"^[A-Z0-9]{2}$", "default": "ZZ", "title": _l("Our ISA qualifier"), "description": _l("ZZ (mutually defined), 01 (DUNS), 12 (phone): as agreed with the partner.")},
                "our_id": {"type": "string", "minLength": 1, "maxLength": 15, "examples": ["DROPSHIPAPP"], "title": _l("Our ISA ID")},
                "our_application_code": {"type": "string", "minLength": 2, "maxLength": 15, "examples": ["DROPSHIPAPP"], "title": _l("Our GS application code"), "description": _l("Empty: our ISA ID.")},
                "partner_qualifier": {"type": "string", "pattern": r"^[A-Z0-9]{2}$", "default": "ZZ", "title": _l("Partner's ISA qualifier")},
                "partner_id": {"type": "string", "minLength": 1, "maxLength": 15, "examples": ["123456789"], "title": _l("Partner's ISA ID")},
                "partner_application_code": {"type": "string", "minLength": 2, "maxLength": 15, "examples": ["WHOLESALE"], "title": _l("Partner's GS application code"), "description": _l("Empty: the partner's ISA ID.")},
                "version": {"type": "string", "enum": ["004010", "005010"], "default": "004010", "title": _l("X12 version")},
                "usage": {"type": "string", "enum": ["P", "T"], "default": "P", "title": _l("Usage"), "description": _l("P production, T test.")},
                "separators": _object({
                    "element": {"type": "string", "minLength": 1, "maxLength": 1, "default": "*", "title": _l("Element separator")},
                    "sub_element": {"type": "string", "minLength": 1, "maxLength": 1, "default": ">", "title": _l("Sub-element separator")},
                    "segment": {"type": "string", "minLength": 1, "maxLength": 2, "default": "~", "title": _l("Segment terminator"), "description": _l("~ usually; \\n for a line break.")},
                }),
                "outbound_folder": {"type": "string", "default": "to_partner", "title": _l("Folder for our purchase orders")},
                "inbound_folder": {"type": "string", "default": "from_partner", "title": _l("Folder the partner writes to")},
                "archive_folder": {"type": "string", "default": "archive", "title": _l("Archive folder for files read")},
                "ack_window_minutes": {"type": "integer", "minimum": 5, "maximum": 10080, "default": 240, "title": _l("997 window (minutes)"),
                                       "description": _l("An order without the partner's 997 after this raises an alert.")},
                "transport": _object({
                    "kind": {"type": "string", "enum": ["sftp"], "default": "sftp", "title": _l("Connection")},
                    "host": {"type": "string", "format": "hostname", "minLength": 1, "maxLength": 253, "title": _l("SFTP host")},
                    "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 22, "title": _l("SFTP port")},
                    "username": {"type": "string", "minLength": 1, "examples": ["dropship"], "title": _l("SFTP user")},
                    "host_key_fingerprint": {"type": "string", "pattern": r"^SHA256:\S+$", "examples": ["SHA256:2hV0dS6Cw9Xq1kQ0pL8mZ4yT7uR3nB5vE1aF6gH9jKo"], "title": _l("Host key fingerprint"), "description": _l("SHA256:... as the partner gave it; the connection is refused if the server shows another key.")},
                }, ("kind", "host", "username", "host_key_fingerprint")),
            }, ("our_id", "partner_id", "transport"))),
            _object({"password": _secret(_l("SFTP password"), _l("Stored encrypted; or give a private key.")),
                     "private_key": _secret(_l("SFTP private key"), _l("OpenSSH private key; stored encrypted."))}),
            {},
        ),
        _file_form("sftp"),
        _file_form("ftp"),
    ]
    edi = next(index for index, form in enumerate(forms) if form.id == "edi_x12")
    forms.insert(edi + 1, _edi_as2_form(forms[edi]))
    if sandbox:
        forms.append(SupplierForm(
            "rest:sandbox-rest", "rest", _l("Sandbox supplier (testing)"), _l("The local test supplier of sandbox mode: try everything without a real supplier."),
            _with_common(_object({"base_url": _url(_l("API address"), _l("The address of the local REST test supplier (sandbox/supplier/rest_supplier.py)."))}, ("base_url",))),
            _rest_credentials("sandbox-rest"), {"preset": "sandbox-rest"}, sandbox_only=True,
        ))
    return forms


def _edi_as2_form(edi: SupplierForm) -> SupplierForm:
    """An EDI X12 partner over AS2 (issue 15): the EDI partner's fields (`edi`'s) with an AS2 connection instead of SFTP."""
    properties = {name: field for name, field in edi.settings["properties"].items()
                  if name not in ("transport", "outbound_folder", "inbound_folder", "archive_folder")}  # folders mean nothing over AS2
    properties["transport"] = _object({
        "kind": {"type": "string", "enum": ["as2"], "default": "as2", "title": _l("Connection")},
        "our_as2_id": {"type": "string", "minLength": 1, "maxLength": 128, "examples": ["MYSHOP-AS2"], "title": _l("Our AS2 ID"),
                       "description": _l("As agreed with the partner (AS2-From on what we send).")},
        "partner_as2_id": {"type": "string", "minLength": 1, "maxLength": 128, "examples": ["WHOLESALER-AS2"], "title": _l("Partner's AS2 ID")},
        "url": {"type": "string", "format": "uri", "title": _l("Partner's AS2 URL"), "description": _l("Where the partner receives AS2 messages (https).")},
        "partner_certificate": {"type": "string", "minLength": 1, "contentMediaType": "application/x-pem-file", "title": _l("Partner's certificate (PEM)"),
                                "description": _l("Paste the partner's certificate, from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----.")},
        "encryption": {"type": "string", "enum": ["aes_256_cbc", "aes_128_cbc", "none"], "default": "aes_256_cbc", "title": _l("Encryption"),
                       "x-enumTitles": ["AES-256-CBC", "AES-128-CBC", _l("none (signed only)")]},
        "digest": {"type": "string", "enum": ["sha256", "sha384", "sha512"], "default": "sha256", "title": _l("Signature digest")},
        "mdn_mode": {"type": "string", "enum": ["sync", "async"], "default": "sync", "title": _l("Receipts (MDN)"),
                     "description": _l("sync: on the same connection; async: the partner posts them to our URL later.")},
    }, ("kind", "our_as2_id", "partner_as2_id", "url", "partner_certificate"))
    settings = {**edi.settings, "properties": properties}
    return SupplierForm("edi_x12:as2", "edi_x12", _l("EDI X12 trading partner over AS2"),
                        _l("The same EDI documents, exchanged over AS2: signed and encrypted messages with signed receipts, for partners that require AS2."),
                        settings, _object({}), {})


def _file_settings(transport: str) -> dict[str, Any]:
    sftp = transport == "sftp"
    properties: dict[str, Any] = {
        "host": {"type": "string", "format": "hostname", "minLength": 1, "maxLength": 253, "title": _l("Server"),
                 "description": _l("The supplier's server name, without sftp:// or a path.")},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 22 if sftp else 21, "title": _l("Port")},
        "username": {"type": "string", "minLength": 1, "maxLength": 255, "title": _l("User name")},
    }
    if sftp:
        properties["host_key_fingerprint"] = {
            "type": "string", "pattern": r"^(SHA256:)?[A-Za-z0-9+/]{43}=?$", "examples": ["SHA256:" + "q" * 43], "title": _l("Host key fingerprint"),
            "description": _l("The SHA256 fingerprint of the supplier's SSH host key (ask them for it). A server showing another key is refused.")}
    else:
        properties["transport"] = {"type": "string", "enum": ["ftps", "ftp"], "default": "ftps", "title": _l("Connection"),
                                   "description": _l("FTP over TLS, or plain FTP (only where the supplier has nothing better).")}
    properties.update({
        "root": {"type": "string", "maxLength": 200, "title": _l("Base folder"), "description": _l("Optional: the folder all others are in.")},
        "folders": _object({
            "orders": {"type": "string", "default": "to_supplier", "title": _l("Purchase orders go to")},
            "orders_taken": {"type": "string", "default": "to_supplier/processed", "title": _l("The supplier moves taken orders to")},
            "acknowledgements": {"type": "string", "default": "from_supplier/acknowledgements", "title": _l("Acknowledgements come in")},
            "tracking": {"type": "string", "default": "from_supplier/tracking", "title": _l("Tracking comes in")},
            "stock": {"type": "string", "default": "from_supplier/stock", "title": _l("Stock comes in")},
            "archive": {"type": "string", "default": "from_supplier/archive", "title": _l("Processed files are moved to")},
        }),
        "po_format": {"type": "string", "enum": ["csv", "xlsx"], "default": "csv", "title": _l("Purchase order format")},
        "poll_minutes": {"type": "integer", "minimum": 1, "maximum": 1440, "default": 5, "title": _l("Read the supplier's files every (minutes)")},
    })
    return _with_common(_object(properties, ("host", "username", "host_key_fingerprint") if sftp else ("transport", "host", "username")))


def _file_form(transport: str) -> SupplierForm:
    """A file supplier over SFTP, or over FTP/FTPS (the column mappings are edited on the supplier's page)."""
    if transport == "sftp":
        return SupplierForm(
            "files:sftp", "files", _l("File drops over SFTP"),
            _l("Suppliers without an API: each order is dropped as a purchase-order file (CSV or XLSX) on their SFTP server; their acknowledgement, tracking and stock files are read back through your column mapping."),
            _file_settings("sftp"),
            _object({"password": _secret(_l("Password"), _l("A password or a private key; stored encrypted.")),
                     "private_key": _secret(_l("Private key"), _l("Optional: an OpenSSH private key instead of a password; stored encrypted."))}),
            {"transport": "sftp"},
        )
    return SupplierForm(
        "files:ftp", "files", _l("File drops over FTP"),
        _l("The same file exchange on an FTP server (with TLS where the supplier offers it)."),
        _file_settings("ftp"), _object({"password": _secret(_l("Password"), _l("Stored encrypted."))}, ("password",)), {},
    )


def form_for(form_id: str, *, sandbox: bool) -> SupplierForm | None:
    """The form with this id, or None."""
    return next((form for form in supplier_forms(sandbox=sandbox) if form.id == form_id), None)


def form_of(kind: str, settings: Mapping[str, Any], *, sandbox: bool) -> SupplierForm | None:
    """The form a saved supplier was made with (its kind and preset), or None for hand-made REST settings."""
    preset = settings.get("preset")
    if kind == "edi_x12" and isinstance(settings.get("transport"), Mapping) and settings["transport"].get("kind") == "as2":
        return form_for("edi_x12:as2", sandbox=sandbox)
    if kind == "files":
        return form_for("files:sftp" if settings.get("transport", "sftp") == "sftp" else "files:ftp", sandbox=sandbox)
    return form_for(f"rest:{preset}" if kind == "rest" else kind, sandbox=sandbox or preset == "sandbox-rest")


def flat_fields(schema: Mapping[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    """The schema's leaf fields as [{name: dotted path, schema, required}] in order, for rendering one input each."""
    fields = []
    required = set(schema.get("required") or ())
    for name, prop in (schema.get("properties") or {}).items():
        path = f"{prefix}{name}"
        if prop.get("type") == "object":
            fields.extend(flat_fields(prop, f"{path}."))
        else:
            fields.append({"name": path, "schema": prop, "required": name in required})
    return fields


def value_at(data: Mapping[str, Any], dotted: str) -> Any:
    """data['a']['b'] for 'a.b' (None when absent)."""
    value: Any = data
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def example_settings(form: SupplierForm) -> dict[str, Any]:
    """Settings with every field at its default (used by tests and as the form's starting values)."""
    settings = copy.deepcopy(dict(form.fixed_settings))
    for field in flat_fields(form.settings):
        if "default" in field["schema"]:
            target = settings
            *parents, leaf = field["name"].split(".")
            for parent in parents:
                target = target.setdefault(parent, {})
            target[leaf] = field["schema"]["default"]
    return settings


def check_common_settings(settings: Any) -> None:
    """ValueError naming the key when the app's own per-supplier settings (countries, SLA) do not match their schema."""
    from jsonschema import Draft202012Validator

    if not isinstance(settings, Mapping):
        raise ValueError("settings must be a JSON object")
    schema = {"type": "object", "properties": _resolved(common_settings())}
    for error in Draft202012Validator(schema).iter_errors(dict(settings)):
        key = str(error.path[0]) if error.path else ""
        raise ValueError(COMMON_MESSAGES.get(key, f"settings.{key} is invalid"))


COMMON_MESSAGES = {
    "ship_to_countries": "settings.ship_to_countries must be a list of two-letter country codes such as US",
    "sla_hours": f"settings.sla_hours must be a number of hours from {SLA_HOURS_BOUNDS[0]} to {SLA_HOURS_BOUNDS[1]}",
}
