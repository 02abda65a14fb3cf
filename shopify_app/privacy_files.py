"""A shop's files under the instance folder (legacy email-PO sent logs and stock feeds): found, redacted, erased.

Which files are the shop's: a path named by one of its suppliers' settings (`*_path` keys,
from before those logs moved into the database) and by no other shop's, or any file or
folder whose name is the shop's domain (`demo.myshopify.com`, `demo.myshopify.com.json`,
`email-po/demo.myshopify.com/...`). Only paths inside the instance folder are ever touched
(a tenant once chose those paths: never follow one elsewhere), and never the database.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from .bounds import json_or_none
from .privacy_search import Needles, Redactor

MAX_FILE_BYTES = 64 * 1024 * 1024  # a legacy log larger than this is not read into memory: it is erased with the shop


def instance_dir() -> Path:
    """The app's instance folder (config.INSTANCE_DIR, read at call time: tests point it elsewhere)."""
    from . import config

    return config.INSTANCE_DIR.resolve()


def _database_files(settings) -> set[Path]:
    if not settings.is_sqlite:
        return set()
    database = make_url(settings.database_url).database
    if not database or database == ":memory:":
        return set()
    path = Path(database).resolve()
    return {path} | {path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal")}


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return path != folder


def _setting_paths(settings_json) -> set[str]:
    if not isinstance(settings_json, dict):
        return set()
    return {value for key, value in settings_json.items() if key.endswith("_path") and isinstance(value, str) and value}


def _named_after(name: str, shop_domain: str) -> bool:
    name = name.lower()
    return name == shop_domain or any(name.startswith(shop_domain + sep) for sep in (".", "-", "_"))


def shop_paths(session: Session, shop_domain: str, settings) -> list[Path]:
    """The shop's files and folders under the instance folder (resolved, never the database)."""
    from .suppliers.models import Supplier

    folder = instance_dir()
    if not folder.is_dir():
        return []
    shop_domain = shop_domain.lower()
    ours: set[str] = set()
    theirs: set[str] = set()
    for owner, supplier_settings in session.execute(select(Supplier.shop_domain, Supplier.settings)):
        (ours if owner == shop_domain else theirs).update(_setting_paths(supplier_settings))
    forbidden = _database_files(settings)
    theirs_resolved = {Path(p).resolve() for p in theirs}
    found: set[Path] = set()
    for raw in ours:
        path = Path(raw).resolve()
        if _inside(path, folder) and path.is_file() and path not in theirs_resolved:
            found.add(path)
            lock = path.with_name(path.name + ".lock")
            if lock.is_file():
                found.add(lock)
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            if _named_after(name, shop_domain):
                entry = Path(root) / name
                found.add(entry if entry.is_symlink() else entry.resolve())  # a link is removed, never what it points at
        dirs[:] = [d for d in dirs if not _named_after(d, shop_domain)]  # taken whole
    return sorted(p for p in found if _inside(p, folder) and p not in forbidden)


def erase_shop_files(session: Session, shop_domain: str, settings) -> int:
    """Delete the shop's files and folders under the instance folder; returns how many."""
    count = 0
    for path in shop_paths(session, shop_domain, settings):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        count += 1
    return count


def _files_in(paths: list[Path]):
    for path in paths:
        if path.is_dir():
            yield from (p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
        elif path.is_file() and not path.is_symlink() and not path.name.endswith(".lock"):
            yield path


def sweep_shop_files(session: Session, shop_domain: str, settings, needles: Needles, *, write: bool) -> dict[str, list[dict]]:
    """Find (and when `write`, redact in place) the customer's data in the shop's files; {file: [{path, value}]}."""
    found: dict[str, list[dict]] = {}
    folder = instance_dir()
    for path in _files_in(shop_paths(session, shop_domain, settings)):
        if path.stat().st_size > MAX_FILE_BYTES:
            continue
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # not a text file: nothing of ours writes binary files there
        redactor = Redactor(needles)
        if _is_json(text):
            redacted = redactor.value(text, "")
        else:  # line by line, so a weak value is replaced only on the customer's own lines
            redacted = "".join(redactor.value(line, f"line {n}") for n, line in enumerate(text.splitlines(keepends=True), 1))
        if not redactor.found:
            continue
        found[str(path.relative_to(folder))] = [{"path": where or "$", "value": value} for where, value in redactor.found]
        if write:
            _replace_atomically(path, redacted)
    return found


def _is_json(text: str) -> bool:
    return isinstance(json_or_none(text), (dict, list))


def _replace_atomically(path: Path, text: str) -> None:
    # Written beside the file and renamed over it: a crash leaves the old or the new file, never half.
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, path.stat().st_mode & 0o777)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
