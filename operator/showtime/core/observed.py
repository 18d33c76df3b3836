"""The plain data a tick decides on, and the decisions it produces.

``Observed`` is what the shell's gather step read from the cluster (TrafficEvents with
their parsed specs and status, workloads with Showtime's annotations and their HPAs,
learned start-up times, nodes and the objects reserving node capacity); ``Decisions`` is
what ``decide`` wants done: ordered writes per target, status patches, Kubernetes Events
to post, and the creates/patches/deletes of node capacity reservations. Only data lives
here: the logic is in ``decide``, reading the cluster in ``showtime.shell.gather``, writing
in ``showtime.shell.apply``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from showtime.core.leadtime import StartupMemory
from showtime.core.spec import TrafficEventSpec
from showtime.core.targets import HpaView

WorkloadKey = tuple[str, str, str]  # (namespace, kind, name)
EventKey = tuple[str, str]  # (namespace, name) of a TrafficEvent


@dataclass(frozen=True)
class ObservedEvent:
    """One TrafficEvent as the cluster has it."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: TrafficEventSpec | None  # None: the current spec is invalid
    spec_error: str | None = None  # why it is invalid
    raw_spec: Mapping[str, Any] | None = None  # as stored, kept in status while it holds
    held_spec: TrafficEventSpec | None = None  # status.heldSpec: the last valid spec that held
    status: Mapping[str, Any] = field(default_factory=dict)
    releasing: bool = False  # being deleted: hand its targets back, write no status

    @property
    def key(self) -> EventKey:
        return (self.namespace, self.name)


@dataclass(frozen=True, slots=True)  # kept from tick to tick (gather): 5,000 in R6
class ObservedWorkload:
    """A Deployment or StatefulSet, reduced to what decisions need."""

    namespace: str
    kind: str
    name: str
    uid: str
    replicas: int
    ready: int
    resource_version: str
    annotations: Mapping[str, str] = field(default_factory=dict)  # showtime.dev/ ones only
    hpa: HpaView | None = None
    hpa_resource_version: str = ""
    ordered_ready: bool = False  # a StatefulSet starting its pods one after another
    template: Mapping[str, Any] | None = None  # spec.template: what placeholders copy

    @property
    def key(self) -> WorkloadKey:
        return (self.namespace, self.kind, self.name)


@dataclass(frozen=True)
class NodeSeen:
    """A node, reduced to how long it took to join: creation to its Ready condition."""

    name: str
    created: datetime
    ready_since: datetime | None  # lastTransitionTime of Ready=True; None: not Ready


@dataclass(frozen=True)
class ObservedReservation:
    """A placeholder Deployment or CapacityBuffer carrying Showtime's labels."""

    kind: str  # Deployment | CapacityBuffer
    namespace: str
    name: str
    resource_version: str
    replicas: int
    ready: int  # placeholder pods Ready (a Deployment's status.readyReplicas)
    shape_hash: str  # showtime.dev/shape-hash: what it was created as, but for the count
    body: Mapping[str, Any] = field(default_factory=dict)  # as stored, for patches

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.namespace, self.name)


@dataclass(frozen=True)
class Observed:
    now: datetime
    events: tuple[ObservedEvent, ...]
    workloads: Mapping[WorkloadKey, ObservedWorkload]
    default_lead_time: timedelta
    startup: StartupMemory = field(default_factory=StartupMemory)  # what pods taught
    nodes: tuple[NodeSeen, ...] = ()
    default_node_lead_time: timedelta = timedelta(minutes=5)
    buffers_served: bool = False  # autoscaling.x-k8s.io/v1beta1 CapacityBuffer is served
    reservations: Mapping[tuple[str, str, str], ObservedReservation] = field(
        default_factory=dict
    )  # by (kind, namespace, name)
    placeholder_image: str = "registry.k8s.io/pause:3.10"


@dataclass(frozen=True)
class Involved:
    """The object a Kubernetes Event is about."""

    namespace: str
    kind: str
    name: str
    uid: str
    api_version: str


@dataclass(frozen=True)
class Notice:
    """A Kubernetes Event to post (the apply step aggregates repeats)."""

    involved: Involved
    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass(frozen=True)
class WorkloadWrite:
    """One merge patch of a workload: annotations and replicas change together."""

    key: WorkloadKey
    resource_version: str  # precondition: refused if the workload changed since it was read
    annotations: Mapping[str, str | None] | None = None  # None value: remove the annotation
    replicas: int | None = None


@dataclass(frozen=True)
class HpaWrite:
    namespace: str
    name: str
    resource_version: str
    min_replicas: int | None  # None: remove the field (it was absent before the event)


Write = WorkloadWrite | HpaWrite


@dataclass(frozen=True)
class TargetAction:
    """The writes for one target, in the order they must happen."""

    key: WorkloadKey
    writes: tuple[Write, ...]
    before: int  # the count Showtime moves (replicas or HPA minReplicas), as read
    after: int  # where it is moving now
    reason: str
    holders: tuple[str, ...] = ()


@dataclass(frozen=True)
class StatusWrite:
    namespace: str
    name: str
    patch: Mapping[str, Any]  # JSON merge patch of .status: None removes a field


@dataclass(frozen=True)
class ReservationWrite:
    """Create, merge-patch or delete one placeholder Deployment or CapacityBuffer."""

    verb: str  # create | patch | delete
    kind: str  # Deployment | CapacityBuffer
    namespace: str
    name: str
    body: Mapping[str, Any] | None = None  # the object (create) or the merge patch (patch)


@dataclass(frozen=True)
class Decisions:
    targets: tuple[TargetAction, ...] = ()
    statuses: tuple[StatusWrite, ...] = ()
    notices: tuple[Notice, ...] = ()
    failures: tuple[str, ...] = ()  # what went wrong inside decide, isolated per object
    reservations: tuple[ReservationWrite, ...] = ()  # node capacity: level-based
