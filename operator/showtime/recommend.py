"""``showtime recommend``: past occurrences of a recurring event and the sizing they suggest.

Reads the TrafficEvent from the cluster (``te/NAME``, ``-n NAMESPACE``) or from a file
(``-f``), asks Prometheus (``--prometheus``, default ``SHOWTIME_PROMETHEUS_URL``) for each
of the last ``core.history.KEEP`` occurrences that ended, and prints per occurrence and
target: the peak, when, the Ready replicas then, the load per Ready replica, the floor
and whether its capacity was exceeded; then a recommended ``expectedPeak`` and
``capacityPerReplica``. When Prometheus cannot be read, an event from the cluster is
shown from its ``status.history`` instead. The arithmetic is ``core.history``'s.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import yaml

from showtime.core.history import (
    KEEP,
    OccurrenceRecord,
    past_occurrences,
    recommend,
    records_from_status,
    resolve_expected_peak,
)
from showtime.core.spec import TrafficEventSpec, parse_spec
from showtime.core.timestamps import rfc3339

DEFAULT_PROMETHEUS = "http://127.0.0.1:9090"


def add_parser(sub: Any) -> None:
    """The ``recommend`` subcommand's arguments (``sub``: argparse's subparsers)."""
    parser = sub.add_parser(
        "recommend", help="size a recurring event from its past occurrences in Prometheus"
    )
    parser.add_argument("event", nargs="?", help="te/NAME of a TrafficEvent in the cluster")
    parser.add_argument("-f", "--file", help="a TrafficEvent manifest instead of te/NAME")
    parser.add_argument("-n", "--namespace", help="namespace of te/NAME (default: kubeconfig's)")
    parser.add_argument(
        "--prometheus",
        default=os.environ.get("SHOWTIME_PROMETHEUS_URL", DEFAULT_PROMETHEUS),
        help="Prometheus to read the history from (default: $SHOWTIME_PROMETHEUS_URL or "
        f"{DEFAULT_PROMETHEUS})",
    )
    parser.add_argument("--now", help="RFC 3339 instant to look back from (default: now)")


def recommend_command(args: argparse.Namespace, out: TextIO) -> int:
    from showtime.sources.history import HistoryError, HistorySource

    if bool(args.event) == bool(args.file):
        raise ValueError("give either te/NAME or -f FILE")
    now = _instant(args.now)
    status: Mapping[str, Any] = {}
    if args.file:
        namespace, name, raw = _from_file(args.file)
    else:
        namespace, name, raw, status = _from_cluster(args.event, args.namespace)
    spec = resolve_expected_peak(parse_spec(raw), status)  # auto: the floor in force now
    if spec.schedule.cron is None:
        raise ValueError(f"{namespace}/{name} is a one-off event: it has no past occurrences")
    source = HistorySource(args.prometheus)
    note = f"from Prometheus {source.url}"
    try:
        records = [source.occurrence(spec, namespace, name, o) for o in past_occurrences(spec, now)]
    except HistoryError as exc:
        if not status.get("history"):
            raise ValueError(f"cannot read Prometheus {source.url}: {exc}") from None
        records = records_from_status(status)
        note = f"from status.history (Prometheus {source.url}: {exc})"
    finally:
        source.close()
    for line in render(f"{namespace}/{name}", spec, records, note):
        print(line, file=out)
    return 0


def render(
    name: str, spec: TrafficEventSpec, records: Sequence[OccurrenceRecord], note: str
) -> list[str]:
    lines = [f"TrafficEvent {name}: the last {len(records)} occurrence(s) that ended, {note}"]
    rows = [["START (UTC)", "TARGET", "PEAK", "PEAK AT", "READY", "PER READY", "FLOOR", "EXCEEDED"]]
    for record in records:
        for t in record.targets:
            rows.append(
                [
                    rfc3339(record.start),
                    t.name,
                    _number(t.peak),
                    rfc3339(t.peak_at) if t.peak_at else "-",
                    str(t.ready_at_peak) if t.ready_at_peak is not None else "-",
                    _number(t.per_ready_replica),
                    str(t.floor),
                    {True: "yes", False: "no", None: "-"}[t.floor_exceeded],
                ]
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    advice = recommend(spec, records)
    stated = "auto" if spec.expected_peak_auto else _number(spec.expected_peak)
    lines.append("")
    if advice.expected_peak is None:
        lines.append(f"expectedPeak: no data in these occurrences (stated: {stated})")
    else:
        lines.append(
            f"expectedPeak: {_number(advice.expected_peak)}  (highest peak of "
            f"{advice.from_occurrences} occurrence(s), per share; stated: {stated}; "
            f"headroom {spec.headroom:g} is added on top)"
        )
    for target in advice.targets:
        lines.append(
            f"capacityPerReplica {target.name}: {_number(target.capacity_per_replica)}  "
            f"(median load per Ready replica at the peaks; stated: "
            f"{_number(target.declared_capacity)}; floor exceeded in {target.exceeded} of "
            f"{len(records)})"
        )
    return lines


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.4g}"


def _instant(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("--now needs a UTC offset, e.g. 2026-12-31T19:00:00+08:00")
    return moment


def _from_file(path: str) -> tuple[str, str, dict[str, Any]]:
    text = Path(path).read_text()
    events = [
        d
        for d in yaml.safe_load_all(text)
        if isinstance(d, dict) and d.get("kind") == "TrafficEvent"
    ]
    if not events:
        raise ValueError(f"{path}: no TrafficEvent found")
    meta = events[0].get("metadata") or {}
    return str(meta.get("namespace", "default")), str(meta.get("name", "?")), events[0]["spec"]


def _from_cluster(
    ref: str, namespace: str | None
) -> tuple[str, str, dict[str, Any], Mapping[str, Any]]:
    kind, _, name = ref.partition("/")
    if not name or kind.lower() not in ("te", "trafficevent", "trafficevents"):
        raise ValueError(f"{ref!r}: expected te/NAME")
    from kubernetes import client, config

    from showtime.cluster.kube import GROUP, PLURAL, VERSION, load_kube_config

    load_kube_config()
    if namespace is None:
        loader: Any = config  # untyped
        try:
            namespace = loader.list_kube_config_contexts()[1]["context"].get("namespace")
        except Exception:  # in a pod, or a context without one
            namespace = None
        namespace = str(namespace or "default")
    api: Any = client.CustomObjectsApi()
    obj: dict[str, Any] = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    return namespace, name, obj.get("spec") or {}, obj.get("status") or {}


__all__ = ["KEEP", "add_parser", "recommend_command", "render"]
