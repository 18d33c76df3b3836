"""The pure core: plain data in (spec, clock, observations), decisions out; no I/O.

``durations``, ``timestamps``: value parsing. ``spec``: the validated TrafficEvent spec.
``schedule``: occurrences. ``leadtime``: learned start-up time. ``planner``: stage and
floor(t) of one event. ``targets``: one workload under several events, scale-down limits,
hand-back. ``status``: status and conditions. Nothing here imports the Kubernetes client,
Prometheus or kopf, and nothing reads the clock: the shell passes ``now`` in.
"""
