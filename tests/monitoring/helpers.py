"""What the monitoring tests share: the files under deploy/monitoring, the metric names their PromQL
uses, and reading a /metrics page."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
ALERTS = MONITORING / "alerts.yml"
DASHBOARD = MONITORING / "grafana-dashboard.json"

# Our metrics, and the one Prometheus makes itself (the scrape's own verdict).
_OURS = re.compile(r"\bscp_images_[a-z0-9_]+\b")
_UP = re.compile(r"(?<![\w\"'])up\s*[{=<>!]")
PROMETHEUS_MADE = {"up"}


def alert_expressions() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def dashboard_queries() -> list[str]:
    """Every PromQL text of the dashboard: panel targets and the template variables' queries."""

    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("expr", "definition", "query") and isinstance(value, str):
                    yield value
                else:
                    yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    return [text for text in walk(dashboard()) if text != "prometheus"]  # the datasource variable's type


def metric_names(expressions: list[str]) -> set[str]:
    """The metric names the expressions read: ours by prefix, and ``up``."""
    names = {name for text in expressions for name in _OURS.findall(text)}
    names |= {"up" for text in expressions if _UP.search(text)}
    return names


_TYPE = re.compile(r"^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$", re.M)
_SUFFIXES = {
    "counter": ("",),  # the text format announces a counter by its series name, ``…_total``
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "untyped": ("",),
}


def exported_names(page: str) -> set[str]:
    """The series names a /metrics page exports, from its ``# TYPE`` lines: a family is announced even
    before its first labelled series exists (a counter by reason that has not counted yet)."""
    return {family + suffix for family, kind in _TYPE.findall(page) for suffix in _SUFFIXES[kind]}


def sample(page: str, name: str, **labels: str) -> float | None:
    """The value of the series ``name`` with exactly ``labels`` (None when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in page.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        series, value = line.rsplit(" ", 1)
        found_name, _, rest = series.partition("{")
        found = ",".join(sorted(rest.rstrip("}").split(","))) if rest else ""
        if found_name == name and found == wanted:
            return float(value)
    return None
