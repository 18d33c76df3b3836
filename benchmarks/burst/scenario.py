"""The lecture-shaped load curve of ``make bench-burst`` and its timeline (pure).

What lives here: ``Scenario`` (the durations and rates, all configurable), the instants of
the run relative to its origin (announced start, end of the event, the unannounced burst),
and the curve as a ``tools.loadsource`` profile, so that the load driver and Prometheus see
the very same rates. What does not: talking to a cluster or measuring anything.

The curve, relative to the announced start S::

    baseline ... S: ×peak_factor within ramp ... plateau ... decay to baseline
    ... gap ... U: unannounced burst (same ramp) ... hold ... end
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tools.loadsource import Profile, parse_profile


@dataclass(frozen=True)
class Scenario:
    baseline: float = 100.0  # requests/s
    peak_factor: float = 10.0  # ×10 at the announced start
    ramp: float = 60.0  # seconds to reach the peak (both bursts)
    plateau: float = 120.0  # seconds at the peak, after the ramp
    decay: float = 120.0  # seconds from the peak back to baseline (the event's cooldown)
    gap: float = 330.0  # baseline before the unannounced burst (HPA scales down after 300 s)
    second_factor: float = 10.0  # the unannounced burst, × baseline
    hold: float = 120.0  # seconds at the unannounced peak, after its ramp
    capacity: float = 50.0  # requests/s one Ready replica serves
    lead_in: float = 660.0  # from the start of the run to S (at least KEDA's cron margin)

    @property
    def peak(self) -> float:
        return self.baseline * self.peak_factor

    @property
    def second_peak(self) -> float:
        return self.baseline * self.second_factor

    @property
    def event_duration(self) -> float:
        """The TrafficEvent's (and KEDA cron's) window: ramp and plateau, whole minutes."""
        return 60.0 * math.ceil((self.ramp + self.plateau) / 60.0)

    def floor(self) -> int:
        """Showtime's floor and KEDA's desiredReplicas: ceil(peak / capacity)."""
        return math.ceil(self.peak / self.capacity)


@dataclass(frozen=True)
class Timeline:
    """Seconds from the run's origin (when the profile is set)."""

    start: float  # S, the announced start (a whole minute, for KEDA's cron)
    event_end: float  # S + event duration: the decay starts
    decay_end: float
    unannounced: float  # U
    end: float

    def windows(self) -> dict[str, tuple[float, float]]:
        """The measured windows: everything before U, and U to the end."""
        return {"announced": (0.0, self.unannounced), "unannounced": (self.unannounced, self.end)}


def timeline(scenario: Scenario, start_offset: float) -> Timeline:
    """The instants of a run whose announced start is ``start_offset`` s after its origin."""
    s = start_offset
    event_end = s + scenario.event_duration
    decay_end = event_end + scenario.decay
    unannounced = decay_end + scenario.gap
    end = unannounced + scenario.ramp + scenario.hold
    return Timeline(s, event_end, decay_end, unannounced, end)


def profile(scenario: Scenario, line: Timeline) -> Profile:
    """The curve as a load-source profile (segments relative to the origin)."""
    raw: list[dict[str, Any]] = [
        {"at": 0, "rate": scenario.baseline},
        {"at": line.start, "rate": scenario.peak, "ramp": scenario.ramp},
        {"at": line.event_end, "rate": scenario.baseline, "ramp": scenario.decay},
        {"at": line.unannounced, "rate": scenario.second_peak, "ramp": scenario.ramp},
        {"at": line.end, "rate": scenario.baseline},
    ]
    return parse_profile(raw, initial=scenario.baseline)
