"""The operator starts under a uid that has no passwd entry, as it does in its image.

The image runs as uid 65532 with no ``/etc/passwd`` line for it, and neither Kubernetes
nor a container runtime sets ``USER``. kopf derives its identity from the user name
unless it is given one; asking the password database for that name crashed the operator
at start. Here ``showtime run`` gets as far as kopf spawning its tasks, with the cluster
and the network left out.
"""

from __future__ import annotations

import asyncio
import pwd
from typing import Any

import kopf
import pytest

from showtime import telemetry
from showtime.shell import run

NO_NAME_VARIABLES = ("LOGNAME", "USER", "LNAME", "USERNAME", "POD_ID")


@pytest.fixture
def uid_without_passwd_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_entry(uid: int) -> Any:
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    for name in NO_NAME_VARIABLES:
        monkeypatch.delenv(name, raising=False)


async def _cancel_every_other_task(within: float = 20.0) -> None:
    """Cancel all tasks but this one, again and again until they are gone.

    A single cancel is not enough: kopf's startup/cleanup activity swallows the first one
    while it sleeps and then waits for its core tasks, which the test cancelled already
    or not; cancelled once, the run hung in about one of six tries.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        others = asyncio.all_tasks() - {asyncio.current_task()}
        if not others:
            return
        for task in others:
            task.cancel()
        await asyncio.wait(others, timeout=0.2)
    raise AssertionError(f"kopf's tasks did not stop within {within} s")


@pytest.fixture
def kopf_started(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Run ``showtime run`` up to kopf's real ``spawn_tasks``, then stop its tasks unrun."""
    calls: list[dict[str, Any]] = []

    async def operator(**kwargs: Any) -> None:
        calls.append(kwargs)
        await kopf.spawn_tasks(**kwargs)
        await _cancel_every_other_task()

    monkeypatch.setattr(kopf, "operator", operator)
    monkeypatch.setattr(run, "load_kube_config", lambda: None)
    monkeypatch.setattr(run, "KubeGateway", lambda namespace, **_: object())
    monkeypatch.setattr(telemetry, "start_metrics_server", lambda port, addr: None)
    monkeypatch.setattr(telemetry, "configure_logging", lambda fmt, level: None)
    monkeypatch.setenv("SHOWTIME_NAMESPACE", "identity-test")
    monkeypatch.setenv("SHOWTIME_LEADER_ELECTION", "false")  # no Lease calls: no cluster here
    # Any free ports: this is about identity, not about a demo operator holding 9102/8080.
    monkeypatch.setenv("SHOWTIME_METRICS_PORT", "0")
    monkeypatch.setenv("SHOWTIME_LIVENESS_PORT", "0")
    return calls


def test_starts_under_a_uid_without_a_passwd_entry(
    uid_without_passwd_entry: None, kopf_started: list[dict[str, Any]]
) -> None:
    assert run.run_operator() == 0
    (call,) = kopf_started
    assert call["identity"], "kopf is given an identity; it does not guess one"


def test_in_a_pod_the_identity_is_the_pods(
    uid_without_passwd_entry: None,
    kopf_started: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # deploy/deployment.yaml passes these from the downward API.
    monkeypatch.setenv("SHOWTIME_POD_NAME", "showtime-7d4b9c-x2x9q")
    monkeypatch.setenv("SHOWTIME_POD_NAMESPACE", "showtime-system")
    assert run.run_operator() == 0
    (call,) = kopf_started
    assert call["identity"] == "showtime-system/showtime-7d4b9c-x2x9q"


def test_outside_a_pod_two_operators_have_different_identities(
    uid_without_passwd_entry: None, kopf_started: list[dict[str, Any]]
) -> None:
    assert run.operator_identity(None, None) != run.operator_identity(None, None)
