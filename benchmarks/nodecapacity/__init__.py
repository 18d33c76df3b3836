"""Node capacity pre-warm against a real node autoscaler: Karpenter's KWOK provider.

``make bench-nodecapacity`` (``python -m benchmarks.nodecapacity``) runs the scenario of
``scenario`` on the cluster of hack/karpenter-cluster.sh and prints the with/without table
of ``measures``; tests/e2e/test_node_capacity_karpenter.py runs the same scenario and
checks what a user would notice.
"""
