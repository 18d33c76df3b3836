"""``python -m benchmarks.nodecapacity``: the with/without table on the Karpenter cluster.

Brings the cluster up (hack/karpenter-cluster.sh up: idempotent, builds Karpenter once),
runs every variant side by side in one scenario, prints the table and the node-capacity
status the operator reported, and leaves the cluster up (``make karpenter-down`` removes
it). Options: --variants (default without,with,placeholders), --node-ready, --pod-ready,
--floor.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from . import objects
from .measures import table
from .scenario import REPO, Scenario


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nodecapacity")
    parser.add_argument("--variants", default="without,with,placeholders")
    parser.add_argument("--floor", type=int, default=objects.Shape.floor)
    parser.add_argument("--node-ready", type=int, default=objects.Shape.node_ready_s, help="s")
    parser.add_argument("--pod-ready", type=int, default=objects.Shape.pod_ready_s, help="s")
    parser.add_argument("--out", type=Path, default=Path("/tmp/showtime-bench-nodecapacity"))
    args = parser.parse_args()
    variants = [objects.VARIANTS[name] for name in args.variants.split(",")]
    shape = objects.Shape(
        floor=args.floor, node_ready_s=args.node_ready, pod_ready_s=args.pod_ready
    )
    up = subprocess.run(
        [str(REPO / "hack/karpenter-cluster.sh"), "up"],
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if up.returncode != 0:
        print("hack/karpenter-cluster.sh up failed (see above)", file=sys.stderr)
        return 1
    kubeconfig = up.stdout.strip().splitlines()[-1]
    args.out.mkdir(parents=True, exist_ok=True)
    scenario = Scenario(kubeconfig, shape, variants)
    scenario.set_up()
    try:
        outcome = scenario.run(args.out, say=lambda line: print(line, flush=True))
    finally:
        scenario.delete_all()
    print()
    print(
        f"floor {shape.floor} pods of {shape.pod_cpu} CPU; nodes Ready {shape.node_ready_s} s "
        f"after Karpenter makes them, pods Ready {shape.pod_ready_s} s after they start; "
        f"pods pre-warmed {shape.pod_lead} ahead"
    )
    print(table(outcome.results))
    for name, status in outcome.node_capacity_status.items():
        print(f"status.nodeCapacity of {name}: {json.dumps(status, sort_keys=True)}")
    if outcome.left_over:
        print("left over:", ", ".join(outcome.left_over))
    print(f"operator log: {outcome.operator_log}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
