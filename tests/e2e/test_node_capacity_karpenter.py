"""Node capacity pre-warm against a real node autoscaler: Karpenter with its KWOK provider.

The scenario of benchmarks/nodecapacity on the cluster of hack/karpenter-cluster.sh (its
own kwokctl cluster, not the shared one; brought up here if it is not, which builds
Karpenter the first time): the cluster's nodes are full; two TrafficEvents side by side,
each asking for 20 pods (about ten 4-CPU nodes more) from the same start, on their own
NodePools. Karpenter's nodes become Ready 60 s after it makes them; pods 20 s after they
start; Showtime pre-warms the pods 30 s ahead. Without node pre-warm the pods wait for
nodes and the floor is late; with it (nodeCapacity.prewarm, node lead time 90 s) a
CapacityBuffer makes Karpenter add the nodes first and the whole floor is Ready at the
start. Afterwards the buffer is gone and Karpenter removes the nodes again. About 4 min.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from benchmarks.nodecapacity.measures import table
from benchmarks.nodecapacity.objects import WITH, WITHOUT, Shape
from benchmarks.nodecapacity.scenario import Scenario
from tests.support.environment import unavailable

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.e2e, pytest.mark.local_cluster]


@pytest.fixture(scope="session")
def karpenter_cluster() -> str:
    """The Karpenter cluster's kubeconfig (``up`` is idempotent and takes a lock)."""
    try:
        up = subprocess.run(
            [str(REPO_ROOT / "hack/karpenter-cluster.sh"), "up"],
            capture_output=True,
            text=True,
            timeout=840,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("hack/karpenter-cluster.sh up took longer than 14 min")
    if up.returncode != 0:
        unavailable(f"hack/karpenter-cluster.sh up failed:\n{up.stderr[-3000:]}")
    return up.stdout.strip().splitlines()[-1]


@pytest.mark.timeout(900)
def test_node_prewarm_has_the_floor_ready_at_start_and_without_it_the_floor_is_late(
    karpenter_cluster: str, tmp_path: Path
) -> None:
    shape = Shape()
    scenario = Scenario(karpenter_cluster, shape, [WITHOUT, WITH])
    scenario.set_up()
    try:
        outcome = scenario.run(tmp_path)
    finally:
        scenario.delete_all()
    print(table(outcome.results))
    print("watch errors:", outcome.watch_errors)
    without, with_ = outcome.result("without"), outcome.result("with")

    # Without node pre-warm: the pods are there in time but wait for nodes.
    assert without.first_pod_s is not None
    assert without.first_pod_s <= 0
    assert without.share_at_start < 1
    assert without.floor_ready_s is not None
    assert without.floor_ready_s > 0
    assert without.reservation_created_s is None

    # With it: Karpenter's CapacityBuffer had the nodes added before the pods came.
    assert outcome.node_capacity_status["with"]["mechanism"] == "CapacityBuffer"
    assert with_.reservation_created_s is not None
    assert with_.first_claim_s is not None
    assert with_.first_pod_s is not None
    assert with_.first_claim_s < with_.first_pod_s
    assert with_.share_at_start == 1, table(outcome.results)
    assert with_.floor_ready_s is not None
    assert with_.floor_ready_s <= 0
    # ... and no more nodes than the pods need: the buffer lets go once the real pods
    # come, so Karpenter is not asked a second time for the same room.
    assert with_.nodes <= without.nodes + 1, table(outcome.results)

    # Afterwards: the buffer gone, the targets handed back, every node of both pools
    # removed by Karpenter's consolidation.
    assert with_.reservation_lived_s is not None
    assert outcome.left_over == []
    assert with_.nodes_gone_s is not None
    assert without.nodes_gone_s is not None
