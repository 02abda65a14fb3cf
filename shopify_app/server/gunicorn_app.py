"""The production server: gunicorn (gthread) serving create_app(), the embedded scheduler in exactly one worker."""
from __future__ import annotations

import os

from gunicorn.app.base import BaseApplication

from ..config import ConfigError, Settings, whole_number
from . import hooks
from .logs import gunicorn_logconfig

# Access log without the query string (%(U)s is the path only): App Home URLs carry session
# tokens (id_token=...), and the install callback carries codes.
# The request id (our X-Request-Id response header) ties the line to the app's own log lines.
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms rid=%({x-request-id}o)s'


def server_options(settings: Settings, host: str, env: dict | None = None) -> dict:
    """gunicorn settings for this app: one worker while it runs the embedded scheduler and pumps."""
    env = dict(os.environ if env is None else env)
    workers = whole_number(env, "WEB_WORKERS", 1, high=1024)
    if workers > 1 and settings.run_scheduler:
        # Several workers would each start the clock and the pumps: the claims keep jobs
        # single, but every pump would poll the database, and shutdown order gets murky.
        raise ConfigError("WEB_WORKERS > 1 needs RUN_SCHEDULER=0 (the embedded scheduler and pumps run in exactly one process; scale out with JOB_ENGINE=procrastinate workers)")
    return {
        "bind": f"{host}:{settings.port}",
        "workers": workers,
        "worker_class": "shopify_app.server.worker.GracefulThreadWorker",  # gthread that stops the pumps at SIGTERM
        "threads": whole_number(env, "WEB_THREADS", 8, high=1024),
        "graceful_timeout": whole_number(env, "GRACEFUL_TIMEOUT", 30, high=86400),
        "timeout": whole_number(env, "WORKER_TIMEOUT", 60, high=86400),
        "keepalive": 5,
        "preload_app": False,  # the app (and its scheduler threads) is built in the worker, after fork
        "max_requests": 0,  # never recycle the worker that owns the clock
        "accesslog": "-",
        "access_log_format": ACCESS_LOG_FORMAT,
        "logconfig_dict": gunicorn_logconfig(settings),
        "forwarded_allow_ips": env.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1"),
        "proc_name": "dropship-web",
        "control_socket_disable": True,  # one fixed path per user: two servers on a host would fight over it
        "on_starting": hooks.on_starting,
        "when_ready": hooks.when_ready,
        "post_worker_init": hooks.post_worker_init,
        "worker_exit": hooks.worker_exit,
        "child_exit": hooks.child_exit,
    }


class ProductionServer(BaseApplication):
    """gunicorn configured in code (no config file to drift), loading create_app(settings) in the worker."""

    def __init__(self, settings: Settings, options: dict):
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        """Apply server_options() to gunicorn's config."""
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        """Build the app in the worker process (its scheduler and pumps start here)."""
        from ..factory import create_app

        return create_app(self.settings)


def serve(settings: Settings, host: str = "0.0.0.0") -> int:
    """Run the production server until SIGTERM/SIGINT (gunicorn exits the process itself on fatal errors)."""
    ProductionServer(settings, server_options(settings, host)).run()
    return 0
