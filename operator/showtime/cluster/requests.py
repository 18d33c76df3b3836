"""The bodies of Showtime's writes and the typed errors of a refused write.

Every write is a JSON merge patch (RFC 7386): ``workload_patch`` changes a workload's
annotations and replicas in one request, ``hpa_patch`` an HPA's minReplicas,
``status_patch`` a TrafficEvent's status; each can carry a resourceVersion as a
precondition (409 ``Conflict`` if the object changed). ``event_body`` is a core/v1 Event.
The Kubernetes gateway (``kube``) and the tests' fake build the same bodies from here.
Sending them is not done here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from kubernetes.client import ApiException

MERGE_PATCH = "application/merge-patch+json"  # RFC 7386; the client's default is not


class GatewayError(Exception):
    """A write the API server refused; ``status`` is the HTTP code.

    ``status`` 0: no answer at all (connection lost, timeout); the write may have happened.
    """

    def __init__(self, status: int, message: str, reason: str = "") -> None:
        super().__init__(f"{status} {reason}: {message}".replace(" :", ":"))
        self.status = status
        self.reason = reason  # the Status reason, e.g. "Conflict", "AlreadyExists"
        self.message = message


class Conflict(GatewayError):  # noqa: N818 (the agreed names)
    """409: the object changed since it was read (stale resourceVersion)."""


class AlreadyExists(Conflict):
    """409 on a create: an object of that name exists."""


class NotFound(GatewayError):  # noqa: N818
    """404: the object (or its namespace) does not exist."""


def refusal(status: int, message: str, reason: str = "") -> GatewayError:
    """The typed error for an HTTP answer ``status``."""
    if status == 409:
        return (
            AlreadyExists(status, message, reason)
            if reason == "AlreadyExists"
            else (Conflict(status, message, reason))
        )
    if status == 404:
        return NotFound(status, message, reason)
    return GatewayError(status, message, reason)


def refusal_from(exc: ApiException) -> GatewayError:
    status = int(exc.status or 0)
    message, reason = str(exc.reason or ""), ""
    try:
        answer = json.loads(exc.body or "{}")
        message, reason = str(answer.get("message") or message), str(answer.get("reason") or "")
    except (TypeError, ValueError):
        pass
    return refusal(status, message, reason)


def workload_patch(
    annotations: Mapping[str, str | None] | None,
    replicas: int | None,
    resource_version: str | None,
) -> dict[str, Any]:
    """The one merge patch of ``patch_workload``: annotations, replicas, precondition."""
    metadata: dict[str, Any] = {}
    if annotations:
        metadata["annotations"] = dict(annotations)
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    body: dict[str, Any] = {"metadata": metadata} if metadata else {}
    if replicas is not None:
        body["spec"] = {"replicas": replicas}
    return body


def hpa_patch(min_replicas: int | None, resource_version: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"spec": {"minReplicas": min_replicas}}
    if resource_version is not None:
        body["metadata"] = {"resourceVersion": resource_version}
    return body


def status_patch(status: Mapping[str, Any], resource_version: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"status": dict(status)}
    if resource_version is not None:
        body["metadata"] = {"resourceVersion": resource_version}
    return body


def event_body(
    involved: Mapping[str, Any], type_: str, reason: str, message: str, now: datetime
) -> dict[str, Any]:
    """A core/v1 Event about ``involved`` (count 1), named by the server."""
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "metadata": {"generateName": f"{involved['name']}.", "namespace": involved["namespace"]},
        "involvedObject": dict(involved),
        "type": type_,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": "showtime"},
        "reportingComponent": "showtime.dev/operator",
        "reportingInstance": "showtime",
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
