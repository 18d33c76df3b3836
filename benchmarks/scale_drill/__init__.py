"""The scale drill R6: 2,000 TrafficEvents over 5,000 Deployments and 50,000 KWOK pods.

``python -m benchmarks.scale_drill`` (``make drill-scale``) runs it on the cluster of
``hack/scale-cluster.sh``: ``fleet`` creates the Deployments (once) and the events (every
run), ``operator`` starts ``showtime run`` and samples its metrics endpoint and memory,
``figures`` turns the samples into the table the README quotes. Not part of ``make test``.
"""
