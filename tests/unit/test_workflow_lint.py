"""The CI workflow (.github/workflows/e2e.yaml): actionlint passes, and it does what the
README promises: kind from kind-config.yaml, the image built and loaded, Showtime
installed with ``kubectl apply -k deploy/``, then the e2e suite against that cluster.

actionlint is a Go module; ``hack/actionlint.sh`` builds it once into the cache (needs Go
and the module proxy the first time).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = REPO_ROOT / ".github/workflows/e2e.yaml"


def actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO_ROOT / "hack/actionlint.sh"), *(str(p) for p in paths)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_workflows_pass_actionlint() -> None:
    result = actionlint()
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_actionlint_does_flag_a_broken_workflow(tmp_path: Path) -> None:
    # The lint above only means something if actionlint really runs and fails.
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.no_such_context_value }}\n"
        "      - uses: actions/checkout@v4\n        with: {no_such_input: 1}\n"
    )
    result = actionlint(broken)
    assert result.returncode != 0
    assert "broken.yaml" in result.stdout


def _steps() -> list[dict[str, Any]]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    steps: list[dict[str, Any]] = workflow["jobs"]["e2e"]["steps"]
    return steps


def test_workflow_runs_the_e2e_suite_on_kind_with_the_installed_operator() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert {"push", "pull_request"} <= set(workflow[True])  # YAML 1.1 reads `on` as True
    job = workflow["jobs"]["e2e"]
    assert job["runs-on"] == "ubuntu-latest"
    steps = _steps()
    python = [s for s in steps if str(s.get("uses", "")).startswith("actions/setup-python@")]
    assert python
    assert python[0]["with"]["python-version"] == "3.11"
    script = "\n".join(str(s.get("run", "")) for s in steps)
    order = [
        "kind create cluster",
        "docker build -t showtime:dev .",
        "kind load docker-image showtime:dev",
        "kubectl apply --server-side -k deploy/",
        "pip install -e '.[dev]'",
        "pytest tests/e2e -m e2e",
    ]
    positions = [script.find(needle) for needle in order]
    assert -1 not in positions, dict(zip(order, positions, strict=True))
    assert positions == sorted(positions), "steps in this order"
    assert "--config kind-config.yaml" in script
    assert "--replicas=0" in script, "the installed operator is stopped before the tests"
