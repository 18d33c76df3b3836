"""Build the operator image and run it the way ``deploy/deployment.yaml`` runs it, without Docker.

``build_image`` runs ``hack/image.sh`` (what ``make image`` runs) with buildah.
``ImageOperator`` starts ``showtime run`` from that image in a buildah container:
``buildah run --isolation chroot --network host --user 65532:65532``, the kubeconfig
mounted read-only, a tmpfs on ``/tmp`` (the pod's only writable volume) and the
Deployment's environment, with the downward API filled in. It finds the operator's
process (to read its uid and to stop it with SIGTERM, as the kubelet would) and lists
what changed in the container's root filesystem (``podman diff``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import uuid
from pathlib import Path
from typing import Any

import yaml

from tests.support.environment import unavailable
from tests.support.wait import wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGE = "showtime:dev"  # what `make image` builds
RUN_AS = (65532, 65532)  # deploy/deployment.yaml: runAsUser, runAsGroup
KUBECONFIG_IN_CONTAINER = "/etc/showtime/kubeconfig"  # not under /run: buildah hides it
TOOLS = ("buildah", "podman", "debootstrap")
BUILD_TIMEOUT = 1800  # cold: apt-get, debootstrap, every wheel from the index


def build_image(log_path: Path) -> str:
    """``hack/image.sh`` with buildah; the built image's ID (another checkout's build may
    move the tag meanwhile). Skips (fails in CI) without the tools."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if os.geteuid() != 0:
        unavailable(
            "the image e2e runs buildah with chroot isolation, which needs root: "
            "run the e2e tests as root (CI does)"
        )
    if missing and shutil.which("apt-get") is None:
        unavailable(
            f"{', '.join(missing)} not installed and no apt-get to install them: "
            "install buildah, podman and debootstrap, then `make image`"
        )
    try:
        result = subprocess.run(
            [str(REPO_ROOT / "hack/image.sh")],
            cwd=REPO_ROOT,
            env={
                **os.environ,
                "SHOWTIME_IMAGE_BUILDER": "buildah",
                "IMAGE": IMAGE,
                "SHOWTIME_IMAGE_IIDFILE": str(log_path.with_name("image.id")),
            },
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"`make image` took longer than {BUILD_TIMEOUT}s") from exc
    log_path.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        tail = "\n".join(result.stderr.splitlines()[-40:])
        raise AssertionError(f"`make image` failed (exit {result.returncode}):\n{tail}")
    return log_path.with_name("image.id").read_text().strip()


def image_config(image: str) -> dict[str, Any]:
    """The image's OCI config (User, Labels, Entrypoint, ...)."""
    config: dict[str, Any] = json.loads(buildah("inspect", "--type", "image", image))["OCIv1"][
        "config"
    ]
    return config


def buildah(*args: str, timeout: float = 120) -> str:
    result = subprocess.run(
        ["buildah", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"buildah {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def deployment_environment(pod_name: str, pod_namespace: str) -> dict[str, str]:
    """The operator container's env in deploy/deployment.yaml, downward API filled in."""
    manifest = yaml.safe_load((REPO_ROOT / "deploy/deployment.yaml").read_text())
    (container,) = manifest["spec"]["template"]["spec"]["containers"]
    fields = {"metadata.name": pod_name, "metadata.namespace": pod_namespace}
    env = {}
    for item in container["env"]:
        if "value" in item:
            env[item["name"]] = str(item["value"])
        else:
            env[item["name"]] = fields[item["valueFrom"]["fieldRef"]["fieldPath"]]
    return env


def flat_kubeconfig(source: str, target: Path) -> Path:
    """The current context of ``source`` with its certificates inlined, readable by RUN_AS only."""
    flat = subprocess.run(
        ["kubectl", "config", "view", "--flatten", "--minify", "--raw", "--kubeconfig", source],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    target.write_text(flat)
    os.chown(target, *RUN_AS)
    target.chmod(0o400)
    return target


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def process_ids(pid: int) -> dict[str, tuple[int, ...]]:
    """Real, effective, saved and filesystem uids and gids of a process."""
    ids: dict[str, tuple[int, ...]] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("Uid", "Gid"):
            ids[key] = tuple(int(v) for v in value.split())
    return ids


class ImageOperator:
    """``showtime run`` from the image, in a buildah container on the host's network."""

    def __init__(
        self, image: str, namespace: str, kubeconfig: Path, log_path: Path, **env: str
    ) -> None:
        self.image = image
        self.namespace = namespace
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.container = f"showtime-e2e-{uuid.uuid4().hex[:8]}"
        self.liveness_port = free_port()
        self.metrics_port = free_port()
        self.env = {
            **deployment_environment(self.container, namespace),
            # Host network: loopback and free ports instead of 0.0.0.0:9102 and :8080.
            "SHOWTIME_METRICS_ADDRESS": "127.0.0.1",
            "SHOWTIME_METRICS_PORT": str(self.metrics_port),
            "SHOWTIME_LIVENESS_ADDRESS": "127.0.0.1",
            "SHOWTIME_LIVENESS_PORT": str(self.liveness_port),
            "KUBECONFIG": KUBECONFIG_IN_CONTAINER,
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.created = False
        self.baseline: list[str] = []

    def _run_command(self, *command: str) -> list[str]:
        run = [
            *("buildah", "run", "--isolation", "chroot", "--network", "host"),
            *("--user", f"{RUN_AS[0]}:{RUN_AS[1]}"),
            *("--mount", "type=tmpfs,destination=/tmp"),
            *("-v", f"{self.kubeconfig}:{KUBECONFIG_IN_CONTAINER}:ro"),
        ]
        for name, value in sorted(self.env.items()):
            run += ["--env", f"{name}={value}"]
        return [*run, self.container, "--", *command]

    def start(self) -> ImageOperator:
        buildah("from", "--pull-never", "--name", self.container, self.image)
        self.created = True
        # buildah creates the kubeconfig's mount point in the root filesystem: a first,
        # empty run makes it, so that what the operator writes is all that changes later.
        subprocess.run(self._run_command("true"), capture_output=True, timeout=60, check=True)
        self.baseline = self._diff()
        with self.log_path.open("ab") as log:
            # The image's ENTRYPOINT and CMD, as the pod runs them (args: [run]).
            self.process = subprocess.Popen(
                self._run_command("showtime", "run"), stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def operator_pid(self) -> int:
        """The pid of ``showtime run`` inside the container (a descendant of buildah)."""
        assert self.process is not None

        def find() -> int | None:
            pending = [self.process.pid] if self.process is not None else []
            while pending:
                pid = pending.pop()
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                # Not buildah-chroot-exec (same arguments; it SIGKILLs its child on SIGTERM).
                launcher = cmdline[0].startswith(b"buildah")
                if not launcher and cmdline[1:3] == [b"/opt/showtime/bin/showtime", b"run"]:
                    return pid
                pending += _children(pid)
            return None

        return wait_for(find, timeout=30, message="the operator process in the container")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _diff(self) -> list[str]:
        result = subprocess.run(
            ["podman", "diff", self.container], capture_output=True, text=True, timeout=60
        )
        if result.returncode != 0:
            raise AssertionError(f"podman diff {self.container}: {result.stderr.strip()}")
        return result.stdout.splitlines()

    def rootfs_changes(self) -> list[str]:
        """What changed in the container's root filesystem since start (``podman diff``)."""
        return [line for line in self._diff() if line not in self.baseline]

    def stop(self) -> int | None:
        """SIGTERM to the operator (as the kubelet sends), SIGKILL after 20 s; its exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            with contextlib.suppress(AssertionError, ProcessLookupError):
                os.kill(self.operator_pid(), signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._kill_tree(self.process.pid)
                self.process.wait(timeout=10)
        return self.process.returncode

    def _kill_tree(self, pid: int) -> None:
        for child in _children(pid):
            self._kill_tree(child)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    def remove(self) -> None:
        self.stop()
        if self.created:
            subprocess.run(["buildah", "rm", self.container], capture_output=True, timeout=60)
            self.created = False

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
