"""Command line: `python -m shopify_app.cli <command>` (db-upgrade, run, rotate-keys, ...)."""
from __future__ import annotations

import argparse
import logging
import os
import sys

from cryptography.fernet import Fernet

from .config import ConfigError, load_settings
from .crypto import SecretBox, rotate_all_tokens
from .migrate import upgrade_to_head

log = logging.getLogger("shopify_app.cli")
CONFIG_ERROR_EXIT_CODE = 4  # as create_app() (gunicorn's "App failed to load")


def cmd_db_upgrade(args) -> int:
    """Apply migrations to DATABASE_URL."""
    settings = load_settings()
    upgrade_to_head(settings.database_url)
    if settings.job_engine == "procrastinate":
        from scheduler.distributed import ensure_schema

        ensure_schema(settings.database_url)  # procrastinate's own tables, beside ours
    print(f"database at head: {settings.database_url.split('@')[-1]}")
    return 0


def cmd_rotate_keys(args) -> int:
    """Re-encrypt all stored tokens under the first key of ENCRYPTION_KEYS."""
    settings = load_settings()
    from .db import make_engine, make_session_factory

    engine = make_engine(settings.database_url)
    with make_session_factory(engine).begin() as session:
        count = rotate_all_tokens(session, SecretBox(settings.encryption_keys))
    engine.dispose()
    print(f"re-encrypted {count} token rows under the newest key; older keys can now be removed")  # tokens, supplier credentials, alert webhooks
    return 0


def cmd_generate_key(args) -> int:
    """Print a new Fernet key (put it first in ENCRYPTION_KEYS, then rotate-keys)."""
    print(Fernet.generate_key().decode())
    return 0


def cmd_drain_inbox(args) -> int:
    """Process due webhook deliveries once (for cron or debugging)."""
    from .services import build_services
    from .webhooks.registry import load_handlers
    from .webhooks.worker import InboxWorker

    load_handlers()
    services = build_services(load_settings())
    report = InboxWorker(services.session_factory, services.settings, services).drain()
    print(f"done={report.done} ignored={report.ignored} retried={report.retried} dead={report.dead}")
    services.close()
    return 0


def cmd_backfill(args) -> int:
    """Import a shop's orders (created in the last --days, or updated since --since) through the Admin API, with a progress bar."""
    import datetime as dt

    from .auth.tokens import shop_domain_of
    from .orders.backfill import backfill_orders, text_progress_bar
    from .services import build_services
    from .webhooks.registry import load_handlers

    load_handlers()
    settings = load_settings()
    if args.since:
        since, field = dt.datetime.fromisoformat(args.since).replace(tzinfo=dt.timezone.utc), "updated_at"
    else:
        days = settings.backfill_days if args.days is None else args.days
        since, field = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days), "created_at"
    method = "bulk" if args.bulk else "paged" if args.paged else "auto"
    services = build_services(settings)
    try:
        report = backfill_orders(services, shop_domain_of(args.shop), since, text_progress_bar(), field=field, method=method)
    finally:
        services.close()
    print(f"backfill ({report.method}): {report.seen} orders read, {report.applied} applied (newer than what we held), "
          f"{report.skipped} unreadable, of {report.total}")
    return 0


def cmd_openapi(args) -> int:
    """Print the JSON API's OpenAPI document (docs/openapi.json is this output)."""
    import json

    from .web.openapi import build_document

    print(json.dumps(build_document(), indent=2, sort_keys=True))
    return 0


def cmd_run(args) -> int:
    """Serve the app: the production server (gunicorn) in real mode; with SANDBOX=1 the dev server and the local sandbox store and supplier."""
    settings = load_settings()
    if settings.sandbox:
        from .devserver import run_dev

        return run_dev(host=args.host)
    from .server.gunicorn_app import serve

    return serve(settings, host=args.host)


def cmd_web(args) -> int:
    """The web role: the production server (gunicorn), whatever the mode (containers: --host 0.0.0.0)."""
    from .server.gunicorn_app import serve

    return serve(load_settings(), host=args.host)


def cmd_backup_sqlite(args) -> int:
    """Copy the SQLite database to DEST while the app runs (SQLite's online backup API: a consistent snapshot)."""
    from .backup import BackupError, backup_sqlite

    settings = load_settings()
    try:
        pages = backup_sqlite(settings.database_url, args.dest)
    except BackupError as exc:
        print(f"backup failed: {exc}", file=sys.stderr, flush=True)
        return 2
    print(f"backed up {pages} pages to {args.dest}")
    return 0


def warn_removed_worker_options(args) -> None:
    """Log a deprecation warning for the worker's removed order-work slots (--work-concurrency, WORKER_WORK_CONCURRENCY), which are ignored.

    Accepted so that a rolling deploy still running the previous release's command line or
    environment starts (argparse exits with status 2 on an unknown option): one
    procrastinate worker with --concurrency slots serves both queues now.
    """
    for given, name in ((args.work_concurrency is not None, "--work-concurrency"), (bool(os.environ.get("WORKER_WORK_CONCURRENCY")), "WORKER_WORK_CONCURRENCY")):
        if given:
            log.warning("%s is deprecated and ignored: one procrastinate worker with --concurrency slots serves the jobs and work queues,"
                        " and order work runs on the order lanes' own threads; remove it", name)


def cmd_worker(args) -> int:
    """The worker role (PostgreSQL): the order lanes woken by NOTIFY, and procrastinate's periodic jobs once per tick."""
    from scheduler.distributed import run_worker, worker_readiness

    from .config import load_settings
    from .services import build_services

    from .metrics.multiprocess import mark_dead_at_exit
    from .metrics.worker_server import serve_worker_metrics
    from .server.errors import init_error_reporting
    from .server.lifecycle import stop_services

    warn_removed_worker_options(args)
    mark_dead_at_exit()  # on a host shared with the web: its live gauges leave the metrics directory with it
    settings = load_settings()
    init_error_reporting(settings)
    services = build_services(settings)
    serve_worker_metrics(settings, ready=lambda: worker_readiness(services))  # METRICS_PORT: its own /metrics and /readyz (workers in their own containers)
    try:
        run_worker(services, concurrency=args.concurrency)  # procrastinate stops on SIGTERM after the jobs in hand
    finally:
        stop_services(services)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    from .server.logs import configure_logging

    configure_logging()  # JSON lines unless SANDBOX=1 (LOG_FORMAT=json|text overrides)
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except ConfigError as exc:  # one clear line, not a traceback: the operator has to fix the environment
        print(f"configuration error: {exc}", file=sys.stderr, flush=True)
        return CONFIG_ERROR_EXIT_CODE


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser (the deployment's roles are its subcommands: web, worker, migrate)."""
    parser = argparse.ArgumentParser(prog="python -m shopify_app.cli", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("db-upgrade", "migrate"):  # migrate: the deployment's one-shot role
        sub.add_parser(name, help=cmd_db_upgrade.__doc__).set_defaults(fn=cmd_db_upgrade)
    sub.add_parser("rotate-keys", help=cmd_rotate_keys.__doc__).set_defaults(fn=cmd_rotate_keys)
    sub.add_parser("generate-key", help=cmd_generate_key.__doc__).set_defaults(fn=cmd_generate_key)
    sub.add_parser("drain-inbox", help=cmd_drain_inbox.__doc__).set_defaults(fn=cmd_drain_inbox)
    sub.add_parser("openapi", help=cmd_openapi.__doc__).set_defaults(fn=cmd_openapi)
    for name in ("backfill", "backfill-orders"):  # backfill-orders: the older name
        backfill = sub.add_parser(name, help=cmd_backfill.__doc__)
        backfill.add_argument("--shop", required=True)
        window = backfill.add_mutually_exclusive_group()
        window.add_argument("--days", type=int, help="orders created in the last N days (default BACKFILL_DAYS)")
        window.add_argument("--since", help="orders updated since YYYY-MM-DD (UTC)")
        how = backfill.add_mutually_exclusive_group()
        how.add_argument("--bulk", action="store_true", help="always one bulk operation")
        how.add_argument("--paged", action="store_true", help="never a bulk operation")
        backfill.set_defaults(fn=cmd_backfill)
    worker = sub.add_parser("worker", help=cmd_worker.__doc__)
    worker.add_argument("--concurrency", type=int, default=4, help="slots for the periodic jobs (the order lanes run on threads of their own)")
    worker.add_argument("--work-concurrency", default=None, help=argparse.SUPPRESS)  # removed: accepted and ignored (warn_removed_worker_options)
    worker.set_defaults(fn=cmd_worker)
    web = sub.add_parser("web", help=cmd_web.__doc__)
    web.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"), help="address to bind (default HOST, else all interfaces: the container's port)")
    web.set_defaults(fn=cmd_web)
    backup = sub.add_parser("backup-sqlite", help=cmd_backup_sqlite.__doc__)
    backup.add_argument("dest", help="the backup file to write (replaced atomically)")
    backup.set_defaults(fn=cmd_backup_sqlite)
    run = sub.add_parser("run", help=cmd_run.__doc__)
    run.add_argument("--host", default="127.0.0.1")
    run.set_defaults(fn=cmd_run)
    return parser


if __name__ == "__main__":
    sys.exit(main())
