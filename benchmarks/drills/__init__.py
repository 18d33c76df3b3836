"""Reliability drills (``make drills``): faults under one TrafficEvent scenario, measured.

The scenario (``scenario``), the monitor and its figures (``monitor``, ``figures``), the
operator as a process (``operator``), the delaying proxy (``proxy``), the drill cluster's
control plane (``controlplane``), the common run (``harness``), one module per drill
(``r1_kill`` ... ``r7_churn``) and the table (``report``). ``python -m benchmarks.drills``
runs them on the cluster of ``hack/drill-cluster.sh``.
"""
