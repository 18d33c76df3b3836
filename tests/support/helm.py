"""Test helper: helm, built from its Go module on first use, and running it on the chart.

What lives here: ``helm_binary()`` (``hack/build-helm.sh``: a no-op once the version-keyed
cache holds it, a few minutes the first time), ``helm(...)`` to run it, ``render(...)`` for
``helm template`` of ``charts/showtime`` as a list of documents, and
``monitoring_crds_dir()`` (prometheus-operator's CRDs from its Go module,
``hack/monitoring-crds.sh``).

What does not: the chart's assertions (tests/unit/test_chart.py, tests/e2e/test_helm.py).
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.support.operator import REPO_ROOT

CHART = REPO_ROOT / "charts" / "showtime"
FULL_VALUES = CHART / "ci" / "full-values.yaml"


def _script(name: str, timeout: float) -> Path:
    result = subprocess.run(
        [str(REPO_ROOT / "hack" / name)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
    )
    if result.returncode != 0:
        raise AssertionError(f"hack/{name} failed:\n{result.stderr[-4000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


@functools.cache
def helm_binary() -> Path:
    """The helm binary of hack/versions.sh, built into the cache when it is not there yet."""
    return _script("build-helm.sh", timeout=3600)


@functools.cache
def monitoring_crds_dir() -> Path:
    return _script("monitoring-crds.sh", timeout=600)


def helm(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(helm_binary()), *args], capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT
    )
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def render(*args: str, release: str = "showtime", namespace: str = "showtime-system") -> str:
    """``helm template`` of the chart (CRDs included) as YAML text."""
    return helm(
        "template", release, str(CHART), "--namespace", namespace, "--include-crds", *args
    ).stdout


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]
