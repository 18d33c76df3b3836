"""What every drill does around its fault: the scenario in a namespace, watched to the end.

What lives here: ``Context`` (API clients with the user agent ``showtime-drills``, where
logs go, the drill Prometheus, the audit log, the drills' options), ``Run`` (one scenario
in its own namespace: the targets, two load sources scraped by Prometheus, the three
TrafficEvents, the operator process(es) and the monitor; ``figures`` at the end, then
everything it started is stopped and the namespace deleted), ``showtime_writes`` (writes
per user agent from the kube-apiserver audit log) and ``Row`` (a drill's line of the
table).

What does not: the faults (one module per drill) and the table's layout (``report``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from kubernetes import client, config

from showtime.cluster.kube import GROUP, PLURAL, VERSION

from . import scenario
from .figures import Hold, TargetState, floor_violations, lost_handbacks, lowered, total
from .monitor import Monitor, read_states
from .operator import TICK_SECONDS, Operator

REPO_ROOT = Path(__file__).resolve().parents[2]
USER_AGENT = "showtime-drills"
# The floor is owed one tick after pre-warm starts, plus start-up time (a kill may land
# just before it): the operator acts on ticks.
GRACE_SECONDS = TICK_SECONDS + 10
LEAD_IN_SECONDS = 75  # from scheduling to the start: 15 s of Scheduled, then pre-warm
# Showtime's user agents: its own (with the replica's identity), the kubernetes client's
# default (older versions) and kopf's.
SHOWTIME_AGENTS = ("showtime/", "OpenAPI-Generator/", "kopf/")


@dataclass
class Row:
    drill: str
    done: str
    floor_violation_s: float = 0.0
    lowered: int = 0
    lost_handbacks: int = 0
    measured: str = ""
    holds: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class Context:
    kubeconfig: str
    workdir: Path
    prometheus_port: int
    prom_targets_dir: Path
    audit_log: Path
    seed: int = 12
    outage_seconds: float = 300.0
    live_seconds: float = 180.0
    api: Any = None

    def __post_init__(self) -> None:
        self.api = config.new_client_from_config(config_file=self.kubeconfig)  # type: ignore[no-untyped-call]
        self.api.user_agent = USER_AGENT
        self.apps: Any = client.AppsV1Api(self.api)
        self.core: Any = client.CoreV1Api(self.api)
        self.autoscaling: Any = client.AutoscalingV2Api(self.api)
        self.custom: Any = client.CustomObjectsApi(self.api)

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"


def audit_offset(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def audit_writes(
    path: Path, namespace: str, offset: int = 0, *, refused: bool = False
) -> list[tuple[float, str]]:
    """Successful writes in ``namespace`` logged since ``offset``: (Unix time, user agent);
    with ``refused``, the writes refused for a conflict (409) instead.

    Lease writes (leader election's own bookkeeping) are left out.
    """
    found: list[tuple[float, str]] = []
    with path.open("rb") as log:
        log.seek(offset)
        for line in log:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            ref = entry.get("objectRef") or {}
            if ref.get("namespace") != namespace or entry.get("stage") != "ResponseComplete":
                continue
            code = int((entry.get("responseStatus") or {}).get("code", 0))
            if ref.get("resource") == "leases" or (code == 409) != refused:
                continue
            if not refused and not 200 <= code < 300:
                continue
            at = datetime.fromisoformat(str(entry["requestReceivedTimestamp"])).timestamp()
            found.append((at, str(entry.get("userAgent", ""))))
    return found


def showtime_writes(path: Path, namespace: str, offset: int = 0) -> Counter[str]:
    """Successful writes in ``namespace`` logged since ``offset``, by user agent."""
    return Counter(agent for _, agent in audit_writes(path, namespace, offset))


def by_showtime(writes: Counter[str]) -> int:
    return sum(n for agent, n in writes.items() if agent.startswith(SHOWTIME_AGENTS))


class Run:
    """One scenario in its own namespace; use as a context manager (it cleans up)."""

    def __init__(self, ctx: Context, drill: str, live_seconds: float | None = None) -> None:
        self.ctx = ctx
        self.namespace = f"drill-{drill.lower()}-{uuid.uuid4().hex[:5]}"
        self.live_seconds = live_seconds or ctx.live_seconds
        self.timeline = scenario.Timeline(0.0, self.live_seconds)
        self.specs: dict[str, dict[str, Any]] = {}
        self.holds: list[Hold] = []
        self.before: dict[str, TargetState] = {}
        self.operators: list[Operator] = []
        self.loads: list[subprocess.Popen[bytes]] = []
        self.load_ports: dict[str, int] = {}
        self.monitor = Monitor(ctx.apps, ctx.autoscaling, ctx.custom, self.namespace)
        self.audit_from = 0
        self.released_at: float | None = None

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- set-up --------------------------------------------------------------------------

    def setup(self) -> None:
        """Namespace and targets, at their pre-event counts and Ready."""
        c = self.ctx
        c.core.create_namespace({"metadata": {"name": self.namespace}})
        _until(lambda: c.core.read_namespaced_service_account("default", self.namespace), 30)
        for t in scenario.TARGETS:
            body = scenario.workload(t.name, t.kind, t.replicas)
            if t.kind == "StatefulSet":
                c.apps.create_namespaced_stateful_set(self.namespace, body)
            else:
                c.apps.create_namespaced_deployment(self.namespace, body)
            if t.hpa_min is not None:
                c.autoscaling.create_namespaced_horizontal_pod_autoscaler(
                    self.namespace, scenario.hpa(t)
                )
        for name in scenario.UNRELATED:
            c.apps.create_namespaced_deployment(
                self.namespace, scenario.workload(name, "Deployment", 0)
            )
        self._start_load()
        _until(self._all_ready, 120)
        _until(self._metrics_scraped, 90)

    def _start_load(self) -> None:
        """One tools.loadsource per metric at its base rate, registered with Prometheus."""
        for metric, (base, _) in scenario.LOAD.items():
            name = f"{self.namespace}-{metric}"
            cmd = [sys.executable, "-m", "tools.loadsource", "--labels", f"loadsource={name}"]
            cmd += ["--profile", json.dumps({"rate": base}), "--name", name]
            cmd += ["--register", str(self.ctx.prom_targets_dir)]
            load = subprocess.Popen(
                cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
            )
            self.loads.append(load)
            assert load.stdout is not None
            line = load.stdout.readline().decode()  # "LISTENING <port>"
            if not line.startswith("LISTENING"):
                raise RuntimeError(f"load source {name} did not start: {line!r}")
            self.load_ports[metric] = int(line.split()[1])

    def _metrics_scraped(self) -> bool:
        """Every metric's query has a sample: no event starts on a missing series."""
        for metric in scenario.LOAD:
            url = f"{self.ctx.prometheus_url}/api/v1/query?" + urllib.parse.urlencode(
                {"query": scenario.query(self.namespace, metric)}
            )
            with urllib.request.urlopen(url, timeout=5) as answer:
                if not json.loads(answer.read())["data"]["result"]:
                    return False
        return True

    def _all_ready(self) -> bool:
        c = self.ctx
        ready = {d.metadata.name: d.status.ready_replicas or 0 for d in _items(c.apps, "d", self)}
        ready.update(
            {s.metadata.name: s.status.ready_replicas or 0 for s in _items(c.apps, "s", self)}
        )
        return all(ready.get(t.name) == t.replicas for t in scenario.TARGETS)

    def operator(self, **env: str) -> Operator:
        """A ``showtime run`` for this namespace (started; stopped by ``close``)."""
        env.setdefault("SHOWTIME_PROMETHEUS_URL", self.ctx.prometheus_url)
        index = len(self.operators)
        log = self.ctx.workdir / f"{self.namespace}-operator{index}.log"
        op = Operator(self.namespace, log, **env).start()
        self.operators.append(op)
        return op

    def schedule(self, start_in: float = LEAD_IN_SECONDS) -> None:
        """Record the pre-event state, set the load's profile, create the events, monitor."""
        now = time.time()
        self.timeline = scenario.Timeline(float(int(now + start_in)), self.live_seconds)
        self.before = read_states(self.ctx.apps, self.ctx.autoscaling, self.namespace)
        self.audit_from = audit_offset(self.ctx.audit_log)
        for metric, port in self.load_ports.items():
            profile = scenario.load_profile(metric, self.timeline, time.time())
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/profile",
                data=json.dumps(profile).encode(),
                method="PUT",
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=5):
                pass
        self.specs = scenario.events(self.namespace, self.timeline)
        self.holds = scenario.holds(self.specs, self.timeline, GRACE_SECONDS)
        for name, spec in self.specs.items():
            self.ctx.custom.create_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, scenario.traffic_event(name, spec)
            )
        self.monitor.start()

    # -- the end -------------------------------------------------------------------------

    def wait_released(self, extra: float = 150.0) -> bool:
        """After the cooldown, wait (``extra`` s at most) for every target's pre-event state."""
        sleep_until(self.timeline.cooldown_end)
        deadline = time.time() + extra
        while time.time() < deadline:
            try:
                if read_states(self.ctx.apps, self.ctx.autoscaling, self.namespace) == self.before:
                    self.released_at = time.time()
                    return True
            except Exception:
                pass
            time.sleep(2)
        return False

    def figures(self, row: Row) -> Row:
        self.monitor.stop()
        samples = self.monitor.samples
        violations = floor_violations(samples, self.holds)
        row.floor_violation_s = total(violations)
        down = lowered(samples, self.timeline.prewarm, self.timeline.end)
        row.lowered = sum(down.values())
        after = read_states(self.ctx.apps, self.ctx.autoscaling, self.namespace)
        lost = lost_handbacks(self.before, after)
        row.lost_handbacks = len(lost)
        if violations:
            row.notes.append(f"floor short: {violations}")
        if down:
            row.notes.append(f"lowered: {down}")
        if lost:
            row.notes.append(f"not handed back: {lost} ({ {t: after.get(t) for t in lost} })")
        if self.monitor.failed_reads:
            row.notes.append(f"monitor could not read {self.monitor.failed_reads} s")
        return row

    def writes(self) -> Counter[str]:
        return showtime_writes(self.ctx.audit_log, self.namespace, self.audit_from)

    def close(self) -> None:
        self.monitor.stop()
        for op in self.operators:
            op.stop()
        for load in self.loads:
            load.terminate()
            try:
                load.wait(timeout=10)
            except subprocess.TimeoutExpired:
                load.kill()
        try:
            self.ctx.core.delete_namespace(self.namespace, _request_timeout=10)
        except Exception as exc:  # the cluster is deleted afterwards anyway
            print(f"drills: could not delete namespace {self.namespace}: {exc}", file=sys.stderr)


def _items(apps: Any, kind: str, run: Run) -> list[Any]:
    if kind == "d":
        return list(apps.list_namespaced_deployment(run.namespace).items)
    return list(apps.list_namespaced_stateful_set(run.namespace).items)


def _until(check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout:g} s: {getattr(check, '__name__', check)}")
        time.sleep(0.5)


def sleep_until(moment: float) -> None:
    """Sleep until the wall-clock ``moment`` (Unix seconds); at most an hour."""
    time.sleep(min(3600.0, max(0.0, moment - time.time())))
