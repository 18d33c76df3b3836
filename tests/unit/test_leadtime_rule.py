"""The lead-time rule on its own: start-up + 15 s + max(2 x spread, 5 %), +15 s under an HPA.

What ``make bench-burst`` measured for the old rule (x1.5 + 30 s) and the new one is in the
README ("Measured against HPA and KEDA"); learning the samples is ``test_leadtime``'s.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from showtime.core.leadtime import MAXIMUM, lead_time_for, lead_time_of_samples


@pytest.mark.parametrize(
    ("startup", "spread", "under_hpa", "seconds"),
    [
        (30.0, 0.0, False, 47),  # 30 + 15 + 1.5: Ready ~7-17 s before it is needed
        (90.0, 0.0, False, 110),  # 90 + 15 + 4.5
        (30.0, 10.0, False, 65),  # uneven pods: 2 x 10 s instead of 1.5 s
        (30.0, 0.0, True, 62),  # under an HPA: one sync (15 s) more
    ],
)
def test_the_rule(startup: float, spread: float, under_hpa: bool, seconds: int) -> None:
    assert lead_time_for(startup, spread, under_hpa=under_hpa) == timedelta(seconds=seconds)


def test_the_rule_on_samples_uses_p90_and_the_median() -> None:
    # p90 (nearest rank) of ten samples is the 9th: 40 s; the median (5th) 20 s.
    samples = [20.0] * 5 + [40.0] * 5
    assert lead_time_of_samples(samples) == timedelta(seconds=95)  # 40 + 15 + 2 x 20
    assert lead_time_of_samples(samples, under_hpa=True) == timedelta(seconds=110)
    assert lead_time_of_samples(samples, pods_to_add=3, ordered=True) == timedelta(seconds=175)


def test_the_rule_is_capped() -> None:
    assert lead_time_for(3 * 3600.0) == MAXIMUM
