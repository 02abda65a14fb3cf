"""Online backup of the SQLite database (sqlite3's backup API: consistent while the app writes)."""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(RuntimeError):
    """The backup cannot be made (the message says why)."""


def sqlite_path(database_url: str) -> Path:
    """The file of a SQLite DATABASE_URL; BackupError for other databases (PostgreSQL: use pg_dump)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise BackupError("backup-sqlite needs a SQLite file DATABASE_URL (for PostgreSQL use pg_dump, see README 'Operating')")
    return Path(url.database)


def backup_sqlite(database_url: str, dest: str | os.PathLike, pages_per_step: int = 1024) -> int:
    """Copy the live database to `dest` (written to a temporary file, then renamed into place); returns the page count."""
    source_path = sqlite_path(database_url)
    if not source_path.exists():
        raise BackupError(f"no database file at {source_path}")
    dest = Path(dest)
    if dest.resolve() == source_path.resolve():
        raise BackupError("the backup must go to another file than the database itself")
    partial = dest.with_name(dest.name + ".partial")
    partial.unlink(missing_ok=True)
    # Read-only URI: the backup never writes to (or creates) the live database; stepping lets writers in between steps.
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, timeout=30)
    target = sqlite3.connect(partial)
    try:
        source.backup(target, pages=pages_per_step)
        pages = target.execute("PRAGMA page_count").fetchone()[0]
        if target.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise BackupError("the copy failed its integrity check")
        target.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file (no -wal beside it)
    finally:
        target.close()
        source.close()
    os.replace(partial, dest)
    return pages
