"""`python -m shopify_app.cli backup-sqlite DEST`: a consistent copy of the live SQLite database, taken while the app writes."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading

import pytest

from conftest import make_settings
from production_server_kit import REPO, real_mode_env
from shopify_app.backup import BackupError, backup_sqlite


def test_backup_while_a_writer_commits_is_a_consistent_snapshot(tmp_path, sqlite_url):
    from shopify_app.db import make_engine

    engine = make_engine(sqlite_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE ledger (id INTEGER PRIMARY KEY, debit INTEGER, credit INTEGER)")
    stop = threading.Event()

    def write():
        # Every transaction writes a balanced pair: a torn copy would show debit != credit.
        while not stop.is_set():
            with engine.begin() as conn:
                conn.exec_driver_sql("INSERT INTO ledger (debit, credit) VALUES (5, 0)")
                conn.exec_driver_sql("INSERT INTO ledger (debit, credit) VALUES (0, 5)")

    writer = threading.Thread(target=write)
    writer.start()
    try:
        for n in range(3):
            dest = tmp_path / f"backup-{n}.db"
            pages = backup_sqlite(sqlite_url, dest, pages_per_step=1)
            assert pages > 0
            with sqlite3.connect(dest) as copy:
                assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                debit, credit = copy.execute("SELECT coalesce(sum(debit), 0), coalesce(sum(credit), 0) FROM ledger").fetchone()
                assert debit == credit
                assert copy.execute("SELECT count(*) FROM alembic_version").fetchone()[0] == 1  # the whole database, not one table
            assert not (tmp_path / f"backup-{n}.db-wal").exists() and not (tmp_path / f"backup-{n}.db.partial").exists()
    finally:
        stop.set()
        writer.join()
        engine.dispose()


def test_cli_backup_sqlite(tmp_path, sqlite_url):
    dest = tmp_path / "nightly.db"
    done = subprocess.run([sys.executable, "-m", "shopify_app.cli", "backup-sqlite", str(dest)], cwd=REPO, env=real_mode_env(sqlite_url, 8000),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"to {dest}" in done.stdout
    with sqlite3.connect(dest) as copy:
        tables = {row[0] for row in copy.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"webhook_inbox", "orders", "alembic_version"} <= tables


def test_backup_refuses_postgresql_and_the_database_itself(tmp_path, sqlite_url):
    with pytest.raises(BackupError, match="pg_dump"):
        backup_sqlite("postgresql+psycopg://u@127.0.0.1:1/db", tmp_path / "x.db")
    with pytest.raises(BackupError, match="another file"):
        backup_sqlite(sqlite_url, sqlite_url.split("///", 1)[1])
    with pytest.raises(BackupError, match="no database file"):
        backup_sqlite(f"sqlite:///{tmp_path}/missing.db", tmp_path / "y.db")
    assert make_settings(sqlite_url).is_sqlite


def test_cli_backup_of_postgresql_says_to_use_pg_dump(tmp_path):
    env = real_mode_env("postgresql+psycopg://u@127.0.0.1:1/db", 8000)
    done = subprocess.run([sys.executable, "-m", "shopify_app.cli", "backup-sqlite", str(tmp_path / "x.db")], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "pg_dump" in done.stderr and "Traceback" not in done.stderr
