"""Leader election, the pure part: who may hold the Lease, and what the Lease says.

A coordination.k8s.io/v1 Lease names its holder and how long a hold lasts
(``leaseDurationSeconds``). ``judge`` decides, from the Lease as read, this replica's
identity and its own clock, whether it may write the Lease as holder (renew its own hold,
or take a free or expired one) or must follow. Expiry is judged the way client-go's
leaderelection does it: not from ``renewTime`` (another machine's clock; skew would decide
who leads) but from when *this* replica first saw the record as it is now
(``observed_at``, on its own monotonic clock). A record that has not changed for a whole
lease duration of local time is expired, whatever its timestamps say.

``lease_record`` and ``lease_spec`` read and write the Lease's spec; the times written are
for people (``kubectl get lease``), never for the decision.

What does not live here: the API calls (``cluster.lease``), the loop that renews and the
fencing of writes (``shell.leadership``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from showtime.core.timestamps import parse_timestamp


@dataclass(frozen=True)
class LeaseRecord:
    """The Lease's spec: who holds it, for how long, since when, how often it changed hands."""

    holder: str = ""  # empty: nobody (a leader that stopped gracefully released it)
    duration_seconds: float = 15.0
    acquired: datetime | None = None
    renewed: datetime | None = None
    transitions: int = 0


class Verdict(enum.Enum):
    RENEW = "renew"  # my own hold: write it again
    TAKE = "take"  # free, or expired: write myself in as the holder
    FOLLOW = "follow"  # someone else holds it, and the hold has not run out


def judge(record: LeaseRecord | None, me: str, now: float, observed_at: float | None) -> Verdict:
    """May ``me`` write itself into the Lease, at local monotonic time ``now``?

    ``observed_at`` is when this replica first saw ``record`` as it is (local monotonic
    time), ``None`` if it has never seen it. No Lease yet, or no holder: take it. My own:
    renew it. Someone else's: take it only once the record has stayed unchanged for a whole
    lease duration of my own time.
    """
    if record is None or not record.holder:
        return Verdict.TAKE
    if record.holder == me:
        return Verdict.RENEW
    if observed_at is None:
        return Verdict.FOLLOW
    return Verdict.TAKE if now - observed_at >= record.duration_seconds else Verdict.FOLLOW


def expires_in(record: LeaseRecord, now: float, observed_at: float) -> float:
    """Local seconds until someone else's unchanged ``record`` may be taken (0: now)."""
    return max(0.0, observed_at + record.duration_seconds - now)


def claimed(
    record: LeaseRecord | None, me: str, wall: datetime, duration_seconds: float
) -> LeaseRecord:
    """The record that makes ``me`` the holder at wall time ``wall`` (a renewal or a take)."""
    if record is not None and record.holder == me:
        return replace(record, renewed=wall, duration_seconds=duration_seconds)
    transitions = 0 if record is None else record.transitions + (1 if record.holder else 0)
    return LeaseRecord(me, duration_seconds, wall, wall, transitions)


def released(record: LeaseRecord, wall: datetime) -> LeaseRecord:
    """Given up on purpose: no holder, and a one-second hold so nobody waits on it."""
    return replace(record, holder="", duration_seconds=1.0, renewed=wall)


def lease_record(lease: Mapping[str, Any]) -> LeaseRecord:
    """A Lease object (as the API server answers it) read as a ``LeaseRecord``."""
    spec = lease.get("spec") or {}
    return LeaseRecord(
        holder=str(spec.get("holderIdentity") or ""),
        duration_seconds=float(spec.get("leaseDurationSeconds") or 0),
        acquired=parse_timestamp(spec.get("acquireTime")),
        renewed=parse_timestamp(spec.get("renewTime")),
        transitions=int(spec.get("leaseTransitions") or 0),
    )


def lease_spec(record: LeaseRecord) -> dict[str, Any]:
    """The Lease's spec for ``record`` (MicroTime: RFC 3339 with microseconds)."""
    spec: dict[str, Any] = {
        "holderIdentity": record.holder or None,
        "leaseDurationSeconds": max(1, round(record.duration_seconds)),
        "leaseTransitions": record.transitions,
    }
    if record.acquired is not None:
        spec["acquireTime"] = _micro_time(record.acquired)
    if record.renewed is not None:
        spec["renewTime"] = _micro_time(record.renewed)
    return spec


def _micro_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
