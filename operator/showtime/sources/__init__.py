"""Metric sources: one small interface (``MetricSource``) and its Prometheus implementation.

Queries and typed failures only; what a sample means for replicas is the core's business.
"""
