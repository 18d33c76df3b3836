"""The informer lists, follows watch events, relists when its version is too old."""

from __future__ import annotations

import json
import tracemalloc
from typing import Any

import pytest

from showtime.cluster.informer import Informer, wait_synced
from showtime.core.workloadcache import slim_workload
from tests.support.wait import wait_for


class FakeResponse:
    def __init__(self, body: Any = None, lines: list[dict[str, Any]] | None = None) -> None:
        self.data = json.dumps(body).encode() if body is not None else b""
        self._lines = [json.dumps(line).encode() + b"\n" for line in lines or []]

    def stream(self, *_: Any, **__: Any) -> Any:  # what iter_resp_lines reads
        yield from self._lines

    def release_conn(self) -> None:
        pass


def obj(name: str, version: int, replicas: int = 1) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "resourceVersion": str(version),
            "managedFields": [{"manager": "x"}],
        },
        "spec": {"replicas": replicas},
    }


class FakeApi:
    """Answers a list, then scripted watches; records what was asked."""

    def __init__(self) -> None:
        self.lists = 0
        self.watches: list[str] = []
        self.script = [
            [
                {"type": "MODIFIED", "object": obj("a", 11, 5)},
                {"type": "ADDED", "object": obj("c", 12)},
                {"type": "DELETED", "object": obj("b", 13)},
            ],
            [{"type": "ERROR", "object": {"code": 410, "message": "too old"}}],
        ]

    def __call__(
        self, *args: Any, watch: bool = False, resource_version: str = "", **kwargs: Any
    ) -> FakeResponse:
        if not watch:
            self.lists += 1
            items = [obj("a", 10), obj("b", 10)] if self.lists == 1 else [obj("z", 20)]
            return FakeResponse({"metadata": {"resourceVersion": "10"}, "items": items})
        self.watches.append(resource_version)
        lines = self.script.pop(0) if self.script else []
        return FakeResponse(lines=lines)


def test_informer_follows_changes_and_relists_when_too_old() -> None:
    api = FakeApi()
    informer = Informer("deployments", api)
    informer.start()
    try:
        assert wait_synced([informer], timeout=5)
        wait_for(lambda: api.lists >= 2, timeout=5, message="relist after 410")
        assert api.watches[:2] == ["10", "13"]  # resumed from the last version seen
        names = wait_for(
            lambda: {o["metadata"]["name"] for o in informer.items()} == {"z"},
            timeout=5,
            message="cache replaced by the new list",
        )
        assert names
        assert all("managedFields" not in o["metadata"] for o in informer.items())
    finally:
        informer.stop()


def replicas_of(informer: Informer) -> list[int]:
    return [o["spec"]["replicas"] for o in informer.items()]


def watch_delivers(informer: Informer, item: dict[str, Any]) -> None:
    with informer._lock:
        informer._delivered(("ns", item["metadata"]["name"]), item, deleted=False)


def test_a_write_the_watch_already_delivered_does_not_go_back_over_newer_news() -> None:
    """Versions compared only for equality: a controller's update after our write stays."""
    informer = Informer("deployments", FakeApi())
    watch_delivers(informer, obj("a", 11, replicas=7))  # our write, seen on the watch
    watch_delivers(informer, obj("a", 12, replicas=7))  # then the controller's status update
    informer.upsert(obj("a", 11, replicas=7))  # the answer to our write arrives late
    assert [o["metadata"]["resourceVersion"] for o in informer.items()] == ["12"]


def test_until_the_watch_delivers_our_write_what_it_delivers_is_older() -> None:
    informer = Informer("deployments", FakeApi())
    watch_delivers(informer, obj("a", 9, replicas=2))
    informer.upsert(obj("a", 11, replicas=7))  # our write
    watch_delivers(informer, obj("a", 10, replicas=2))  # someone's change before ours
    assert replicas_of(informer) == [7]
    watch_delivers(informer, obj("a", 11, replicas=7))
    watch_delivers(informer, obj("a", 12, replicas=4))  # after ours: it wins
    assert replicas_of(informer) == [4]


class PagedApi:
    """Answers a list in pages of at most ``limit`` objects, then one watch event."""

    def __init__(self, count: int) -> None:
        self.objects = [obj(f"o{i}", 100 + i) for i in range(count)]
        self.pages: list[int] = []
        self.watches: list[str] = []

    def __call__(
        self, *args: Any, watch: bool = False, resource_version: str = "", **kwargs: Any
    ) -> FakeResponse:
        if watch:
            self.watches.append(resource_version)
            lines = [] if len(self.watches) > 1 else [{"type": "ADDED", "object": obj("w", 900)}]
            return FakeResponse(lines=lines)
        start, limit = int(kwargs.get("_continue") or 0), int(kwargs["limit"])
        page = self.objects[start : start + limit]
        self.pages.append(len(page))
        more = start + limit < len(self.objects)
        meta = {"resourceVersion": "500", **({"continue": str(start + limit)} if more else {})}
        return FakeResponse({"metadata": meta, "items": page})


def keep_name_only(item: dict[str, Any]) -> dict[str, Any]:
    meta = item["metadata"]
    return {"metadata": {k: meta[k] for k in ("name", "namespace", "resourceVersion")}}


def test_a_large_list_is_read_in_pages_and_every_object_transformed() -> None:
    api = PagedApi(1234)
    informer = Informer("pods", api, transform=keep_name_only)
    informer.start()
    try:
        assert wait_synced([informer], timeout=5)
        wait_for(lambda: informer.get("ns", "w"), timeout=5, message="the watched object")
        assert api.pages == [500, 500, 234]
        assert api.watches[0] == "500"  # the list's version, from its pages
        items = informer.items()
        assert len(items) == 1235
        assert all(set(o) == {"metadata"} for o in items)  # no spec kept, watched ones too
    finally:
        informer.stop()
    informer.upsert(obj("u", 999, replicas=4))
    assert informer.get("ns", "u") == keep_name_only(obj("u", 999))


def test_a_kubectl_applied_object_is_cached_without_its_last_applied_copy() -> None:
    informer = Informer("deployments", FakeApi())
    applied = obj("a", 11)
    applied["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(obj("a", 1)),
        "showtime.dev/held-by": "ns/event",
    }
    watch_delivers(informer, applied)
    informer.upsert({**obj("a", 12), "metadata": {**applied["metadata"], "resourceVersion": "12"}})
    cached = informer.get("ns", "a")
    assert cached is not None
    assert cached["metadata"]["annotations"] == {"showtime.dev/held-by": "ns/event"}


def test_what_the_cache_keeps_beside_each_object_is_small() -> None:
    """50,000 pods in the scale drill R6: per-object bookkeeping adds up."""
    informer = Informer("pods", FakeApi(), transform=lambda o: o, intern=False)
    items = [obj(f"p{i}", 100 + i) for i in range(10_000)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for item in items:
            watch_delivers(informer, item)
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(informer.items()) == 10_000
    assert kept / 10_000 < 300  # bytes per object: dict entries and the versions seen


def applied_deployment(index: int) -> dict[str, Any]:
    """A Deployment as a watch delivers it, shaped like one applied with kubectl."""
    labels = {"app": f"svc-{index}", "team": f"team-{index % 7}", "tier": "web"}
    container = {
        "name": "app",
        "image": "registry.example/shop/web:1.42.0",
        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        "resources": {
            "limits": {"cpu": "1", "memory": "512Mi"},
            "requests": {"cpu": "100m", "memory": "128Mi"},
        },
        "env": [{"name": "MODE", "value": "production"}],
    }
    return {
        "metadata": {
            "name": f"svc-{index}",
            "namespace": "ns",
            "uid": f"00000000-0000-4000-8000-{index:012d}",
            "resourceVersion": str(1000 + index),
            "generation": 1,
            "creationTimestamp": "2026-11-22T04:19:19Z",
            "labels": labels,
            "annotations": {"deployment.kubernetes.io/revision": "1"},
        },
        "spec": {
            "replicas": 10,
            "selector": {"matchLabels": {"app": f"svc-{index}"}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [container],
                    "restartPolicy": "Always",
                    "dnsPolicy": "ClusterFirst",
                    "schedulerName": "default-scheduler",
                },
            },
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
            },
        },
        "status": {"observedGeneration": 1, "replicas": 10, "readyReplicas": 10},
    }


def cached_bytes_per_object(informer: Informer, objects: list[dict[str, Any]]) -> float:
    """Memory the cache holds per object, each parsed from its own JSON as a watch event is."""
    lines = [json.dumps(o) for o in objects]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for line in lines:
            watch_delivers(informer, json.loads(line))
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(informer.items()) == len(objects)
    return kept / len(objects)


def test_watched_workloads_share_the_strings_they_have_in_common() -> None:
    """5,000 Deployments in the scale drill R6: one copy of each key, label and quantity."""
    deployments = [applied_deployment(i) for i in range(2_000)]
    plain = Informer("deployments", FakeApi(), transform=slim_workload, intern=False)
    informer = Informer("deployments", FakeApi(), transform=slim_workload)
    assert cached_bytes_per_object(informer, deployments) < 0.7 * cached_bytes_per_object(
        plain, deployments
    )  # measured: 3.9 KB instead of 6.9 KB
    first, second = informer.get("ns", "svc-1"), informer.get("ns", "svc-2")
    assert first is not None
    assert second is not None
    assert first["spec"]["strategy"]["type"] is second["spec"]["strategy"]["type"]
    assert first == slim_workload(deployments[1])  # the same content


def test_a_cache_of_objects_showtime_never_writes_keeps_no_versions_beside_them() -> None:
    """Pods: no per-object version bookkeeping, and an upsert is refused, not half-kept."""
    written = Informer("pods", FakeApi(), transform=lambda o: o, intern=False)
    read_only = Informer("pods", FakeApi(), transform=lambda o: o, intern=False, written=False)
    pods = [obj(f"p{i}", 100 + i) for i in range(5_000)]
    assert cached_bytes_per_object(read_only, pods) < cached_bytes_per_object(written, pods) - 50
    with pytest.raises(ValueError, match="pods"):
        read_only.upsert(obj("p1", 99_999))
    assert read_only.get("ns", "p1") == obj("p1", 101)
