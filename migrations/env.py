"""Alembic environment: runs migrations on the app's engine (SQLite or PostgreSQL)."""
from __future__ import annotations

from alembic import context

from shopify_app.db import make_engine
from shopify_app.all_models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Migrate through a given connection, or one opened from sqlalchemy.url."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from shopify_app.config import load_settings

        url = load_settings().database_url
    engine = make_engine(url)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
