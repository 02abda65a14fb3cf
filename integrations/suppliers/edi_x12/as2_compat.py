"""Imports pyas2lib on OpenSSL 3.0.10+: oscrypto 1.3.0 (its dependency, the last release) misreads a two-digit patch version.

oscrypto reads the libcrypto version with the pattern `\\d\\.\\d\\.\\d` when it is imported, so
"OpenSSL 3.0.19" fails with "Error detecting the version of libcrypto" (oscrypto issues #75,
#78; fixed on oscrypto's master, never released). Until a release has the fix, the two modules
that read the version are loaded from their own source with the upstream fix applied (the same
change as oscrypto master and the Linux distributions' patch). An oscrypto that no longer has
the faulty pattern is imported untouched.
"""
from __future__ import annotations

import importlib.util
import sys

_FAULTY = "'\\\\b(\\\\d\\\\.\\\\d\\\\.\\\\d[a-z]*)\\\\b'"
_FIXED = "'\\\\b(\\\\d+\\\\.\\\\d+\\\\.\\\\d+[a-z]*)\\\\b'"
_MODULES = ("oscrypto._openssl._libcrypto_cffi", "oscrypto._openssl._libcrypto_ctypes")


def _load_fixed(name: str) -> None:
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    source = spec.loader.get_source(name) or ""
    if _FAULTY not in source:
        return  # a fixed oscrypto: nothing to do
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        exec(compile(source.replace(_FAULTY, _FIXED), spec.origin, "exec"), module.__dict__)  # noqa: S102 - the library's own source, one pattern fixed
    except BaseException:
        del sys.modules[name]  # e.g. no cffi: oscrypto falls back to its ctypes module, fixed the same way
        raise


def load_pyas2lib():
    """The pyas2lib module, importable on this machine's OpenSSL."""
    if "pyas2lib" not in sys.modules:
        for name in _MODULES:
            try:
                _load_fixed(name)
            except ImportError:
                continue
    import pyas2lib

    return pyas2lib
