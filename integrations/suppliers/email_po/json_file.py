"""A small JSON document kept in one file: read fresh each time, changed under a lock, replaced atomically.

Several processes on one host may share the file (an exclusive `flock` on a side `.lock`
file serialises changes); a change is written to a temporary file, fsynced and renamed over
the old one, so a crash leaves either the old or the new document, never half of one.
POSIX only. Not for several hosts: there, keep these records in the database instead.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from pathlib import Path
from typing import Any, Iterator

from ..base import TransientSupplierError


class StoreUnavailable(TransientSupplierError):
    """The file cannot be read or written; never taken as empty, since that would send POs twice."""


class CorruptStore(StoreUnavailable):
    """The file exists but is not the JSON object we wrote: refusing to guess or to overwrite it (a person must repair it)."""


class JsonFile:
    """One JSON object on disk."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._thread_lock = threading.Lock()

    def read(self) -> dict[str, Any]:
        """The current document ({} when the file does not exist yet)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise StoreUnavailable(f"{self.path.name} cannot be read ({type(exc).__name__})") from None
        try:
            document = json.loads(raw)
        except ValueError:
            raise CorruptStore(f"{self.path.name} is not valid JSON") from None
        if not isinstance(document, dict):
            raise CorruptStore(f"{self.path.name} does not hold a JSON object")
        return document

    @contextlib.contextmanager
    def change(self) -> Iterator[dict[str, Any]]:
        """Yield the document to change in place; it is written back when the block ends without error."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        with self._thread_lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                lock_file = open(lock_path, "a")
            except OSError as exc:
                raise StoreUnavailable(f"{self.path.name} cannot be locked ({type(exc).__name__})") from None
            with lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                try:
                    document = self.read()
                    yield document
                    self._write(document)
                finally:
                    fcntl.flock(lock_file, fcntl.LOCK_UN)

    def _write(self, document: dict[str, Any]) -> None:
        try:
            self._replace_file(document)
        except OSError as exc:
            raise StoreUnavailable(f"{self.path.name} cannot be written ({type(exc).__name__})") from None

    def _replace_file(self, document: dict[str, Any]) -> None:
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself must survive a power cut
        finally:
            os.close(directory)
