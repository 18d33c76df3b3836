"""deploy/ without a cluster: every file the kustomization names exists, the RBAC has no
wildcards and no verb the operator never uses, the two replicas elect a leader with a Lease
they alone may touch, and the Deployment's SHOWTIME_* settings are ones the operator knows
and accepts. ``tests/e2e/test_deploy.py`` applies it for real.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from showtime.core.placeholders import PRIORITY_CLASS
from showtime.shell.settings import Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"


def documents() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for entry in kustomization["resources"]:
        path = (DEPLOY / entry).resolve()
        if path.is_dir():  # a kustomization of its own (the CRD in crds/)
            inner = yaml.safe_load((path / "Kustomization").read_text())
            files = [path / name for name in inner["resources"]]
        else:
            files = [path]
        for file in files:
            docs += [d for d in yaml.safe_load_all(file.read_text()) if d]
    return docs


def one(kind: str) -> dict[str, Any]:
    (doc,) = [d for d in documents() if d["kind"] == kind]
    return doc


def test_the_base_has_what_an_operator_install_needs() -> None:
    kinds = sorted(d["kind"] for d in documents())
    assert kinds == sorted(
        [
            "CustomResourceDefinition",
            "Namespace",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Deployment",
            "PodDisruptionBudget",
            "Service",
            "PriorityClass",
        ]
    )
    crd = one("CustomResourceDefinition")
    assert crd["metadata"]["name"] == "trafficevents.showtime.dev"
    cluster_scoped = {
        "CustomResourceDefinition",
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "PriorityClass",
    }
    for doc in documents():
        if doc["kind"] not in cluster_scoped:
            assert doc["metadata"]["namespace"] == "showtime-system", doc["kind"]


# Everything the operator may do (operator/showtime/kube.py, handlers.py, kopf).
ALLOWED = {
    ("showtime.dev", "trafficevents"): {"list", "watch", "patch"},
    ("showtime.dev", "trafficevents/status"): {"patch"},
    ("apps", "deployments"): {"list", "watch", "patch", "create", "delete"},  # + placeholders
    ("apps", "statefulsets"): {"list", "watch", "patch"},
    ("autoscaling", "horizontalpodautoscalers"): {"list", "watch", "patch"},
    ("", "pods"): {"list", "watch"},
    ("", "events"): {"create", "patch"},
    ("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"},
    # Node capacity pre-warm: CapacityBuffers where served, and nodes for the node lead time.
    ("autoscaling.x-k8s.io", "capacitybuffers"): {"list", "watch", "create", "patch", "delete"},
    ("", "nodes"): {"list", "watch"},
}


def test_the_placeholders_priority_class_lets_real_pods_and_cluster_autoscaler_in() -> None:
    priority = one("PriorityClass")
    assert priority["metadata"]["name"] == PRIORITY_CLASS  # what the placeholder pods name
    assert -10 < priority["value"] < 0  # above CA's expendable cutoff, below every real pod
    assert priority["preemptionPolicy"] == "Never"
    assert priority["globalDefault"] is False


def test_rbac_is_least_privilege() -> None:
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in one("ClusterRole")["rules"]:
        assert set(rule) <= {"apiGroups", "resources", "verbs"}, "no resourceNames/URLs"
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                assert "*" not in (group, resource, *rule["verbs"]), rule
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    assert granted == ALLOWED
    binding = one("ClusterRoleBinding")
    assert binding["roleRef"]["name"] == one("ClusterRole")["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "showtime", "namespace": "showtime-system"}
    ]


def test_leader_election_may_touch_its_own_lease_and_nothing_else() -> None:
    role, binding = one("Role"), one("RoleBinding")
    assert role["metadata"]["namespace"] == "showtime-system"  # a Role: this namespace only
    granted = {
        (tuple(rule["resources"]), tuple(rule.get("resourceNames", ())), tuple(rule["verbs"]))
        for rule in role["rules"]
    }
    assert all(rule["apiGroups"] == ["coordination.k8s.io"] for rule in role["rules"])
    # create cannot be limited to a name; reading and renewing are, to the Lease of the env.
    (container,) = one("Deployment")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    lease = env["SHOWTIME_LEASE_NAME"]
    assert granted == {(("leases",), (), ("create",)), (("leases",), (lease,), ("get", "update"))}
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "showtime", "namespace": "showtime-system"}
    ]


def test_two_replicas_on_different_nodes_and_one_disrupted_at_a_time() -> None:
    spec = one("Deployment")["spec"]
    assert spec["replicas"] == 2
    # A rollout starts the new pod before it stops an old one (which hands its Lease over).
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    labels = spec["template"]["metadata"]["labels"]
    (term,) = spec["template"]["spec"]["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"].items() <= labels.items()
    budget = one("PodDisruptionBudget")["spec"]
    assert budget["maxUnavailable"] == 1
    assert budget["selector"]["matchLabels"] == spec["selector"]["matchLabels"]


def test_the_deployment_runs_hardened_replicas() -> None:
    deployment = one("Deployment")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == "showtime"
    assert pod["automountServiceAccountToken"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    assert container["image"] == "showtime:dev"
    assert container["imagePullPolicy"] == "IfNotPresent"
    hardening = container["securityContext"]
    assert hardening["readOnlyRootFilesystem"] is True
    assert hardening["allowPrivilegeEscalation"] is False
    assert hardening["capabilities"] == {"drop": ["ALL"]}
    assert {"requests", "limits"} <= set(container["resources"])
    probe = container["livenessProbe"]["httpGet"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert probe["path"] == "/healthz"
    assert ports[probe["port"]] == 8080
    service = one("Service")
    (port,) = service["spec"]["ports"]
    assert (port["name"], port["port"], ports[port["targetPort"]]) == ("metrics", 9102, 9102)
    assert service["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items()


def test_the_deployment_settings_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    (container,) = one("Deployment")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    # The operator's identity for kopf comes from its pod (the uid has no passwd entry).
    downward = {
        e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"]
        for e in container["env"]
        if "valueFrom" in e
    }
    assert downward == {
        "SHOWTIME_POD_NAME": "metadata.name",
        "SHOWTIME_POD_NAMESPACE": "metadata.namespace",
    }
    known = {f"SHOWTIME_{name.upper()}" for name in Settings.model_fields}
    assert set(env) | set(downward) <= known, set(env) - known
    for name in known:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SHOWTIME_POD_NAME", "showtime-7d4b9c-x2x9q")  # the downward API's
    monkeypatch.setenv("SHOWTIME_POD_NAMESPACE", "showtime-system")
    settings = load_settings()
    assert settings.elect_leader
    assert (settings.lease_home, settings.lease_name) == ("showtime-system", "showtime")
    assert settings.namespace is None, "deployed cluster-wide, as the ClusterRole grants"
    assert settings.log_format == "json"
    assert (settings.metrics_address, settings.metrics_port) == ("0.0.0.0", 9102)
    assert (settings.liveness_address, settings.liveness_port) == ("0.0.0.0", 8080)
    assert settings.prometheus_url.startswith("http://")
