"""The fake cluster behaves like the API server where the reconciler's promises depend on it.

resourceVersion and generation bookkeeping, merge-patch semantics (nulls remove), 409 on a
stale precondition, 404 on a missing object, the status subresource, Events; and the
``FailingGateway`` kill points. tests/e2e/test_gateway_contract.py runs the same calls
against the real API server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from showtime.cluster.kube import AlreadyExists, Conflict, NotFound
from showtime.cluster.mergepatch import apply_merge_patch, merge_patch_between
from tests.support.fakes import FakeCluster, Write
from tests.support.faults import FailingGateway, OperatorKilled

T = TypeVar("T")
API = ("live", "Deployment", "api")


def run(call: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(call)


def cluster_with_api(replicas: int = 2) -> FakeCluster:
    cluster = FakeCluster()
    cluster.add_deployment("api", replicas)
    return cluster


# -- merge patch (RFC 7386) -----------------------------------------------------------------


def test_merge_patch_follows_rfc_7386() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}, "list": [1, 2]}
    patch = {"a": "z", "c": {"f": None}, "list": [3], "new": {"x": 1}}
    assert apply_merge_patch(target, patch) == {
        "a": "z",
        "c": {"d": "e"},
        "list": [3],
        "new": {"x": 1},
    }
    assert target == {"a": "b", "c": {"d": "e", "f": "g"}, "list": [1, 2]}  # unchanged
    # Examples from the RFC's appendix.
    assert apply_merge_patch({"a": "b"}, {"a": None}) == {}
    assert apply_merge_patch({"a": ["b"]}, {"a": "c"}) == {"a": "c"}
    assert apply_merge_patch({"a": "foo"}, "bar") == "bar"
    assert apply_merge_patch({"e": None}, {"a": 1}) == {"e": None, "a": 1}
    assert apply_merge_patch([1, 2], {"a": "b", "c": None}) == {"a": "b"}
    assert apply_merge_patch({}, {"a": {"bb": {"ccc": None}}}) == {"a": {"bb": {}}}


def test_merge_patch_between_sends_nulls_for_what_must_go() -> None:
    before = {"phase": "Live", "nextStart": "t1", "targets": [{"name": "api"}], "x": {"a": 1}}
    after = {"phase": "Completed", "targets": [{"name": "api"}], "x": {"b": 2}}
    patch = merge_patch_between(before, after)
    assert patch == {"phase": "Completed", "nextStart": None, "x": {"a": None, "b": 2}}
    assert apply_merge_patch(before, patch) == after
    assert merge_patch_between(after, after) == {}


# -- resourceVersion, generation, preconditions -----------------------------------------------


def test_every_object_has_a_resource_version_and_changes_bump_it() -> None:
    cluster = cluster_with_api()
    before = cluster.version(API)
    answer = run(cluster.patch_workload(API, replicas=5))
    assert answer["metadata"]["resourceVersion"] != before
    assert answer["metadata"]["resourceVersion"] == cluster.version(API)
    assert answer["metadata"]["generation"] == 2  # a spec change
    again = run(cluster.patch_workload(API, replicas=5))  # no change: no new version
    assert again["metadata"]["resourceVersion"] == answer["metadata"]["resourceVersion"]


def test_annotations_and_replicas_change_in_one_write() -> None:
    cluster = cluster_with_api()
    run(cluster.patch_workload(API, annotations={"a": "1", "b": "2"}, replicas=7))
    assert cluster.replicas("api") == 7
    assert cluster.annotations("api") == {"a": "1", "b": "2"}
    assert [(w.kind, w.verb, w.key) for w in cluster.writes] == [
        ("Deployment", "patch", ("live", "api"))
    ]
    run(cluster.patch_workload(API, annotations={"a": None}))
    assert cluster.annotations("api") == {"b": "2"}


def test_a_stale_resource_version_is_refused_and_nothing_changes() -> None:
    cluster = cluster_with_api()
    seen = run(cluster.snapshot()).workloads[API]["metadata"]["resourceVersion"]
    cluster.external_scale("api", 3)  # someone else, between our read and our write
    with pytest.raises(Conflict) as refused:
        run(cluster.patch_workload(API, replicas=10, resource_version=seen))
    assert refused.value.status == 409
    assert cluster.replicas("api") == 3
    assert cluster.writes[-1].answer == 409
    fresh = cluster.version(API)
    run(cluster.patch_workload(API, replicas=10, resource_version=fresh))
    assert cluster.replicas("api") == 10


def test_missing_objects_are_not_found() -> None:
    cluster = FakeCluster()
    with pytest.raises(NotFound):
        run(cluster.patch_workload(API, replicas=1))
    with pytest.raises(NotFound):
        run(cluster.patch_hpa("live", "nope", min_replicas=1))
    with pytest.raises(NotFound):
        run(cluster.patch_status("live", "nope", {"phase": "Live"}))
    with pytest.raises(NotFound):
        run(cluster.patch_event("live", "nope", {"count": 2}))
    assert [w.answer for w in cluster.writes] == [404, 404, 404, 404]


def test_objects_put_in_by_hand_get_versions_too() -> None:
    cluster = FakeCluster()
    cluster.hpas[API] = {"metadata": {"name": "api-hpa", "namespace": "live"}, "spec": {}}
    snap = run(cluster.snapshot())
    assert snap.hpas[API]["metadata"]["resourceVersion"]


# -- status subresource --------------------------------------------------------------------------


def test_a_status_patch_merges_and_only_nulls_remove_fields() -> None:
    cluster = FakeCluster()
    cluster.add_event("speech", {"targets": []})
    run(cluster.patch_status("live", "speech", {"phase": "Scheduled", "nextStart": "t"}))
    run(cluster.patch_status("live", "speech", {"phase": "Completed"}))
    assert cluster.status("speech") == {"phase": "Completed", "nextStart": "t"}  # stale
    run(cluster.patch_status("live", "speech", {"nextStart": None}))
    assert cluster.status("speech") == {"phase": "Completed"}


def test_a_status_patch_does_not_touch_spec_or_generation() -> None:
    cluster = FakeCluster()
    cluster.add_event("speech", {"leadTime": "5m"})
    answer = run(cluster.patch_status("live", "speech", {"phase": "Live"}))
    assert answer["metadata"]["generation"] == 1
    assert answer["spec"] == {"leadTime": "5m"}
    assert cluster.writes[-1].verb == "patch-status"
    cluster.external_edit_event("speech", {"leadTime": "10m"})
    assert cluster.events[("live", "speech")]["metadata"]["generation"] == 2


def test_a_status_patch_with_a_stale_version_is_refused() -> None:
    cluster = FakeCluster()
    cluster.add_event("speech", {})
    seen = run(cluster.snapshot()).events[0]["metadata"]["resourceVersion"]
    cluster.external_edit_event("speech", {"leadTime": "1m"})
    with pytest.raises(Conflict):
        run(cluster.patch_status("live", "speech", {"phase": "Live"}, resource_version=seen))


# -- HPAs and "someone else" --------------------------------------------------------------------


def test_hpa_min_replicas_and_outside_changes() -> None:
    cluster = cluster_with_api()
    cluster.add_hpa("api", 2, 8)
    hpa = cluster.hpas[API]
    seen = hpa["metadata"]["resourceVersion"]
    run(cluster.patch_hpa("live", "api-hpa", min_replicas=5, resource_version=seen))
    assert hpa["spec"]["minReplicas"] == 5  # changed in place: references stay live
    with pytest.raises(Conflict):
        run(cluster.patch_hpa("live", "api-hpa", min_replicas=6, resource_version=seen))
    cluster.delete_hpa("api")
    assert run(cluster.snapshot()).hpas == {}
    cluster.external_annotate("api", {"showtime.dev/x": "1"})
    assert cluster.annotations("api") == {"showtime.dev/x": "1"}


# -- Events -----------------------------------------------------------------------------------


def test_events_are_created_named_and_patched() -> None:
    cluster = FakeCluster()
    body = {
        "metadata": {"generateName": "speech.", "namespace": "live"},
        "involvedObject": {"name": "speech", "namespace": "live"},
        "type": "Normal",
        "reason": "Live",
        "message": "on air",
        "count": 1,
    }
    created = run(cluster.create_event(body))
    name = created["metadata"]["name"]
    assert name.startswith("speech.")
    assert cluster.posted == [("speech", "Normal", "Live", "on air")]
    patched = run(cluster.patch_event("live", name, {"count": 2, "lastTimestamp": "t2"}))
    assert patched["count"] == 2
    assert [e["count"] for e in cluster.event_records("speech")] == [2]
    named = {**body, "metadata": {"name": name, "namespace": "live"}}
    with pytest.raises(AlreadyExists):
        run(cluster.create_event(named))
    assert [(w.kind, w.verb, w.answer) for w in cluster.writes] == [
        ("Event", "create", 201),
        ("Event", "patch", 200),
        ("Event", "create", 409),
    ]


# -- kill points ------------------------------------------------------------------------------


def test_failing_gateway_lets_n_writes_through_then_every_write_fails() -> None:
    cluster = cluster_with_api()
    gateway = FailingGateway(cluster, fail_after=2)
    run(gateway.patch_workload(API, replicas=3))
    run(gateway.patch_workload(API, annotations={"a": "1"}))
    with pytest.raises(OperatorKilled):
        run(gateway.patch_workload(API, replicas=9))
    with pytest.raises(OperatorKilled):
        run(gateway.patch_status("live", "speech", {}))
    assert run(gateway.snapshot()).workloads[API]["spec"]["replicas"] == 3  # reads still pass
    assert (gateway.passed, gateway.refused, gateway.killed) == (2, 2, True)
    assert gateway.calls == ["patch_workload", "patch_workload"]
    assert len(cluster.writes) == 2


def test_failing_gateway_without_a_limit_counts_the_writes() -> None:
    cluster = cluster_with_api()
    gateway = FailingGateway(cluster)
    run(gateway.patch_workload(API, replicas=4))
    with pytest.raises(NotFound):  # the inner gateway's own answers pass through
        run(gateway.patch_hpa("live", "none", min_replicas=1))
    assert (gateway.passed, gateway.killed) == (2, False)
    assert cluster.writes[0] == Write(
        "Deployment", "patch", ("live", "api"), {"spec": {"replicas": 4}}
    )
