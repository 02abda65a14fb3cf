"""Changing a saved supplier: settings and credentials as JSON merge patches, checked before saving, applied only if nothing changed meanwhile, audited."""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from sqlalchemy.orm import Session

from integrations.suppliers.base import REFRESHED_CREDENTIAL_KEYS as TOKEN_KEYS

from ..crypto import SecretBox
from .audit import changed_fields, record_change
from .models import Supplier

SIMPLE_FIELDS = ("name", "priority", "active", "vendor")

ConfigProblem = Callable[[str, dict, dict], "tuple[str, str] | None"]


class SupplierChangeRefused(ValueError):
    """A change that cannot be saved; `problem` is (field, message) for the 400 answer."""

    def __init__(self, problem: tuple[str, str]):
        super().__init__(problem[1])
        self.problem = problem


def merge_patch(target: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 7396 JSON merge patch: objects merge key by key, null removes, anything else replaces."""
    merged = copy.deepcopy(dict(target))
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_patch(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@dataclass
class SupplierChange:
    """A checked change: the supplier's settings and credentials as they would be, and what it was read from."""

    kind: str
    settings: dict[str, Any]
    credentials: dict[str, Any]
    simple: dict[str, Any] = field(default_factory=dict)
    touches_connection: bool = False
    read_settings: dict[str, Any] = field(default_factory=dict)
    read_credentials_enc: bytes | None = None
    read_credentials: dict[str, Any] = field(default_factory=dict)


def prepare_update(box: SecretBox, supplier: Supplier, body: Mapping[str, Any], config_problem: ConfigProblem) -> SupplierChange:
    """The change `body` asks for, checked like a new supplier's (SupplierChangeRefused otherwise); makes network look-ups (egress DNS): call outside transactions."""
    saved_settings = copy.deepcopy(dict(supplier.settings or {}))
    saved_credentials = json.loads(box.decrypt(supplier.credentials_enc)) if supplier.credentials_enc else {}
    settings = merge_patch(saved_settings, body.get("settings") or {})
    if "po_batching" in saved_settings and settings.get("po_batching") is None:
        # Batching removed by a patch is "per order", and stays written: a file supplier that ever batched keeps
        # withdrawing queued POs before placing one on its own (files/factory.py gives only such a one the queue).
        settings["po_batching"] = {"mode": "per_order"}
    if "sla_hours" in body:
        settings["sla_hours"] = body["sla_hours"]
    patch = body.get("credentials") or {}
    credentials = merge_patch(saved_credentials, patch)
    if any(key not in TOKEN_KEYS for key in patch):
        # New keys make tokens obtained with the old ones meaningless: drop them (unless given).
        credentials = {key: value for key, value in credentials.items() if key not in TOKEN_KEYS or key in patch}
    touches = "settings" in body or "credentials" in body
    if touches:
        problem = config_problem(supplier.kind, settings, credentials)
        if problem is not None:
            raise SupplierChangeRefused(problem)
    simple = {name: body[name].strip() if name == "name" else body[name] for name in SIMPLE_FIELDS if name in body}
    return SupplierChange(supplier.kind, settings, credentials, simple, touches, saved_settings, supplier.credentials_enc, saved_credentials)


def apply_update(session: Session, box: SecretBox, supplier: Supplier, change: SupplierChange, *, actor: str) -> bool:
    """Write the change and its audit entry in the caller's transaction; False when the record changed since it was read."""
    if supplier.credentials_enc != change.read_credentials_enc or dict(supplier.settings or {}) != change.read_settings:
        return False
    fields = changed_fields("settings", change.read_settings, change.settings)
    credential_fields = changed_fields("credentials", change.read_credentials, change.credentials)
    if credential_fields:
        # Rotation: the adapter cache (forwarding.adapter_from_record) keys on this ciphertext, so the next call uses the new secret.
        supplier.credentials_enc = box.encrypt(json.dumps(change.credentials)) if change.credentials else None
    if fields:
        supplier.settings = change.settings  # a new dict: JSON columns track assignment
    for name, value in change.simple.items():
        if getattr(supplier, name) != value:
            setattr(supplier, name, value)
            fields.append(name)
    if fields or credential_fields:
        record_change(session, supplier.shop_domain, supplier.id, actor, "updated", fields + credential_fields)
    return True
