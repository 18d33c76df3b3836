"""Memory of the operator's pod cache with 20,000 pods, with ``slim_pod`` and without it.

Prints numbers rather than asserting them. Each variant runs in a fresh Python process so
its resident memory (RSS) is its own: RSS before the informer lists, after (the cache
holds every pod), and after lead-time learning over them (``StartupMemory.observe``).

* default (fake): the informer lists 20,000 realistic pod objects (shaped like the ones
  kube-apiserver returns for kwok pods: labels, owner, managedFields, a projected
  service-account volume, five conditions, a container status) from an in-process list
  function, in the API server's pages. No cluster; the same numbers on every machine.
* ``--cluster``: the pods really exist on the cluster of ``KUBECONFIG`` (the local kwok
  cluster): Deployments in a scratch namespace on temporary kwok nodes (``pod_fleet``);
  the informer lists them from the API server. Everything it created is deleted at the
  end; every wait is bounded. On a 2-core machine this takes 10 to 15 minutes (kwok
  readies a few dozen pods a second), so ``make bench`` runs the fake list.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

PODS = 20_000
RUNTIME_BASE = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def rss_mib() -> float:
    """Current resident memory of this process."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def realistic_pod(index: int, namespace: str = "bench") -> dict[str, Any]:
    """A Running, Ready pod of Deployment ``app-<n>`` as kube-apiserver returns it."""
    app = f"app-{index % 40}"
    rs = f"{app}-7c9d8f6b5d"
    name = f"{rs}-{index:05x}{'abcde'[index % 5]}"
    created = RUNTIME_BASE + timedelta(seconds=index // 10)
    ready = created + timedelta(seconds=5 + index % 7)
    uid = str(uuid.UUID(int=index + (1 << 100)))
    c, r = stamp(created), stamp(ready)
    return {
        "metadata": {
            "name": name,
            "generateName": f"{rs}-",
            "namespace": namespace,
            "uid": uid,
            "resourceVersion": str(100_000 + index),
            "creationTimestamp": c,
            "labels": {"app": app, "pod-template-hash": "7c9d8f6b5d"},
            "annotations": {"pod-ready.stage.kwok.x-k8s.io/delay": "5000"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": rs,
                    "uid": str(uuid.UUID(int=index % 40 + (1 << 90))),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
            "managedFields": [
                {
                    "manager": "kube-controller-manager",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": c,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {
                        "f:metadata": {
                            "f:annotations": {".": {}, "f:pod-ready.stage.kwok.x-k8s.io/delay": {}},
                            "f:generateName": {},
                            "f:labels": {".": {}, "f:app": {}, "f:pod-template-hash": {}},
                            "f:ownerReferences": {".": {}, f'k:{{"uid":"{uid}"}}': {}},
                        },
                        "f:spec": {
                            "f:containers": {'k:{"name":"app"}': {".": {}, "f:image": {}}},
                            "f:dnsPolicy": {},
                            "f:restartPolicy": {},
                            "f:terminationGracePeriodSeconds": {},
                        },
                    },
                },
                {
                    "manager": "kwok",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": r,
                    "fieldsType": "FieldsV1",
                    "subresource": "status",
                    "fieldsV1": {
                        "f:status": {
                            "f:conditions": {'k:{"type":"Ready"}': {".": {}, "f:status": {}}},
                            "f:containerStatuses": {},
                            "f:podIP": {},
                            "f:startTime": {},
                        }
                    },
                },
            ],
        },
        "spec": {
            "volumes": [
                {
                    "name": f"kube-api-access-{index % 99999:05d}",
                    "projected": {
                        "sources": [
                            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                            {
                                "configMap": {
                                    "name": "kube-root-ca.crt",
                                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                                }
                            },
                            {
                                "downwardAPI": {
                                    "items": [
                                        {
                                            "path": "namespace",
                                            "fieldRef": {
                                                "apiVersion": "v1",
                                                "fieldPath": "metadata.namespace",
                                            },
                                        }
                                    ]
                                }
                            },
                        ],
                        "defaultMode": 420,
                    },
                }
            ],
            "containers": [
                {
                    "name": "app",
                    "image": "registry.k8s.io/pause:3.10",
                    "resources": {},
                    "volumeMounts": [
                        {
                            "name": f"kube-api-access-{index % 99999:05d}",
                            "readOnly": True,
                            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                        }
                    ],
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                    "imagePullPolicy": "IfNotPresent",
                }
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 1,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "serviceAccount": "default",
            "nodeName": f"kwok-node-{index % 2}",
            "securityContext": {},
            "schedulerName": "default-scheduler",
            "tolerations": [
                {
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
                {
                    "key": "node.kubernetes.io/unreachable",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
            ],
            "priority": 0,
            "enableServiceLinks": True,
            "preemptionPolicy": "PreemptLowerPriority",
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": at}
                for t, at in (
                    ("Initialized", c),
                    ("Ready", r),
                    ("ContainersReady", r),
                    ("PodScheduled", c),
                )
            ],
            "hostIP": f"10.240.0.{10 + index % 2}",
            "hostIPs": [{"ip": f"10.240.0.{10 + index % 2}"}],
            "podIP": f"10.244.{index // 250}.{index % 250}",
            "podIPs": [{"ip": f"10.244.{index // 250}.{index % 250}"}],
            "startTime": c,
            "containerStatuses": [
                {
                    "name": "app",
                    "state": {"running": {"startedAt": r}},
                    "lastState": {},
                    "ready": True,
                    "restartCount": 0,
                    "image": "registry.k8s.io/pause:3.10",
                    "imageID": "",
                    "started": True,
                }
            ],
            "qosClass": "BestEffort",
        },
    }


class FakeResponse:
    def __init__(self, data: bytes = b"") -> None:
        self.data = data

    def stream(self, *_: Any, **__: Any) -> Iterator[bytes]:
        time.sleep(0.2)  # a watch that returns nothing new
        yield from ()

    def release_conn(self) -> None:
        pass


class FakePodList:
    """A list function answering pages of realistic pods, built page by page like a server."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __call__(self, *_: Any, watch: bool = False, **kwargs: Any) -> FakeResponse:
        if watch:
            return FakeResponse()
        start = int(kwargs.get("_continue") or 0)
        end = min(self.count, start + int(kwargs.get("limit") or self.count))
        meta: dict[str, Any] = {"resourceVersion": "999999"}
        if end < self.count:
            meta["continue"] = str(end)
        items = [realistic_pod(i) for i in range(start, end)]
        return FakeResponse(json.dumps({"metadata": meta, "items": items}).encode())


def measure(variant: str, source: str, pods: int) -> dict[str, Any]:
    """One variant in this process: list into the informer, then learn; what RSS did."""
    from kubernetes import client  # imported before measuring: its cost is not the cache's

    from showtime.cluster.informer import Informer, wait_synced
    from showtime.core.leadtime import StartupMemory
    from showtime.core.podstartup import slim_pod

    list_fn: Any
    args: tuple[Any, ...] = ()
    if source == "fake":
        list_fn = FakePodList(pods)
    else:
        from showtime.cluster.kube import load_kube_config

        load_kube_config()
        list_fn = client.CoreV1Api().list_namespaced_pod
        args = (source.removeprefix("cluster:"),)
    transform = slim_pod if variant == "slim" else None
    list_fn(*args, limit=1, _preload_content=False)  # connection and TLS set up: not the cache
    before = rss_mib()
    informer = Informer("pods", list_fn, *args, transform=transform)
    began = time.perf_counter()
    informer.start()
    synced = wait_synced([informer], timeout=600)
    listed = time.perf_counter() - began
    items = informer.items()
    cached = rss_mib()
    began = time.perf_counter()
    memory = StartupMemory().observe(items, datetime.now(UTC))
    first_observe = time.perf_counter() - began
    began = time.perf_counter()
    memory = memory.observe(items, datetime.now(UTC))
    next_observe = time.perf_counter() - began
    informer.stop()
    learned = rss_mib()
    return {
        "variant": variant,
        "synced": synced,
        "pods": len(items),
        "workloads_learned": len(memory.samples),
        "list_seconds": round(listed, 2),
        "first_observe_ms": round(first_observe * 1000),
        "next_observe_ms": round(next_observe * 1000),
        "rss_before_mib": round(before, 1),
        "rss_cached_mib": round(cached, 1),
        "rss_after_learning_mib": round(learned, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "bytes_per_pod": round((cached - before) * 1024 * 1024 / max(1, len(items))),
    }


def run_variants(source: str, pods: int) -> list[dict[str, Any]]:
    results = []
    for variant in ("slim", "full"):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.pod_cache",
                "--measure",
                variant,
                "--source",
                source,
                "--pods",
                str(pods),
            ],
            capture_output=True,
            text=True,
            timeout=900,
            check=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(result)
        label = "slim_pod" if variant == "slim" else "without transform (managedFields dropped)"
        print(
            f"{label}: {result['pods']} pods listed in {result['list_seconds']}s; RSS "
            f"{result['rss_before_mib']} MiB before, {result['rss_cached_mib']} MiB cached, "
            f"{result['rss_after_learning_mib']} MiB after learning, peak "
            f"{result['peak_rss_mib']} MiB; {result['bytes_per_pod']} bytes per pod; "
            f"observe {result['first_observe_ms']} ms first, {result['next_observe_ms']} ms after"
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cluster", action="store_true", help="create the pods on KUBECONFIG")
    parser.add_argument("--pods", type=int, default=PODS, help="how many pods (default 20000)")
    parser.add_argument("--measure", choices=["slim", "full"], help=argparse.SUPPRESS)
    parser.add_argument("--source", default="fake", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.source, args.pods)))
        return
    if args.cluster:
        from benchmarks.pod_fleet import PodFleet

        with PodFleet(args.pods) as fleet:
            print(f"cluster: {fleet.describe()}")
            results = run_variants(f"cluster:{fleet.namespace}", args.pods)
    else:
        print(f"fake list: {args.pods} realistic kwok pods, in pages of 500 (no cluster)")
        results = run_variants("fake", args.pods)
    print(json.dumps({r["variant"]: r for r in results}))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
