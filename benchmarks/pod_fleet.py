"""A fleet of pods on the kwok cluster for benchmarks, created and removed in bounded time.

``PodFleet(count)`` makes a scratch namespace, temporary kwok nodes that only its pods use
(a taint and a node selector keep other tests' pods off them, and its pods off the
cluster's own nodes), and Deployments scaled so that ``count`` pods exist; it then waits a
bounded time for them to become Ready (kwok readies a few dozen pods a second on a small
machine, so not all may be) and proceeds either way. On exit it deletes the namespace,
waits (bounded) for the pods to go, and deletes the nodes. This loads a 2-core machine for
ten minutes or more: it is not part of ``make bench``.
"""

from __future__ import annotations

import time
import uuid
from types import TracebackType
from typing import Any

from kubernetes import client
from kubernetes.client import ApiException

PODS_PER_NODE = 4000  # a /20 pod CIDR per node
PODS_PER_DEPLOYMENT = 500
CREATE_SECONDS = 300  # until every pod exists
READY_SECONDS = 120  # then, for them to become Ready
DELETE_SECONDS = 300
POLL_SECONDS = 5.0


class PodFleet:
    def __init__(self, count: int) -> None:
        from showtime.cluster.kube import load_kube_config

        load_kube_config()
        self.count = count
        self.tag = uuid.uuid4().hex[:6]
        self.namespace = f"bench-pods-{self.tag}"
        self._core: Any = client.CoreV1Api()
        self._apps: Any = client.AppsV1Api()
        self._nodes = [f"bench-{self.tag}-{i}" for i in range(-(-count // PODS_PER_NODE))]
        self.created_seconds = 0.0
        self.ready = 0

    def __enter__(self) -> PodFleet:
        began = time.monotonic()
        try:
            self._create()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        self.created_seconds = time.monotonic() - began
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._delete()

    def describe(self) -> str:
        return (
            f"{self.count} pods ({self.ready} Ready) of {-(-self.count // PODS_PER_DEPLOYMENT)} "
            f"Deployments on {len(self._nodes)} temporary kwok nodes, created in "
            f"{self.created_seconds:.0f}s (namespace {self.namespace})"
        )

    def _create(self) -> None:
        for index, name in enumerate(self._nodes):
            self._core.create_node(self._node(name, index))
        self._core.create_namespace({"metadata": {"name": self.namespace}})
        remaining, index = self.count, 0
        while remaining > 0:
            replicas = min(PODS_PER_DEPLOYMENT, remaining)
            self._apps.create_namespaced_deployment(
                self.namespace, self._deployment(f"fleet-{index}", replicas)
            )
            remaining, index = remaining - replicas, index + 1
        deadline = time.monotonic() + CREATE_SECONDS
        while True:
            existing, self.ready = self._counts()
            print(f"  {existing} pods exist, {self.ready} Ready", flush=True)
            if existing >= self.count:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{existing} of {self.count} pods after {CREATE_SECONDS}s")
            time.sleep(POLL_SECONDS)
        deadline = time.monotonic() + READY_SECONDS
        while self.ready < self.count and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            existing, self.ready = self._counts()
            print(f"  {existing} pods exist, {self.ready} Ready", flush=True)

    def _counts(self) -> tuple[int, int]:
        found = self._apps.list_namespaced_deployment(self.namespace, _request_timeout=30)
        existing = sum((d.status.replicas or 0) for d in found.items)
        ready = sum((d.status.ready_replicas or 0) for d in found.items)
        return existing, ready

    def _delete(self) -> None:
        try:
            self._core.delete_namespace(self.namespace, _request_timeout=30)
        except ApiException as exc:
            if exc.status != 404:
                print(f"  could not delete namespace {self.namespace}: {exc.reason}")
        deadline = time.monotonic() + DELETE_SECONDS
        while time.monotonic() < deadline:
            try:
                self._core.read_namespace(self.namespace, _request_timeout=30)
            except ApiException as exc:
                if exc.status == 404:
                    break
            time.sleep(POLL_SECONDS)
        else:
            print(f"  namespace {self.namespace} still terminating; deleting the nodes anyway")
        for name in self._nodes:
            try:
                self._core.delete_node(name, _request_timeout=30)
            except ApiException as exc:
                if exc.status != 404:
                    print(f"  could not delete node {name}: {exc.reason}")

    def _node(self, name: str, index: int) -> dict[str, Any]:
        cidr = f"10.{200 + index // 16}.{(index % 16) * 16}.0/20"
        capacity = {"cpu": "1000", "memory": "4Ti", "pods": str(PODS_PER_NODE)}
        return {
            "metadata": {
                "name": name,
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {
                    "kubernetes.io/hostname": name,
                    "type": "kwok",
                    "showtime.dev/bench": self.tag,
                },
            },
            "spec": {
                "podCIDR": cidr,
                "podCIDRs": [cidr],
                "taints": [
                    {"key": "showtime.dev/bench", "value": self.tag, "effect": "NoSchedule"}
                ],
            },
            "status": {"allocatable": capacity, "capacity": capacity},
        }

    def _deployment(self, name: str, replicas: int) -> dict[str, Any]:
        labels = {"app": name}
        return {
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {
                        "labels": labels,
                        "annotations": {"pod-ready.stage.kwok.x-k8s.io/delay": "1000"},
                    },
                    "spec": {
                        "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}],
                        "terminationGracePeriodSeconds": 0,
                        "nodeSelector": {"showtime.dev/bench": self.tag},
                        "tolerations": [
                            {
                                "key": "showtime.dev/bench",
                                "operator": "Equal",
                                "value": self.tag,
                                "effect": "NoSchedule",
                            }
                        ],
                    },
                },
            },
        }
