"""charts/showtime without a cluster: ``helm lint``, ``helm template`` with the default and
with every option on (tests/e2e/test_helm.py applies both to the API server), and the
chart's copies of the CRD, dashboard and alerts generated from their single sources.

helm is built from its Go module the first time (``hack/build-helm.sh``; a few minutes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
import yaml

from showtime.shell.settings import Settings, load_settings
from tests.support.helm import CHART, FULL_VALUES, documents, helm, helm_binary, render
from tests.support.operator import REPO_ROOT


@pytest.fixture(scope="session", autouse=True)
def built_helm() -> None:
    helm_binary()


def by_kind(docs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    kinds: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        kinds.setdefault(doc["kind"], []).append(doc)
    return kinds


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = by_kind(docs)["Deployment"]
    (operator,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(operator)


def plain_env(operator: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in operator["env"] if "value" in e}


@pytest.fixture
def environ_cleared(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("SHOWTIME_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_the_chart_lints_with_the_default_and_the_full_values() -> None:
    helm("lint", str(CHART), "--strict")
    helm("lint", str(CHART), "--strict", "--values", str(FULL_VALUES))


def test_the_copies_in_the_chart_are_generated_from_their_single_sources() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "hack" / "sync-chart.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    chart_crd = yaml.safe_load((CHART / "crds" / "trafficevent.yaml").read_text())
    assert chart_crd == yaml.safe_load((REPO_ROOT / "crds" / "trafficevent.yaml").read_text())


def test_the_default_install_is_the_operator_with_least_privilege_and_nothing_else() -> None:
    docs = documents(render())
    kinds = by_kind(docs)
    assert sorted(kinds) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "Deployment",
        "PodDisruptionBudget",
        "PriorityClass",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
    ]
    (deployment,) = kinds["Deployment"]
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == kinds["ServiceAccount"][0]["metadata"]["name"]
    (binding,) = kinds["ClusterRoleBinding"]
    assert binding["subjects"][0]["name"] == pod["serviceAccountName"]
    env = plain_env(container(docs))
    assert "SHOWTIME_NAMESPACE" not in env  # every namespace, like deploy/
    assert env["SHOWTIME_LOG_FORMAT"] == "json"
    # The same rules as the kustomize base, nothing more.
    base_role = next(
        d
        for d in yaml.safe_load_all((REPO_ROOT / "deploy" / "rbac.yaml").read_text())
        if d["kind"] == "ClusterRole"
    )
    assert kinds["ClusterRole"][0]["rules"] == base_role["rules"]


def test_two_replicas_elect_a_leader_with_a_lease_of_their_own() -> None:
    docs = documents(render(release="showtime", namespace="ops"))
    kinds = by_kind(docs)
    (deployment,) = kinds["Deployment"]
    spec = deployment["spec"]
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    env = plain_env(container(docs))
    assert env["SHOWTIME_LEADER_ELECTION"] == "true"
    lease = env["SHOWTIME_LEASE_NAME"]
    assert (env["SHOWTIME_LEASE_DURATION"], env["SHOWTIME_RENEW_DEADLINE"]) == ("15s", "10s")
    assert env["SHOWTIME_RETRY_PERIOD"] == "2s"
    # The Lease, and only it, in the release's namespace: a Role, not a ClusterRole.
    (role,) = kinds["Role"]
    assert role["metadata"]["namespace"] == "ops"
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [lease],
            "verbs": ["get", "update"],
        },
    ]
    (binding,) = kinds["RoleBinding"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"][0]["name"] == spec["template"]["spec"]["serviceAccountName"]
    # On different nodes if it can be, and a drain takes one at a time.
    (term,) = spec["template"]["spec"]["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    assert (
        term["podAffinityTerm"]["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"]
    )
    (budget,) = kinds["PodDisruptionBudget"]
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"] == spec["selector"]["matchLabels"]


def test_without_leader_election_no_lease_rights() -> None:
    off = ("--set", "leaderElection.enabled=false")
    kinds = by_kind(documents(render(*off)))
    assert "Role" not in kinds
    assert plain_env(container(documents(render(*off))))["SHOWTIME_LEADER_ELECTION"] == "false"


def test_the_placeholder_priority_class_is_deploys_and_can_be_left_out() -> None:
    (priority,) = by_kind(documents(render()))["PriorityClass"]
    base = yaml.safe_load((REPO_ROOT / "deploy" / "priorityclass.yaml").read_text())
    for field in ("value", "preemptionPolicy", "globalDefault"):
        assert priority[field] == base[field], field
    assert priority["metadata"]["name"] == base["metadata"]["name"]
    without = by_kind(documents(render("--set", "nodeCapacity.priorityClass.create=false")))
    assert "PriorityClass" not in without


def test_the_default_settings_are_ones_the_operator_accepts(
    environ_cleared: pytest.MonkeyPatch,
) -> None:
    for name, value in plain_env(container(documents(render()))).items():
        environ_cleared.setenv(name, value)
    environ_cleared.setenv("SHOWTIME_POD_NAMESPACE", "ops")  # the downward API's
    settings: Settings = load_settings()
    assert settings.tick.total_seconds() == 10
    assert settings.metrics_address == "0.0.0.0"
    assert settings.elect_leader
    assert settings.lease_home == "ops"


def test_every_option_reaches_the_objects(environ_cleared: pytest.MonkeyPatch) -> None:
    docs = documents(render("--values", str(FULL_VALUES)))
    kinds = by_kind(docs)
    for kind in ("ServiceMonitor", "PodMonitor", "PrometheusRule", "PodDisruptionBudget"):
        assert kind in kinds, kind
    operator = container(docs)
    assert operator["image"] == "registry.example.com/showtime:v0.1.0"
    env = plain_env(operator)
    assert env["SHOWTIME_NAMESPACE"] == "live"
    assert env["SHOWTIME_PROMETHEUS_URL"] == "http://prometheus.monitoring.svc:9090"
    assert env["SHOWTIME_LOG_LEVEL"] == "DEBUG"
    assert env["SHOWTIME_TICK"] == "15s"
    for name, value in env.items():
        environ_cleared.setenv(name, value)
    assert load_settings().namespace == "live"
    pod = kinds["Deployment"][0]["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert kinds["Deployment"][0]["spec"]["replicas"] == 3
    assert (env["SHOWTIME_LEASE_NAME"], env["SHOWTIME_LEASE_DURATION"]) == ("showtime-ops", "20s")
    election = load_settings()
    assert (election.renew_deadline.total_seconds(), election.retry_period.total_seconds()) == (
        12,
        3,
    )
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["tolerations"][0]["key"] == "dedicated"
    assert "nodeAffinity" in pod["affinity"]
    # Watching one namespace, kopf checks that it exists.
    rules = kinds["ClusterRole"][0]["rules"]
    assert {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]} in rules
    # The alerts select the configured job and compare with the configured tick.
    rule = kinds["PrometheusRule"][0]
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    exprs = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert any('up{job="showtime-operator"}' in e for e in exprs)
    assert any("> 15  # the tick interval" in e for e in exprs)
    assert not any('job="showtime"' in e for e in exprs)
    # The dashboard is the repository's, labelled for Grafana's sidecar.
    (dashboard,) = [d for d in kinds["ConfigMap"] if "grafana_dashboard" in d["metadata"]["labels"]]
    assert dashboard["metadata"]["annotations"]["grafana_folder"] == "Platform"
    shipped = json.loads(dashboard["data"]["showtime.json"])
    source = json.loads((REPO_ROOT / "deploy" / "monitoring" / "dashboard.json").read_text())
    assert shipped == source
    for monitor in kinds["ServiceMonitor"] + kinds["PodMonitor"]:
        assert monitor["spec"]["jobLabel"] == "app.kubernetes.io/name"
