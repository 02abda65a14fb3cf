"""Resolvers per `Type.field`, registered with a decorator; everything else uses the default.

    @resolver("Query", "products", scopes=("read_products",))
    def products(root, info, query=None, sortKey=None, **_):
        return Listing(...)          # a list for a connection field is paged generically

A resolver receives (source, info, **arguments) like any graphql-core resolver;
`info.context` is the RequestContext (store, shop, app, scopes). Registering on an
interface name (e.g. "LegacyInteroperability") applies to every type implementing it.
Holding `scopes` makes the field answer ACCESS_DENIED unless the token has one of them
(a `write_x` scope implies `read_x`, as on Shopify); where the schema file names the
field's scopes (`offline_scopes`), those are checked instead. The root types are registered as
"Query" and "Mutation" (the Admin schema names its query root QueryRoot).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

Resolver = Callable[..., Any]


@dataclass(frozen=True)
class Registered:
    """A resolver and the access scopes it needs (any one of them)."""

    fn: Resolver
    scopes: tuple[str, ...] = ()


RESOLVERS: dict[tuple[str, str], Registered] = {}


def resolver(type_name: str, field_name: str, *, scopes: tuple[str, ...] = ()) -> Callable[[Resolver], Resolver]:
    """Register the decorated function as the resolver of `type_name.field_name`."""

    def register(fn: Resolver) -> Resolver:
        key = (type_name, field_name)
        if key in RESOLVERS and RESOLVERS[key].fn is not fn:
            raise ValueError(f"{type_name}.{field_name} already has a resolver: {RESOLVERS[key].fn.__name__}")
        RESOLVERS[key] = Registered(fn, tuple(scopes))
        return fn

    return register


def lookup(type_name: str, field_name: str, interface_names: tuple[str, ...] = ()) -> Registered | None:
    """The resolver for a field: the type's own first, then one registered on an interface."""
    found = RESOLVERS.get((type_name, field_name))
    if found is None:
        for interface in interface_names:
            found = RESOLVERS.get((interface, field_name))
            if found is not None:
                break
    return found


def load_resolvers() -> dict[tuple[str, str], Registered]:
    """Import the resolver modules so their decorators run."""
    from . import resolvers  # noqa: F401

    return RESOLVERS
