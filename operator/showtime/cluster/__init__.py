"""The Kubernetes adapter: watch-fed caches (``informer``) and the ``Gateway`` (``kube``).

Reads and writes only; no decision is made here.
"""
