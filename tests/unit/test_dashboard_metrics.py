"""Every query of the Grafana dashboard asks for metrics and labels the code exports."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.metrics import MetricWrapperBase

from ingress.app import create_app
from shared import metrics
from tests.conftest import make_settings

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "mission-control.json"
# Labels Prometheus adds to every scraped series, and the histogram bucket bound.
TARGET_LABELS = frozenset({"instance", "job"})
PROMQL_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless"}
)
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
}


@dataclass(frozen=True)
class Series:
    """A series name the code exports and the labels it carries."""

    name: str
    labels: frozenset[str]


def exported_series() -> dict[str, Series]:
    """Every series name shared/metrics.py exports, with its label names."""
    found: dict[str, Series] = {}
    for value in vars(metrics).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        labels = frozenset(value._labelnames)
        for family in value.describe():
            for suffix in _SUFFIXES[family.type]:
                extra = {"le"} if suffix == "_bucket" else set()
                found[family.name + suffix] = Series(family.name + suffix, labels | extra)
    return found


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(panel title, expression, legend format) of every query in the dashboard."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queries = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            queries.append((panel["title"], target["expr"], target.get("legendFormat", "")))
    return queries


@dataclass(frozen=True)
class ParsedQuery:
    """What a PromQL expression refers to."""

    metrics: dict[str, frozenset[str]]  # metric name -> label names in its selector
    grouping: frozenset[str]  # labels of by (...) / without (...) clauses


def parse_promql(expr: str) -> ParsedQuery:
    """Pull metric names, selector labels and grouping labels out of `expr` (no strings left)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"' + r"|'(?:[^'\\]|\\.)*'", '""', expr)  # label values
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors, [$__rate_interval] included
    grouping: set[str] = set()
    for clause in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", text):
        grouping |= {label.strip() for label in clause.split(",") if label.strip()}
    text = re.sub(r"\b(?:by|without)\s*\([^)]*\)", " ", text)
    found: dict[str, frozenset[str]] = {}
    for match in re.finditer(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*(\{[^}]*\})?\s*(\()?", text):
        name, selector, call = match.groups()
        if call or name in PROMQL_KEYWORDS:
            continue  # a function or an operator
        labels = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)", selector or "")
        found[name] = found.get(name, frozenset()) | frozenset(labels)
    return ParsedQuery(found, frozenset(grouping))


def test_dashboard_has_queries_for_each_area() -> None:
    names = {name for _, expr, _ in dashboard_queries() for name in parse_promql(expr).metrics}
    for needed in (
        "mc_ingest_outcomes_total",
        "mc_http_request_duration_seconds_bucket",
        "mc_queue_depth",
        "mc_queue_oldest_job_age_seconds",
        "mc_delivery_lag_seconds_bucket",
        "mc_worker_jobs_total",
        "mc_deliveries_persisted_total",
        "mc_rate_limit_rejections_total",
        "mc_agent_auth_total",
        "mc_agent_auth_pbkdf2_runs_total",
        "mc_webhook_config_cache_age_seconds",
    ):
        assert needed in names, f"the dashboard does not show {needed}"


@pytest.mark.parametrize(("title", "expr", "legend"), dashboard_queries())
def test_query_uses_only_exported_metrics_and_labels(title: str, expr: str, legend: str) -> None:
    exported = exported_series()
    parsed = parse_promql(expr)
    assert parsed.metrics, f"{title}: no metric in {expr!r}"
    available = set(TARGET_LABELS)
    for name, labels in parsed.metrics.items():
        assert name in exported, f"{title}: {name} is not exported by shared/metrics.py"
        assert labels <= exported[name].labels, f"{title}: {name} has no label {labels}"
        available |= exported[name].labels
    assert parsed.grouping <= available, f"{title}: grouping by {parsed.grouping - available}"
    legend_labels = set(re.findall(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", legend))
    assert legend_labels <= parsed.grouping | TARGET_LABELS, f"{title}: legend {legend_labels}"


def test_parser_catches_unknown_metrics_and_labels() -> None:
    exported = exported_series()
    parsed = parse_promql(
        'sum by (route) (rate(mc_ingest_outcomes_total{outcom="{x} by (y) z"}[5m])) + up'
    )
    assert "up" in parsed.metrics
    assert "up" not in exported
    assert parsed.metrics["mc_ingest_outcomes_total"] == {"outcom"}
    assert (
        not parsed.metrics["mc_ingest_outcomes_total"]
        <= exported["mc_ingest_outcomes_total"].labels
    )
    assert parsed.grouping == {"route"}


def test_route_label_values_are_real_routes() -> None:
    app = create_app(make_settings("postgresql://127.0.0.1/unused", "t" * 64))
    routes = {resource.canonical for resource in app.router.resources()}
    used = {
        value
        for _, expr, _ in dashboard_queries()
        for value in re.findall(r'route\s*=\s*"([^"]*)"', expr)
    }
    assert used, "the dashboard should show the webhook ingest route on its own"
    assert used <= routes, f"no such route: {used - routes}"


def test_panels_have_unique_ids_and_a_stable_uid() -> None:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert dashboard["uid"] == "mission-control-ingest"
