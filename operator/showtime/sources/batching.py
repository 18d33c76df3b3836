"""Many PromQL queries in one request: ``BatchingSource``, a ``PrometheusSource`` that batches.

2,000 TrafficEvents with a metric each ask for hundreds of distinct queries a tick (the
scale drill R6: 400); one HTTP request each costs the operator about 2.5 ms of CPU and the
tick a second of waiting on a 2-core machine. Here up to ``batch`` queries go in one
request, each wrapped so that its series carry the label ``showtime_query`` with its
position::

    label_replace(
    <query 0>
    , "showtime_query", "0", "", "")
    or
    label_replace(
    <query 1>
    , "showtime_query", "1", "", "")

(each query on lines of its own, so a ``#`` comment in one ends at its line). The answer is
split by that label and every query classified exactly as if it had been sent alone
(``classify_response``: no series is empty, two are ambiguous, NaN is not a number). A
batch that fails as a whole (one query does not parse, returns a scalar or a range vector,
fails at run time, a timeout, no connection) is sent again one query at a time, so each
query still gets its own answer and reason. What a result means for scaling is decided
elsewhere.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Collection
from typing import Any, Final

import requests

from showtime import telemetry
from showtime.sources.metricsource import (
    MetricFailure,
    MetricResult,
    PrometheusSource,
    classify_response,
)

LABEL: Final = "showtime_query"
BATCH: Final = 50


def combined(queries: list[str]) -> str:
    """One PromQL expression whose series are the queries', each labelled with its position."""
    return "\nor\n".join(
        f'label_replace(\n{query}\n, "{LABEL}", "{index}", "", "")'
        for index, query in enumerate(queries)
    )


def split(queries: list[str], status: int, body: str) -> dict[str, MetricResult] | None:
    """Each query's result from a batch's answer; None if the batch failed as a whole."""
    try:
        payload: Any = json.loads(body)
    except ValueError:
        return None
    data = payload.get("data") if isinstance(payload, dict) else None
    if not 200 <= status < 300 or payload.get("status") != "success":
        return None
    if not isinstance(data, dict) or data.get("resultType") != "vector":
        return None
    found: dict[str, list[Any]] = {}
    for series in data.get("result") or []:
        metric = series.get("metric") if isinstance(series, dict) else None
        if not isinstance(metric, dict):
            return None
        own = {k: v for k, v in metric.items() if k != LABEL}
        found.setdefault(str(metric.get(LABEL)), []).append({**series, "metric": own})
    results: dict[str, MetricResult] = {}
    for index, query in enumerate(queries):
        alone = {
            "status": "success",
            "data": {"resultType": "vector", "result": found.get(str(index), [])},
        }
        results[query] = classify_response(200, json.dumps(alone))
    return results


class BatchingSource(PrometheusSource):
    """``PrometheusSource`` sending up to ``batch`` distinct queries per request."""

    def __init__(self, url: str, *, batch: int = BATCH, **options: Any) -> None:
        super().__init__(url, **options)
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ValueError(f"Prometheus query batch must be >= 1, got {batch!r}")
        self.batch: Final = batch

    async def query(self, queries: Collection[str]) -> dict[str, MetricResult]:
        if isinstance(queries, str):
            raise TypeError("query() takes a collection of query strings, not one string")
        distinct = list(dict.fromkeys(queries))
        sendable = [q for q in distinct if q.strip()]
        chunks = [sendable[i : i + self.batch] for i in range(0, len(sendable), self.batch)]
        results: dict[str, MetricResult] = {}
        for answer in await asyncio.gather(*(self._chunk(chunk) for chunk in chunks)):
            results.update(answer)
        rest = [q for q in distinct if q not in results]  # empty ones: the plain path says why
        if rest:
            results.update(await super().query(rest))
        return {q: results[q] for q in distinct}

    async def _chunk(self, chunk: list[str]) -> dict[str, MetricResult]:
        if len(chunk) > 1:
            answered = await self._send_batch(chunk)
            if answered is not None:
                for result in answered.values():
                    if isinstance(result, MetricFailure):
                        telemetry.METRIC_QUERY_FAILURES.labels(result.reason.value).inc()
                return answered
        return await super().query(chunk)  # one by one: each gets its own answer

    async def _send_batch(self, chunk: list[str]) -> dict[str, MetricResult] | None:
        slots = self._semaphore()
        async with slots:
            started = time.monotonic()
            try:
                request = asyncio.get_running_loop().run_in_executor(
                    self._threads, self._post, combined(chunk)
                )
                answer = await asyncio.wait_for(request, self.timeout)
            except Exception:  # a timeout, no connection: one by one says which and why
                return None
            finally:
                telemetry.METRIC_QUERY_DURATION.observe(time.monotonic() - started)
        return None if answer is None else split(chunk, *answer)

    def _post(self, query: str) -> tuple[int, str] | None:
        """Blocking: one POST (a batch is too long for a URL). Runs in a worker thread."""
        try:
            response = self._session.post(
                f"{self.url}/api/v1/query",
                data={"query": query, "timeout": f"{self.timeout:g}"},
                headers=self._client.headers,
                timeout=self.timeout,
            )
        except requests.RequestException:
            return None
        return response.status_code, response.text
