"""Settings from environment variables, with the documented defaults (see README)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
INSTANCE_DIR = REPO_ROOT / "instance"

# Sandbox mode (SANDBOX=1, set by `make run` when no credentials are given) runs with these
# fixed, public dev credentials. They are in the source: never accepted outside sandbox mode.
SANDBOX_API_KEY = "sandbox-client-id"
SANDBOX_API_SECRET = "sandbox-client-secret-not-for-production"
# A well-formed Fernet key used only in sandbox mode when ENCRYPTION_KEYS is unset.
SANDBOX_ENCRYPTION_KEY = "c2FuZGJveC1vbmx5LWtleS1kby1ub3QtdXNlLTMyYmI="
TRUTHY = ("1", "true", "yes", "on")


class ConfigError(RuntimeError):
    """The environment does not describe a safe way to start (the message says what to set)."""

# Exactly the scopes the app's GraphQL documents and webhook topics need, computed from the
# 2026-10 schema (tests/integrations/test_scopes.py recomputes it and compares with this and
# shopify.app.toml). A write_x scope grants read_x too, so read_x is not listed beside it.
DEFAULT_SCOPES = (
    "read_customers,read_locations,"
    "write_assigned_fulfillment_orders,write_fulfillments,write_inventory,"
    "write_merchant_managed_fulfillment_orders,write_orders,write_products,write_returns"
)


# Shopify shows orders older than 60 days only to apps granted read_all_orders (a scope it
# reviews): asked for only when the install backfill reaches further back (BACKFILL_DAYS).
READ_ALL_ORDERS = "read_all_orders"
PROTECTED_ORDER_DAYS = 60


def scopes_for_backfill(scopes: str, backfill_days: int) -> str:
    """The scopes to request: read_all_orders added only when BACKFILL_DAYS exceeds 60."""
    wanted = [s.strip() for s in scopes.split(",") if s.strip() and s.strip() != READ_ALL_ORDERS]
    if backfill_days > PROTECTED_ORDER_DAYS:
        wanted.append(READ_ALL_ORDERS)
    return ",".join(wanted)


def _backfill_days(value: str) -> int:
    try:
        days = int(value)
    except ValueError:
        days = -1
    if not 0 <= days <= 3650:
        raise ConfigError("BACKFILL_DAYS must be a whole number of days from 0 to 3650 (default 30; 0: no backfill at install)")
    return days


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


# Embedded threads for per-shop units that wait on Shopify or a supplier (SHOP_JOB_NETWORK_THREADS' default):
# the one place the figure is written (scheduler/shop_jobs.py and the pool's overflow read it from the settings).
SHOP_JOB_NETWORK_THREADS = 32


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
    api_version: str = "2026-10"
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
    egress_allow: tuple[str, ...] = ()  # EGRESS_ALLOW: hosts/CIDRs tenant-chosen targets may reach besides the public internet
    supplier_timeout_max_seconds: float = 30.0  # SUPPLIER_TIMEOUT_MAX_SECONDS: cap on any supplier call (1..120)
    file_supplier_root: str | None = None  # FILE_SUPPLIER_ROOT: folder "local" file suppliers live under (on-premise); unset: none
    backfill_days: int = 30  # BACKFILL_DAYS: orders of the last N days imported at install (0: none)
    # TRUSTED_PROXY_HOPS: proxies in front of the app whose X-Forwarded-For entry is believed (Shopify's app proxy is one;
    # a load balancer another). 0: none, the peer address is the client (werkzeug ProxyFix's x_for semantics).
    trusted_proxy_hops: int = 0
    shop_job_network_threads: int = SHOP_JOB_NETWORK_THREADS  # SHOP_JOB_NETWORK_THREADS: embedded threads for per-shop units that wait on Shopify or a supplier (1..256)
    metrics_token: str | None = None  # METRICS_TOKEN: bearer token for /metrics (unset: 404 in real mode)
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


def credentials_for_mode(env: dict[str, str], sandbox: bool) -> tuple[str, str, str | None, tuple[str, ...]]:
    """(api key, secret, old secret, encryption keys) for the mode, or ConfigError saying what is wrong."""
    api_key = env.get("SHOPIFY_API_KEY", "").strip()
    api_secret = env.get("SHOPIFY_API_SECRET", "").strip()
    api_secret_old = env.get("SHOPIFY_API_SECRET_OLD", "").strip() or None
    keys = _csv(env.get("ENCRYPTION_KEYS"))
    if sandbox:
        # Refuse rather than guess which one wins: a deployment that sets SANDBOX by mistake
        # must not quietly trust the public sandbox secret.
        if api_key or api_secret or api_secret_old:
            raise ConfigError("SANDBOX=1 and SHOPIFY_API_KEY/SHOPIFY_API_SECRET(_OLD) are both set: unset SANDBOX to run with the credentials, or unset the credentials for the local sandbox")
        return SANDBOX_API_KEY, SANDBOX_API_SECRET, None, keys or (SANDBOX_ENCRYPTION_KEY,)
    missing = [name for name, value in (("SHOPIFY_API_KEY", api_key), ("SHOPIFY_API_SECRET", api_secret)) if not value]
    if len(missing) == 2:
        raise ConfigError("SHOPIFY_API_KEY and SHOPIFY_API_SECRET are not set: set both (and ENCRYPTION_KEYS), or SANDBOX=1 for the local sandbox (`make run` does that when neither is set)")
    if missing:
        raise ConfigError(f"{missing[0]} is not set while the other Shopify credential is: set both, or neither with SANDBOX=1")
    if SANDBOX_API_SECRET in (api_secret, api_secret_old) or api_key == SANDBOX_API_KEY:
        raise ConfigError("the sandbox's public credentials cannot be used outside sandbox mode: set the app's real SHOPIFY_API_KEY and SHOPIFY_API_SECRET")
    if not keys:
        raise ConfigError("ENCRYPTION_KEYS must be set outside sandbox mode (comma-separated Fernet keys, newest first; `python -m shopify_app.cli generate-key` makes one)")
    if SANDBOX_ENCRYPTION_KEY in keys:
        raise ConfigError("ENCRYPTION_KEYS contains the sandbox's public key: generate a real one (`python -m shopify_app.cli generate-key`)")
    _check_fernet_keys(keys)
    return api_key, api_secret, api_secret_old, keys


def _check_fernet_keys(keys: tuple[str, ...]) -> None:
    from cryptography.fernet import Fernet

    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ConfigError(f"ENCRYPTION_KEYS entry {position} is not a Fernet key (32 url-safe base64 bytes)") from None


def _trusted_hops(raw: str) -> int:
    """TRUSTED_PROXY_HOPS: a whole number 0-5."""
    try:
        hops = int(raw)
    except ValueError:
        raise ValueError("TRUSTED_PROXY_HOPS must be a whole number from 0 to 5") from None
    if not 0 <= hops <= 5:
        raise ValueError("TRUSTED_PROXY_HOPS must be a whole number from 0 to 5")
    return hops


def _supplier_timeout_max(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 1 <= seconds <= 120:
        raise ConfigError("SUPPLIER_TIMEOUT_MAX_SECONDS must be a number of seconds from 1 to 120 (default 30)")
    return seconds


def _metrics_token(value: str) -> str | None:
    token = value.strip()
    if token and len(token) < 16:
        raise ConfigError("METRICS_TOKEN must be at least 16 characters (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`), or unset to keep /metrics closed")
    return token or None


def whole_number(env, name: str, default: int, low: int = 1, high: int = 256) -> int:
    """The whole-number setting `name` of `env` within [low, high]; unset or blank: `default`; else ConfigError naming it."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high} (default {default}), got {raw!r}")
    return value


def load_settings(env: dict[str, str] | None = None, **overrides) -> Settings:
    """Build Settings from the environment; raises ConfigError unless it is a complete real or an explicit sandbox setup."""
    env = dict(os.environ if env is None else env)
    sandbox = env.get("SANDBOX", "").strip().lower() in TRUTHY
    api_key, api_secret, api_secret_old, keys = credentials_for_mode(env, sandbox)
    port = int(env.get("PORT", "8000"))
    backfill_days = _backfill_days(env.get("BACKFILL_DAYS", "30"))
    values = dict(
        api_key=api_key,
        api_secret=api_secret,
        api_secret_old=api_secret_old,
        app_url=env.get("APP_URL", f"http://127.0.0.1:{port}").rstrip("/"),
        database_url=env.get("DATABASE_URL") or default_database_url(),
        encryption_keys=keys,
        port=port,
        api_version=env.get("SHOPIFY_API_VERSION", "2026-10"),
        scopes=scopes_for_backfill(env.get("SHOPIFY_SCOPES", DEFAULT_SCOPES), backfill_days),
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
        egress_allow=_csv(env.get("EGRESS_ALLOW")),
        supplier_timeout_max_seconds=_supplier_timeout_max(env.get("SUPPLIER_TIMEOUT_MAX_SECONDS", "30")),
        file_supplier_root=env.get("FILE_SUPPLIER_ROOT") or None,
        backfill_days=backfill_days,
        metrics_token=_metrics_token(env.get("METRICS_TOKEN", "")),
        trusted_proxy_hops=_trusted_hops(env.get("TRUSTED_PROXY_HOPS", "0")),
        shop_job_network_threads=whole_number(env, "SHOP_JOB_NETWORK_THREADS", SHOP_JOB_NETWORK_THREADS),
    )
    values.update(overrides)
    return Settings(**values)
