"""A file supplier's settings (where its server is, which folders, the PO format, the column mappings) and credentials.

Checked when the merchant saves them and again when the adapter is built; every error names
the key. The password and private key are credentials (stored encrypted with the supplier's
other credentials); the host key fingerprint is a setting (it is not secret, and the merchant
must be able to read it back to compare it with the supplier's).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from .batch_schedule import BatchSchedule, InvalidBatching, parse_batching
from .mapping import KINDS, FileMapping, InvalidMapping, parse_mapping
from .sftp import normalize_fingerprint
from .transport import TEMP_SUFFIXES, safe_folder

TRANSPORTS = ("sftp", "ftp", "ftps", "local")
DEFAULT_PORTS = {"sftp": 22, "ftp": 21, "ftps": 21}
PO_FORMATS = ("csv", "xlsx")
DEFAULT_FOLDERS = {
    "orders": "to_supplier",  # where our purchase orders go
    "orders_taken": "to_supplier/processed",  # where the supplier moves a PO it picked up (checked before writing one again)
    "acknowledgements": "from_supplier/acknowledgements",
    "tracking": "from_supplier/tracking",
    "stock": "from_supplier/stock",
    "archive": "from_supplier/archive",  # files we processed, moved here (per kind: archive/<kind>)
}
DEFAULT_TEMP_SUFFIXES = TEMP_SUFFIXES
_HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$|^\[?[0-9A-Fa-f:.]+\]?$")
KEYS = {"transport", "host", "port", "username", "host_key_fingerprint", "root", "folders", "po_format", "po_delimiter", "poll_minutes",
        "temp_suffixes", "timeout_seconds", "mappings", "ship_to_countries", "sla_hours", "local_folder", "known_skus",
        "po_batching"}


class InvalidFileSettings(ValueError):
    """Settings a merchant may not save; the message names the key."""


@dataclass(frozen=True)
class FileChannelSettings:
    """Checked settings of one file supplier."""

    transport: str
    host: str | None
    port: int | None
    username: str | None
    host_key_fingerprint: str | None
    root: str = ""
    local_folder: str = ""
    folders: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_FOLDERS))
    po_format: str = "csv"
    po_delimiter: str = ","
    poll_minutes: int = 5
    temp_suffixes: tuple[str, ...] = DEFAULT_TEMP_SUFFIXES
    timeout_seconds: float = 30.0
    mappings: Mapping[str, FileMapping] = field(default_factory=dict)
    known_skus: frozenset[str] | None = None  # when set, POs with other SKUs are refused before a file is written
    batching: BatchSchedule | None = None  # None: one PO file per order at once; else one file per slot of this schedule

    def mapping(self, kind: str) -> FileMapping:
        """The mapping of one file kind (defaults: header row 1, columns found by name)."""
        return self.mappings.get(kind) or FileMapping(kind)

    def archive_folder(self, kind: str) -> str:
        """Where processed files of this kind are moved."""
        return f"{self.folders['archive']}/{kind}" if self.folders["archive"] else kind


def _text(settings: Mapping[str, Any], key: str, limit: int, *, required: bool = True) -> str | None:
    value = settings.get(key)
    if value in (None, "") and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise InvalidFileSettings(f"settings.{key} must be one line of 1-{limit} characters")
    return value.strip()


def parse_settings(settings: Mapping[str, Any], *, local_allowed: bool = False) -> FileChannelSettings:
    """Check a file supplier's settings; InvalidFileSettings names the key."""
    if not isinstance(settings, Mapping):
        raise InvalidFileSettings("settings must be a JSON object")
    unknown = sorted(set(settings) - KEYS - {"preset"})
    if unknown:
        raise InvalidFileSettings(f"settings: unknown key(s) {', '.join(unknown)}")
    transport = settings.get("transport", "sftp")
    if transport not in TRANSPORTS:
        raise InvalidFileSettings(f"settings.transport must be one of {', '.join(TRANSPORTS)}")
    host = port = username = fingerprint = None
    local_folder = ""
    try:
        if transport == "local":
            if not local_allowed:
                raise InvalidFileSettings("settings.transport: local folders are only for on-premise setups the operator configured (FILE_SUPPLIER_ROOT)")
            local_folder = safe_folder(settings.get("local_folder") or "")
            if not local_folder:  # "" would be the shop's whole folder; a supplier gets a sub-folder of its own
                raise InvalidFileSettings("settings.local_folder: a folder name is required (it lives under your shop's own folder)")
        else:
            host = _text(settings, "host", 253)
            if not _HOST.match(host):
                raise InvalidFileSettings("settings.host must be a host name or an IP address (no scheme, no path)")
            port = settings.get("port", DEFAULT_PORTS[transport])
            if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
                raise InvalidFileSettings("settings.port must be a whole number from 1 to 65535")
            username = _text(settings, "username", 255)
            if transport == "sftp":
                raw = settings.get("host_key_fingerprint")
                if not raw:
                    raise InvalidFileSettings("settings.host_key_fingerprint is required for SFTP: ask the supplier for it "
                                              "(ssh-keygen -lf on their host key), or use the fingerprint the connection test shows")
                try:
                    fingerprint = normalize_fingerprint(raw)
                except ValueError as exc:
                    raise InvalidFileSettings(f"settings.host_key_fingerprint: {exc}") from None
        root = safe_folder(settings.get("root") or "")
    except ValueError as exc:
        if isinstance(exc, InvalidFileSettings):
            raise
        raise InvalidFileSettings(f"settings.root / local_folder: {exc}") from None
    folders_raw = settings.get("folders") or {}
    if not isinstance(folders_raw, Mapping) or set(folders_raw) - set(DEFAULT_FOLDERS):
        raise InvalidFileSettings(f"settings.folders must be an object with some of {', '.join(DEFAULT_FOLDERS)}")
    folders = dict(DEFAULT_FOLDERS)
    for key, value in folders_raw.items():
        try:
            folders[key] = safe_folder(value if isinstance(value, str) else "\x00")
        except ValueError:
            raise InvalidFileSettings(f"settings.folders.{key} must be a relative folder of plain names (a/b/c)") from None
    inbound = [folders[kind] for kind in ("acknowledgements", "tracking", "stock")]
    if len(set(inbound)) != len(inbound) or folders["orders"] in inbound:
        raise InvalidFileSettings("settings.folders: orders, acknowledgements, tracking and stock need a folder each (a file's folder says what it is)")
    po_format = settings.get("po_format", "csv")
    if po_format not in PO_FORMATS:
        raise InvalidFileSettings("settings.po_format must be csv or xlsx")
    po_delimiter = settings.get("po_delimiter", ",")
    if po_delimiter not in (",", ";", "\t", "|"):
        raise InvalidFileSettings("settings.po_delimiter must be one of , ; tab |")
    poll_minutes = settings.get("poll_minutes", 5)
    if isinstance(poll_minutes, bool) or not isinstance(poll_minutes, int) or not 1 <= poll_minutes <= 24 * 60:
        raise InvalidFileSettings("settings.poll_minutes must be a whole number from 1 to 1440")
    suffixes = settings.get("temp_suffixes", list(DEFAULT_TEMP_SUFFIXES))
    if not isinstance(suffixes, list) or len(suffixes) > 10 or not all(isinstance(s, str) and 1 <= len(s) <= 20 for s in suffixes):
        raise InvalidFileSettings("settings.temp_suffixes must be a list of up to 10 name endings such as .tmp")
    timeout = settings.get("timeout_seconds", 30)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 1 <= timeout <= 300:
        raise InvalidFileSettings("settings.timeout_seconds must be a number of seconds from 1 to 300")
    mappings_raw = settings.get("mappings") or {}
    if not isinstance(mappings_raw, Mapping):
        raise InvalidFileSettings("settings.mappings must be an object with some of " + ", ".join(KINDS))
    try:
        mappings = {kind: parse_mapping(kind, value) for kind, value in mappings_raw.items()}
    except InvalidMapping as exc:
        raise InvalidFileSettings(f"settings.{exc}") from None
    known_skus = settings.get("known_skus")
    if known_skus is not None and (not isinstance(known_skus, list) or len(known_skus) > 100_000 or not all(isinstance(s, str) and 0 < len(s) <= 255 for s in known_skus)):
        raise InvalidFileSettings("settings.known_skus must be a list of the supplier's SKUs")
    try:
        batching = parse_batching(settings.get("po_batching"))
    except InvalidBatching as exc:
        raise InvalidFileSettings(f"settings.{exc}") from None
    return FileChannelSettings(transport, host, port, username, fingerprint, root, local_folder, folders, po_format, po_delimiter,
                               poll_minutes, tuple(s.lower() for s in suffixes), float(timeout), mappings,
                               frozenset(known_skus) if known_skus is not None else None, batching)


def check_credentials(settings: FileChannelSettings, credentials: Mapping[str, Any]) -> None:
    """SFTP: a password or a private key; FTP/FTPS: a password; InvalidFileSettings names what is missing."""
    if settings.transport == "local":
        return
    password, key = credentials.get("password"), credentials.get("private_key")
    if settings.transport == "sftp" and not (password or key):
        raise InvalidFileSettings("credentials: SFTP needs a password or a private_key")
    if settings.transport in ("ftp", "ftps") and not password:
        raise InvalidFileSettings("credentials.password is required for FTP")
