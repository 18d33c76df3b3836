"""Generates the files the Helm chart and deploy/monitoring/ share with a single source.

  crds/trafficevent.yaml            -> charts/showtime/crds/trafficevent.yaml
  deploy/monitoring/dashboard.json  -> charts/showtime/files/dashboard.json
  deploy/monitoring/alerts.yaml     -> charts/showtime/files/alerts.yaml
                                    -> deploy/monitoring/prometheusrule.yaml (a PrometheusRule)

``python hack/sync-chart.py`` writes them (``make chart-sync``); ``--check`` writes nothing
and exits 1 naming every file that differs from what it would write (the unit test
tests/unit/test_chart.py runs it: the chart's copies are never edited by hand).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "charts" / "showtime"
MONITORING = ROOT / "deploy" / "monitoring"
NOTICE = "# Generated from {source} by hack/sync-chart.py (make chart-sync); do not edit.\n"


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (PromQL) as literal blocks, the way they were written."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


def prometheus_rule(alerts: str) -> str:
    groups: Any = yaml.safe_load(alerts)
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "showtime",
            "namespace": "showtime-system",
            "labels": {"app.kubernetes.io/name": "showtime"},
        },
        "spec": groups,
    }
    body = yaml.dump(rule, Dumper=_BlockDumper, sort_keys=False, width=1000)
    return NOTICE.format(source="deploy/monitoring/alerts.yaml") + body


def wanted() -> dict[Path, str]:
    crd = (ROOT / "crds" / "trafficevent.yaml").read_text()
    alerts = (MONITORING / "alerts.yaml").read_text()
    return {
        CHART / "crds" / "trafficevent.yaml": NOTICE.format(source="crds/trafficevent.yaml") + crd,
        CHART / "files" / "dashboard.json": (MONITORING / "dashboard.json").read_text(),
        CHART / "files" / "alerts.yaml": NOTICE.format(source="deploy/monitoring/alerts.yaml")
        + alerts,
        MONITORING / "prometheusrule.yaml": prometheus_rule(alerts),
    }


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for path, text in wanted().items():
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        stale.append(path.relative_to(ROOT))
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if check and stale:
        names = ", ".join(str(p) for p in stale)
        print(f"sync-chart: out of date: {names}; run 'make chart-sync'", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
