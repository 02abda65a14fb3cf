"""Apply Alembic migrations from code (make run and the tests call this)."""
from __future__ import annotations

from alembic import command
from alembic.config import Config

from .config import REPO_ROOT


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at migrations/ and the given database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(REPO_ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade_to_head(database_url: str) -> None:
    """Bring the database schema to the newest revision."""
    command.upgrade(alembic_config(database_url), "head")
