"""The dashboard (deploy/monitoring/dashboard.json) without a Prometheus: every panel's
and annotation's PromQL parses (``promtool check rules`` on them as recording rules, with
Grafana's variables filled in), and each panel the issue asks for is there.

tests/e2e/test_dashboard.py checks that every query returns data from a real operator.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.support.environment import unavailable
from tools.dashboard_plot import DASHBOARD, panel_queries


def test_every_query_of_the_dashboard_parses(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        unavailable("promtool is not on PATH: apt-get install prometheus (make cluster does)")
    queries = panel_queries()
    assert len(queries) >= 14
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"showtime:dashboard_query_{i}", "expr": q.expr}
                    for i, q in enumerate(queries)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


def test_the_dashboard_has_the_panels_an_sre_looks_for() -> None:
    board = json.loads(DASHBOARD.read_text())
    titles = [p["title"] for p in board["panels"]]
    for wanted in (
        "TrafficEvents by phase",
        "Replicas: $target",
        "Metric sample against capacity: $target",
        "Lead time against time to Ready",
        "PreWarmLate and metrics availability",
        "Metric query failures",
        "Tick duration",
        "API writes",
    ):
        assert wanted in titles, wanted
    replicas = next(p for p in board["panels"] if p["title"] == "Replicas: $target")
    exprs = " ".join(t["expr"] for t in replicas["targets"])
    for metric in ("desired", "ready", "floor", "metric"):
        assert f"showtime_target_{metric}_replicas" in exprs
    assert replicas["repeat"] == "target"
    assert any("expr" in a for a in board["annotations"]["list"]), "stage annotations"
    assert len({p["id"] for p in board["panels"]}) == len(titles)
