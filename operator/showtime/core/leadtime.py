"""Lead time ``auto``: how long before start the floor must be requested to be Ready by start.

The rule: per-pod start-up is the 90th percentile (nearest rank) of creation-to-first-Ready
over the workload's newest observed pods; the start-up is that (times the pods to add, for a
StatefulSet that starts its pods one after another). The lead time is the start-up plus a
margin: 15 s (one operator tick of the default 10 s, and the few seconds the workload's
controller takes to create the pods) plus the larger of twice the observed spread (p90 minus
the median: pods that start unevenly get more room) and 5 % of the start-up; rounded up to
whole seconds and capped at 2 h. A target scaled by an HPA gets 15 s more: Showtime raises
the HPA's ``minReplicas`` and the HPA controller acts on its next sync (every 15 s by
default). With nothing observed the operator-wide default applies unchanged. (Until
2026-11 the rule was start-up x 1.5 + 30 s: pods of a 30 s start-up were Ready ~45 s early,
of 90 s ~75 s, with the full floor; ``make bench-burst`` measured it.)

``StartupMemory`` is what has been learned: per workload the newest 20 start-up samples
whose first Ready is at most 7 days old (a weekly event still learns from last week's
pre-warm). It is immutable; ``observe`` returns a new one. Which measurements count:

* only the *first* Ready of a pod: a pod is judged once, the first time it is seen Ready,
  and what is seen of it later (readiness flaps moving ``lastTransitionTime``, restarts) is
  ignored;
* a pod first seen Ready after a container restart is not learned from: its Ready
  transition may follow the restart rather than the start;
* deleted pods stay learned; pods first seen with a Ready older than the window do not.

``to_record``/``from_records`` carry the memory through status, so a restarted operator
estimates what it estimated before. Reading pods lives in ``podstartup``. Pure: the shell
passes ``now`` and the pods.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from showtime.core.durations import format_duration
from showtime.core.podstartup import WorkloadKey, is_ready, read_startup
from showtime.core.timestamps import parse_timestamp, rfc3339

PERCENTILE = 0.9
MARGIN = timedelta(seconds=15)  # one default tick (10 s) and the controller creating the pods
SPREAD_FACTOR = 2.0  # times p90 - p50 of the samples
RELATIVE_MARGIN = 0.05  # of the start-up, the least the spread term adds
HPA_SYNC = timedelta(seconds=15)  # the HPA controller's default sync period
MAXIMUM = timedelta(hours=2)
MAX_SAMPLES = 20  # per workload, newest first; also what status keeps
MAX_AGE = timedelta(days=7)  # of a sample's first Ready


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def margin_for(
    startup_seconds: float, spread_seconds: float = 0.0, *, under_hpa: bool = False
) -> float:
    """Seconds added to the start-up: 15 s + max(2 x spread, 5 % of it), +15 s under an HPA."""
    spread = SPREAD_FACTOR * max(0.0, spread_seconds)
    hpa = HPA_SYNC.total_seconds() if under_hpa else 0.0
    return MARGIN.total_seconds() + max(spread, RELATIVE_MARGIN * startup_seconds) + hpa


def lead_time_for(
    startup_seconds: float, spread_seconds: float = 0.0, *, under_hpa: bool = False
) -> timedelta:
    """The rule: start-up + ``margin_for``, whole seconds up, at most 2 h.

    ``spread_seconds`` is p90 - p50 of one pod's start-up (0: none observed).
    """
    margin = margin_for(startup_seconds, spread_seconds, under_hpa=under_hpa)
    seconds = math.ceil(round(startup_seconds + margin, 6))
    return min(timedelta(seconds=seconds), MAXIMUM)


def lead_time_of_samples(
    seconds: Sequence[float],
    *,
    pods_to_add: int = 1,
    ordered: bool = False,
    under_hpa: bool = False,
) -> timedelta:
    """The rule on raw start-up samples (seconds, any order): what ``estimate`` returns.

    For checking a status record (``recent``) from outside, e.g. in end-to-end tests.
    """
    per_pod = percentile(seconds, PERCENTILE)
    startup = per_pod * max(1, pods_to_add) if ordered else per_pod
    return lead_time_for(startup, per_pod - percentile(seconds, 0.5), under_hpa=under_hpa)


def starts_in_order(kind: str, workload: Mapping[str, Any]) -> bool:
    """True for a StatefulSet with ``podManagementPolicy: OrderedReady`` (its default)."""
    if kind != "StatefulSet":
        return False
    policy = (workload.get("spec") or {}).get("podManagementPolicy") or "OrderedReady"
    return policy != "Parallel"


@dataclass(frozen=True, order=True, slots=True)  # R6 keeps 55,000 of them
class Sample:
    """One pod's creation-to-first-Ready; ordered oldest first."""

    ready_at: datetime
    pod: str  # short id (podstartup.short_pod_id)
    seconds: float  # to 0.1 s


@dataclass(frozen=True)
class LeadTimeEstimate:
    value: timedelta  # the effective lead time of this workload
    learned: bool  # False: the default, nothing observed
    samples: int
    per_pod: timedelta | None  # p90 creation-to-first-Ready
    pods_to_add: int
    ordered: bool  # pods start one after another (OrderedReady)
    newest: datetime | None  # first Ready of the newest sample
    learned_from: str  # "12 pods, newest Ready at 2026-11-21T22:40:00Z"
    basis: str  # one line: how ``value`` came about


def _samples_newest_first(samples: Iterable[Sample], now: datetime | None) -> tuple[Sample, ...]:
    by_pod: dict[str, Sample] = {}
    for sample in samples:
        if now is not None and sample.ready_at < now - MAX_AGE:
            continue
        known = by_pod.get(sample.pod)
        if known is None or sample.ready_at < known.ready_at:  # the first Ready wins
            by_pod[sample.pod] = sample
    return tuple(sorted(by_pod.values(), reverse=True)[:MAX_SAMPLES])


def _seconds_text(seconds: float) -> str:
    return f"{seconds:g}s" if seconds < 60 else format_duration(timedelta(seconds=seconds))


@dataclass(frozen=True)
class StartupMemory:
    """Per workload, the newest start-up samples (newest first); see the module docstring.

    ``samples`` are as ``observe`` and ``from_records`` leave them: per workload one per
    pod, newest first, at most ``MAX_SAMPLES``. ``observe`` relies on that.
    """

    samples: Mapping[WorkloadKey, tuple[Sample, ...]] = field(default_factory=dict)
    judged: frozenset[str] = frozenset()  # live pods (uid) already judged: never again

    def observe(self, pods: Iterable[Mapping[str, Any]], now: datetime) -> StartupMemory:
        """The memory after seeing ``pods`` (all the pods of the cache) at ``now``.

        Runs every tick over every pod, so its cost follows what changed: pods judged
        before cost a set lookup, and a workload without a new sample keeps its samples
        as they are unless the oldest has aged out.
        """
        judged = self.judged
        pods = list(pods)
        uids = [(pod.get("metadata") or {}).get("uid") for pod in pods]
        live = {uid for uid in uids if isinstance(uid, str) and uid}
        unjudged = [
            (uid, pod)
            for uid, pod in zip(uids, pods, strict=True)
            if not (isinstance(uid, str) and uid and uid in judged)
        ]
        judged_now: set[str] = set()
        fresh: dict[WorkloadKey, list[Sample]] = {}
        known_ids: dict[WorkloadKey, set[str]] = {}
        for uid, pod in unjudged:
            if not is_ready(pod):
                continue  # not Ready yet: judged once it is (checked before the costly read)
            reading = read_startup(pod)
            if reading is None or reading.ready_at is None:
                continue  # no workload's
            judged_now.add(uid if isinstance(uid, str) and uid else reading.pod_id)
            ids = known_ids.get(reading.workload)
            if ids is None:
                ids = {s.pod for s in self.samples.get(reading.workload, ())}
                known_ids[reading.workload] = ids
            seconds = reading.seconds_to_ready
            if (
                reading.pod_id in ids  # learned before a restart of the operator
                or reading.restarts > 0
                or seconds is None
                or seconds < 0
                or reading.ready_at < now - MAX_AGE
            ):
                continue
            sample = Sample(reading.ready_at, reading.pod_id, round(seconds, 1))
            fresh.setdefault(reading.workload, []).append(sample)
            ids.add(reading.pod_id)
        samples = dict(self.samples)
        oldest_kept = now - MAX_AGE
        for workload, kept in self.samples.items():
            # newest first, so the last is the oldest: all still count, or filter again
            if workload not in fresh and kept and kept[-1].ready_at < oldest_kept:
                samples[workload] = _samples_newest_first(kept, now)
        for workload, new in fresh.items():
            samples[workload] = _samples_newest_first([*self.samples.get(workload, ()), *new], now)
        samples = {workload: kept for workload, kept in samples.items() if kept}
        if not judged_now and judged <= live:
            return StartupMemory(samples, judged)  # no pod judged or gone: the same set
        return StartupMemory(samples, frozenset((judged & live) | judged_now))

    def estimate(
        self,
        workload: WorkloadKey,
        *,
        default: timedelta,
        pods_to_add: int = 1,
        ordered: bool = False,
        under_hpa: bool = False,
    ) -> LeadTimeEstimate:
        """The lead time of ``workload`` for adding ``pods_to_add`` pods (one by one if ordered).

        ``under_hpa``: an HPA scales it, so the floor goes through the HPA's next sync.
        """
        pods = max(1, pods_to_add)
        samples = self.samples.get(workload, ())
        if not samples:
            return LeadTimeEstimate(
                default,
                learned=False,
                samples=0,
                per_pod=None,
                pods_to_add=pods,
                ordered=ordered,
                newest=None,
                learned_from="no pod start-up observed yet",
                basis=f"no pod start-up observed yet: the default {format_duration(default)}",
            )
        seconds = [s.seconds for s in samples]
        per_pod = percentile(seconds, PERCENTILE)
        spread = per_pod - percentile(seconds, 0.5)
        startup = per_pod * pods if ordered else per_pod
        value = lead_time_for(startup, spread, under_hpa=under_hpa)
        newest = samples[0].ready_at
        learned_from = (
            f"{len(samples)} pod{'s' if len(samples) > 1 else ''}, "
            f"newest Ready at {rfc3339(newest)}"
        )
        one_by_one = f" x {pods} pods one after another (OrderedReady)" if ordered else ""
        capped = " (capped)" if value == MAXIMUM else ""
        margin = margin_for(startup, spread, under_hpa=under_hpa)
        sync = f" + {_seconds_text(HPA_SYNC.total_seconds())} HPA sync" if under_hpa else ""
        basis = (
            f"p90 start-up {_seconds_text(per_pod)}{one_by_one} over {learned_from}; "
            f"+ {_seconds_text(round(margin, 1))} margin "
            f"({_seconds_text(MARGIN.total_seconds())} + the larger of 2 x the spread "
            f"p90-p50 {_seconds_text(round(spread, 1))} and 5% of the start-up{sync}) "
            f"= {format_duration(value)}{capped}"
        )
        return LeadTimeEstimate(
            value,
            learned=True,
            samples=len(samples),
            per_pod=timedelta(seconds=per_pod),
            pods_to_add=pods,
            ordered=ordered,
            newest=newest,
            learned_from=learned_from,
            basis=basis,
        )

    def to_record(self, workload: WorkloadKey, estimate: LeadTimeEstimate) -> dict[str, Any]:
        """``status.targets[].leadTime``: the estimate, and the samples to rebuild it from."""
        record: dict[str, Any] = {
            "seconds": int(estimate.value.total_seconds()),
            "learned": estimate.learned,
            "samples": estimate.samples,
            "learnedFrom": estimate.learned_from,
            "basis": estimate.basis,
        }
        if estimate.per_pod is not None:
            record["p90Seconds"] = round(estimate.per_pod.total_seconds(), 1)
        if estimate.ordered:
            record["ordered"] = True
            record["podsToAdd"] = estimate.pods_to_add
        recent = [
            {"pod": s.pod, "seconds": s.seconds, "readyAt": rfc3339(s.ready_at)}
            for s in self.samples.get(workload, ())
        ]
        if recent:
            record["recent"] = recent
        return record

    @classmethod
    def from_records(
        cls,
        records: Iterable[tuple[WorkloadKey, Mapping[str, Any]]],
        now: datetime | None = None,
    ) -> StartupMemory:
        """The memory a restarted operator starts from; malformed entries are skipped."""
        gathered: dict[WorkloadKey, list[Sample]] = {}
        for workload, record in records:
            recent = record.get("recent") if isinstance(record, Mapping) else None
            for entry in recent if isinstance(recent, list) else []:
                sample = _sample_from(entry)
                if sample is not None:
                    gathered.setdefault(workload, []).append(sample)
        samples = {w: _samples_newest_first(s, now) for w, s in gathered.items()}
        return cls({w: s for w, s in samples.items() if s})


def _sample_from(entry: Any) -> Sample | None:
    if not isinstance(entry, Mapping):
        return None
    ready_at = parse_timestamp(entry.get("readyAt"))
    pod, seconds = entry.get("pod"), entry.get("seconds")
    if ready_at is None or not isinstance(pod, str) or not pod:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return Sample(ready_at, pod, round(float(seconds), 1))
