"""Building a supplier's adapter from its record: kind -> factory(credentials, settings)."""
from __future__ import annotations

from typing import Any, Callable

from .base import SupplierAdapter

AdapterFactory = Callable[[dict[str, Any], dict[str, Any]], SupplierAdapter]

_FACTORIES: dict[str, AdapterFactory] = {}


def adapter_kind(kind: str) -> Callable[[AdapterFactory], AdapterFactory]:
    """Register the factory for an adapter kind."""

    def register(factory: AdapterFactory) -> AdapterFactory:
        _FACTORIES[kind] = factory
        return factory

    return register


def build_adapter(kind: str, credentials: dict[str, Any], settings: dict[str, Any]) -> SupplierAdapter:
    """The adapter for a supplier of this kind; ValueError for an unknown kind."""
    _load_builtin_adapters()
    try:
        factory = _FACTORIES[kind]
    except KeyError:
        raise ValueError(f"unknown supplier kind: {kind}") from None
    return factory(credentials, settings)


def known_kinds() -> list[str]:
    """Adapter kinds this build can talk to."""
    _load_builtin_adapters()
    return sorted(_FACTORIES)


def _load_builtin_adapters() -> None:
    import importlib

    for module in ("integrations.suppliers.printful.factory", "integrations.suppliers.rest.factory", "integrations.suppliers.email_po.factory"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
