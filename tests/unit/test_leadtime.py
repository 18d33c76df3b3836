"""Lead-time learning: first Ready only, memory across deletions and restarts, OrderedReady."""

from __future__ import annotations

import json
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

import showtime.core.leadtime as leadtime
from showtime.core.leadtime import (
    MAX_SAMPLES,
    MAXIMUM,
    LeadTimeEstimate,
    StartupMemory,
    lead_time_of_samples,
    starts_in_order,
)
from showtime.core.podstartup import read_startup, slim_pod

NOW = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)
API = ("live", "Deployment", "api")
DB = ("live", "StatefulSet", "db")
DEFAULT = timedelta(minutes=5)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(
    uid: str,
    *,
    created: datetime,
    ready_after: float | None,
    restarts: int = 0,
    owner: tuple[str, str] = ("ReplicaSet", "api-5d8f7c9b4"),
) -> dict[str, Any]:
    """A Pod as the API server returns it, with the fields a real kubelet (or kwok) sets."""
    conditions: list[dict[str, Any]] = [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp(created)},
    ]
    if ready_after is not None:
        ready = stamp(created + timedelta(seconds=ready_after))
        conditions += [
            {"type": "Ready", "status": "True", "lastTransitionTime": ready},
            {"type": "ContainersReady", "status": "True", "lastTransitionTime": ready},
        ]
    else:
        conditions.append({"type": "Ready", "status": "False", "reason": "ContainersNotReady"})
    return {
        "metadata": {
            "name": f"pod-{uid}",
            "namespace": "live",
            "uid": uid,
            "resourceVersion": "42",
            "creationTimestamp": stamp(created),
            "labels": {"app": "api", "pod-template-hash": "5d8f7c9b4"},
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1], "controller": True}
            ],
            "managedFields": [{"manager": "kube-controller-manager", "fieldsV1": {"f:a": {}}}],
        },
        "spec": {
            "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}],
            "nodeName": "kwok-node-0",
        },
        "status": {
            "phase": "Running",
            "podIP": "10.244.0.7",
            "conditions": conditions,
            "containerStatuses": [
                {"name": "app", "ready": ready_after is not None, "restartCount": restarts}
            ],
        },
    }


def db_pod(uid: str, *, created: datetime, ready_after: float) -> dict[str, Any]:
    return pod(uid, created=created, ready_after=ready_after, owner=("StatefulSet", "db"))


def estimate(memory: StartupMemory, workload: Any = API, **kwargs: Any) -> LeadTimeEstimate:
    return memory.estimate(workload, default=DEFAULT, **kwargs)


def test_nothing_observed_gives_the_default() -> None:
    found = estimate(StartupMemory())
    assert (found.value, found.learned, found.samples) == (DEFAULT, False, 0)
    assert "default 5m" in found.basis


def test_a_readiness_flap_does_not_move_a_pod_first_seen_ready() -> None:
    created = NOW - timedelta(minutes=10)
    memory = StartupMemory().observe([pod("a", created=created, ready_after=12)], NOW)
    # Later its readiness probe failed and passed again: Ready moved to 8 minutes after creation.
    flapped = pod("a", created=created, ready_after=480)
    memory = memory.observe([flapped], NOW + timedelta(minutes=1))
    found = estimate(memory)
    assert found.per_pod == timedelta(seconds=12)
    assert found.value == timedelta(seconds=28)  # 12 s + 15 s + 5 %, not from 480 s


def test_a_pod_seen_starting_is_learned_once_ready() -> None:
    created = NOW - timedelta(seconds=30)
    memory = StartupMemory().observe([pod("a", created=created, ready_after=None)], NOW)
    assert estimate(memory).learned is False
    memory = memory.observe(
        [pod("a", created=created, ready_after=25)], NOW + timedelta(seconds=10)
    )
    assert estimate(memory).per_pod == timedelta(seconds=25)


def test_a_pod_first_seen_after_a_restart_is_not_learned_from() -> None:
    restarted = pod("a", created=NOW - timedelta(hours=1), ready_after=1800, restarts=2)
    memory = StartupMemory().observe([restarted], NOW)
    assert estimate(memory).learned is False
    # Nor later, once its restart count is no longer visible in the same way.
    calm = pod("a", created=NOW - timedelta(hours=1), ready_after=1800)
    assert estimate(memory.observe([calm], NOW + timedelta(minutes=1))).learned is False


def test_deleted_pods_stay_learned() -> None:
    pods = [pod(f"p{i}", created=NOW - timedelta(minutes=5), ready_after=10 + i) for i in range(3)]
    memory = StartupMemory().observe(pods, NOW).observe([], NOW + timedelta(minutes=1))
    found = estimate(memory)
    assert found.samples == 3
    assert found.learned_from == "3 pods, newest Ready at 2026-12-31T11:55:12Z"


def test_restart_rebuilt_from_status_records_estimates_the_same() -> None:
    created = NOW - timedelta(minutes=20)
    pods = [pod(f"p{i}", created=created, ready_after=8 + 3 * i) for i in range(7)]
    pods += [db_pod(f"d{i}", created=created, ready_after=30 + i) for i in range(3)]
    memory = StartupMemory().observe(pods, NOW)
    records = [
        (API, memory.to_record(API, estimate(memory, API))),
        (DB, memory.to_record(DB, estimate(memory, DB, pods_to_add=4, ordered=True))),
    ]
    restarted = StartupMemory.from_records(records, now=NOW)
    for workload, extra in ((API, {}), (DB, {"pods_to_add": 4, "ordered": True})):
        assert estimate(restarted, workload, **extra) == estimate(memory, workload, **extra)
    # The pods still running are recognised: seeing them again does not count them twice.
    seen_again = restarted.observe(pods, NOW + timedelta(seconds=10))
    assert estimate(seen_again).samples == 7
    assert estimate(seen_again) == estimate(memory)


def test_the_status_record_is_small_and_readable() -> None:
    pods = [db_pod(f"d{i}", created=NOW - timedelta(minutes=9), ready_after=20) for i in range(3)]
    memory = StartupMemory().observe(pods, NOW)
    record = memory.to_record(DB, estimate(memory, DB, pods_to_add=3, ordered=True))
    assert {k: v for k, v in record.items() if k != "recent"} == {
        "seconds": 78,  # 20 s x 3 pods one after another + 15 s + 5 % of 60 s
        "learned": True,
        "samples": 3,
        "p90Seconds": 20.0,
        "ordered": True,
        "podsToAdd": 3,
        "learnedFrom": "3 pods, newest Ready at 2026-12-31T11:51:20Z",
        "basis": "p90 start-up 20s x 3 pods one after another (OrderedReady) over 3 pods, "
        "newest Ready at 2026-12-31T11:51:20Z; + 18s margin (15s + the larger of 2 x the "
        "spread p90-p50 0s and 5% of the start-up) = 1m18s",
    }
    assert record["recent"][0] == {
        "pod": record["recent"][0]["pod"],
        "seconds": 20.0,
        "readyAt": "2026-12-31T11:51:20Z",
    }
    assert len(record["recent"][0]["pod"]) == 8


def test_malformed_records_are_skipped() -> None:
    good = {"pod": "0a1b2c3d", "seconds": 14, "readyAt": "2026-12-31T11:00:00Z"}
    records: list[tuple[Any, Any]] = [
        (API, {"recent": [good, {"pod": "x"}, {"pod": "y", "seconds": "soon", "readyAt": 1}]}),
        (API, {"recent": "garbled"}),
        (DB, "not a record"),
        (DB, {"recent": [{"pod": "z", "seconds": -3, "readyAt": "2026-12-31T11:00:00Z"}]}),
    ]
    memory = StartupMemory.from_records(records, now=NOW)
    assert estimate(memory).per_pod == timedelta(seconds=14)
    assert estimate(memory, DB).learned is False


def test_ordered_ready_lead_time_grows_with_the_pods_to_add() -> None:
    pods = [db_pod(f"d{i}", created=NOW - timedelta(minutes=9), ready_after=10) for i in range(3)]
    memory = StartupMemory().observe(pods, NOW)
    # 5 x 10 s + 15 s + 2.5 s; one pod: 10 s + 15 s + 0.5 s (whole seconds up).
    assert estimate(memory, DB, pods_to_add=5, ordered=True).value == timedelta(seconds=68)
    assert estimate(memory, DB, pods_to_add=5, ordered=False).value == timedelta(seconds=26)


def learned(seconds: list[float]) -> StartupMemory:
    created = NOW - timedelta(minutes=30)
    pods = [pod(f"p{i}", created=created, ready_after=s) for i, s in enumerate(seconds)]
    return StartupMemory().observe(pods, NOW)


def test_even_start_ups_are_pre_warmed_a_short_margin_ahead() -> None:
    """Pods that always take 30 s (or 90 s) are requested 47 s (110 s) ahead, not 75 s (165 s).

    The old rule (x1.5 + 30 s) had them Ready 45 s (75 s) before the start with the whole
    floor: make bench-burst measured 1.36 x (1.44 x) the oracle's pod-seconds for it.
    """
    assert estimate(learned([30.0] * 12)).value == timedelta(seconds=47)  # 30 + 15 + 1.5
    assert estimate(learned([90.0] * 12)).value == timedelta(seconds=110)  # 90 + 15 + 4.5
    # Never less than the slow pods' start-up plus one default tick and the pods' creation.
    found = estimate(learned([5.0, 6.0, 30.0, 31.0, 30.5]))
    assert found.value >= timedelta(seconds=31 + 15)


def test_uneven_start_ups_get_a_wider_margin() -> None:
    """Half the pods take 20 s, half 40 s: the spread (p90 - median, 20 s) counts twice."""
    uneven = estimate(learned([20.0] * 5 + [40.0] * 5))
    even = estimate(learned([40.0] * 10))
    assert even.value == timedelta(seconds=57)  # 40 + 15 + 2
    assert uneven.value == timedelta(seconds=95)  # 40 + 15 + 2 x 20
    assert "spread p90-p50 20s" in uneven.basis
    assert uneven.value == lead_time_of_samples([20.0] * 5 + [40.0] * 5)


def test_statefulsets_start_in_order_unless_parallel() -> None:
    assert starts_in_order("StatefulSet", {"spec": {"replicas": 3}})  # the default
    assert starts_in_order("StatefulSet", {"spec": {"podManagementPolicy": "OrderedReady"}})
    assert not starts_in_order("StatefulSet", {"spec": {"podManagementPolicy": "Parallel"}})
    assert not starts_in_order("Deployment", {"spec": {}})


def test_samples_older_than_a_week_are_forgotten() -> None:
    old = pod("old", created=NOW - timedelta(days=6, hours=23), ready_after=400)
    memory = StartupMemory().observe([old], NOW)
    assert estimate(memory).per_pod == timedelta(seconds=400)
    later = memory.observe([], NOW + timedelta(hours=2))
    assert estimate(later).learned is False
    # A pod first seen whose Ready is already older than the window is not learned either.
    ancient = pod("anc", created=NOW - timedelta(days=9), ready_after=30)
    assert estimate(StartupMemory().observe([ancient], NOW)).learned is False


def test_only_the_newest_samples_are_kept() -> None:
    pods = [
        pod(f"p{i}", created=NOW - timedelta(minutes=60 - i), ready_after=100 if i < 10 else 10)
        for i in range(MAX_SAMPLES + 10)
    ]
    memory = StartupMemory().observe(pods, NOW)
    found = estimate(memory)
    assert found.samples == MAX_SAMPLES
    assert found.per_pod == timedelta(seconds=10)  # the ten slow, oldest pods fell out


def test_pods_of_no_workload_or_other_workloads_are_kept_apart() -> None:
    bare = pod("bare", created=NOW - timedelta(minutes=3), ready_after=90, owner=("Node", "n"))
    other = pod(
        "o", created=NOW - timedelta(minutes=3), ready_after=70, owner=("ReplicaSet", "x-1")
    )
    mine = pod("m", created=NOW - timedelta(minutes=3), ready_after=9)
    memory = StartupMemory().observe([bare, other, mine], NOW)
    assert estimate(memory).per_pod == timedelta(seconds=9)
    assert estimate(memory, ("live", "Deployment", "x")).per_pod == timedelta(seconds=70)
    assert set(memory.samples) == {API, ("live", "Deployment", "x")}


def test_slim_pod_keeps_what_learning_reads_and_little_else() -> None:
    full = pod("a", created=NOW - timedelta(minutes=3), ready_after=17, restarts=1)
    slim = slim_pod(full)
    assert read_startup(slim) == read_startup(full)
    assert "spec" not in slim
    assert "managedFields" not in slim["metadata"]
    assert [c["type"] for c in slim["status"]["conditions"]] == ["Ready"]
    assert len(repr(slim)) < len(repr(full)) / 2


durations = st.floats(min_value=0.5, max_value=3000, allow_nan=False)


@given(st.lists(durations, min_size=1, max_size=30), st.integers(1, 200))
def test_properties_of_the_estimate(seconds: list[float], pods_to_add: int) -> None:
    created = NOW - timedelta(hours=2)
    pods = [db_pod(f"d{i}", created=created, ready_after=int(s)) for i, s in enumerate(seconds)]
    memory = StartupMemory().observe(pods, NOW)
    ordered = estimate(memory, DB, pods_to_add=pods_to_add, ordered=True)
    one_more = estimate(memory, DB, pods_to_add=pods_to_add + 1, ordered=True)
    parallel = estimate(memory, DB, pods_to_add=pods_to_add, ordered=False)
    assert ordered.per_pod is not None
    assert ordered.value <= one_more.value  # monotone in the pods to add
    assert parallel.value <= ordered.value
    assert parallel.value == estimate(memory, DB).value  # parallel: the count does not matter
    for found in (ordered, one_more, parallel):
        assert found.value <= MAXIMUM
        assert found.value >= min(found.per_pod or timedelta(0), MAXIMUM)  # never below one pod
        if found.ordered and found.per_pod is not None:
            assert found.value >= min(found.per_pod * found.pods_to_add, MAXIMUM)


def test_a_tick_over_pods_judged_before_sorts_no_workload_again(monkeypatch: Any) -> None:
    """Every tick sees every pod (50,000 in the scale drill R6): only what changed costs."""
    pods = [
        pod(f"{w}-{i}", created=NOW - timedelta(minutes=9), ready_after=5, owner=rs_owner(w))
        for w in range(50)
        for i in range(3)
    ]
    memory = StartupMemory().observe(pods, NOW)
    sorts: list[int] = []
    original = leadtime._samples_newest_first

    def counting(samples: Any, now: datetime | None) -> Any:
        sorts.append(1)
        return original(samples, now)

    monkeypatch.setattr(leadtime, "_samples_newest_first", counting)
    newcomer = pod("new", created=NOW - timedelta(minutes=1), ready_after=7, owner=rs_owner(0))
    later = memory.observe([*pods, newcomer], NOW + timedelta(minutes=1))
    assert len(sorts) == 1  # the one workload with a new sample
    w0 = ("live", "Deployment", "w0")
    assert later.samples == {**memory.samples, w0: later.samples[w0]}
    assert len(later.samples[w0]) == 4
    assert later.judged == memory.judged | {"new"}


def test_pods_not_ready_yet_are_not_read_every_tick(monkeypatch: Any) -> None:
    starting = [pod(f"s{i}", created=NOW, ready_after=None) for i in range(100)]
    reads: list[int] = []
    original = read_startup

    def counting(found: Any) -> Any:
        reads.append(1)
        return original(found)

    monkeypatch.setattr(leadtime, "read_startup", counting)
    memory = StartupMemory().observe(starting, NOW).observe(starting, NOW)
    assert reads == []
    assert memory.judged == frozenset()  # judged once Ready, as before
    ready = pod("s0", created=NOW, ready_after=4)
    assert estimate(memory.observe([ready], NOW + timedelta(seconds=5))).samples == 1


def test_samples_age_out_one_by_one_without_new_pods() -> None:
    pods = [
        pod("a", created=NOW - timedelta(days=6, hours=20), ready_after=300),
        pod("b", created=NOW - timedelta(days=1), ready_after=20),
    ]
    memory = StartupMemory().observe(pods, NOW)
    assert estimate(memory).samples == 2
    later = memory.observe(pods, NOW + timedelta(hours=5))  # a's Ready is now 7 days old
    assert estimate(later).samples == 1
    assert estimate(later).per_pod == timedelta(seconds=20)


def rs_owner(workload: int) -> tuple[str, str]:
    return ("ReplicaSet", f"w{workload}-5d8f7c9b4")


def test_slim_pod_keeps_restarts_as_their_sum_and_nothing_for_none() -> None:
    never = pod("n", created=NOW - timedelta(minutes=3), ready_after=17)
    restarted = pod("r", created=NOW - timedelta(minutes=3), ready_after=17, restarts=2)
    restarted["status"]["containerStatuses"].append({"name": "side", "restartCount": 1})
    assert "containerStatuses" not in slim_pod(never)["status"]
    assert slim_pod(restarted)["status"]["containerStatuses"] == [{"restartCount": 3}]
    for full in (never, restarted):
        assert read_startup(slim_pod(full)) == read_startup(full)


def kept_bytes(make: Any) -> tuple[Any, int]:
    """What ``make()`` returns, and the memory it holds (tracemalloc)."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        made = make()
        return made, tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_slim_pods_of_one_rollout_share_their_owner_and_timestamps() -> None:
    """50,000 pods in the scale drill R6, each delivered on its own by the pod watch."""
    created = NOW - timedelta(minutes=30)
    lines = [
        json.dumps(
            pod(
                f"{n:08d}-0000-4000-8000-000000000000",
                created=created + timedelta(seconds=n // 100),
                ready_after=20,
                owner=("ReplicaSet", f"svc-{n // 10:04d}-5d8f7c9b4"),
            )
        )
        for n in range(5_000)
    ]
    slims, held = kept_bytes(lambda: [slim_pod(json.loads(line)) for line in lines])
    assert slims[0]["metadata"]["ownerReferences"][0] is slims[9]["metadata"]["ownerReferences"][0]
    assert read_startup(slims[1]) == read_startup(json.loads(lines[1]))
    assert held / len(lines) < 1_250  # bytes per pod: 1,120 (1,560 with copies of each)
