"""Builds an EdiX12Adapter from a supplier record: the partner's settings, the app's EDI store, and the exchange folder's transport.

The exchange folder is the partner's SFTP server (host, port, user, pinned host key; the
password or key in the encrypted credentials) or, on premise, a local folder under the
operator's FILE_SUPPLIER_ROOT (the file channel's setting, `runtime.file_root`; one sub-folder
per shop and supplier; never a path a tenant types). The SFTP connection, the local root and the
save-time host check are the file channel's (`files/factory.py`): one transport for both.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from .. import runtime
from ..files.factory import check_host_allowed, local_folder, open_sftp
from ..files.sftp import normalize_fingerprint
from ..files.transport import FileTransport, LocalFolderTransport
from ..registry import adapter_kind, settings_check
from ..runtime import SupplierRef
from .adapter import EdiX12Adapter
from .as2_factory import as2_opener, check_as2_settings
from .config import InvalidEdiSettings, parse_settings

_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}$")


def _transport_settings(settings: dict[str, Any]) -> dict[str, Any]:
    transport = settings.get("transport") or {"kind": "sftp"}
    if not isinstance(transport, dict) or transport.get("kind") not in ("sftp", "local", "as2"):
        raise InvalidEdiSettings("transport.kind: sftp, as2, or local (a folder the operator shares)")
    if transport["kind"] == "sftp":
        host, port = transport.get("host"), transport.get("port", 22)
        if not isinstance(host, str) or not _HOST.match(host):
            raise InvalidEdiSettings("transport.host: the partner's SFTP host name")
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise InvalidEdiSettings("transport.port: 1-65535")
        if not isinstance(transport.get("username"), str) or not transport["username"]:
            raise InvalidEdiSettings("transport.username: required")
        try:
            normalize_fingerprint(transport.get("host_key_fingerprint") if isinstance(transport.get("host_key_fingerprint"), str) else "")
        except ValueError:
            raise InvalidEdiSettings("transport.host_key_fingerprint: the server's SHA256 host key fingerprint (pinned)") from None
    return transport


def transport_opener(settings: dict[str, Any], credentials: dict[str, Any], owner: SupplierRef | None) -> Callable[[], FileTransport]:
    """A function opening the exchange folder for this partner."""
    transport = _transport_settings(settings)
    if transport["kind"] == "as2":
        return as2_opener(transport, owner)
    if transport["kind"] == "local":
        if not runtime.current().file_root or owner is None:
            raise InvalidEdiSettings("transport.kind local needs the operator's FILE_SUPPLIER_ROOT")
        folder = local_folder(owner.shop_domain, str(int(owner.supplier_id)))
        folder.mkdir(parents=True, exist_ok=True)
        return lambda: LocalFolderTransport(folder)
    timeout = runtime.current().clamp_timeout(float(transport.get("timeout_seconds", 30)))
    return lambda: open_sftp(transport["host"], transport.get("port", 22), transport["username"], normalize_fingerprint(transport["host_key_fingerprint"]),
                             credentials, root=str(transport.get("root", "")), timeout=timeout)


@adapter_kind("edi_x12")
def edi_from_record(credentials: dict[str, Any], settings: dict[str, Any], owner: SupplierRef | None = None) -> EdiX12Adapter:
    """settings: config.py's keys plus `transport`; the store is the owner's, in the app's database."""
    parsed = parse_settings(settings)
    store_for = getattr(runtime.current(), "edi_store_for", None)
    if owner is None or store_for is None:
        raise InvalidEdiSettings("EDI suppliers need the app's EDI store (build the adapter with its shop and supplier)")
    return EdiX12Adapter(parsed, store_for(owner), transport_opener(settings, credentials, owner))


@settings_check("edi_x12")
def check_edi_settings(settings: dict[str, Any], policy: Any, timeout_max_seconds: float) -> None:
    """The partner's IDs, separators and folders must make valid interchanges; the transport must name a host, user and pinned key."""
    parse_settings(settings)
    transport = _transport_settings(settings)
    if transport["kind"] == "as2":
        check_as2_settings(transport, policy)
    if transport["kind"] == "sftp":
        check_host_allowed(transport["host"], transport.get("port", 22), policy, InvalidEdiSettings, "transport.host")
