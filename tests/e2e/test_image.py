"""The operator image, built by ``make image`` and run the way ``deploy/`` runs it.

No Docker: buildah builds the image (``hack/image.sh``) and runs it with chroot isolation
on the host's network, as uid 65532 with no ``USER`` set, a tmpfs on ``/tmp`` and the
Deployment's environment. The operator in the image pre-warms a Deployment on the local
cluster and hands it back; it runs as non-root and writes nothing to its root filesystem
(the pod promises ``readOnlyRootFilesystem: true``).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from showtime.cluster.kube import GROUP, PLURAL, VERSION
from tests.support.image import (
    BUILD_TIMEOUT,
    RUN_AS,
    ImageOperator,
    build_image,
    buildah,
    flat_kubeconfig,
    image_config,
    process_ids,
)
from tests.support.trafficevents import (
    create_event,
    iso,
    make_deployment,
    phase_is,
    ready,
    soon,
    wait_handed_back,
)
from tests.support.wait import wait_for

# serial: the first `make image` on a machine builds a base and every wheel, two cores'
# worth of work that would skew the timing of the tests beside it. The timeout covers it.
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.local_cluster,
    pytest.mark.serial,
    pytest.mark.timeout(BUILD_TIMEOUT + 300),
]

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    """``make image`` (buildah): the first run also builds the Python base, once."""
    began = time.monotonic()
    name = build_image(tmp_path_factory.mktemp("image") / "build.log")
    print(f"make image: {time.monotonic() - began:.0f}s")
    return name


def run_in_image(image: str, *command: str) -> subprocess.CompletedProcess[str]:
    """A one-off command in a fresh container of the image, as the pod's user."""
    container = buildah("from", "--pull-never", image).strip()
    try:
        return subprocess.run(
            [
                *("buildah", "run", "--isolation", "chroot", "--user", f"{RUN_AS[0]}:{RUN_AS[1]}"),
                *(container, "--", *command),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        buildah("rm", container)


def test_the_image_is_what_the_readme_says(image: str) -> None:
    config = image_config(image)
    assert config["User"] == f"{RUN_AS[0]}:{RUN_AS[1]}"
    assert config["Entrypoint"] == ["showtime"]
    assert config["Cmd"] == ["run"]
    version = run_in_image(image, "showtime", "--version")
    assert version.returncode == 0, version.stderr
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    assert f'version = "{version.stdout.split()[-1]}"' in pyproject
    assert config["Labels"]["org.opencontainers.image.version"] == version.stdout.split()[-1]
    # No pip, no compiler in the final image.
    assert run_in_image(image, "python", "-m", "pip", "--version").returncode != 0
    tools = run_in_image(
        image, "sh", "-c", "for t in pip pip3 gcc cc c++ make; do command -v $t; done; true"
    )
    assert tools.stdout.strip() == "", tools.stdout


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    source = os.environ.get("KUBECONFIG", "")
    assert source, "KUBECONFIG is set by the kube_api fixture's checks"
    return flat_kubeconfig(source, tmp_path / "kubeconfig")


@pytest.fixture
def image_operator(
    image: str,
    crd: None,
    local_cluster: None,
    namespace: str,
    kubeconfig: Path,
    custom: Any,
    tmp_path: Path,
) -> Iterator[ImageOperator]:
    operator = ImageOperator(
        image,
        namespace,
        kubeconfig,
        tmp_path / "operator.log",
        SHOWTIME_NAMESPACE=namespace,
        SHOWTIME_TICK="1s",
        SHOWTIME_PROMETHEUS_URL=os.environ.get("SHOWTIME_PROMETHEUS_URL", "http://127.0.0.1:9090"),
    )
    try:
        yield operator.start()
        # Let the operator release its finalizers before it stops.
        for item in custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)[
            "items"
        ]:
            custom.delete_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, item["metadata"]["name"]
            )
        wait_for(
            lambda: (
                not custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
            ),
            timeout=60,
            message="TrafficEvents deleted by the operator in the image",
        )
    finally:
        operator.remove()
        print(operator.log_tail())


def healthz(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def log_records(path: Path) -> list[dict[str, Any]]:
    records = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def test_the_image_prewarms_and_hands_back_as_non_root_without_writing_its_rootfs(
    image_operator: ImageOperator, namespace: str, apps_v1: Any, custom: Any
) -> None:
    began, began_at = time.monotonic(), datetime.now(UTC)
    marks: dict[str, float] = {}

    def mark(name: str) -> None:
        marks[name] = time.monotonic() - began

    # It starts: no USER, no passwd entry for its uid (this crashed it at start).
    wait_for(
        lambda: healthz(image_operator.liveness_port) or not image_operator.alive() or None,
        timeout=90,
        message="the operator's /healthz",
    )
    assert image_operator.alive(), image_operator.log_tail()
    mark("healthy")
    ids = process_ids(image_operator.operator_pid())
    assert ids["Uid"] == (RUN_AS[0],) * 4, ids
    assert ids["Gid"] == (RUN_AS[1],) * 4, ids

    make_deployment(apps_v1, namespace, "web", 1, ready_delay_ms=3000)
    start = soon(45)
    create_event(
        custom,
        namespace,
        "launch",
        {
            "schedule": {"start": iso(start), "duration": "20s"},
            "leadTime": "20s",
            "cooldown": "0s",
            "scaleDown": {"stabilizationWindow": "0s", "maxPercentPerMinute": 100},
            "targets": [{"name": "web", "replicas": 5, "maxReplicas": 6}],
        },
    )
    mark("event created")
    wait_for(
        lambda: phase_is(custom, namespace, "launch", "PreWarming"),
        timeout=90,
        message="PreWarming",
    )
    mark("pre-warm start")
    wait_for(lambda: ready(apps_v1, namespace, "web") == 5, timeout=60, message="5/5 Ready")
    mark("floor Ready")
    wait_for(lambda: phase_is(custom, namespace, "launch", "Live"), timeout=60, message="Live")
    mark("Live")
    wait_handed_back(apps_v1, namespace, "web", 1, timeout=120)
    mark("handed back")
    wait_for(
        lambda: phase_is(custom, namespace, "launch", "Completed"),
        timeout=30,
        message="Completed",
    )
    mark("Completed")
    print(
        "timeline (s after the operator started): "
        + ", ".join(f"{name} {at:.0f}" for name, at in marks.items())
        + f"; the event started at {(start - began_at).total_seconds():.0f}"
    )
    assert image_operator.alive(), image_operator.log_tail()

    records = log_records(image_operator.log_path)
    starting = [r for r in records if r.get("event") == "starting"]
    assert starting, image_operator.log_tail()
    assert starting[0]["identity"] == f"{namespace}/{image_operator.container}"
    assert not any("Traceback" in line for line in image_operator.log_tail(400).splitlines())
    # Deleted, the event's finalizer is released; then the kubelet's SIGTERM.
    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "launch")
    wait_for(
        lambda: (
            not custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
        ),
        timeout=60,
        message="the event deleted (finalizer released)",
    )
    assert image_operator.stop() == 0, image_operator.log_tail()
    # readOnlyRootFilesystem: true: nothing written outside the tmpfs on /tmp.
    assert image_operator.rootfs_changes() == []
