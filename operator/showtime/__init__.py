"""Showtime: a Kubernetes operator that gets workloads ready before a known traffic burst.

The package is split into a pure core (``durations``, ``spec``, ``schedule``, ``leadtime``,
``planner``, ``conditions``) that takes plain data and the clock as arguments, and a thin
shell (``kube``, ``metricsource``, ``reconciler``, ``handlers``, ``cli``) that talks to the
Kubernetes API and Prometheus.
"""

__version__ = "0.1.0"
