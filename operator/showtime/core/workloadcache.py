"""What of a Deployment or StatefulSet the operator keeps in its cache: ``slim_workload``.

The informer stores thousands of workloads (5,000 in the scale drill R6); a Deployment as
the API server returns it is about 15 KB in memory, most of it its pod template's
containers (image, environment, probes, ports, volume mounts) and status conditions,
which no decision reads. Kept, still shaped like the workload:

* ``metadata`` without ``managedFields`` and kubectl's last-applied-configuration;
* ``spec`` whole except the pod template, whose ``metadata`` keeps only its labels and
  whose ``spec`` keeps everything but ``volumes``, with each container cut to ``name``,
  ``resources`` (and an init container's ``restartPolicy``): what ``gather`` reads
  (replicas, podManagementPolicy) and what node-capacity placeholders copy
  (``placeholders``: requests, overhead, scheduling fields, the template's labels);
* ``status`` without ``conditions``.

Pure: returns a new dict and never changes the one given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_CONTAINER_FIELDS = ("name", "resources")
_INIT_CONTAINER_FIELDS = ("name", "resources", "restartPolicy")


def _containers(found: Any, fields: tuple[str, ...]) -> Any:
    if not isinstance(found, list):
        return found
    return [{k: c[k] for k in fields if k in c} if isinstance(c, Mapping) else c for c in found]


def _template(template: Any) -> Any:
    if not isinstance(template, Mapping):
        return template
    slim: dict[str, Any] = {}
    meta = template.get("metadata")
    if isinstance(meta, Mapping) and "labels" in meta:
        slim["metadata"] = {"labels": meta["labels"]}
    spec = template.get("spec")
    if isinstance(spec, Mapping):
        pod = {k: v for k, v in spec.items() if k != "volumes"}
        if "containers" in pod:
            pod["containers"] = _containers(pod["containers"], _CONTAINER_FIELDS)
        if "initContainers" in pod:
            pod["initContainers"] = _containers(pod["initContainers"], _INIT_CONTAINER_FIELDS)
        slim["spec"] = pod
    return slim


def slim_workload(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A Deployment or StatefulSet cut down to what the operator reads (module docstring)."""
    slim: dict[str, Any] = dict(obj)
    meta = obj.get("metadata")
    if isinstance(meta, Mapping):
        kept = {k: v for k, v in meta.items() if k != "managedFields"}
        annotations = kept.get("annotations")
        if isinstance(annotations, Mapping) and LAST_APPLIED in annotations:
            kept["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
        slim["metadata"] = kept
    spec = obj.get("spec")
    if isinstance(spec, Mapping):
        slim["spec"] = (
            {**spec, "template": _template(spec["template"])} if "template" in spec else dict(spec)
        )
    status = obj.get("status")
    if isinstance(status, Mapping):
        slim["status"] = {k: v for k, v in status.items() if k != "conditions"}
    return slim
