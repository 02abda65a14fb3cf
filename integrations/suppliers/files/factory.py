"""Builds a FileChannelAdapter from a supplier record (credentials decrypted by the caller), and checks settings before they are saved."""
from __future__ import annotations

from typing import Any, Mapping

from ... import egress
from .. import runtime
from ..registry import adapter_kind, settings_check
from ..runtime import SupplierRef
from .adapter import FileChannelAdapter
from .config import FileChannelSettings, InvalidFileSettings, check_credentials, parse_settings
from .transport import FileTransport, LocalFolderTransport, tenant_folder


def transport_factory(settings: FileChannelSettings, credentials: Mapping[str, Any], *, policy: egress.EgressPolicy | None = None,
                      shop_domain: str | None = None):
    """A function opening a new transport to the supplier (one per batch of operations); local folders live under the shop's own folder."""
    timeout = runtime.current().clamp_timeout(settings.timeout_seconds)

    def open_transport() -> FileTransport:
        if settings.transport == "local":
            file_root = runtime.current().file_root
            if not file_root:
                raise InvalidFileSettings("local folders need the operator's FILE_SUPPLIER_ROOT")
            if not shop_domain:
                raise InvalidFileSettings("local folders need the supplier's shop (each shop has its own folder)")
            # Confined per tenant: a merchant types only the part below FILE_SUPPLIER_ROOT/<shop>/.
            folder = tenant_folder(file_root, shop_domain, settings.local_folder)
            return LocalFolderTransport(folder / settings.root if settings.root else folder)
        if settings.transport == "sftp":
            from .sftp import SftpTransport

            return SftpTransport(settings.host, settings.port, settings.username, host_key_fingerprint=settings.host_key_fingerprint,
                                 password=credentials.get("password") or None, private_key=credentials.get("private_key") or None,
                                 root=settings.root, timeout=timeout, policy=policy)
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
    return FileChannelAdapter(parsed, transport_factory(parsed, credentials or {}, shop_domain=owner.shop_domain), sent_log_for(owner))


@settings_check("files")
def check_file_settings(settings: dict[str, Any], policy: Any, timeout_max_seconds: float) -> None:
    """The settings must parse, and the host must be one the egress policy lets us reach."""
    parsed = parse_settings(settings, local_allowed=bool(runtime.current().file_root))
    if parsed.host:
        try:
            policy.resolve(parsed.host, parsed.port)
        except egress.EgressRefused as exc:
            raise InvalidFileSettings(f"settings.host is refused: {exc.reason} (only public internet hosts are allowed)") from None
        except Exception:  # noqa: BLE001 - httpx.ConnectError: does not resolve
            raise InvalidFileSettings(f"settings.host: {parsed.host} does not resolve") from None
