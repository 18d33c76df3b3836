"""Failures per test over repeated e2e runs, from pytest's JUnit XML files.

What lives here: reading the ``run<N>-<phase>.xml`` files that ``hack/e2e-repeat.sh``
collects, and printing a table of failures per test (``python -m tests.support.flakes
DIR``). What does not: running pytest (the shell script does) or judging whether a
failure is a flake (the table shows counts; the README says what to do with them).
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

RUN_FILE = re.compile(r"run(?P<run>\d+)-(?P<phase>[a-z]+)\.xml")


@dataclass
class Outcomes:
    """What happened to one test in each run (``passed``, ``failed``, ``error``, ``skipped``)."""

    by_run: dict[int, str] = field(default_factory=dict)

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.by_run.values() if o == outcome)

    @property
    def bad(self) -> int:
        return self.count("failed") + self.count("error")


def case_id(case: ET.Element) -> str:
    """``tests/e2e/test_x.py::test_name[param]`` from a JUnit ``testcase``."""
    module = case.get("classname", "").replace(".", "/")
    return f"{module}.py::{case.get('name', '?')}"


def outcome(case: ET.Element) -> str:
    for tag, name in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
        if case.find(tag) is not None:
            return name
    return "passed"


def read_runs(directory: Path) -> tuple[dict[str, Outcomes], list[int]]:
    tests: dict[str, Outcomes] = defaultdict(Outcomes)
    runs: set[int] = set()
    for path in sorted(directory.glob("run*-*.xml")):
        match = RUN_FILE.fullmatch(path.name)
        if match is None:
            continue
        run = int(match["run"])
        runs.add(run)
        for case in ET.parse(path).getroot().iter("testcase"):
            found = outcome(case)
            previous = tests[case_id(case)].by_run.get(run)
            # A test's setup and call may both report (an error in teardown after a
            # failure): keep the worse.
            if previous in (None, "passed", "skipped"):
                tests[case_id(case)].by_run[run] = found
    return dict(tests), sorted(runs)


def table(tests: dict[str, Outcomes], runs: list[int]) -> str:
    """Every test that failed or errored at least once, then a line for the rest."""
    total = len(runs)
    flaky = sorted(
        ((t, o) for t, o in tests.items() if o.bad), key=lambda item: (-item[1].bad, item[0])
    )
    width = max([len(t) for t, _ in flaky] + [len("test")])
    lines = [f"{'test':<{width}}  failed  runs  per run", f"{'-' * width}  ------  ----  -------"]
    for name, outcomes in flaky:
        per_run = " ".join(outcomes.by_run.get(r, "-")[0].upper() for r in runs)
        lines.append(f"{name:<{width}}  {outcomes.bad:>6}  {total:>4}  {per_run}")
    clean = [o for o in tests.values() if not o.bad]
    skipped = sum(1 for o in clean if o.count("skipped"))
    lines.append(
        f"{len(clean)} of {len(tests)} tests never failed in {total} runs"
        + (f" ({skipped} of them skipped at least once)" if skipped else "")
    )
    lines.append("per run: P passed, F failed, E error, S skipped, - not run")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.support.flakes DIR", file=sys.stderr)
        return 2
    tests, runs = read_runs(Path(argv[0]))
    if not runs:
        print(f"no run*-*.xml in {argv[0]}", file=sys.stderr)
        return 2
    print(table(tests, runs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
