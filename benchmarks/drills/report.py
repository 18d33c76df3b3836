"""The drills' table: one Markdown row per drill, with the conditions of the run.

What lives here: ``table`` (the Markdown the README quotes) and ``notes`` (what each drill
found beyond its row). Pure formatting; the figures come from the drills.
"""

from __future__ import annotations

from collections.abc import Sequence

from .harness import Row

HEADER = (
    "| Drill | What was done | Floor violations (s) | Replicas lowered | Lost hand-backs "
    "| Measured | Holds |\n|---|---|---|---|---|---|---|"
)


def table(rows: Sequence[Row]) -> str:
    lines = [HEADER]
    for r in rows:
        lines.append(
            f"| {r.drill} | {r.done} | {r.floor_violation_s:g} | {r.lowered} | "
            f"{r.lost_handbacks} | {r.measured} | {'yes' if r.holds else '**NO**'} |"
        )
    return "\n".join(lines)


def notes(rows: Sequence[Row]) -> str:
    found = [f"- {r.drill}: {note}" for r in rows for note in r.notes]
    return "\n".join(found)
