"""Showtime's alerts (deploy/monitoring/alerts.yaml) under ``promtool test rules``.

tests/unit/alerts/alerts-test.yaml feeds each alert series that must fire it (and some
that must not) and states when it fires; promtool evaluates the real rule file.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.environment import unavailable

REPO_ROOT = Path(__file__).resolve().parents[2]
RULES = REPO_ROOT / "deploy" / "monitoring" / "alerts.yaml"
RULE_TESTS = Path(__file__).parent / "alerts" / "alerts-test.yaml"


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        unavailable("promtool is not on PATH: apt-get install prometheus (make cluster does)")
    return found


def run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120)


def test_the_rule_file_is_valid(promtool: str) -> None:
    result = run(promtool, "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 rules found" in result.stdout


def test_every_alert_fires_when_it_should_and_not_before(promtool: str) -> None:
    result = run(promtool, "test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_under_test_and_has_a_runbook(promtool: str) -> None:
    rules = RULES.read_text()
    tests = RULE_TESTS.read_text()
    readme = (REPO_ROOT / "README.md").read_text()
    alerts = [line.split(":", 1)[1].strip() for line in rules.splitlines() if "- alert:" in line]
    assert len(alerts) == 7
    for alert in alerts:
        assert f"alertname: {alert}" in tests, f"{alert} has no promtool test"
        assert f"#### {alert}" in readme, f"{alert} has no runbook paragraph in the README"


def test_a_wrong_threshold_fails_the_rule_tests(promtool: str, tmp_path: Path) -> None:
    # The rule tests see the rules' behaviour: ticks of 12 s no longer alert at a 15 s limit.
    broken = tmp_path / "alerts.yaml"
    broken.write_text(RULES.read_text().replace("> 10  # the tick interval", "> 15"))
    tests = tmp_path / "alerts-test.yaml"
    tests.write_text(
        RULE_TESTS.read_text().replace("../../../deploy/monitoring/alerts.yaml", str(broken))
    )
    result = run(promtool, "test", "rules", str(tests))
    assert result.returncode != 0
    assert "ShowtimeTickSlow" in result.stdout + result.stderr
