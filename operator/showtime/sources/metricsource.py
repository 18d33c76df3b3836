"""The metric-source layer: evaluate PromQL instant queries and classify every outcome.

What lives here: the result types (``Sample``, ``MetricFailure`` with a ``FailureReason``),
the ``MetricSource`` protocol the reconciler depends on, and ``PrometheusSource``, its
implementation on prometheus-api-client's ``PrometheusConnect``: validated config, one
HTTP request per distinct query, a per-query timeout, bounded concurrency, blocking I/O
in its own worker threads, and telemetry (latency, failures by reason).

What does not: deciding what a failure means for scaling ("missing data is not zero" is
the reconciler's rule; this layer only reports, never substitutes a value), conditions
and Kubernetes events, caching across ticks, and where the Prometheus URL comes from
(operator configuration, never a TrafficEvent).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

import requests
import structlog
from prometheus_api_client import PrometheusConnect
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from showtime import telemetry
from showtime.core.samples import FailureReason, MetricFailure, MetricResult, Sample

__all__ = [
    "FailureReason",
    "MetricFailure",
    "MetricResult",
    "MetricSource",
    "PrometheusSource",
    "Sample",
]

log = structlog.get_logger(__name__)

_MAX_MESSAGE: Final = 300


class MetricSource(Protocol):
    """Something that turns queries into numbers (KEDA-scaler style: one small interface)."""

    async def query(self, queries: Collection[str]) -> Mapping[str, MetricResult]:
        """Evaluate each distinct query once (instant query).

        Never raises for per-query failures: each one is a ``MetricFailure`` in the result.
        """
        ...


class PrometheusSource:
    """``MetricSource`` over the Prometheus HTTP API (``GET /api/v1/query``).

    Each call to ``query`` sends one request per *distinct* query string, at most
    ``concurrency`` at a time; every request runs in a worker thread and is abandoned
    after ``timeout`` seconds (reported as ``QueryTimeout``; Prometheus is also asked to
    stop evaluating after ``timeout``). A slot is freed only when its request has really
    ended, so Prometheus never sees more than ``concurrency`` requests from one source.
    Worst case, one call takes about ``ceil(distinct / concurrency) * timeout``.
    Requests are never retried: the next tick is the retry.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        concurrency: int = 8,
        headers: Mapping[str, str] | None = None,
        verify_tls: bool = True,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"Prometheus url must look like http(s)://host[:port], got {url!r}")
        if isinstance(timeout, bool) or not (isinstance(timeout, int | float)) or timeout <= 0:
            raise ValueError(f"Prometheus query timeout must be > 0 seconds, got {timeout!r}")
        if not math.isfinite(timeout):
            raise ValueError(f"Prometheus query timeout must be finite, got {timeout!r}")
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"Prometheus query concurrency must be >= 1, got {concurrency!r}")

        self.url: Final = url.rstrip("/")
        self.timeout: Final = float(timeout)
        self.concurrency: Final = concurrency
        no_retries = Retry(0, read=False)  # as requests' own default: fail fast, tick retries
        self._session = requests.Session()
        # PrometheusConnect owns the connection settings; we keep the session we gave it
        # so we can read status codes and error bodies, which custom_query() folds away.
        self._client = PrometheusConnect(
            url=self.url,
            headers=dict(headers) if headers else None,
            disable_ssl=not verify_tls,
            retry=no_retries,
            session=self._session,
        )
        self._session.mount(
            self.url, HTTPAdapter(max_retries=no_retries, pool_maxsize=max(10, concurrency))
        )
        # Own worker threads, one per slot: a busy default executor (to_thread users) can
        # never delay a query into a spurious timeout, nor can we starve theirs.
        self._threads = ThreadPoolExecutor(concurrency, thread_name_prefix="prometheus-query")
        self._slots: asyncio.Semaphore | None = None
        self._slots_loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return (
            f"PrometheusSource(url={self.url!r}, timeout={self.timeout}, "
            f"concurrency={self.concurrency})"
        )

    def close(self) -> None:
        """Release pooled connections and worker threads (in-flight requests finish first)."""
        self._threads.shutdown(wait=False)
        self._client.close()

    async def query(self, queries: Collection[str]) -> dict[str, MetricResult]:
        """Evaluate each distinct query once, concurrently; one entry per distinct query."""
        if isinstance(queries, str):
            raise TypeError("query() takes a collection of query strings, not one string")
        distinct = list(dict.fromkeys(queries))
        results = await asyncio.gather(*(self._query_one(q) for q in distinct))
        return dict(zip(distinct, results, strict=True))

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots_loop is not loop:
            self._slots = asyncio.Semaphore(self.concurrency)
            self._slots_loop = loop
        return self._slots

    async def _query_one(self, query: str) -> MetricResult:
        if not query.strip():
            empty = MetricFailure(FailureReason.QUERY_INVALID, "query is empty")
            telemetry.METRIC_QUERY_FAILURES.labels(empty.reason.value).inc()
            return empty
        slots = self._semaphore()
        await slots.acquire()
        started = time.monotonic()
        try:
            request = asyncio.get_running_loop().run_in_executor(self._threads, self._fetch, query)
        except BaseException:  # e.g. used after close(): give the slot back, then complain
            slots.release()
            raise

        def _free_slot(done: asyncio.Future[MetricResult]) -> None:
            slots.release()
            if not done.cancelled():
                done.exception()  # mark retrieved; _fetch itself does not raise

        request.add_done_callback(_free_slot)
        result: MetricResult
        try:
            result = await asyncio.wait_for(asyncio.shield(request), self.timeout)
        except TimeoutError:
            result = MetricFailure(
                FailureReason.TIMEOUT, f"Prometheus did not answer within {self.timeout:g}s"
            )
        except Exception as exc:  # a bug in classification must not take the tick down
            log.exception("metric query crashed", query=query)
            result = MetricFailure(FailureReason.HTTP_ERROR, _one_line(f"unexpected: {exc!r}"))
        finally:
            telemetry.METRIC_QUERY_DURATION.observe(time.monotonic() - started)
        if isinstance(result, MetricFailure):
            telemetry.METRIC_QUERY_FAILURES.labels(result.reason.value).inc()
            log.debug("metric query failed", query=query, reason=result.reason.value)
        return result

    def _fetch(self, query: str) -> MetricResult:
        """Blocking: one HTTP request, classified. Runs in a worker thread."""
        try:
            response = self._session.get(
                f"{self.url}/api/v1/query",
                params={"query": query, "timeout": f"{self.timeout:g}"},
                headers=self._client.headers,
                timeout=self.timeout,
            )
        except requests.ConnectTimeout:
            return MetricFailure(
                FailureReason.UNREACHABLE, f"no connection to {self.url} within {self.timeout:g}s"
            )
        except requests.Timeout:
            return MetricFailure(
                FailureReason.TIMEOUT, f"Prometheus did not answer within {self.timeout:g}s"
            )
        except requests.ConnectionError as exc:
            return MetricFailure(
                FailureReason.UNREACHABLE, _one_line(f"cannot reach {self.url}: {_cause(exc)}")
            )
        except requests.RequestException as exc:
            return MetricFailure(FailureReason.HTTP_ERROR, _one_line(f"request failed: {exc}"))
        return classify_response(response.status_code, response.text)


def classify_response(status: int, body: str) -> MetricResult:
    """Turn a Prometheus ``/api/v1/query`` answer (status code and body) into a result."""
    try:
        payload: Any = json.loads(body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        return MetricFailure(
            FailureReason.HTTP_ERROR, _one_line(f"HTTP {status}, not a Prometheus answer: {body}")
        )
    if payload.get("status") != "success":
        error_type = str(payload.get("errorType", ""))
        error = str(payload.get("error", "")) or body
        if error_type == "timeout" or status == 503:
            return MetricFailure(FailureReason.TIMEOUT, _one_line(f"Prometheus: {error}"))
        if error_type == "execution" or status == 422:
            # The query parses but failed this time (many-to-many matching, too many
            # samples...): missing data, not a bad spec. The next tick asks again.
            return MetricFailure(FailureReason.QUERY_FAILED, _one_line(f"{error_type}: {error}"))
        if status == 400 or error_type == "bad_data":
            return MetricFailure(FailureReason.QUERY_INVALID, _one_line(f"{error_type}: {error}"))
        if error_type == "timeout":
            return MetricFailure(FailureReason.TIMEOUT, _one_line(f"Prometheus: {error}"))
        return MetricFailure(
            FailureReason.HTTP_ERROR, _one_line(f"HTTP {status} {error_type}: {error}")
        )
    if not 200 <= status < 300:
        return MetricFailure(FailureReason.HTTP_ERROR, _one_line(f"HTTP {status}: {body}"))
    data = payload.get("data")
    if not isinstance(data, dict):
        return MetricFailure(FailureReason.HTTP_ERROR, "answer has no data")
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "scalar":
        return _sample(result)
    if kind == "vector" and isinstance(result, list):
        if not result:
            return MetricFailure(FailureReason.EMPTY, "query returned no series")
        if len(result) > 1:
            first = result[0].get("metric", {}) if isinstance(result[0], dict) else {}
            return MetricFailure(
                FailureReason.AMBIGUOUS,
                _one_line(
                    f"query returned {len(result)} series (e.g. {_labels(first)}); "
                    "wrap it in sum(...) or another aggregation so it yields one number"
                ),
            )
        only = result[0]
        return _sample(only.get("value") if isinstance(only, dict) else None)
    if kind == "matrix":
        return MetricFailure(
            FailureReason.QUERY_INVALID,
            "query returns a range vector; wrap it in rate(...) or another function",
        )
    return MetricFailure(FailureReason.QUERY_INVALID, f"query returns a {kind}, not a number")


def _sample(pair: Any) -> MetricResult:
    try:
        timestamp, raw = pair
        value = float(raw)
        when = datetime.fromtimestamp(float(timestamp), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return MetricFailure(FailureReason.HTTP_ERROR, _one_line(f"malformed sample: {pair!r}"))
    if not math.isfinite(value):
        return MetricFailure(FailureReason.NOT_A_NUMBER, f"query returned {raw}")
    return Sample(value=value, timestamp=when)


def _labels(metric: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(metric.items())) + "}"


def _cause(exc: BaseException) -> str:
    """The innermost cause, e.g. 'Connection refused' rather than urllib3's wrapper text."""
    seen = exc
    while True:
        nxt = seen.__cause__ or seen.__context__
        if nxt is None or nxt is seen:
            break
        seen = nxt
    if seen is exc and exc.args:
        return str(exc.args[0])
    return str(seen) or type(seen).__name__


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _MAX_MESSAGE else flat[: _MAX_MESSAGE - 1] + "…"
