"""The embedded Shopify app: config, models, auth, webhook intake, admin UI and services.

Shopify's own SDK (PyPI `shopifyapp`) also installs a top-level package named
`shopify_app`, and imports its own modules absolutely (`shopify_app.types`,
`shopify_app.verify`, ...). Our layout fixes this folder's name too, so we merge the
SDK's directory into this package's search path: its submodules resolve as
`shopify_app.<sdk module>` next to ours. Our modules must therefore never use the
SDK's module names (exchange, graphql, helpers, types, utils, verify, _version).
`shopify_app.sdk` is the SDK's public entry point (its original `__init__`).
"""
from __future__ import annotations

import importlib.machinery
import importlib.metadata
import importlib.util
import sys
from pathlib import Path

SDK_MODULE_NAMES = frozenset({"exchange", "graphql", "helpers", "types", "utils", "verify", "_version"})


def _sdk_directory() -> Path:
    """Directory of the installed `shopifyapp` distribution's package."""
    dist = importlib.metadata.distribution("shopifyapp")
    return Path(dist.locate_file("shopify_app")).resolve()


def _load_sdk_entry_point() -> None:
    sdk_dir = _sdk_directory()
    if str(sdk_dir) not in __path__:
        __path__.append(str(sdk_dir))
    name = __name__ + ".sdk"
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(name, sdk_dir / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    # The SDK's __init__ uses relative imports (`from .exchange ...`); give it our
    # package as parent so they resolve through the merged path.
    module.__package__ = __name__
    sys.modules[name] = module
    spec.loader.exec_module(module)


_load_sdk_entry_point()
