"""Several events on one target, scale-down limits, HPA mode and hand-back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from showtime.core.handback import (
    HandBackState,
    LastWrite,
    Mode,
    OriginalHpa,
    read_annotations,
)
from showtime.core.planner import Reason
from showtime.core.targets import Claim as _Claim
from showtime.core.targets import (
    HpaMinWrite,
    HpaView,
    TargetView,
    decide_target,
    highest_in_window,
    limit_scale_down,
    record_desired,
)

T0 = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)


def claim(event: str, desired: int, window: int = 300, percent: int = 20) -> _Claim:
    return _Claim(event, desired, Reason.FLOOR, timedelta(seconds=window), percent)


def view(
    replicas: int, state: HandBackState | None = None, hpa: HpaView | None = None
) -> TargetView:
    return TargetView(replicas=replicas, hpa=hpa, handback=state)


def test_first_hold_remembers_the_original_count_and_scales_up() -> None:
    decision = decide_target(view(2), [claim("speech", 40)], now=T0)
    assert decision.replicas == 40
    assert decision.state is not None
    assert decision.state.original_replicas == 2
    assert decision.state.held_by == ("speech",)
    annotations = decision.state.to_annotations()
    assert annotations["showtime.dev/original-replicas"] == "2"
    stored = {k: v for k, v in annotations.items() if v is not None}
    assert read_annotations(stored).state == decision.state


def test_highest_desired_of_several_events_wins() -> None:
    decision = decide_target(view(2), [claim("a", 10), claim("b", 25), claim("c", 7)], now=T0)
    assert decision.replicas == 25
    assert decision.state is not None
    assert decision.state.held_by == ("a", "b", "c")


def test_never_below_what_the_workload_had_before() -> None:
    decision = decide_target(view(12), [claim("a", 5)], now=T0)
    assert decision.replicas is None
    assert decision.desired == 12


def test_no_write_when_already_at_desired() -> None:
    first = decide_target(view(2), [claim("a", 40)], now=T0)
    again = decide_target(view(40, first.state), [claim("a", 40)], now=T0 + timedelta(seconds=10))
    assert again.replicas is None
    assert again.state == first.state  # nothing to store either: no annotation write


def test_scale_down_waits_for_the_stabilization_window() -> None:
    held = decide_target(view(2), [claim("a", 40)], now=T0).state
    assert held is not None
    # Desired drops to 10 after 2 minutes: the window (5m) still remembers 40.
    at = T0 + timedelta(minutes=2)
    decision = decide_target(view(40, held), [claim("a", 10)], now=at)
    assert decision.replicas is None
    # Six minutes after the drop the window has passed: down by at most 20 % of 40.
    assert decision.state is not None
    later = decide_target(view(40, decision.state), [claim("a", 10)], now=at + timedelta(minutes=6))
    assert later.replicas == 32


def test_scale_down_at_most_once_a_minute() -> None:
    state = HandBackState(2, None, ("a",), ((0, 10),), None, None, None, 0, 50)
    first = decide_target(view(40, state), [claim("a", 10, window=0, percent=50)], now=T0)
    assert first.replicas == 20
    assert first.state is not None
    soon = decide_target(
        view(20, first.state),
        [claim("a", 10, window=0, percent=50)],
        now=T0 + timedelta(seconds=30),
    )
    assert soon.replicas is None
    later = decide_target(
        view(20, first.state),
        [claim("a", 10, window=0, percent=50)],
        now=T0 + timedelta(seconds=61),
    )
    assert later.replicas == 10


def test_hand_back_steps_down_and_then_forgets() -> None:
    state = HandBackState(
        2, None, ("a",), ((0, 40),), None, LastWrite(Mode.REPLICAS, 40), None, 300, 50
    )
    step = decide_target(view(40, state), [], now=T0)
    assert (step.replicas, step.reason) == (20, Reason.HAND_BACK)
    assert step.state is not None
    assert step.state.held_by == ()
    step2 = decide_target(view(20, step.state), [], now=T0 + timedelta(minutes=1))
    assert step2.replicas == 10
    assert step2.state is not None
    step3 = decide_target(view(10, step2.state), [], now=T0 + timedelta(minutes=2))
    assert step3.replicas == 5
    assert step3.state is not None
    # Half of 5 is rounded down: a step never removes more than the share.
    step4 = decide_target(view(5, step3.state), [], now=T0 + timedelta(minutes=3))
    assert step4.replicas == 3
    assert step4.state is not None
    done = decide_target(view(3, step4.state), [], now=T0 + timedelta(minutes=4))
    assert done.replicas == 2
    assert done.state is None  # annotations removed: handed back


def test_a_step_down_never_removes_more_than_the_share_but_always_at_least_one() -> None:
    assert limit_scale_down(13, 1, percent_per_minute=50, last_scale_down=None, now=0) == 7
    assert limit_scale_down(16, 1, percent_per_minute=50, last_scale_down=None, now=0) == 8
    assert limit_scale_down(2, 1, percent_per_minute=20, last_scale_down=None, now=0) == 1


def test_a_step_stored_but_never_written_is_still_taken_after_a_restart() -> None:
    """Under an HPA the state and the minimum are two requests; a crash between them."""
    hpa = HpaView("api", min_replicas=8, max_replicas=30)
    at = int(T0.timestamp())
    state = HandBackState(
        2,
        OriginalHpa("api", 2),
        ("a",),
        ((at - 60, 8), (at, 4)),
        at,  # the step down was decided just now...
        LastWrite(Mode.HPA, 4, previous=8),  # ...and the HPA write never sent
        None,
        0,
        50,
    )
    again = decide_target(view(8, state, hpa), [claim("a", 4, window=0, percent=50)], now=T0)
    assert again.hpa_min == HpaMinWrite(4)
    assert again.notices == ()  # not mistaken for someone else's change


def test_untouched_target_is_left_alone() -> None:
    decision = decide_target(view(7), [], now=T0)
    assert decision.replicas is None
    assert decision.state is None


def test_hpa_mode_raises_min_replicas_capped_at_its_max() -> None:
    hpa = HpaView("api", min_replicas=2, max_replicas=30)
    decision = decide_target(view(5, hpa=hpa), [claim("a", 40)], now=T0)
    assert decision.mode is Mode.HPA
    assert decision.hpa_min == HpaMinWrite(30)
    assert decision.replicas is None  # the HPA moves the replicas
    assert decision.capped_by_hpa
    assert decision.state is not None
    assert decision.state.original_hpa == OriginalHpa("api", 2)
    assert decision.state.original_replicas == 5
    assert "showtime.dev/original-hpa-min-replicas" in decision.state.to_annotations()


def test_hpa_hand_back_restores_min_replicas_at_once() -> None:
    hpa = HpaView("api", min_replicas=30, max_replicas=30)
    state = HandBackState(5, OriginalHpa("api", 2), ("a",))
    decision = decide_target(view(30, state, hpa), [], now=T0)
    assert decision.hpa_min == HpaMinWrite(2)
    assert decision.replicas is None
    assert decision.state is None


def test_hpa_minimum_that_was_absent_is_removed_again() -> None:
    hpa = HpaView("api", min_replicas=30, max_replicas=30)
    state = HandBackState(5, OriginalHpa("api", None), ("a",))
    decision = decide_target(view(30, state, hpa), [], now=T0)
    assert decision.hpa_min == HpaMinWrite(None)


def test_an_unreadable_annotation_loses_only_what_it_held() -> None:
    read = read_annotations({"showtime.dev/original-replicas": "x", "showtime.dev/held-by": "a"})
    assert read.state is not None
    assert read.state.original_replicas is None
    assert read.state.held_by == ("a",)
    assert read.problems == ("showtime.dev/original-replicas='x'",)
    assert read_annotations({}).state is None


def test_stabilization_keeps_the_peak_through_any_number_of_changes() -> None:
    history: tuple[tuple[int, int], ...] = ()
    history = record_desired(history, 0, 90, 600)
    for second in range(1, 200):
        history = record_desired(history, second, 10 + second % 7, 600)
        assert highest_in_window(history, second, 600) == 90
    assert len(history) <= 8  # values strictly fall: bounded by distinct levels, not time


def test_window_history_keeps_what_was_in_force() -> None:
    history = record_desired((), 0, 40, 300)
    history = record_desired(history, 100, 10, 300)
    assert highest_in_window(history, 200, 300) == 40
    assert highest_in_window(history, 401, 300) == 10
    pruned = record_desired(history, 1000, 10, 300)
    assert pruned == ((100, 10),)
    # A later, higher count raises what came before it: it is in every window they are.
    raised = record_desired(((0, 5), (10, 3)), 20, 4, 300)
    assert raised == ((0, 5), (10, 4))


def test_limit_scale_down_at_100_percent_follows_at_once() -> None:
    """100 % a minute allows every step: a decaying floor is followed tick by tick."""
    assert limit_scale_down(20, 18, percent_per_minute=100, last_scale_down=0, now=10) == 18
    assert limit_scale_down(18, 2, percent_per_minute=100, last_scale_down=10, now=20) == 2
    assert limit_scale_down(20, 18, percent_per_minute=99, last_scale_down=0, now=10) == 20


def test_limit_scale_down_never_raises_and_moves_at_least_one() -> None:
    assert limit_scale_down(3, 1, percent_per_minute=1, last_scale_down=None, now=0) == 2
    assert limit_scale_down(3, 9, percent_per_minute=1, last_scale_down=0, now=1) == 9
