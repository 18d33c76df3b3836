"""``make bench-burst``: HPA, KEDA and Showtime side by side on a local kwok cluster.

What lives here: the load curve and its measures (``scenario``, ``measures``, pure), the
per-second load driver that plays the load balancer (``driver``), the objects each
autoscaler gets (``objects``), KEDA's APIService wiring (``keda_manifests``), the report
(``report``) and the run itself (``__main__``). What does not: starting the bench cluster,
Prometheus and KEDA's processes (``hack/bench-cluster.sh``) or building binaries
(``hack/build-extras.sh``).
"""
