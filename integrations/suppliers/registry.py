"""Building a supplier's adapter from its record: kind -> factory(credentials, settings, owner), and checking settings before they are saved."""
from __future__ import annotations

from typing import Any, Callable

from .base import SupplierAdapter
from .runtime import SupplierRef

AdapterFactory = Callable[..., SupplierAdapter]
SettingsCheck = Callable[[dict[str, Any], Any, float], None]

_FACTORIES: dict[str, AdapterFactory] = {}
_CHECKS: dict[str, SettingsCheck] = {}


class InvalidSupplierSettings(ValueError):
    """Settings a tenant may not save (the message names the key and is safe to show)."""


def adapter_kind(kind: str) -> Callable[[AdapterFactory], AdapterFactory]:
    """Register the factory for an adapter kind."""

    def register(factory: AdapterFactory) -> AdapterFactory:
        _FACTORIES[kind] = factory
        return factory

    return register


def settings_check(kind: str) -> Callable[[SettingsCheck], SettingsCheck]:
    """Register the save-time check for an adapter kind: check(settings, egress policy, timeout cap)."""

    def register(check: SettingsCheck) -> SettingsCheck:
        _CHECKS[kind] = check
        return check

    return register


def build_adapter(kind: str, credentials: dict[str, Any], settings: dict[str, Any], owner: SupplierRef | None = None) -> SupplierAdapter:
    """The adapter for a supplier of this kind (`owner` scopes what it keeps, e.g. the email sent log); ValueError for an unknown kind."""
    _load_builtin_adapters()
    try:
        factory = _FACTORIES[kind]
    except KeyError:
        raise ValueError(f"unknown supplier kind: {kind}") from None
    return factory(credentials, settings, owner=owner)


def check_supplier_settings(kind: str, settings: dict[str, Any], policy: Any = None, timeout_max_seconds: float | None = None) -> None:
    """Refuse settings a tenant may not save (targets the egress policy refuses, timeouts over the cap, server paths and hosts).

    Resolves host names: call it before opening a write transaction.
    """
    from .. import egress
    from . import runtime

    _load_builtin_adapters()
    check = _CHECKS.get(kind)
    if check is None:
        return
    if not isinstance(settings, dict):
        raise InvalidSupplierSettings("settings must be a JSON object")
    try:
        check(settings, policy or egress.current(), timeout_max_seconds or runtime.current().timeout_max_seconds)
    except InvalidSupplierSettings:
        raise
    except ValueError as exc:  # the kinds' own setting errors and egress.InvalidTargetUrl: messages safe to show
        raise InvalidSupplierSettings(str(exc)) from None


def known_kinds() -> list[str]:
    """Adapter kinds this build can talk to."""
    _load_builtin_adapters()
    return sorted(_FACTORIES)


def _load_builtin_adapters() -> None:
    import importlib

    for module in ("integrations.suppliers.printful.factory", "integrations.suppliers.rest.factory", "integrations.suppliers.email_po.factory",
                   "integrations.suppliers.edi_x12.factory",
                   "integrations.suppliers.files.factory"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
