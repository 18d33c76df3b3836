"""``showtime simulate``: replay a traffic trace against an event before the day.

A trace (CSV ``time,value`` or a Prometheus range query) is the load on one target, in
the unit of its ``capacityPerReplica``. The replay (``replay``) steps through it with one
scaling policy at a time (``policies``: HPA, KEDA, a fixed floor, the oracle;
``showtime_policy``: the operator's own pure core, ``core.decide.decide``, applied to a
simulated workload) and a pod model where pods become Ready a fixed delay after the count
was raised and go at once on scale-down. ``report`` turns what each replay measured into
the table and the JSON ``showtime simulate`` prints; ``plot`` draws it (matplotlib, only
imported for ``--plot``). ``run.simulate`` is the entry point a benchmark can reuse: a
load curve, a pod start-up and policies in, figures out.

Nothing here talks to a cluster; ``trace.from_prometheus`` is the only network access.
"""

from showtime.simulate.replay import Figures, replay
from showtime.simulate.run import Simulation, SimulationError, simulate
from showtime.simulate.trace import Trace, TraceError, read_csv

__all__ = [
    "Figures",
    "Simulation",
    "SimulationError",
    "Trace",
    "TraceError",
    "read_csv",
    "replay",
    "simulate",
]
