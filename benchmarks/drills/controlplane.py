"""The drill cluster's moving parts: kill -9 and start again kube-apiserver, etcd, Prometheus.

What lives here: ``restart_component`` (kill -9 one process of the kwokctl cluster
"showtime-drills" and start it again from the command line kwokctl recorded in the
cluster's ``kwok.yaml``, the way kwokctl's binary runtime runs it: same binary, arguments,
working directory, log file and pid file), ``prometheus`` (stop and start the drill
Prometheus through ``hack/drill-cluster.sh``) and ``api_ready``.

What does not: creating or deleting the cluster (``hack/drill-cluster.sh``). Only the
drill cluster is touched: its directory is named after it, and nothing here reads the
shared cluster's files.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CLUSTER_NAME = "showtime-drills"
SCRIPT = REPO_ROOT / "hack/drill-cluster.sh"


def cluster_dir() -> Path:
    workdir = Path(os.environ.get("KWOK_WORKDIR") or Path.home() / ".kwok")
    return workdir / "clusters" / CLUSTER_NAME


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(") ", 1)[-1][:1] != "Z"


def _component(name: str) -> dict[str, Any]:
    config = list(yaml.safe_load_all((cluster_dir() / "kwok.yaml").read_text()))
    for doc in config:
        if doc and doc.get("kind") == "KwokctlConfiguration":
            for component in doc.get("components") or []:
                if component.get("name") == name:
                    return dict(component)
    raise LookupError(f"{name} is not a component of {cluster_dir() / 'kwok.yaml'}")


def kill_component(name: str) -> int:
    """kill -9 the component's process; returns its pid once it is gone (10 s at most)."""
    pid_file = cluster_dir() / "pids" / f"{name}.pid"
    pid = int(pid_file.read_text().strip())
    if not _alive(pid):
        raise RuntimeError(f"{name} (pid {pid}) is not running")
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pid


def start_component(name: str) -> int:
    """Start the component as kwokctl does; its pid goes into the cluster's pid file."""
    component = _component(name)
    logs = cluster_dir() / "logs" / f"{name}.log"
    with logs.open("ab") as out:
        process = subprocess.Popen(
            [component["binary"], *component.get("args", [])],
            cwd=component.get("workDir") or cluster_dir(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives the drill, like kwokctl's own children
        )
    (cluster_dir() / "pids" / f"{name}.pid").write_text(f"{process.pid}\n")
    return process.pid


def restart_component(name: str) -> None:
    """kill -9 then start again at once (kube-apiserver or etcd)."""
    kill_component(name)
    start_component(name)


def prometheus(action: str) -> None:
    """``stop`` or ``start`` the drill cluster's Prometheus (its data is kept)."""
    if action not in ("stop", "start"):
        raise ValueError(action)
    subprocess.run(
        [str(SCRIPT), f"prometheus-{action}"],
        check=True,
        timeout=90,
        stdout=subprocess.DEVNULL,
    )


def api_ready(kubeconfig: str, kubectl: str = "kubectl") -> bool:
    done = subprocess.run(
        [kubectl, "--kubeconfig", kubeconfig, "--request-timeout=3s", "get", "--raw=/readyz"],
        capture_output=True,
        timeout=10,
        check=False,
    )
    return done.returncode == 0
