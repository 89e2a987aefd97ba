"""deploy/monitoring as Prometheus and Grafana read it: the rules and the scrape config pass promtool, the
rules' unit tests (alerts_test.yml) fire the alerts they claim from synthetic series, and the dashboard is
an importable Grafana document whose panels fit the grid and say their units."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.monitoring.helpers import ALERTS, MONITORING, alert_expressions, dashboard, metric_names
from tests.support.tools import require_tool

HINT = "install Debian's prometheus package, which ships promtool (.ci/run does)"
SEVERITIES = {"critical", "warning", "info"}


def promtool(*args: str, cwd: Path = MONITORING) -> str:
    tool = require_tool("promtool", hint=HINT)
    done = subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def test_promtool_accepts_the_rules_and_the_scrape_config() -> None:
    assert "SUCCESS: 10 rules found" in promtool("check", "rules", "alerts.yml")
    assert "valid prometheus config" in promtool("check", "config", "prometheus.yml")


def test_the_rules_unit_tests_fire_the_alerts_they_claim() -> None:
    tests = yaml.safe_load((MONITORING / "alerts_test.yml").read_text())["tests"]
    fired = {case["alertname"] for test in tests for case in test["alert_rule_test"] if case["exp_alerts"]}
    assert {"ScpImagesHigh5xxRatio", "ScpImagesImportQueueStuck", "ScpImagesScrubFindings"} <= fired
    assert "SUCCESS" in promtool("test", "rules", "alerts_test.yml")


def test_a_wrong_threshold_fails_the_rules_unit_tests(tmp_path: Path) -> None:
    """The unit tests can fail: with the queue-age threshold at an hour, the stuck queue of the test
    (25 minutes) no longer alerts and promtool says so."""
    for name in ("alerts.yml", "alerts_test.yml"):
        shutil.copy(MONITORING / name, tmp_path / name)
    rules = tmp_path / "alerts.yml"
    rules.write_text(rules.read_text().replace("scp_images_import_queue_age_seconds) > 900", "x) > 3600"))
    tool = require_tool("promtool", hint=HINT)
    done = subprocess.run(
        [tool, "test", "rules", "alerts_test.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0 and "ScpImagesImportQueueStuck" in done.stdout + done.stderr


def _rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


@pytest.mark.parametrize("rule", _rules(), ids=lambda rule: rule["alert"])
def test_every_alert_waits_has_a_severity_and_says_what_to_do(rule: dict[str, Any]) -> None:
    assert rule.get("for"), "a blip must not page: every alert waits"
    assert rule["labels"]["severity"] in SEVERITIES
    assert rule["annotations"]["summary"].strip()
    description = rule["annotations"]["description"]
    # The runbook text: a command or a setting the operator acts on, not only a restatement.
    assert "scp-images" in description or "SCP_IMAGES_" in description, description
    assert len(description) > 120


def test_the_alerts_cover_what_the_issue_names() -> None:
    used = metric_names(alert_expressions())
    assert {
        "up",
        "scp_images_http_requests_total",
        "scp_images_http_request_duration_seconds_bucket",
        "scp_images_import_queue_age_seconds",
        "scp_images_import_failures_total",
        "scp_images_scrub_flagged_total",
        "scp_images_quota_refusals_total",
        "scp_images_flagged_downloads_refused_total",
        "scp_images_replay_guard_signatures",
        "scp_images_replay_guard_max_signatures",
    } <= used


def _panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def test_the_dashboard_is_an_importable_grafana_document() -> None:
    board = dashboard()
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36
    assert board["title"] and board["uid"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in _panels():
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        assert panel["targets"] and all(t["expr"] and t["refId"] for t in panel["targets"])
        assert all(t["datasource"]["uid"] == "${DS_PROMETHEUS}" for t in panel["targets"])
        assert panel["fieldConfig"]["defaults"]["unit"], f"{panel['title']} has no unit"
        assert panel["description"], panel["title"]


def test_the_dashboard_panels_fit_the_grid_without_overlapping() -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in dashboard()["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps {taken[(x, y)]}"
                taken[(x, y)] = panel["title"]


def test_the_dashboard_has_a_panel_for_each_figure_the_issue_names() -> None:
    titles = {p["title"] for p in _panels()}
    assert {
        "Request rate by route",
        "Errors",
        "Latency p50 / p99",
        "Import queue depth",
        "Import queue age",
        "Failed imports",
        "Scrub findings",
        "Quota refusals",
        "Flagged downloads",
        "Replay-guard fill",
    } <= titles
    errors = next(p for p in _panels() if p["title"] == "Errors")
    assert {'status=~"5.."', 'status=~"4.."'} <= {
        s for t in errors["targets"] for s in ('status=~"5.."', 'status=~"4.."') if s in t["expr"]
    }
    latency = next(p for p in _panels() if p["title"] == "Latency p50 / p99")
    assert [t["expr"].split(",")[0] for t in latency["targets"]] == [
        "histogram_quantile(0.5",
        "histogram_quantile(0.99",
    ]


def test_the_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """Each panel's query, with Grafana's variables filled in as Grafana would, parses in Prometheus:
    promtool checks them as recording rules."""
    exprs = [t["expr"] for p in _panels() for t in p["targets"]]
    filled = [e.replace("$__rate_interval", "2m").replace("$job", ".*") for e in exprs]
    assert not [e for e in filled if "$" in e], "a variable Grafana would fill is left"
    rules = [{"record": f"scp_images:dashboard_{i}", "expr": e} for i, e in enumerate(filled)]
    (tmp_path / "dashboard.yml").write_text(yaml.safe_dump({"groups": [{"name": "d", "rules": rules}]}))
    assert f"SUCCESS: {len(rules)} rules found" in promtool("check", "rules", "dashboard.yml", cwd=tmp_path)
