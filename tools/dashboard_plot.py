"""The Showtime dashboard's panels, queried from Prometheus and drawn with matplotlib.

What lives here: ``panel_queries`` (every PromQL query of deploy/monitoring/dashboard.json,
panels and annotations, with the dashboard variables filled in), ``query_range`` (one
range query against a Prometheus HTTP API), and ``plot`` (a PNG of the same series,
one subplot per panel, for the README where Grafana cannot run). The CLI:

    python -m tools.dashboard_plot --prometheus http://127.0.0.1:9090 --minutes 10 \
        --var namespace=demo --out docs/dashboard.png

What does not: running Grafana, or any scenario producing the data
(tests/e2e/test_dashboard.py runs one).
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = REPO_ROOT / "deploy" / "monitoring" / "dashboard.json"
#: What Grafana would put in for the variables when nothing is chosen ("All").
DEFAULTS: Mapping[str, str] = {
    "namespace": ".*",
    "event": ".*",
    "target": ".*",
    "job": "showtime",
    "__rate_interval": "1m",
}


@dataclass(frozen=True)
class PanelQuery:
    panel: str  # the panel's title ("annotation: <name>" for an annotation query)
    legend: str
    expr: str


def substitute(text: str, variables: Mapping[str, str]) -> str:
    """Grafana's ``$name`` and ``${name}`` replaced, longest names first."""
    for name in sorted(variables, key=len, reverse=True):
        text = text.replace("${" + name + "}", variables[name]).replace("$" + name, variables[name])
    return text


def panel_queries(
    variables: Mapping[str, str] | None = None, dashboard: Path = DASHBOARD
) -> list[PanelQuery]:
    values = {**DEFAULTS, **(variables or {})}
    board = json.loads(dashboard.read_text())
    found = [
        PanelQuery(
            substitute(panel["title"], {"target": "per target"}),
            target.get("legendFormat", ""),
            substitute(target["expr"], values),
        )
        for panel in board["panels"]
        for target in panel.get("targets", [])
    ]
    for annotation in board["annotations"]["list"]:
        if "expr" in annotation:
            found.append(
                PanelQuery(
                    f"annotation: {annotation['name']}",
                    annotation.get("titleFormat", ""),
                    substitute(annotation["expr"], values),
                )
            )
    return found


Series = tuple[dict[str, str], list[tuple[float, float]]]


def query_range(
    prometheus: str, expr: str, start: float, end: float, step: float = 2.0
) -> list[Series]:
    """``/api/v1/query_range``: each series' labels and (unix time, value) points."""
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    url = f"{prometheus.rstrip('/')}/api/v1/query_range?{params}"
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            body: dict[str, Any] = json.load(response)
    except urllib.error.HTTPError as exc:  # 400: the query does not parse
        raise ValueError(f"{expr}: {exc.read().decode(errors='replace')}") from exc
    if body.get("status") != "success":
        raise ValueError(f"{expr}: {body}")
    return [
        (dict(s["metric"]), [(float(t), float(v)) for t, v in s["values"]])
        for s in body["data"]["result"]
    ]


def legend_of(template: str, labels: Mapping[str, str]) -> str:
    text = template
    for name, value in labels.items():
        text = text.replace("{{" + name + "}}", value)
    return text or ",".join(f"{k}={v}" for k, v in labels.items())


def plot(
    prometheus: str,
    start: float,
    end: float,
    out: Path,
    variables: Mapping[str, str] | None = None,
) -> Path:
    """One subplot per dashboard panel, every series of its queries over [start, end]."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = {**DEFAULTS, **(variables or {})}
    board = json.loads(DASHBOARD.read_text())
    annotation = next(a for a in board["annotations"]["list"] if "expr" in a)
    stages = query_range(prometheus, substitute(annotation["expr"], values), start, end)
    # One subplot per panel; a panel repeated per target gets one per target, as in Grafana.
    subplots: list[tuple[str, list[PanelQuery]]] = []
    for panel in board["panels"]:
        repeat = panel.get("repeat")
        choices = [values.get(repeat, ".*")] if repeat else [""]
        if repeat:
            first = substitute(panel["targets"][0]["expr"], values)
            found = {
                labels.get(repeat, "") for labels, _ in query_range(prometheus, first, start, end)
            }
            choices = sorted(found) or choices
        for choice in choices:
            chosen = {**values, repeat: choice} if repeat else values
            subplots.append(
                (
                    substitute(panel["title"], chosen),
                    [
                        PanelQuery(
                            panel["title"], t.get("legendFormat", ""), substitute(t["expr"], chosen)
                        )
                        for t in panel.get("targets", [])
                    ],
                )
            )
    columns = 2
    rows = (len(subplots) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(14, 3.2 * rows), squeeze=False)
    for index, (title, queries) in enumerate(subplots):
        ax = axes[index // columns][index % columns]
        for query in queries:
            for labels, points in query_range(prometheus, query.expr, start, end):
                xs = [(t - start) / 60 for t, _ in points]
                ax.step(
                    xs, [v for _, v in points], where="post", label=legend_of(query.legend, labels)
                )
        for labels, points in stages:
            if points:
                x = (points[0][0] - start) / 60
                ax.axvline(x, color="orange", linewidth=0.8, linestyle="--")
                if index == 0:
                    ax.annotate(
                        labels.get("stage", ""),
                        (x, 1),
                        xycoords=("data", "axes fraction"),
                        fontsize=7,
                        color="darkorange",
                        rotation=90,
                        va="top",
                    )
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("minutes", fontsize=8)
        ax.tick_params(labelsize=8)
        if ax.lines:
            ax.legend(fontsize=7, loc="upper left")
    for index in range(len(subplots), rows * columns):
        axes[index // columns][index % columns].axis("off")
    figure.suptitle("Showtime dashboard (the same PromQL as deploy/monitoring/dashboard.json)")
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=80)
    plt.close(figure)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.dashboard_plot", description=__doc__)
    parser.add_argument("--prometheus", default="http://127.0.0.1:9090")
    parser.add_argument("--minutes", type=float, default=10.0, help="how far back to plot")
    parser.add_argument(
        "--var", action="append", default=[], help="NAME=VALUE, e.g. namespace=demo"
    )
    parser.add_argument("--out", type=Path, default=Path("dashboard.png"))
    args = parser.parse_args(argv)
    variables = dict(v.split("=", 1) for v in args.var)
    end = time.time()
    print(plot(args.prometheus, end - args.minutes * 60, end, args.out, variables))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
