"""BatchingSource: many queries per request, each answered as if it had been sent alone."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from showtime.sources.batching import LABEL, BatchingSource, combined
from showtime.sources.metricsource import FailureReason, MetricFailure, PrometheusSource, Sample
from tests.support.httpserver import serving
from tests.unit.test_metricsource import ANSWERS, vector

PART = re.compile(r'label_replace\(\n(.*?)\n, "' + LABEL + r'", "(\d+)", "", ""\)', re.S)


class BatchingPrometheus:
    """Answers single queries from ANSWERS and batches as Prometheus would: all or nothing."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.url = ""

    def answer(self, query: str) -> tuple[int, Any]:
        self.requests.append(query)
        parts = PART.findall(query)
        if not parts:
            return ANSWERS.get(query, vector("1"))
        result = []
        for inner, index in parts:
            status, body = ANSWERS.get(inner, vector("1"))
            if status != 200 or body["data"]["resultType"] != "vector":
                # label_replace of a scalar or a range vector, a parse error, an execution
                # error: the whole expression fails with the first error.
                return (400, {"status": "error", "errorType": "bad_data", "error": "x"})
            for series in body["data"]["result"]:
                result.append({**series, "metric": {**series["metric"], LABEL: index}})
        return 200, {"status": "success", "data": {"resultType": "vector", "result": result}}


@pytest.fixture
def prom() -> Iterator[BatchingPrometheus]:
    fake = BatchingPrometheus()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def reply(self, query: str) -> None:
            status, body = fake.answer(query)
            data = (body if isinstance(body, str) else json.dumps(body)).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self.reply(parse_qs(urlsplit(self.path).query).get("query", [""])[0])

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            self.reply(form.get("query", [""])[0])

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serving(Handler) as url:
        fake.url = url
        yield fake


def ask(source: PrometheusSource, queries: list[str]) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        return dict(await asyncio.wait_for(source.query(queries), timeout=30))

    return asyncio.run(go())


def test_120_queries_take_3_requests_and_get_the_answers_they_would_get_alone(
    prom: BatchingPrometheus,
) -> None:
    queries = [f'sum(up{{svc="{i}"}})' for i in range(117)] + ["empty", "nan", "multi"]
    batched = ask(BatchingSource(prom.url, batch=50), queries)
    assert len(prom.requests) == 3
    alone = ask(PrometheusSource(prom.url), queries)
    assert len(prom.requests) == 3 + 120
    for query in queries:
        mine, theirs = batched[query], alone[query]
        if isinstance(theirs, Sample):
            assert isinstance(mine, Sample)
            assert mine.value == theirs.value
        else:
            assert isinstance(mine, MetricFailure)
            assert mine.reason == theirs.reason
    assert {batched[q].reason for q in ("empty", "nan", "multi")} == {
        FailureReason.EMPTY,
        FailureReason.NOT_A_NUMBER,
        FailureReason.AMBIGUOUS,
    }
    assert LABEL not in str(batched["multi"])


def test_a_batch_that_fails_as_a_whole_is_asked_again_one_query_at_a_time(
    prom: BatchingPrometheus,
) -> None:
    queries = ["up", "sum(rate(x[1m]", "scalar(7)", "exec", "other"]
    found = ask(BatchingSource(prom.url, batch=50), queries)
    assert len(prom.requests) == 1 + 5
    assert isinstance(found["up"], Sample)
    assert found["up"].value == 42.5
    assert isinstance(found["scalar(7)"], Sample)
    assert found["scalar(7)"].value == 7
    assert found["sum(rate(x[1m]"].reason == FailureReason.QUERY_INVALID
    assert found["exec"].reason == FailureReason.QUERY_FAILED


def test_a_comment_in_one_query_ends_at_its_line() -> None:
    text = combined(["sum(up) # all of them", "sum(x)"])
    assert [line for line in text.splitlines() if line.startswith("sum")] == [
        "sum(up) # all of them",
        "sum(x)",
    ]


def test_an_empty_query_is_refused_as_before(prom: BatchingPrometheus) -> None:
    found = ask(BatchingSource(prom.url), ["  ", "up"])
    assert found["  "].reason == FailureReason.QUERY_INVALID
    assert isinstance(found["up"], Sample)
