"""Helpers shared by the test suites (polling, Kubernetes object builders)."""
