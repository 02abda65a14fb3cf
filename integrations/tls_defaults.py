"""One certificate-verifying SSL context per process, shared by the httpx clients and transports that verify by default.

httpx loads certifi's CA bundle into a new SSLContext for every client and transport it builds (50-100 ms
each here); the app builds one per app, the egress policy two per transport. The bundle does not change
while the process runs, and a context is safe to share between clients and threads (httpx already shares
one across every connection of a pool).
"""
from __future__ import annotations

import functools
import ssl
from typing import Any

import httpx


@functools.cache
def default_verify_context(trust_env: bool = True) -> ssl.SSLContext:
    """httpx's default verifying context (certifi, or SSL_CERT_FILE/SSL_CERT_DIR when trust_env), built once."""
    return httpx.create_ssl_context(verify=True, trust_env=trust_env)


def verify_context(verify: Any = True, *, trust_env: bool = True) -> Any:
    """What to pass as httpx's `verify`: the shared context for the default (True), anything else unchanged."""
    return default_verify_context(trust_env) if verify is True else verify
