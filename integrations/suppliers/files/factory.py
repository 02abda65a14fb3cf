"""Builds a FileChannelAdapter from a supplier record (credentials decrypted by the caller), and checks settings before they are saved."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ... import egress
from .. import runtime
from ..registry import adapter_kind, settings_check
from ..runtime import SupplierRef
from .adapter import FileChannelAdapter
from .config import FileChannelSettings, InvalidFileSettings, check_credentials, parse_settings
from .transport import FileTransport, LocalFolderTransport, tenant_folder


def open_sftp(host: str, port: int, username: str, host_key_fingerprint: str, credentials: Mapping[str, Any], *, root: str = "",
              timeout: float, policy: egress.EgressPolicy | None = None) -> FileTransport:
    """An SFTP transport to a supplier's server: host key pinned, password or key from the credentials, connected through the egress policy.

    The one place file suppliers and EDI partners build their SFTP connection.
    """
    from .sftp import SftpTransport

    return SftpTransport(host, port, username, host_key_fingerprint=host_key_fingerprint, password=credentials.get("password") or None,
                         private_key=credentials.get("private_key") or None, root=root, timeout=timeout, policy=policy)


def local_folder(shop_domain: str | None, folder: str) -> Path:
    """The shop's own folder under the operator's FILE_SUPPLIER_ROOT (runtime.file_root): `<root>/<shop>/<folder>`, never a path a tenant typed raw."""
    file_root = runtime.current().file_root
    if not file_root:
        raise InvalidFileSettings("local folders need the operator's FILE_SUPPLIER_ROOT")
    if not shop_domain:
        raise InvalidFileSettings("local folders need the supplier's shop (each shop has its own folder)")
    return tenant_folder(file_root, shop_domain, folder)


def check_host_allowed(host: str, port: int, policy: Any, error: type[ValueError], key: str = "settings.host") -> None:
    """Refuse, at save time, a host the egress policy would refuse (or that does not resolve); `error` names `key`."""
    try:
        policy.resolve(host, port)
    except egress.EgressRefused as exc:
        raise error(f"{key} is refused: {exc.reason} (only public internet hosts are allowed)") from None
    except Exception:  # noqa: BLE001 - httpx.ConnectError: does not resolve
        raise error(f"{key}: {host} does not resolve") from None


def transport_factory(settings: FileChannelSettings, credentials: Mapping[str, Any], *, policy: egress.EgressPolicy | None = None,
                      shop_domain: str | None = None):
    """A function opening a new transport to the supplier (one per batch of operations); local folders live under the shop's own folder."""
    timeout = runtime.current().clamp_timeout(settings.timeout_seconds)

    def open_transport() -> FileTransport:
        if settings.transport == "local":
            folder = local_folder(shop_domain, settings.local_folder)  # confined per tenant: a merchant types only the part below <root>/<shop>/
            return LocalFolderTransport(folder / settings.root if settings.root else folder)
        if settings.transport == "sftp":
            return open_sftp(settings.host, settings.port, settings.username, settings.host_key_fingerprint, credentials, root=settings.root,
                             timeout=timeout, policy=policy)
        from .ftp import FtpTransport

        return FtpTransport(settings.host, settings.port, settings.username, credentials.get("password") or "", tls=settings.transport == "ftps",
                            root=settings.root, timeout=timeout, policy=policy)

    return open_transport


@adapter_kind("files")
def files_from_record(credentials: dict[str, Any], settings: dict[str, Any], owner: SupplierRef | None = None) -> FileChannelAdapter:
    """settings: transport, folders, PO format, mappings (config.py); the PO log is the owner's sent log in the app's database."""
    parsed = parse_settings(settings, local_allowed=bool(runtime.current().file_root))
    check_credentials(parsed, credentials or {})
    sent_log_for = runtime.current().sent_log_for
    if owner is None or sent_log_for is None:
        raise InvalidFileSettings("file suppliers need the app's sent log (build the adapter with its shop and supplier)")
    queue_for = runtime.current().po_batch_queue_for
    # A supplier that never batched (no po_batching in its settings: once set, the app keeps it, see
    # supplier_changes.prepare_update) has no queued PO to withdraw or find: no queue, no statement per order.
    ever_batched = "po_batching" in settings
    return FileChannelAdapter(parsed, transport_factory(parsed, credentials or {}, shop_domain=owner.shop_domain), sent_log_for(owner),
                              batch_queue=queue_for(owner) if queue_for is not None and ever_batched else None)


@settings_check("files")
def check_file_settings(settings: dict[str, Any], policy: Any, timeout_max_seconds: float) -> None:
    """The settings must parse, and the host must be one the egress policy lets us reach."""
    parsed = parse_settings(settings, local_allowed=bool(runtime.current().file_root))
    if parsed.host:
        check_host_allowed(parsed.host, parsed.port, policy, InvalidFileSettings)
