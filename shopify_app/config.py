"""Settings from environment variables, with the documented defaults (see README)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
INSTANCE_DIR = REPO_ROOT / "instance"

# Sandbox mode runs without real credentials; these are its fixed dev credentials.
SANDBOX_API_KEY = "sandbox-client-id"
SANDBOX_API_SECRET = "sandbox-client-secret-not-for-production"
# A well-formed Fernet key used only in sandbox mode when ENCRYPTION_KEYS is unset.
SANDBOX_ENCRYPTION_KEY = "c2FuZGJveC1vbmx5LWtleS1kby1ub3QtdXNlLTMyYmI="

# Scopes for the whole product (orders, fulfillment, inventory, returns): keep in step
# with shopify.app.toml.
DEFAULT_SCOPES = (
    "read_products,write_products,read_inventory,write_inventory,read_locations,"
    "read_orders,write_orders,read_customers,"
    "read_fulfillments,write_fulfillments,"
    "read_assigned_fulfillment_orders,write_assigned_fulfillment_orders,"
    "read_merchant_managed_fulfillment_orders,write_merchant_managed_fulfillment_orders,"
    "read_third_party_fulfillment_orders,write_third_party_fulfillment_orders,"
    "read_returns,write_returns"
)


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    """Everything the app reads from its environment."""

    api_key: str
    api_secret: str
    api_secret_old: str | None
    app_url: str
    database_url: str
    encryption_keys: tuple[str, ...]
    port: int
    api_version: str = "2025-01"
    scopes: str = DEFAULT_SCOPES
    sandbox: bool = False
    sandbox_shopify_url: str | None = None
    webhook_max_bytes: int = 1_048_576
    webhook_max_attempts: int = 8
    token_refresh_margin_seconds: int = 300
    run_scheduler: bool = True
    job_engine: str = "embedded"  # embedded (APScheduler + pumps in-process) | procrastinate (PostgreSQL workers)
    webhook_subscriptions: str = "app"  # app (shopify.app.toml, deployed) | shop (the app keeps shop-level ones itself)
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "orders@example.com"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def smtp(self):
        """SMTP settings, or None when no SMTP_HOST is configured (notices wait)."""
        from .notify.email import SmtpSettings

        if not self.smtp_host:
            return None
        return SmtpSettings(self.smtp_host, self.smtp_port, self.smtp_from, self.smtp_username, self.smtp_password, self.smtp_starttls)

    @property
    def is_sqlite(self) -> bool:
        """True when the database is SQLite (the embedded default)."""
        return self.database_url.startswith("sqlite")


def default_database_url() -> str:
    """SQLite file under instance/."""
    return f"sqlite:///{INSTANCE_DIR / 'app.db'}"


def load_settings(env: dict[str, str] | None = None, **overrides) -> Settings:
    """Build Settings from the environment; no Shopify credentials means sandbox mode."""
    env = dict(os.environ if env is None else env)
    api_key = env.get("SHOPIFY_API_KEY", "")
    api_secret = env.get("SHOPIFY_API_SECRET", "")
    sandbox = not (api_key and api_secret)
    if sandbox:
        api_key, api_secret = SANDBOX_API_KEY, SANDBOX_API_SECRET
    port = int(env.get("PORT", "8000"))
    keys = _csv(env.get("ENCRYPTION_KEYS"))
    if not keys:
        if not sandbox:
            raise RuntimeError("ENCRYPTION_KEYS must be set (comma-separated Fernet keys, newest first)")
        keys = (SANDBOX_ENCRYPTION_KEY,)
    values = dict(
        api_key=api_key,
        api_secret=api_secret,
        api_secret_old=env.get("SHOPIFY_API_SECRET_OLD") or None,
        app_url=env.get("APP_URL", f"http://127.0.0.1:{port}").rstrip("/"),
        database_url=env.get("DATABASE_URL") or default_database_url(),
        encryption_keys=keys,
        port=port,
        api_version=env.get("SHOPIFY_API_VERSION", "2025-01"),
        scopes=env.get("SHOPIFY_SCOPES", DEFAULT_SCOPES),
        sandbox=sandbox,
        sandbox_shopify_url=env.get("SANDBOX_SHOPIFY_URL") or None,
        webhook_max_bytes=int(env.get("WEBHOOK_MAX_BYTES", "1048576")),
        webhook_max_attempts=int(env.get("WEBHOOK_MAX_ATTEMPTS", "8")),
        run_scheduler=env.get("RUN_SCHEDULER", "1") not in ("0", "false", "no"),
        job_engine=env.get("JOB_ENGINE", "embedded"),
        webhook_subscriptions=env.get("WEBHOOK_SUBSCRIPTIONS", "app"),
        smtp_host=env.get("SMTP_HOST") or None,
        smtp_port=int(env.get("SMTP_PORT", "25")),
        smtp_from=env.get("SMTP_FROM", "orders@example.com"),
        smtp_username=env.get("SMTP_USERNAME") or None,
        smtp_password=env.get("SMTP_PASSWORD") or None,
        smtp_starttls=env.get("SMTP_STARTTLS", "0") in ("1", "true", "yes"),
    )
    values.update(overrides)
    return Settings(**values)
