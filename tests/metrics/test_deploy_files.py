"""deploy/: the Grafana dashboard and the Prometheus alert rules use only metrics the app exports,
and Prometheus's own promtool accepts the scrape config and the rules and passes the rules' unit tests."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from metrics_kit import TOKEN, exported_names

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = REPO / "deploy" / "prometheus"
DASHBOARD = REPO / "deploy" / "grafana" / "dropship-dashboard.json"
PROMETHEUS_OWN = {"up"}  # series Prometheus itself writes for every target
KEYWORDS = {"and", "or", "unless", "offset", "bool", "inf", "nan"}
# The alerts the operator needs (issue 21): intake stalled, inbox lag, dead letters, supplier
# errors, breaker open, GraphQL throttling, job lag, readiness down.
REQUIRED_ALERTS = {
    "DropshipWebhookIntakeStalled", "DropshipInboxLag", "DropshipDeadLettersRising", "DropshipSupplierErrorRate",
    "DropshipSupplierBreakerOpen", "DropshipShopifyThrottling", "DropshipJobLagging", "DropshipShopJobLagging", "DropshipDown", "DropshipDatabaseUnreachable",
    "DropshipEmbeddedSchedulerDown",
}


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression selects (strings, label matchers, ranges, grouping clauses and functions removed)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", expr))
    return names - KEYWORDS


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """What a fresh embedded-mode app's /metrics exports (families are listed before any event gave them samples)."""
    from conftest import make_settings
    from shopify_app.factory import create_app
    from shopify_app.migrate import upgrade_to_head

    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'app.db'}"
    upgrade_to_head(url)
    app = create_app(make_settings(url, metrics_token=TOKEN), start_scheduler=True)  # embedded mode: its clock and pumps too
    try:
        response = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    finally:
        app.extensions["services"].scheduler.shutdown()
        app.extensions["services"].close()
    assert response.status_code == 200
    return exported_names(response.get_data(as_text=True))


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def alert_rules() -> list[dict]:
    return [rule for group in yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"] for rule in group["rules"]]


def test_metric_name_extraction_sees_through_promql():
    expr = 'histogram_quantile(0.99, sum by (le, topic) (rate(dropship_webhook_intake_seconds_bucket{topic!="a b"}[5m]))) / on(job) up offset 1h and time()'
    assert metric_names(expr) == {"dropship_webhook_intake_seconds_bucket", "up"}
    assert metric_names("topk(10, sum by (shop) (rate(not_ours_total[5m])))") == {"not_ours_total"}


def test_every_dashboard_expr_uses_only_exported_metrics(exported):
    exprs = dashboard_exprs()
    assert len(exprs) >= 25
    for expr in exprs:
        names = metric_names(expr)
        assert names, expr
        assert names <= exported | PROMETHEUS_OWN, f"{expr}: {sorted(names - exported - PROMETHEUS_OWN)} not exported"


def test_the_dashboard_covers_every_family_the_app_exports(exported):
    used = set().union(*(metric_names(e) for e in dashboard_exprs()))
    families = {re.sub(r"(_total|_bucket|_count|_sum|_created)$", "", name) for name in exported if name.startswith("dropship_")}
    uncovered = {f for f in families if not any(u == f or u.startswith(f + "_") for u in used)}
    assert not uncovered, f"exported but on no panel: {sorted(uncovered)}"


def test_every_alert_rule_uses_only_exported_metrics_and_says_what_to_do(exported):
    rules = alert_rules()
    assert REQUIRED_ALERTS <= {rule["alert"] for rule in rules}
    for rule in rules:
        names = metric_names(rule["expr"])
        assert names and names <= exported | PROMETHEUS_OWN, f"{rule['alert']}: {sorted(names - exported - PROMETHEUS_OWN)} not exported"
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_the_scrape_config_sends_the_token_from_a_file_and_loads_the_rules():
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"dropship", "dropship-worker"}  # the web (database gauges too) and each worker's own port
    for job in jobs.values():
        assert job["metrics_path"] == "/metrics" and job["authorization"]["credentials_file"]
        assert "credentials" not in job["authorization"]  # the token never sits in the committed file
    assert config["rule_files"] == ["alerts.yml"]


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing (Debian package prometheus): run `make system-deps`")
    return found


def run_promtool(*args: str, cwd: Path) -> str:
    done = subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_promtool_accepts_the_rules_and_they_fire_as_their_unit_tests_expect():
    assert "SUCCESS" in run_promtool("check", "rules", "alerts.yml", cwd=PROMETHEUS)
    assert "SUCCESS" in run_promtool("test", "rules", "alerts_test.yml", cwd=PROMETHEUS)


def test_promtool_accepts_the_scrape_config(tmp_path):
    token_file = tmp_path / "metrics_token"
    token_file.write_text(TOKEN)
    config = (PROMETHEUS / "prometheus.yml").read_text().replace("/etc/prometheus/metrics_token", str(token_file))
    (tmp_path / "prometheus.yml").write_text(config)
    shutil.copy(PROMETHEUS / "alerts.yml", tmp_path / "alerts.yml")
    assert "SUCCESS" in run_promtool("check", "config", "prometheus.yml", cwd=tmp_path)


def test_promtool_parses_every_dashboard_expr(tmp_path):
    # promtool has no "parse this expression" command: each expr becomes a recording rule, which it parses as PromQL.
    rules = {"groups": [{"name": "dashboard", "rules": [{"record": f"dashboard:expr_{n}", "expr": expr} for n, expr in enumerate(dashboard_exprs())]}]}
    (tmp_path / "dashboard_rules.yml").write_text(yaml.safe_dump(rules))
    assert "SUCCESS" in run_promtool("check", "rules", "dashboard_rules.yml", cwd=tmp_path)
