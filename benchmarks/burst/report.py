"""The output of ``make bench-burst``: a Markdown table and a PNG (matplotlib).

What lives here: ``table`` (one row per variant, window and autoscaler, with the measures
of ``measures``) and ``plot`` (load against Ready capacity for each autoscaler, one row of
panels per variant, the unserved load shaded). What does not: running anything on a
cluster, or the simulated-against-measured comparison (``compare``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from .measures import Measures, Sample

LABELS = {
    "hpa": "HPA (70% CPU)",
    "keda": "KEDA (cron + prometheus)",
    "showtime": "Showtime",
    "showtime-hpa": "Showtime + HPA",
    "showtime-flat": "Showtime, flat floor from the start",
}


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def _secs(x: float | None) -> str:
    return "never" if x is None else f"{x:.0f} s"


def table(rows: Sequence[tuple[str, str, str, Measures]]) -> str:
    """``rows``: (variant, window, autoscaler, measures) → Markdown."""
    out = [
        "| pods Ready after | burst | autoscaler | unserved share | seconds unserved "
        "| burst → capacity ≥ load | Ready pod-s | ÷ oracle |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for variant, window, name, m in rows:
        out.append(
            f"| {variant} | {window} | {LABELS.get(name, name)} | {_pct(m.unserved_share)} "
            f"| {m.unserved_seconds:.0f} | {_secs(m.time_to_capacity)} "
            f"| {m.ready_pod_seconds:.0f} | {m.pod_seconds_ratio:.2f} |"
        )
    return "\n".join(out)


def plot(
    series: Mapping[str, Mapping[str, Sequence[Sample]]],
    capacity: float,
    marks: Mapping[str, float],
    path: Path,
) -> None:
    """``series``: variant → autoscaler → samples. ``marks``: label → t (vertical lines)."""
    # Installed by `make bench-burst` only, not a project dependency.
    import matplotlib  # type: ignore[import-not-found, unused-ignore]

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore[import-not-found, unused-ignore]

    variants = list(series)
    names = list(next(iter(series.values())))
    fig, axes = plt.subplots(
        len(variants),
        len(names),
        figsize=(4.2 * len(names), 3.2 * len(variants)),
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    for row, variant in enumerate(variants):
        for col, name in enumerate(names):
            ax = axes[row][col]
            samples = series[variant][name]
            t = [s.t / 60 for s in samples]
            load = [s.load for s in samples]
            cap = [s.ready * capacity for s in samples]
            ax.plot(t, load, color="black", lw=1.2, label="load (req/s)")
            ax.step(t, cap, where="post", color="tab:blue", lw=1.2, label="Ready × capacity")
            ax.fill_between(
                t,
                cap,
                load,
                where=[lo > c for lo, c in zip(load, cap, strict=True)],
                step="post",
                color="tab:red",
                alpha=0.35,
                label="unserved",
            )
            for label, at in marks.items():
                ax.axvline(at / 60, color="gray", ls=":", lw=0.8)
                if row == 0 and col == 0:
                    ax.text(
                        at / 60, 0, f" {label}", rotation=90, va="bottom", fontsize=7, color="gray"
                    )
            ax.set_title(f"{LABELS.get(name, name)}, pods {variant}", fontsize=9)
            if row == len(variants) - 1:
                ax.set_xlabel("minutes")
            if col == 0:
                ax.set_ylabel("requests/s")
    axes[0][0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
