"""Node capacity pre-warm, the placeholder path, with the real scheduler's preemption.

Issue 10: with ``spec.nodeCapacity.prewarm`` Showtime reserves room for the pods the floor
will add, by the node lead time ahead of the pod pre-warm. On a cluster without the
CapacityBuffer API that is a Deployment of pause pods with the negative PriorityClass
``showtime-placeholder``. Here:

* two KWOK nodes of this test's own (2 CPUs each, a label and a taint no other test
  tolerates), so the target's floor of 4 pods of 1 CPU fills them exactly;
* the placeholders are created ahead of the pod pre-warm and Run on those nodes, filling
  them (``NodeCapacityReady`` True, ``Reserved``);
* at the pre-warm the real pods find the nodes full and the kube-scheduler preempts the
  placeholders for them (``Preempted`` Events); the placeholders shrink as the real pods
  become Ready and are gone once the floor is;
* a second event deleted while it holds placeholders leaves nothing behind.

Parallel-safe, not ``serial``: the nodes are cluster-scoped but named, labelled and
tainted for this test alone (no other test's pods tolerate the taint or select the label,
and this test's pods select only these nodes); the PriorityClass is applied server-side,
the same object ``deploy/`` ships, and is left in place for others.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes.client import ApiException

from showtime.cluster.kube import GROUP, PLURAL, VERSION
from showtime.core.timestamps import parse_timestamp
from tests.support.kube import PAUSE_IMAGE, POD_READY_DELAY
from tests.support.operator import OperatorProcess
from tests.support.trafficevents import create_event, iso, ready, replicas, status
from tests.support.wait import wait_for

pytestmark = pytest.mark.e2e

POOL_LABEL = "showtime.dev/e2e-pool"
NODES = 2
CPUS_PER_NODE = 2
FLOOR = NODES * CPUS_PER_NODE  # one CPU a pod: the floor fills the pool exactly
PLACEHOLDER = "showtime.dev/placeholder-for"


@pytest.fixture
def priority_class() -> None:
    subprocess.run(
        [
            "kubectl",
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            "deploy/priorityclass.yaml",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.fixture
def pool(core_v1: Any) -> Iterator[str]:
    """Two KWOK nodes of 2 CPUs for this test alone: labelled and tainted with its id."""
    pool = f"nc-{uuid.uuid4().hex[:6]}"
    subnet = 100 + uuid.uuid4().int % 100  # 10.100-199.x: clear of the cluster's 10.244.0.0/16
    names = [f"{pool}-{i}" for i in range(NODES)]
    for i, name in enumerate(names):
        core_v1.create_node(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {
                        "kwok.x-k8s.io/node": "fake",
                        "node.alpha.kubernetes.io/ttl": "0",
                    },
                    "labels": {"kubernetes.io/hostname": name, "type": "kwok", POOL_LABEL: pool},
                },
                "spec": {
                    "podCIDR": f"10.{subnet}.{i}.0/24",
                    "podCIDRs": [f"10.{subnet}.{i}.0/24"],
                    "taints": [{"key": POOL_LABEL, "value": pool, "effect": "NoSchedule"}],
                },
                "status": {
                    "allocatable": {"cpu": str(CPUS_PER_NODE), "memory": "8Gi", "pods": "110"},
                    "capacity": {"cpu": str(CPUS_PER_NODE), "memory": "8Gi", "pods": "110"},
                },
            }
        )
    try:
        yield pool
    finally:
        for name in names:
            try:
                core_v1.delete_node(name)
            except ApiException as exc:
                if exc.status != 404:
                    raise


def target(name: str, pool: str) -> dict[str, Any]:
    """A Deployment of 0 replicas whose pods (1 CPU each) go only to the pool's nodes."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": {POD_READY_DELAY: "1000"}},
                "spec": {
                    "nodeSelector": {POOL_LABEL: pool},
                    "tolerations": [
                        {
                            "key": POOL_LABEL,
                            "operator": "Equal",
                            "value": pool,
                            "effect": "NoSchedule",
                        }
                    ],
                    "containers": [
                        {
                            "name": "app",
                            "image": PAUSE_IMAGE,
                            "resources": {"requests": {"cpu": "1"}},
                        }
                    ],
                    "terminationGracePeriodSeconds": 1,
                },
            },
        },
    }


def event_spec(start: datetime, target_name: str) -> dict[str, Any]:
    return {
        "schedule": {"start": iso(start), "duration": "2m"},
        "leadTime": "20s",  # the pods' pre-warm at start - 20 s
        "cooldown": "0s",
        "nodeCapacity": {"prewarm": True, "leadTime": "30s", "mechanism": "Placeholders"},
        "targets": [{"name": target_name, "replicas": FLOOR, "maxReplicas": 10}],
    }


def placeholders(apps: Any, namespace: str) -> list[Any]:
    found = apps.list_namespaced_deployment(namespace, label_selector=PLACEHOLDER).items
    return list(found)


def pods(core: Any, namespace: str, selector: str) -> list[Any]:
    return list(core.list_namespaced_pod(namespace, label_selector=selector).items)


def running_on_pool(pod_list: list[Any], pool: str) -> int:
    return sum(
        1
        for p in pod_list
        if p.status.phase == "Running"
        and p.spec.node_name
        and p.spec.node_name.startswith(pool)
        and not p.metadata.deletion_timestamp
    )


def node_capacity_condition(custom: Any, namespace: str, name: str) -> tuple[str, str] | None:
    for c in status(custom, namespace, name).get("conditions") or []:
        if c["type"] == "NodeCapacityReady":
            return (c["status"], c["reason"])
    return None


def test_placeholders_reserve_the_nodes_and_real_pods_preempt_them(
    operator: OperatorProcess,
    priority_class: None,
    pool: str,
    namespace: str,
    apps_v1: Any,
    core_v1: Any,
    custom: Any,
) -> None:
    apps_v1.create_namespaced_deployment(namespace, target("lecture", pool))
    start = (datetime.now(UTC) + timedelta(seconds=75)).replace(microsecond=0)
    create_event(custom, namespace, "lecture", event_spec(start, "lecture"))
    prewarm_at = start - timedelta(seconds=20)
    reserve_at = prewarm_at - timedelta(seconds=30)
    try:
        # Room is reserved ahead of the pods' pre-warm: placeholders Running on the pool.
        (placeholder,) = wait_for(
            lambda: placeholders(apps_v1, namespace),
            timeout=60,
            message="the placeholder Deployment",
        )
        created = placeholder.metadata.creation_timestamp
        assert reserve_at <= created < prewarm_at, (created, reserve_at)
        assert placeholder.spec.replicas == FLOOR
        assert placeholder.spec.template.spec.priority_class_name == "showtime-placeholder"
        selector = f"showtime.dev/placeholder={placeholder.metadata.name}"
        wait_for(
            lambda: running_on_pool(pods(core_v1, namespace, selector), pool) == FLOOR,
            timeout=40,
            message=f"{FLOOR} placeholder pods Running on the pool's nodes",
        )
        running_at = datetime.now(UTC)
        assert datetime.now(UTC) < prewarm_at, "the placeholders were not ahead of the pods"
        assert replicas(apps_v1, namespace, "lecture") == 0
        wait_for(
            lambda: node_capacity_condition(custom, namespace, "lecture") == ("True", "Reserved"),
            timeout=20,
            message="NodeCapacityReady True, Reserved",
        )
        section = status(custom, namespace, "lecture")["nodeCapacity"]
        assert section["reservedPods"] == FLOOR
        assert section["leadTimeSeconds"] == 30
        assert parse_timestamp(section["reserveAt"]) == reserve_at

        # The pre-warm: the nodes are full, so the scheduler preempts the placeholders.
        wait_for(
            lambda: ready(apps_v1, namespace, "lecture") == FLOOR,
            timeout=90,
            message=f"the floor of {FLOOR} Ready on the pool's nodes",
        )
        assert running_on_pool(pods(core_v1, namespace, "app=lecture"), pool) == FLOOR
        preempted = core_v1.list_namespaced_event(namespace, field_selector="reason=Preempted")
        assert preempted.items, "no placeholder was preempted by the scheduler"
        # Once the floor is Ready the placeholders are gone, before the event starts.
        wait_for(
            lambda: not placeholders(apps_v1, namespace),
            timeout=30,
            message="placeholders gone once the floor is Ready",
        )
        gone_at = datetime.now(UTC)
        print(  # the numbers of this run, for the record (-s shows them)
            f"placeholders created {(created - reserve_at).total_seconds():+.0f}s from reserveAt, "
            f"all Running {(prewarm_at - running_at).total_seconds():.0f}s before the pre-warm; "
            f"gone {(gone_at - prewarm_at).total_seconds():.0f}s after it, "
            f"{(start - gone_at).total_seconds():.0f}s before the start"
        )
        assert datetime.now(UTC) < start + timedelta(seconds=10)
        wait_for(
            lambda: (
                node_capacity_condition(custom, namespace, "lecture")
                == ("True", "NothingToReserve")
            ),
            timeout=20,
            message="NodeCapacityReady True, NothingToReserve",
        )
    except BaseException:
        print(operator.log_tail(120))
        raise


def test_deleting_the_event_leaves_no_placeholder_behind(
    operator: OperatorProcess,
    priority_class: None,
    pool: str,
    namespace: str,
    apps_v1: Any,
    custom: Any,
) -> None:
    apps_v1.create_namespaced_deployment(namespace, target("talk", pool))
    # The window is open at once: the pods' pre-warm is 40 s away, the node lead time 30 s.
    start = datetime.now(UTC) + timedelta(seconds=60)
    create_event(custom, namespace, "talk", event_spec(start, "talk"))
    try:
        wait_for(
            lambda: placeholders(apps_v1, namespace), timeout=30, message="placeholders created"
        )
        custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "talk")
        wait_for(
            lambda: not placeholders(apps_v1, namespace),
            timeout=30,
            message="placeholders gone with their event",
        )
        assert replicas(apps_v1, namespace, "talk") == 0
    except BaseException:
        print(operator.log_tail(120))
        raise


@pytest.mark.parametrize(
    ("lead", "message"),
    [("2h0m1s", "must be at most 2h"), ("soon", "or a duration such as 90s")],
)
def test_the_api_server_refuses_a_bad_node_lead_time(
    crd: None, namespace: str, custom: Any, lead: str, message: str
) -> None:
    spec = event_spec(datetime.now(UTC) + timedelta(hours=1), "api")
    spec["nodeCapacity"]["leadTime"] = lead
    with pytest.raises(ApiException) as refused:
        create_event(custom, namespace, "bad", spec)
    assert refused.value.status == 422
    assert message in str(refused.value.body)
