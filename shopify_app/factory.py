"""The Flask app factory."""
from __future__ import annotations

import sys

from flask import Flask

from .auth.install import blueprint as install_bp
from .auth.install import configure_shopify_api
from .config import ConfigError, Settings, load_settings
from .server.errors import init_error_reporting
from .server.logs import configure_logging
from .server.request_context import install_request_context
from .i18n import init_i18n
from .metrics import init_app as init_metrics
from .services import Services, build_services
from .mappings.files import MAX_FILE_BYTES, MULTIPART_ALLOWANCE
from .suppliers.fulfillment_service import blueprint as fulfillment_service_bp
from .suppliers.webhooks import blueprint as supplier_webhooks_bp
from .web.api_schemas import refuse_nul_in_query
from .web.api import blueprint as api_bp
from .web.alerts_api import blueprint as alerts_api_bp
from .web.suppliers_api import blueprint as suppliers_api_bp
from .web.edi_suppliers_api import blueprint as edi_suppliers_api_bp
from .web.email_suppliers_api import blueprint as email_suppliers_api_bp
from .web.file_suppliers_api import blueprint as file_suppliers_api_bp
from .web.locations_api import blueprint as locations_api_bp
from .web.inventory_api import blueprint as inventory_api_bp
from .web.returns_api import blueprint as returns_api_bp
from .web.health import blueprint as health_bp
from .web.pages import blueprint as pages_bp
from .web.supplier_pages import blueprint as supplier_pages_bp
from .web.onboarding import blueprint as onboarding_bp
from .web.admin_api import blueprint as admin_api_bp
from .web.mappings_api import blueprint as mappings_api_bp
from .web.settings_actions_api import blueprint as settings_actions_api_bp
from .web.customer_links import blueprint as customer_links_bp  # issue 17 part N
from .web.notice_settings_api import blueprint as notice_settings_api_bp  # issue 17 part N
from .web.security import add_content_security_policy
from .web.cases_api import blueprint as cases_api_bp
from .proxy.views import blueprint as proxy_bp  # issue 17 part P: the customer's page through the app proxy
from .webhooks.intake import blueprint as webhooks_bp
from .webhooks.intake import serve_webhooks_outside_flask
from .webhooks.registry import load_handlers


# gunicorn's APP_LOAD_ERROR: its arbiter stops with "App failed to load" instead of
# respawning workers that can never start.
CONFIG_ERROR_EXIT_CODE = 4


def settings_or_exit() -> Settings:
    """load_settings(), or the configuration error's message on stderr and exit (no traceback)."""
    try:
        return load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(CONFIG_ERROR_EXIT_CODE) from None


# A spreadsheet upload at its own limit plus its multipart headers (a 100,000-row stock feed fits well within it).
REQUEST_MAX_BYTES = MAX_FILE_BYTES + MULTIPART_ALLOWANCE


def create_app(settings: Settings | None = None, services: Services | None = None, start_scheduler: bool | None = None) -> Flask:
    """Build the app; the embedded scheduler starts unless disabled (RUN_SCHEDULER=0)."""
    settings = settings or (services.settings if services else settings_or_exit())
    services = services or build_services(settings)
    configure_logging(settings)  # JSON lines in real mode, text in sandbox mode (LOG_FORMAT overrides)
    init_error_reporting(settings)  # only when SENTRY_DSN is set
    configure_shopify_api(settings)
    load_handlers()
    app = Flask(__name__)
    # One cap on every request body (API JSON, feed uploads, callbacks); /webhooks keeps its
    # own smaller WEBHOOK_MAX_BYTES. Werkzeug answers 413 before the body is read.
    app.config["MAX_CONTENT_LENGTH"] = max(REQUEST_MAX_BYTES, settings.webhook_max_bytes + 1)
    app.extensions["services"] = services
    init_i18n(app)
    for bp in (webhooks_bp, supplier_webhooks_bp, fulfillment_service_bp, pages_bp, alerts_api_bp, api_bp, admin_api_bp, suppliers_api_bp, email_suppliers_api_bp, edi_suppliers_api_bp, file_suppliers_api_bp, locations_api_bp, inventory_api_bp, returns_api_bp, health_bp, install_bp,
               supplier_pages_bp, onboarding_bp, mappings_api_bp, settings_actions_api_bp, proxy_bp, cases_api_bp):
        app.register_blueprint(bp)
    for bp in (customer_links_bp, notice_settings_api_bp):  # issue 17 part N: customer notices
        app.register_blueprint(bp)
    from .web.as2_api import blueprint as as2_api_bp, inbound as as2_inbound_bp  # issue 15: EDI partners over AS2 (session 27 part A)

    app.register_blueprint(as2_inbound_bp)
    app.register_blueprint(as2_api_bp)
    # Browsers ask every origin for /favicon.ico (the app opened on its own, the customers' notice pages): the app's icon, not a 404.
    app.add_url_rule("/favicon.ico", "favicon", lambda: app.send_static_file("favicon.ico"))
    app.after_request(add_content_security_policy)
    install_request_context(app)
    refuse_nul_in_query(app)  # ?q=%00 was a 500 on PostgreSQL wherever a query reached a search
    init_metrics(app)
    serve_webhooks_outside_flask(app)  # issue 20 part P: POST /webhooks without Flask's per-request work
    if settings.job_engine == "procrastinate":
        # Web processes wake the workers' order lanes by NOTIFY (python -m shopify_app.cli worker).
        from scheduler.distributed import attach

        attach(services)
    if settings.run_scheduler if start_scheduler is None else start_scheduler:
        from scheduler.embedded import EmbeddedScheduler

        services.scheduler = EmbeddedScheduler(services)
        services.scheduler.start()
    return app
