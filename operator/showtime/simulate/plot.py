"""``--plot``: the load (as replicas needed) and each policy's Ready replicas over time.

matplotlib is an optional extra (``pip install 'showtime[plot]'``) and only imported here,
so the rest of ``showtime simulate`` starts fast without it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from showtime.simulate.run import Simulation
from showtime.simulate.trace import Trace


class PlotUnavailableError(RuntimeError):
    """matplotlib is not installed."""


def plot(simulation: Simulation, trace: Trace, path: str | Path) -> None:
    """Write a PNG (or whatever the suffix names) with one step line per policy."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailableError(
            "--plot needs matplotlib: pip install 'showtime[plot]'"
        ) from None
    capacity = simulation.sizing.capacity
    figure, axes = plt.subplots(figsize=(12, 5))
    times: Any = [datetime.fromtimestamp(t, UTC) for t in trace.times]  # matplotlib takes them
    needed = [v / capacity for v in trace.values]
    axes.step(times, needed, where="post", color="black", linewidth=1, label="load / capacity")
    for name, figures in simulation.figures.items():
        if name == "oracle" or not figures.timeline:
            continue
        moments: Any = [datetime.fromtimestamp(t, UTC) for t, _, _ in figures.timeline]
        ready = [r for _, _, r in figures.timeline]
        axes.step(moments, ready, where="post", linewidth=1, label=f"{name} Ready")
    namespace, kind, name = simulation.target
    axes.set_title(f"{kind} {namespace}/{name}: Ready replicas against the load")
    axes.set_ylabel("replicas")
    axes.legend(loc="upper left")
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
