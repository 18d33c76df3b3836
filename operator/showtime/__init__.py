"""Showtime: a Kubernetes operator that gets workloads ready before a known traffic burst.

Layers, innermost first:

- ``showtime.core``: the pure decision core (spec, schedule, lead time, planner, targets,
  status). Plain data and the clock in, decisions out; no I/O.
- ``showtime.cluster`` and ``showtime.sources``: adapters for the Kubernetes API (watch-fed
  caches, writes) and for metric sources (Prometheus). They read and write; they decide
  nothing.
- ``showtime.shell``: settings, the reconcile loop joining core and adapters, kopf wiring.
- ``showtime.telemetry``: logging and the operator's own Prometheus metrics.
- ``showtime.cli``: the ``showtime`` command (``run``, ``plan``).
"""

__version__ = "0.1.0"
