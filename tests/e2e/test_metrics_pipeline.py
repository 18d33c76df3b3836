"""The metric pipeline end to end: load source → real Prometheus → PrometheusSource.

Against the local cluster's Prometheus (``SHOWTIME_PROMETHEUS_URL``, scrape interval 2s,
file_sd job reading ``SHOWTIME_PROM_TARGETS_DIR``): a load source's rate, set and then
switched at runtime, becomes a sample the operator can read, and the failure classes of
the metric source match what a real Prometheus answers. No operator and no Kubernetes API
are involved.
"""

from __future__ import annotations

import asyncio
import os
import time
import urllib.request
import uuid
from collections.abc import Iterator

import pytest

from showtime.sources.metricsource import (
    FailureReason,
    MetricFailure,
    MetricResult,
    PrometheusSource,
)
from tests.support.environment import unavailable
from tests.support.loadsource import TARGETS_DIR_ENV, load_source, prom_targets_dir
from tests.support.wait import WaitTimeoutError, wait_for

pytestmark = pytest.mark.e2e

PROM_URL = os.environ.get("SHOWTIME_PROMETHEUS_URL", "http://127.0.0.1:9090")
TOLERANCE = 0.15
FIRST_SAMPLE_DEADLINE = 90.0  # target discovery (2s) + scrapes + a 10s rate window
SWITCH_DEADLINE = 60.0  # a 10s window must fill with the new rate; 2s scrapes


@pytest.fixture(scope="module")
def prometheus() -> Iterator[PrometheusSource]:
    try:
        with urllib.request.urlopen(f"{PROM_URL}/-/ready", timeout=5) as response:
            ready = response.status == 200
    except OSError as exc:
        pytest.fail(f"Prometheus at {PROM_URL} is not reachable ({exc}); run `make cluster`")
    assert ready, f"Prometheus at {PROM_URL} is not ready"
    source = PrometheusSource(PROM_URL, timeout=5)
    yield source
    source.close()


def evaluate(source: PrometheusSource, query: str) -> MetricResult:
    return asyncio.run(source.query([query]))[query]


def near(result: MetricResult, expected: float) -> bool:
    return not isinstance(result, MetricFailure) and (
        abs(result.value - expected) <= TOLERANCE * expected
    )


def poll_until_near(
    source: PrometheusSource, query: str, expected: float, timeout: float, interval: float
) -> MetricResult:
    """Poll ``query`` until it is within TOLERANCE of ``expected``; fail naming the last sample."""
    last: list[MetricResult] = []

    def close_enough() -> bool:
        last[:] = [evaluate(source, query)]
        return near(last[0], expected)

    try:
        wait_for(close_enough, timeout=timeout, interval=interval, message=f"{query} ≈ {expected}")
    except WaitTimeoutError as exc:
        pytest.fail(f"{exc}; last result: {last[0] if last else None}")
    return last[0]


def test_rate_follows_the_load_profile(
    prometheus: PrometheusSource, capsys: pytest.CaptureFixture[str]
) -> None:
    if prom_targets_dir() is None:
        unavailable(f'{TARGETS_DIR_ENV} is not set: run `eval "$(make -s env)"`')
    service = f"e2e-{uuid.uuid4().hex[:8]}"
    query = f'sum(rate(http_requests_total{{service="{service}"}}[10s]))'
    labels = {"namespace": "e2e", "service": service}

    with load_source(labels=labels, profile={"rate": 100}, register=True, name=service) as src:
        started = time.monotonic()
        poll_until_near(prometheus, query, 100, FIRST_SAMPLE_DEADLINE, interval=1.0)
        first = time.monotonic() - started

        switched = time.monotonic()
        assert src.set_profile({"rate": 1000})["rate"] == 1000
        sample = poll_until_near(prometheus, query, 1000, SWITCH_DEADLINE, interval=0.5)
        latency = time.monotonic() - switched

    with capsys.disabled():
        print(
            f"\nmetrics pipeline: registered → ≈100/s queryable in {first:.1f}s; "
            f"switch 100→1000/s → ≈1000/s queryable in {latency:.1f}s "
            f"(scrape 2s, rate window 10s; sample {sample})"
        )


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("sum(rate(http_requests_total[10s])", FailureReason.QUERY_INVALID),  # parse error
        ("http_requests_total[10s]", FailureReason.QUERY_INVALID),  # a range vector
        ('sum(rate(http_requests_total{service="no-such-service"}[10s]))', FailureReason.EMPTY),
        ("vector(0) / 0", FailureReason.NOT_A_NUMBER),
        ('vector(1) or label_replace(vector(2), "x", "y", "", "")', FailureReason.AMBIGUOUS),
    ],
)
def test_real_prometheus_failures_are_classified(
    prometheus: PrometheusSource, query: str, reason: FailureReason
) -> None:
    result = evaluate(prometheus, query)
    assert isinstance(result, MetricFailure), result
    assert result.reason is reason, result


def test_real_prometheus_scalar(prometheus: PrometheusSource) -> None:
    result = evaluate(prometheus, "1 + 1")
    assert not isinstance(result, MetricFailure), result
    assert result.value == 2
    assert abs(time.time() - result.timestamp.timestamp()) < 60
