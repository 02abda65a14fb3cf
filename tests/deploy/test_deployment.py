"""The deployment files: compose.yaml against the official compose-spec schema, the Dockerfile by hadolint's rules, and the image's role commands run as plain processes on PostgreSQL."""
from __future__ import annotations

import copy
import json
import re
import signal
import time

import httpx
import jsonschema
import pytest
import sqlalchemy as sa

from compose_kit import REPO, MissingVariable, compose_schema, dockerfile_instructions, exec_form, load_compose, service_environment
from conftest import _fresh_postgres_db, API_KEY, API_SECRET, FERNET_KEY, LOOPBACK_ALLOW, make_settings, sample_json, webhook_headers
from production_server_kit import ServerProcess, free_port
from shopify_app.cli import build_parser, cmd_db_upgrade, cmd_web, cmd_worker

APP_SERVICES = ("migrate", "web", "worker")
ROLE_COMMANDS = {"migrate": cmd_db_upgrade, "web": cmd_web, "worker": cmd_worker}
ENTRYPOINT = ["python", "-m", "shopify_app.cli"]
DEPLOY_VARS = {
    "POSTGRES_PASSWORD": "pw", "SHOPIFY_API_KEY": API_KEY, "SHOPIFY_API_SECRET": API_SECRET, "ENCRYPTION_KEYS": FERNET_KEY,
    "APP_URL": "https://app.example.com", "GRAFANA_ADMIN_PASSWORD": "admin-pw",
}


def validator():
    schema = compose_schema()
    return jsonschema.validators.validator_for(schema)(schema, format_checker=jsonschema.FormatChecker())


def test_compose_file_is_valid_against_the_official_compose_spec_schema():
    errors = sorted(validator().iter_errors(load_compose()), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]
    # The validator is live: a typo'd key and a wrong type are refused.
    broken = copy.deepcopy(load_compose())
    broken["services"]["web"]["comand"] = ["web"]
    broken["services"]["worker"]["deploy"] = ["replicas: 2"]
    errors = list(validator().iter_errors(broken))
    assert any("comand" in e.message for e in errors), [e.message for e in errors]
    assert any(list(e.absolute_path)[:3] == ["services", "worker", "deploy"] for e in errors), [e.message for e in errors]


def test_compose_starts_postgresql_a_one_shot_migrate_web_and_two_workers():
    compose = load_compose()
    services = compose["services"]
    assert {"db", "migrate", "web", "worker"} <= set(services)
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["migrate"]["restart"] == "no" and services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    for name in ("web", "worker"):
        assert services[name]["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}, name
    web_env = service_environment(compose, "web", DEPLOY_VARS)
    assert web_env["RUN_SCHEDULER"] == "0" and web_env["JOB_ENGINE"] == "procrastinate" and web_env["DATABASE_URL"].startswith("postgresql+psycopg://app:pw@db:5432/")
    assert "/readyz" in json.dumps(services["web"]["healthcheck"]["test"])
    # Graceful shutdown has room: compose waits longer than gunicorn's grace before SIGKILL.
    grace = int(service_environment(compose, "worker", DEPLOY_VARS)["GRACEFUL_TIMEOUT"])
    for name in APP_SERVICES:
        assert int(services[name]["stop_grace_period"].rstrip("s")) > grace
    # The metrics stack is opt-in, and reads part B's files by path.
    assert services["prometheus"]["profiles"] == ["metrics"] and services["grafana"]["profiles"] == ["metrics"]
    assert any(v.startswith("./deploy/prometheus:") for v in services["prometheus"]["volumes"])
    assert any(v.startswith("./deploy/grafana:") for v in services["grafana"]["volumes"])
    # Secrets are required from the environment, never defaulted in the file.
    with pytest.raises(MissingVariable):
        service_environment(compose, "web", {k: v for k, v in DEPLOY_VARS.items() if k != "SHOPIFY_API_SECRET"})


def test_every_image_is_pinned_to_a_version():
    for name, service in load_compose()["services"].items():
        if "build" in service:
            continue
        image = service["image"]
        assert re.fullmatch(r"[\w./-]+:v?\d+\.\d+(\.\d+)?[\w.-]*", image), f"{name}: {image} is not pinned"
    base = [args for instruction, args in dockerfile_instructions() if instruction == "FROM"]
    assert len(base) == 1 and re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base[0]), base


def test_every_app_service_command_is_a_real_entry_point():
    instructions = dict(dockerfile_instructions())
    assert exec_form(instructions["ENTRYPOINT"]) == ENTRYPOINT
    parser = build_parser()
    assert parser.parse_args(exec_form(instructions["CMD"])).fn is cmd_web
    for name, service in load_compose()["services"].items():
        if "build" not in service:
            continue
        assert service["build"] == "." and "entrypoint" not in service, name
        args = parser.parse_args(service["command"])  # SystemExit on an unknown role or option
        assert args.fn is ROLE_COMMANDS[name], (name, service["command"])


def test_compose_environment_names_are_settings_the_app_reads():
    compose = load_compose()
    sources = "\n".join(p.read_text() for d in ("shopify_app", "scheduler", "integrations") for p in (REPO / d).rglob("*.py"))
    for name in APP_SERVICES:
        for key in service_environment(compose, name, DEPLOY_VARS):
            assert f'"{key}"' in sources, f"{name}: {key} is set in compose.yaml but the app never reads it"


def test_dockerfile_follows_hadolint_rules():
    instructions = dockerfile_instructions()
    names = [instruction for instruction, _ in instructions]
    users = [args for instruction, args in instructions if instruction == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "DL3002: the last USER must not be root"
    assert names.index("USER") < names.index("ENTRYPOINT")
    assert "ADD" not in names, "DL3020: COPY, not ADD"
    assert all(args.startswith("/") for instruction, args in instructions if instruction == "WORKDIR"), "DL3000: absolute WORKDIR"
    for instruction, args in instructions:
        if instruction == "RUN":
            assert "sudo" not in args.split(), "DL3004"
            if "pip install" in args:
                assert "--no-cache-dir" in args, "DL3042"
                assert "-r requirements.txt" in args or "==" in args, "DL3013: pinned packages"
            if "apt-get install" in args:
                assert "--no-install-recommends" in args and "rm -rf /var/lib/apt/lists" in args, "DL3015/DL3009"
        if instruction in ("ENTRYPOINT", "CMD"):
            exec_form(args)  # DL3025: JSON form, so SIGTERM reaches the app
    assert "HEALTHCHECK" in names
    assert (REPO / ".dockerignore").exists() and ".venv" in (REPO / ".dockerignore").read_text()


@pytest.fixture
def pg_database(postgres_server) -> str:
    return _fresh_postgres_db(postgres_server)


def role_env(service: str, database_url: str, port: int, sandbox_url: str) -> dict[str, str]:
    """The service's environment from compose.yaml, pointed at this machine's test PostgreSQL and sandbox Shopify."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHOPIFY_", "SANDBOX", "SENTRY_", "LOG_"))}
    env.update(service_environment(load_compose(), service, dict(DEPLOY_VARS, APP_URL=f"http://127.0.0.1:{port}")))
    env.update(DATABASE_URL=database_url, PORT=str(port), HOST="127.0.0.1", SANDBOX_SHOPIFY_URL=sandbox_url, EGRESS_ALLOW=LOOPBACK_ALLOW, PYTHONUNBUFFERED="1")
    return env


def inbox_status(database_url: str, webhook_id: str) -> str | None:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT status FROM webhook_inbox WHERE webhook_id = :w"), {"w": webhook_id}).scalar()
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_the_roles_run_as_plain_processes_migrate_then_web_and_two_workers(tmp_path, pg_database, sandbox_shopify):
    import subprocess
    import sys

    from shopify_app.services import build_services

    compose = load_compose()
    port = free_port()
    migrate = subprocess.run([sys.executable, "-m", "shopify_app.cli", *compose["services"]["migrate"]["command"]], cwd=REPO,
                             env=role_env("migrate", pg_database, port, sandbox_shopify.base_url), capture_output=True, text=True, timeout=120)
    assert migrate.returncode == 0, migrate.stderr
    services = build_services(make_settings(pg_database, sandbox_shopify_url=sandbox_shopify.base_url))
    try:  # the merchant installed the app
        services.tokens.save("demo.myshopify.com", sandbox_shopify.issue_access_token("demo.myshopify.com", API_KEY)["access_token"], None, None, None, "read_orders")
    finally:
        services.close()
    web = ServerProcess(compose["services"]["web"]["command"], role_env("web", pg_database, port, sandbox_shopify.base_url), tmp_path / "web.log", port)
    # Containers each have their own network; as plain processes on one host each worker needs its own metrics port.
    # The first keeps a previous release's command line and environment (a rolling deploy): the
    # removed order-work slots option is ignored with a warning, not an argparse exit.
    previous = (["--work-concurrency", "8"], {"WORKER_WORK_CONCURRENCY": "8"})
    workers = [ServerProcess(compose["services"]["worker"]["command"] + (previous[0] if n == 0 else []),
                             role_env("worker", pg_database, port, sandbox_shopify.base_url) | {"METRICS_PORT": str(free_port())} | (previous[1] if n == 0 else {}),
                             tmp_path / f"worker{n}.log")
               for n in range(compose["services"]["worker"]["deploy"]["replicas"])]
    processes = [web, *workers]
    try:
        for process in processes:
            process.start()
        web.wait_http("/healthz")
        deadline = time.monotonic() + 60
        while (ready := httpx.get(web.url + "/readyz", timeout=5)).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert ready.status_code == 200, (ready.text, [p.output()[-2000:] for p in workers])
        assert ready.json()["checks"]["clock"]["engine"] == "procrastinate" and ready.json()["checks"]["clock"]["workers"] == 2
        assert "--work-concurrency is deprecated and ignored" in workers[0].output() and "WORKER_WORK_CONCURRENCY is deprecated" in workers[0].output()
        assert "deprecated" not in workers[1].output()
        body = json.dumps(sample_json("orders_create")).encode()
        headers = webhook_headers("orders/create", body, webhook_id="wh-roles")
        assert httpx.post(web.url + "/webhooks", content=body, headers=headers, timeout=10).status_code == 200
        deadline = time.monotonic() + 60
        while inbox_status(pg_database, "wh-roles") != "done" and time.monotonic() < deadline:
            time.sleep(0.3)
        assert inbox_status(pg_database, "wh-roles") == "done", [p.output()[-3000:] for p in processes]
        # The web role runs no clock (RUN_SCHEDULER=0): a worker handled the delivery.
        assert "scheduler not in this process" in web.output()
        assert any('fan-out' in w.output() for w in workers)
        for process in processes:
            process.proc.send_signal(signal.SIGTERM)
        assert [process.proc.wait(timeout=60) for process in processes] == [0] * len(processes), [p.output()[-2000:] for p in processes]
    finally:
        for process in processes:
            process.kill()
