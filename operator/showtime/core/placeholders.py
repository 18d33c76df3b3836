"""The objects that reserve node capacity, as plain data: placeholder Deployments and buffers.

``placeholder_deployment`` builds a Deployment of pause pods standing in for the pods a
target's floor will add: the same resource requests as the scheduler counts them for the
target's pod template (``pod_requests``), its nodeSelector, affinity, tolerations,
topologySpreadConstraints, schedulerName and runtimeClassName, and the negative
PriorityClass ``showtime-placeholder``, so real pods preempt them. A label selector in
those constraints that selects the target's own pods (a spread or anti-affinity "one per
zone") is rewritten to select the placeholders instead: a placeholder then spreads like
the pod it stands in for, among the other placeholders. ``capacity_buffer`` builds an
``autoscaling.x-k8s.io/v1beta1`` CapacityBuffer that points at the target itself.

Every object carries Showtime's labels (how an operator, restarted or not, finds what it
owns), a deterministic name, and an ownerReference to its TrafficEvent, so deleting the
event garbage-collects it even with no operator running. Deciding when and how many lives
in ``nodecapacity``; sending them in the shell. Pure.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "showtime"
PLACEHOLDER_FOR = "showtime.dev/placeholder-for"  # the target's name
EVENT_LABEL = "showtime.dev/event"  # the TrafficEvent's name
POD_LABEL = "showtime.dev/placeholder"  # on the pods: the placeholder Deployment's name
TARGET_KIND = "showtime.dev/target-kind"  # annotation: Deployment | StatefulSet
SHAPE_HASH = "showtime.dev/shape-hash"  # annotation: hash of everything but the count
PRIORITY_CLASS = "showtime-placeholder"
DEFAULT_IMAGE = "registry.k8s.io/pause:3.10"
BUFFER_GROUP = "autoscaling.x-k8s.io"
BUFFER_VERSION = "v1beta1"
BUFFER_PLURAL = "capacitybuffers"
BUFFER_KIND = "CapacityBuffer"
DEPLOYMENT = "Deployment"
EVENT_API_VERSION = "showtime.dev/v1alpha1"
MAX_NAME = 63
_COPIED_FIELDS = ("nodeSelector", "affinity", "tolerations", "schedulerName", "runtimeClassName")


@dataclass(frozen=True)
class Owner:
    """The TrafficEvent a reservation belongs to."""

    namespace: str
    name: str
    uid: str


def _digest(*parts: str, size: int = 8) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:size]


def object_name(event: str, kind: str, target: str) -> str:
    """``<event>-<target>-<hash>``, at most 63 characters, a valid DNS label."""
    suffix = _digest(event, kind, target)
    stem = re.sub(r"[^a-z0-9-]", "-", f"{event}-{target}".lower())
    stem = stem[: MAX_NAME - len(suffix) - 1].strip("-") or "showtime"
    return f"{stem}-{suffix}"


def label_value(text: str) -> str:
    """A label value for a name: itself if it fits in 63 characters, else cut and hashed."""
    if len(text) <= MAX_NAME and re.fullmatch(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]", text):
        return text
    cut = re.sub(r"[^A-Za-z0-9_.-]", "-", text)[: MAX_NAME - 9].strip("-_.") or "x"
    return f"{cut}-{_digest(text)}"


# -- requests as the scheduler counts them -----------------------------------------------

_SUFFIXES = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
    "Pi": Fraction(2**50),
    "Ei": Fraction(2**60),
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eE][+-]?[0-9]+|[a-zA-Z]*)$")


def parse_quantity(value: Any) -> Fraction:
    """A Kubernetes quantity (``100m``, ``1.5Gi``, ``2e3``, ``4``) as an exact number."""
    if isinstance(value, bool):
        raise ValueError(f"not a quantity: {value!r}")
    if isinstance(value, int | float):
        return Fraction(value)
    return _parse_text(str(value))


@functools.lru_cache(maxsize=1024)
def _parse_text(value: str) -> Fraction:
    """A quantity written as text; cached (a cluster writes the same few over and over)."""
    found = _QUANTITY.match(value.strip())
    if found is None:
        raise ValueError(f"not a quantity: {value!r}")
    number, suffix = Fraction(found.group(1)), found.group(2)
    if suffix[:1] in ("e", "E"):
        return number * Fraction(10) ** int(suffix[1:])
    if suffix not in _SUFFIXES:
        raise ValueError(f"unknown quantity suffix in {value!r}")
    return number * _SUFFIXES[suffix]


def format_quantity(name: str, amount: Fraction) -> str:
    """CPU in millicores (rounded up), anything else whole when it is, else in milli-units."""
    if name == "cpu" or amount.denominator != 1:
        return f"{math.ceil(amount * 1000)}m"
    return str(amount.numerator)


def _requests_of(container: Mapping[str, Any]) -> dict[str, Fraction]:
    resources = container.get("resources") or {}
    # A container with limits but no requests is given requests equal to its limits.
    found = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    return {name: parse_quantity(value) for name, value in found.items()}


def _add(total: dict[str, Fraction], more: Mapping[str, Fraction]) -> None:
    for name, amount in more.items():
        total[name] = total.get(name, Fraction(0)) + amount


def pod_requests(pod_spec: Mapping[str, Any]) -> dict[str, Fraction]:
    """What the scheduler reserves for a pod of this spec, per resource.

    The larger of: the regular containers plus every sidecar (an init container with
    ``restartPolicy: Always``); and for each other init container, its own requests plus
    the sidecars started before it. Plus the pod's ``overhead`` when the template has one.
    """
    sidecars: dict[str, Fraction] = {}
    init_peak: dict[str, Fraction] = {}
    for container in pod_spec.get("initContainers") or []:
        own = _requests_of(container)
        if container.get("restartPolicy") == "Always":
            _add(sidecars, own)
            continue
        running = dict(sidecars)
        _add(running, own)
        for name, amount in running.items():
            init_peak[name] = max(init_peak.get(name, Fraction(0)), amount)
    total = dict(sidecars)
    for container in pod_spec.get("containers") or []:
        _add(total, _requests_of(container))
    for name, amount in init_peak.items():
        total[name] = max(total.get(name, Fraction(0)), amount)
    _add(total, {k: parse_quantity(v) for k, v in (pod_spec.get("overhead") or {}).items()})
    return {name: amount for name, amount in total.items() if amount > 0}


# -- label selectors -------------------------------------------------------------------------


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether a metav1.LabelSelector matches ``labels`` (an empty selector matches all)."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, op = expression.get("key"), expression.get("operator")
        values = expression.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _rewritten(
    terms: Iterable[Mapping[str, Any]], own: Mapping[str, str], mine: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Pod (anti-)affinity terms or spread constraints; selectors of ``own`` pods -> ``mine``."""
    result = []
    for term in terms:
        changed = dict(term)
        inner = changed.get("podAffinityTerm")
        if isinstance(inner, Mapping):  # a weighted term
            changed["podAffinityTerm"] = _rewritten([inner], own, mine)[0]
        elif selects(changed.get("labelSelector"), own):
            changed["labelSelector"] = copy.deepcopy(dict(mine))
            changed.pop("matchLabelKeys", None)  # keys of the target's pods, e.g. its hash
            changed.pop("mismatchLabelKeys", None)
        result.append(changed)
    return result


def _scheduling(template: Mapping[str, Any], selector: Mapping[str, Any]) -> dict[str, Any]:
    """The target's scheduling constraints, with selectors of its own pods rewritten."""
    spec = template.get("spec") or {}
    own = (template.get("metadata") or {}).get("labels") or {}
    copied = {k: copy.deepcopy(spec[k]) for k in _COPIED_FIELDS if spec.get(k) is not None}
    spread = spec.get("topologySpreadConstraints")
    if spread:
        copied["topologySpreadConstraints"] = _rewritten(spread, own, selector)
    affinity = copied.get("affinity") or {}
    for kind in ("podAffinity", "podAntiAffinity"):
        rules = affinity.get(kind)
        if not isinstance(rules, dict):
            continue
        for field in (
            "requiredDuringSchedulingIgnoredDuringExecution",
            "preferredDuringSchedulingIgnoredDuringExecution",
        ):
            if rules.get(field):
                rules[field] = _rewritten(rules[field], own, selector)
    return copied


# -- the objects -----------------------------------------------------------------------------


def _labels(owner: Owner, target: str) -> dict[str, str]:
    return {
        MANAGED_BY: MANAGER,
        PLACEHOLDER_FOR: label_value(target),
        EVENT_LABEL: label_value(owner.name),
    }


def _owner_reference(owner: Owner) -> dict[str, Any]:
    return {
        "apiVersion": EVENT_API_VERSION,
        "kind": "TrafficEvent",
        "name": owner.name,
        "uid": owner.uid,
        "blockOwnerDeletion": False,
    }


def _shape_hash(body: Mapping[str, Any]) -> str:
    return _digest(json.dumps(body, sort_keys=True, separators=(",", ":")), size=16)


def placeholder_deployment(
    owner: Owner,
    target_kind: str,
    target: str,
    template: Mapping[str, Any],
    replicas: int,
    *,
    image: str = DEFAULT_IMAGE,
) -> dict[str, Any]:
    """A Deployment of ``replicas`` pause pods shaped like the target's pods."""
    name = object_name(owner.name, target_kind, target)
    labels = _labels(owner, target)
    selector = {"matchLabels": {POD_LABEL: name}}
    requests = pod_requests(template.get("spec") or {})
    quantities = {k: format_quantity(k, v) for k, v in sorted(requests.items())}
    pod_spec: dict[str, Any] = {
        **_scheduling(template, selector),
        "priorityClassName": PRIORITY_CLASS,
        "terminationGracePeriodSeconds": 0,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "containers": [
            {
                "name": "placeholder",
                "image": image,
                # Limits equal to requests: extended resources (GPUs) need them anyway.
                "resources": {"requests": quantities, "limits": dict(quantities)},
            }
        ],
    }
    shape = {
        "selector": selector,
        "strategy": {"type": "Recreate"},
        "template": {"metadata": {"labels": {**labels, POD_LABEL: name}}, "spec": pod_spec},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": DEPLOYMENT,
        "metadata": {
            "name": name,
            "namespace": owner.namespace,
            "labels": labels,
            "annotations": {TARGET_KIND: target_kind, SHAPE_HASH: _shape_hash(shape)},
            "ownerReferences": [_owner_reference(owner)],
        },
        "spec": {"replicas": replicas, **shape},
    }


def capacity_buffer(owner: Owner, target_kind: str, target: str, replicas: int) -> dict[str, Any]:
    """A CapacityBuffer of ``replicas`` pods shaped like the target's (it points at it)."""
    shape = {"scalableRef": {"apiGroup": "apps", "kind": target_kind, "name": target}}
    return {
        "apiVersion": f"{BUFFER_GROUP}/{BUFFER_VERSION}",
        "kind": BUFFER_KIND,
        "metadata": {
            "name": object_name(owner.name, target_kind, target),
            "namespace": owner.namespace,
            "labels": _labels(owner, target),
            "annotations": {TARGET_KIND: target_kind, SHAPE_HASH: _shape_hash(shape)},
            "ownerReferences": [_owner_reference(owner)],
        },
        "spec": {"replicas": replicas, **shape},
    }


def is_reservation(obj: Mapping[str, Any]) -> bool:
    """Whether an object carries Showtime's placeholder labels (so Showtime owns it)."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_BY) == MANAGER and PLACEHOLDER_FOR in labels
