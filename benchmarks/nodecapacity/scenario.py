"""One run of the node-capacity scenario on the Karpenter cluster (hack/karpenter-cluster.sh).

``run`` does, with every wait bounded:

1. a namespace, and per variant a NodePool and a target Deployment with no replicas: the
   cluster's own nodes are full, so every target pod needs a node Karpenter makes;
2. the Showtime operator (``python -m showtime.cli run``, watching that namespace only);
3. per variant a TrafficEvent asking for ``floor`` pods from a start far enough ahead for
   the node pre-warm to happen (pod lead time + node lead time + a margin);
4. the ``watch`` records nodes, pods and reservations until the floors are Ready, the
   events are over, the targets handed back and Karpenter has removed the nodes;
5. everything it made is deleted again (events first, so the operator lets go of them).

Used by the e2e test (tests/e2e/test_node_capacity_karpenter.py) and the benchmark
(``python -m benchmarks.nodecapacity``). What does not live here: the objects
(``objects``), the recording (``watch``) and the numbers (``measures``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client import ApiException

from showtime.core.durations import parse_duration

from . import objects
from .measures import Result, measure
from .objects import Shape, Variant
from .watch import Watch

REPO = Path(__file__).resolve().parents[2]
GROUP, VERSION, PLURAL = "showtime.dev", "v1alpha1", "trafficevents"
MARGIN = timedelta(seconds=20)  # between creating the events and the first reservation
FLOOR_DEADLINE = timedelta(seconds=180)  # after the start: the floor Ready even without
SETTLE_DEADLINE = timedelta(seconds=240)  # after the end: handed back, nodes removed


@dataclass
class Outcome:
    results: list[Result]
    start: datetime
    end: datetime
    node_capacity_status: dict[str, dict[str, Any]] = field(default_factory=dict)
    left_over: list[str] = field(default_factory=list)  # reservations or nodes still there
    watch_errors: list[str] = field(default_factory=list)
    operator_log: Path | None = None

    def result(self, variant: str) -> Result:
        return next(r for r in self.results if r.variant == variant)


def _wait(
    predicate: Callable[[], bool], deadline: datetime, what: str, interval: float = 1
) -> None:
    while not predicate():
        if datetime.now(UTC) >= deadline:
            raise TimeoutError(f"node-capacity scenario: {what} not by {deadline:%H:%M:%S}")
        time.sleep(interval)


def _operator(namespace: str, kubeconfig: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "KUBECONFIG": kubeconfig,
        "SHOWTIME_NAMESPACE": namespace,
        "SHOWTIME_TICK": "1s",
        "SHOWTIME_LOG_FORMAT": "console",
        "SHOWTIME_METRICS_PORT": "0",
        "SHOWTIME_LIVENESS_PORT": "0",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "showtime.cli", "run"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class Scenario:
    """The clients of the Karpenter cluster and what one run created (for the clean-up)."""

    def __init__(self, kubeconfig: str, shape: Shape, variants: Sequence[Variant]) -> None:
        self.kubeconfig = kubeconfig
        self.api = config.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        self.core: Any = client.CoreV1Api(self.api)
        self.apps: Any = client.AppsV1Api(self.api)
        self.custom: Any = client.CustomObjectsApi(self.api)
        run_id = uuid.uuid4().hex[:6]
        self.namespace = f"nodecap-{run_id}"
        self.shape = shape
        self.variants = [replace(v, run=run_id) for v in variants]

    # ------------------------------------------------------------------ set-up, clean-up
    def set_up(self) -> None:
        self.core.create_namespace({"metadata": {"name": self.namespace}})
        deadline = datetime.now(UTC) + timedelta(seconds=60)
        _wait(self._has_service_account, deadline, "the namespace's default ServiceAccount")
        for variant in self.variants:
            self.custom.create_cluster_custom_object(
                "karpenter.sh", "v1", "nodepools", objects.node_pool(variant, self.shape)
            )
            self.apps.create_namespaced_deployment(
                self.namespace, objects.target(variant, self.shape)
            )

    def _has_service_account(self) -> bool:
        try:
            self.core.read_namespaced_service_account("default", self.namespace)
        except ApiException:
            return False
        return True

    def clean_up(self) -> None:
        """Events first (the operator, if still running, releases them), then the rest."""
        for variant in self.variants:
            try:
                self.custom.delete_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, PLURAL, variant.name
                )
            except ApiException as exc:
                if exc.status != 404:
                    raise

    def delete_all(self) -> None:
        for variant in self.variants:
            try:
                self.custom.delete_cluster_custom_object(
                    "karpenter.sh", "v1", "nodepools", variant.pool
                )
            except ApiException as exc:
                if exc.status != 404:
                    raise
        try:
            self.core.delete_namespace(self.namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
        self.api.close()

    # ------------------------------------------------------------------ reading
    def _no_events(self) -> bool:
        found = self.custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL)
        return not found["items"]

    def _ready(self, variant: Variant) -> int:
        dep = self.apps.read_namespaced_deployment_status(variant.name, self.namespace)
        return int(dep.status.ready_replicas or 0)

    def _event_status(self, variant: Variant) -> dict[str, Any]:
        obj = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, variant.name
        )
        return dict(obj.get("status") or {})

    def _settled(self, watch: Watch) -> bool:
        """Targets handed back to 0, reservations and every node of our pools gone."""
        if any(self._ready(v) for v in self.variants):
            return False
        records = watch.snapshot()
        return all(
            all(s.gone is not None for s in (*r.nodes.values(), *r.reservations.values()))
            and all(p.gone is not None for p in r.pods.values())
            for r in records.values()
        )

    # ------------------------------------------------------------------ the run
    def run(self, workdir: Path, say: Callable[[str], None] = print) -> Outcome:
        pod_lead = parse_duration(self.shape.pod_lead)
        node_leads = [
            parse_duration(str(v.node_capacity.get("leadTime", "0s")))
            for v in self.variants
            if v.node_capacity and v.node_capacity.get("leadTime", "auto") != "auto"
        ]
        node_lead = max(node_leads, default=timedelta(0))
        operator_log = workdir / f"operator-{self.namespace}.log"
        proc = _operator(self.namespace, self.kubeconfig, operator_log)
        watch = Watch(self.core, self.apps, self.custom, self.namespace, self.variants).start()
        try:
            start = (datetime.now(UTC) + pod_lead + node_lead + MARGIN).replace(microsecond=0)
            end = start + parse_duration(self.shape.duration)
            for variant in self.variants:
                self.custom.create_namespaced_custom_object(
                    GROUP,
                    VERSION,
                    self.namespace,
                    PLURAL,
                    objects.traffic_event(variant, self.shape, start),
                )
            say(
                f"events start at {start:%H:%M:%S} "
                f"(pods pre-warm {pod_lead}, nodes {node_lead} before that)"
            )
            statuses: dict[str, dict[str, Any]] = {}

            def floors_ready() -> bool:
                for v in self.variants:
                    node_status = self._event_status(v).get("nodeCapacity")
                    if node_status and (node_status.get("reservedPods") or v.name not in statuses):
                        statuses[v.name] = node_status
                return all(self._ready(v) >= self.shape.floor for v in self.variants)

            _wait(
                lambda: floors_ready() or datetime.now(UTC) > end,
                start + FLOOR_DEADLINE,
                "every floor Ready or the events' end",
            )
            say("floors Ready; waiting for the hand-back and Karpenter's consolidation")
            _wait(lambda: self._settled(watch), end + SETTLE_DEADLINE, "nodes consolidated", 2)
        finally:
            watch.stop()
            self.clean_up()
            try:  # the running operator drops its finalizers, then the events are gone
                _wait(self._no_events, datetime.now(UTC) + timedelta(seconds=30), "events deleted")
            finally:
                _stop(proc)
        run_end = datetime.now(UTC)
        records = watch.snapshot()
        results = [
            measure(
                v.name, records[v.name], self.shape.floor, start, end, start - pod_lead, run_end
            )
            for v in self.variants
        ]
        left = [
            f"{v.name}: {kind} {name}"
            for v in self.variants
            for kind, seen in (
                ("node", records[v.name].nodes),
                ("reservation", records[v.name].reservations),
            )
            for name, s in seen.items()
            if s.gone is None
        ]
        return Outcome(results, start, end, statuses, left, list(watch.errors), operator_log)
