"""PrometheusSource against a fake Prometheus HTTP API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from showtime import telemetry
from showtime.sources.metricsource import (
    FailureReason,
    MetricFailure,
    MetricSource,
    PrometheusSource,
    Sample,
    classify_response,
)
from tests.support.httpserver import serving

TS = 1_767_225_600.25  # 2026-01-01T00:00:00.25Z


def vector(*values: str) -> tuple[int, dict[str, Any]]:
    result = [{"metric": {"pod": f"p{i}"}, "value": [TS, v]} for i, v in enumerate(values)]
    return 200, {"status": "success", "data": {"resultType": "vector", "result": result}}


def error(status: int, error_type: str, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"status": "error", "errorType": error_type, "error": message}


ANSWERS: dict[str, tuple[int, Any]] = {
    "up": vector("42.5"),
    "scalar(7)": (
        200,
        {"status": "success", "data": {"resultType": "scalar", "result": [TS, "7"]}},
    ),
    "empty": vector(),
    "nan": vector("NaN"),
    "inf": vector("+Inf"),
    "multi": vector("1", "2"),
    "range[1m]": (200, {"status": "success", "data": {"resultType": "matrix", "result": []}}),
    "sum(rate(x[1m]": error(400, "bad_data", 'invalid parameter "query": 1:16: parse error'),
    "exec": error(422, "execution", "many-to-many matching not allowed"),
    "toomany": error(422, "execution", "query processing would load too many samples into memory"),
    "busy": (503, "Service Unavailable\n"),
    "evaltimeout": error(503, "timeout", "query timed out in expression evaluation"),
}


@dataclass
class FakePrometheus:
    """Answers /api/v1/query from ANSWERS; ``delay`` slows every answer down."""

    delay: float = 0.0
    requests: Counter[str] = field(default_factory=Counter)
    params: list[dict[str, list[str]]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        params = parse_qs(parts.query)
        query = params.get("query", [""])[0]
        with self.lock:
            self.requests[query] += 1
            self.params.append(params)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                self.release.wait(self.delay)
            if parts.path != "/api/v1/query":
                status, body = 404, "not found"
            else:
                status, body = ANSWERS.get(query, vector("1"))
            text = body if isinstance(body, str) else json.dumps(body)
            data = text.encode()
            handler.send_response(status)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)
        finally:
            with self.lock:
                self.in_flight -= 1


@pytest.fixture
def prom() -> Iterator[FakePrometheus]:
    fake = FakePrometheus()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            fake.handle(self)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serving(Handler) as url:
        fake.url = url
        try:
            yield fake
        finally:
            fake.release.set()  # answers held back by a test go out before the server stops


def run_queries(source: PrometheusSource, queries: list[str]) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        return dict(await asyncio.wait_for(source.query(queries), timeout=30))

    return asyncio.run(go())


def failure(result: object) -> MetricFailure:
    assert isinstance(result, MetricFailure), result
    return result


def test_is_a_metric_source(prom: FakePrometheus) -> None:
    source: MetricSource = PrometheusSource(prom.url)
    assert isinstance(source, PrometheusSource)


def test_single_sample_with_its_own_timestamp(prom: FakePrometheus) -> None:
    results = run_queries(PrometheusSource(prom.url), ["up", "scalar(7)"])
    assert results["up"] == Sample(42.5, datetime(2026, 1, 1, 0, 0, 0, 250000, tzinfo=UTC))
    assert results["scalar(7)"] == Sample(7.0, datetime.fromtimestamp(TS, tz=UTC))
    assert results["up"].timestamp.tzinfo is UTC


def test_asks_prometheus_to_stop_at_the_timeout(prom: FakePrometheus) -> None:
    run_queries(PrometheusSource(prom.url, timeout=2.5), ["up"])
    assert prom.params[0]["timeout"] == ["2.5"]


@pytest.mark.parametrize(
    ("query", "reason", "in_message"),
    [
        ("empty", FailureReason.EMPTY, "no series"),
        ("nan", FailureReason.NOT_A_NUMBER, "NaN"),
        ("inf", FailureReason.NOT_A_NUMBER, "Inf"),
        ("multi", FailureReason.AMBIGUOUS, "sum("),
        ("range[1m]", FailureReason.QUERY_INVALID, "range vector"),
        ("sum(rate(x[1m]", FailureReason.QUERY_INVALID, "parse error"),
        ("exec", FailureReason.QUERY_FAILED, "many-to-many"),
        ("toomany", FailureReason.QUERY_FAILED, "too many samples"),
        ("busy", FailureReason.HTTP_ERROR, "503"),
        ("evaltimeout", FailureReason.TIMEOUT, "timed out"),
        ("   ", FailureReason.QUERY_INVALID, "empty"),
    ],
)
def test_failures_are_classified(
    prom: FakePrometheus, query: str, reason: FailureReason, in_message: str
) -> None:
    before = _failures(reason)
    result = failure(run_queries(PrometheusSource(prom.url), [query])[query])
    assert result.reason is reason
    assert in_message in result.message
    assert "\n" not in result.message
    assert _failures(reason) == before + 1


def test_ambiguous_message_names_a_series(prom: FakePrometheus) -> None:
    result = failure(run_queries(PrometheusSource(prom.url), ["multi"])["multi"])
    assert "2 series" in result.message
    assert 'pod="p0"' in result.message


def test_connection_refused_is_unreachable() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = failure(run_queries(PrometheusSource(f"http://127.0.0.1:{port}"), ["up"])["up"])
    assert result.reason is FailureReason.UNREACHABLE
    assert "refused" in result.message.lower()


def test_slow_server_times_out_within_about_the_timeout(prom: FakePrometheus) -> None:
    prom.delay = 10.0
    source = PrometheusSource(prom.url, timeout=0.5)
    before = _failures(FailureReason.TIMEOUT)
    started = time.monotonic()
    results = run_queries(source, ["up", "scalar(7)"])
    elapsed = time.monotonic() - started
    assert {failure(r).reason for r in results.values()} == {FailureReason.TIMEOUT}
    assert elapsed < 2.0, elapsed
    assert _failures(FailureReason.TIMEOUT) == before + 2


def test_identical_queries_are_sent_once(prom: FakePrometheus) -> None:
    queries = [f"sum(rate(requests{{svc='s{i % 50}'}}[1m]))" for i in range(1000)]
    results = run_queries(PrometheusSource(prom.url), queries)
    assert len(results) == 50
    assert set(results) == set(queries)
    assert all(isinstance(r, Sample) for r in results.values())
    assert sum(prom.requests.values()) == 50
    assert set(prom.requests.values()) == {1}


def test_concurrency_is_bounded(prom: FakePrometheus) -> None:
    prom.delay = 0.2
    queries = [f"q{i}" for i in range(16)]
    started = time.monotonic()
    results = run_queries(PrometheusSource(prom.url, concurrency=4), queries)
    elapsed = time.monotonic() - started
    assert all(isinstance(r, Sample) for r in results.values())
    assert prom.max_in_flight == 4  # bounded, and actually concurrent
    assert elapsed >= 4 * 0.2 * 0.9  # 16 queries / 4 at a time


def test_timed_out_requests_keep_their_slot_until_they_end(prom: FakePrometheus) -> None:
    # A timed-out request's slot is only freed when its thread's HTTP call has ended, so
    # 4 hanging queries at concurrency 2 run in two waves rather than all at once.
    prom.delay = 5.0
    source = PrometheusSource(prom.url, timeout=0.3, concurrency=2)
    started = time.monotonic()
    results = run_queries(source, ["a", "b", "c", "d"])
    elapsed = time.monotonic() - started
    assert all(failure(r).reason is FailureReason.TIMEOUT for r in results.values())
    assert 2 * 0.3 <= elapsed < 2.0, elapsed
    prom.delay = 0.0
    assert isinstance(run_queries(source, ["up"])["up"], Sample)


def test_latency_is_recorded(prom: FakePrometheus) -> None:
    before = _latency_count()
    run_queries(PrometheusSource(prom.url), ["up", "empty", "up"])
    assert _latency_count() == before + 2


def test_never_blocks_the_event_loop(prom: FakePrometheus) -> None:
    prom.delay = 0.5
    source = PrometheusSource(prom.url)

    async def go() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        task = asyncio.create_task(ticker())
        await source.query(["up"])
        task.cancel()
        return ticks

    assert asyncio.run(go()) >= 5


def test_works_across_event_loops(prom: FakePrometheus) -> None:
    source = PrometheusSource(prom.url, concurrency=1)
    for _ in range(2):
        assert all(isinstance(r, Sample) for r in run_queries(source, ["a", "b"]).values())


def test_a_single_string_is_rejected(prom: FakePrometheus) -> None:
    with pytest.raises(TypeError):
        asyncio.run(PrometheusSource(prom.url).query("up"))


@pytest.mark.parametrize(
    ("kwargs", "complaint"),
    [
        ({"url": "127.0.0.1:9090"}, "http(s)://"),
        ({"url": "ftp://prom:9090"}, "http(s)://"),
        ({"url": "http://"}, "http(s)://"),
        ({"url": "http://p:9090", "timeout": 0}, "timeout"),
        ({"url": "http://p:9090", "timeout": -1.0}, "timeout"),
        ({"url": "http://p:9090", "timeout": float("inf")}, "timeout"),
        ({"url": "http://p:9090", "concurrency": 0}, "concurrency"),
        ({"url": "http://p:9090", "concurrency": 2.5}, "concurrency"),
    ],
)
def test_config_is_validated(kwargs: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValueError, match="must") as info:
        PrometheusSource(**kwargs)
    assert complaint in str(info.value)


def test_defaults() -> None:
    source = PrometheusSource("https://prometheus.monitoring:9090/")
    assert (source.url, source.timeout, source.concurrency) == (
        "https://prometheus.monitoring:9090",
        5.0,
        8,
    )


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (200, "<html>", FailureReason.HTTP_ERROR),
        (502, "bad gateway", FailureReason.HTTP_ERROR),
        (
            200,
            '{"status":"success","data":{"resultType":"string","result":[1,"x"]}}',
            FailureReason.QUERY_INVALID,
        ),
        (
            200,
            '{"status":"success","data":{"resultType":"vector","result":[{"value":[1]}]}}',
            FailureReason.HTTP_ERROR,
        ),
    ],
)
def test_odd_answers(status: int, body: str, reason: FailureReason) -> None:
    assert failure(classify_response(status, body)).reason is reason


def _failures(reason: FailureReason) -> float:
    value = telemetry.REGISTRY.get_sample_value(
        "showtime_metric_query_failures_total", {"reason": reason.value}
    )
    return value or 0.0


def _latency_count() -> float:
    value = telemetry.REGISTRY.get_sample_value("showtime_metric_query_duration_seconds_count")
    return value or 0.0
