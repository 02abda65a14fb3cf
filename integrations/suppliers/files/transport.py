"""The one interface every file transport (local folder, SFTP, FTP/FTPS) implements, and the local folder.

File names and folders come from supplier settings a merchant typed, so every transport
takes only relative folders and plain names (`safe_folder`, `safe_name`) and never
touches anything outside its root. Writes are atomic for the reader on the other side:
upload under a temporary dot-name, then rename, so a supplier polling the folder never
reads a half-written purchase order.
"""
from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol

_NAME = re.compile(r"^[A-Za-z0-9._ -]{1,200}$")


class TransportError(Exception):
    """The transport could not do what was asked (connection, permission, missing file); retryable unless `permanent`."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class RemoteFile:
    """A file seen in a folder: its plain name, size in bytes and modification time (epoch seconds)."""

    name: str
    size: int
    modified: float


def safe_name(name: str) -> str:
    """A plain file name (letters, digits, dot, dash, underscore, space; no path, no leading dot); ValueError otherwise."""
    if not _NAME.match(name or "") or name.startswith(".") or name in {".", ".."}:
        raise ValueError(f"not a plain file name: {name!r}")
    return name


TEMP_SUFFIXES = (".tmp", ".part", ".filepart", ".partial", ".uploading")  # names writers give a file still being written


def is_temporary(name: str, suffixes: tuple[str, ...] = TEMP_SUFFIXES) -> bool:
    """A writer's temporary name (a dot-name, or one of the temporary endings): never read, it is not complete yet."""
    return name.startswith(".") or name.lower().endswith(suffixes)


def safe_folder(folder: str) -> str:
    """A relative folder of plain names ('' is the root); ValueError for absolute paths, '..' or odd characters."""
    folder = (folder or "").strip().strip("/")
    if not folder:
        return ""
    for part in PurePosixPath(folder).parts:
        safe_name(part)
    return folder


def tenant_folder(file_root: str | os.PathLike, shop_domain: str, folder: str) -> Path:
    """A shop's local folder: always under `file_root/<shop_domain>/`, so one tenant never reaches another's (or the whole root)."""
    shop = safe_name(re.sub(r"[^A-Za-z0-9.-]", "_", shop_domain or ""))
    folder = safe_folder(folder)
    if not folder:
        raise ValueError("a local folder is required (a folder name under the shop's own folder)")
    return Path(file_root) / shop / folder


class FileTransport(Protocol):
    """What the file channel needs from a place where files are exchanged."""

    def list(self, folder: str) -> list[RemoteFile]:
        """The plain files in `folder` (no dot-files, no sub-folders), oldest first."""

    def download(self, folder: str, name: str, sink: BinaryIO) -> int:
        """Stream one file into `sink`; returns the bytes written."""

    def write_atomic(self, folder: str, name: str, data: bytes) -> None:
        """Put a whole file so that a reader never sees it half-written (temporary name, then rename)."""

    def exists(self, folder: str, name: str) -> bool:
        """Whether `name` is in `folder`."""

    def move(self, folder: str, name: str, to_folder: str) -> None:
        """Move a file to another folder (e.g. an archive), keeping its name; replaces an older file of that name."""

    def close(self) -> None:
        """Release the connection, if any."""


class LocalFolderTransport:
    """A folder on this machine (tests, and on-premise setups where the supplier shares a mounted folder)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()

    def _dir(self, folder: str) -> Path:
        path = (self.root / safe_folder(folder)).resolve()
        if path != self.root and self.root not in path.parents:
            raise ValueError("folder outside the transport's root")
        return path

    def list(self, folder: str) -> list[RemoteFile]:
        """The plain files in `folder`, oldest first."""
        path = self._dir(folder)
        if not path.is_dir():
            raise TransportError(f"no such folder: {folder or '/'}")
        found = []
        for entry in os.scandir(path):
            if entry.is_file(follow_symlinks=False) and not entry.name.startswith(".") and _NAME.match(entry.name):
                stat = entry.stat(follow_symlinks=False)
                found.append(RemoteFile(entry.name, stat.st_size, stat.st_mtime))
        return sorted(found, key=lambda f: (f.modified, f.name))

    def download(self, folder: str, name: str, sink: BinaryIO) -> int:
        """Stream one file into `sink` in 1 MiB chunks."""
        path = self._dir(folder) / safe_name(name)
        written = 0
        try:
            with open(path, "rb") as source:
                while chunk := source.read(1 << 20):
                    sink.write(chunk)
                    written += len(chunk)
        except FileNotFoundError as exc:
            raise TransportError(f"no such file: {name}") from exc
        return written

    def write_atomic(self, folder: str, name: str, data: bytes) -> None:
        """Write to a dot-temporary in the same folder, fsync, then rename over the final name."""
        directory = self._dir(folder)
        directory.mkdir(parents=True, exist_ok=True)
        temporary = directory / f".{uuid.uuid4().hex}.part"
        with open(temporary, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, directory / safe_name(name))

    def exists(self, folder: str, name: str) -> bool:
        """Whether `name` is in `folder`."""
        return (self._dir(folder) / safe_name(name)).is_file()

    def move(self, folder: str, name: str, to_folder: str) -> None:
        """Rename into `to_folder` (created if missing)."""
        target = self._dir(to_folder)
        target.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(self._dir(folder) / safe_name(name), target / name)
        except FileNotFoundError as exc:
            raise TransportError(f"no such file: {name}") from exc

    def close(self) -> None:
        """Nothing to release."""
