"""Writes the kwokctl configuration of the Karpenter cluster (hack/karpenter-cluster.sh).

It is the shared cluster's hack/cluster/kwok.yaml (same options, same pod stages) with the
node stages split in two, so both kinds of node are simulated:

* ``node-initialize``: nodes Karpenter did not make (the static "full" nodes) are Ready at
  once, as on the shared cluster;
* ``node-boot``: a node Karpenter made (label ``karpenter.sh/nodepool``) becomes Ready a
  settable time after it was created, like an instance booting: the annotation
  ``node-ready.stage.kwok.x-k8s.io/delay`` (milliseconds; the NodePool's template sets it)
  or 60 s. The time counts from the node's creationTimestamp, not from kwok's last look at
  it (kwok restarts a stage's delay on every update, and Karpenter updates a new node
  several times). The stage waits for Karpenter to register the node
  (``karpenter.sh/registered``), then marks it Ready and removes the startup taint
  ``showtime.dev/node-booting`` the NodePools carry, so no pod lands on a node before it
  is Ready.

Usage: python hack/karpenter/kwok-config.py hack/cluster/kwok.yaml > kwok.yaml
Nothing here is imported by Showtime or its tests.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

import yaml

BOOT_TAINT = "showtime.dev/node-booting"
DELAY_ANNOTATION = "node-ready.stage.kwok.x-k8s.io/delay"
DEFAULT_DELAY_MS = 60000
KARPENTER_NODE = '.metadata.labels["karpenter.sh/nodepool"]'

# RFC 3339 time at which the node is due Ready: creationTimestamp + the annotation's delay.
READY_AT = (
    f'(.metadata.annotations["{DELAY_ANNOTATION}"] // "{DEFAULT_DELAY_MS}" | tostring '
    '| if test("^[0-9]+$") then tonumber / 1000 | floor else 60 end) as $delay '
    "| .metadata.creationTimestamp | fromdateiso8601 + $delay | todateiso8601"
)

# The conditions' lastTransitionTime: the shared cluster's stages say "since creation"; a
# booting node's Ready is since the moment it became Ready (what Showtime's node lead time
# learns from), and a heartbeat keeps the time Ready was reached.
SINCE_CREATION = "{{ $lastTransitionTime := or .metadata.creationTimestamp $now }}"
SINCE_NOW = "{{ $lastTransitionTime := $now }}"
KEEP_READY_SINCE = (
    '\n{{ range .status.conditions }}{{ if eq .type "Ready" }}'
    "{{ $lastTransitionTime = .lastTransitionTime }}{{ end }}{{ end }}"
)

# The node's taints without the boot taint (null when none is left: the field goes).
TAINTS_WITHOUT_BOOT = f"""taints:
{{{{ range .spec.taints }}}}{{{{ if ne .key "{BOOT_TAINT}" }}}}
- key: {{{{ .key | Quote }}}}
  effect: {{{{ .effect | Quote }}}}
  {{{{ with .value }}}}value: {{{{ . | Quote }}}}{{{{ end }}}}
{{{{ end }}}}{{{{ end }}}}
"""


def split_node_stages(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for doc in documents:
        if doc.get("kind") == "Stage" and doc["metadata"]["name"] == "node-heartbeat-with-lease":
            next_ = doc["spec"]["next"]
            next_["statusTemplate"] = next_["statusTemplate"].replace(
                SINCE_CREATION, SINCE_CREATION + KEEP_READY_SINCE
            )
        if doc.get("kind") != "Stage" or doc["metadata"]["name"] != "node-initialize":
            out.append(doc)
            continue
        static = copy.deepcopy(doc)
        static["spec"]["selector"]["matchExpressions"].append(
            {"key": KARPENTER_NODE, "operator": "DoesNotExist"}
        )
        boot = copy.deepcopy(doc)
        boot["metadata"]["name"] = "node-boot"
        boot["spec"]["selector"]["matchExpressions"] += [
            {"key": KARPENTER_NODE, "operator": "Exists"},
            {
                "key": '.metadata.labels["karpenter.sh/registered"]',
                "operator": "In",
                "values": ["true"],
            },
        ]
        boot["spec"]["delay"] = {
            "durationMilliseconds": DEFAULT_DELAY_MS,
            "durationFrom": {"jq": {"expression": READY_AT}},
        }
        status_template = (
            boot["spec"]["next"].pop("statusTemplate").replace(SINCE_CREATION, SINCE_NOW)
        )
        boot["spec"]["next"]["patches"] = [
            {"subresource": "status", "root": "status", "template": status_template},
            {"root": "spec", "template": TAINTS_WITHOUT_BOOT},
        ]
        out += [static, boot]
    templates = [str(d["spec"].get("next", {})) for d in out if d.get("kind") == "Stage"]
    if not any(d.get("metadata", {}).get("name") == "node-boot" for d in out) or (
        sum(SINCE_CREATION in t for t in templates) != 2
    ):
        raise SystemExit("kwok-config: hack/cluster/kwok.yaml's node stages changed; update me")
    return out


class BlockStrings(yaml.SafeDumper):
    """Multi-line strings (the templates) as ``|`` blocks, as in the source file."""


BlockStrings.add_representer(
    str,
    lambda dumper, text: dumper.represent_scalar(
        "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None
    ),
)


def main() -> None:
    with open(sys.argv[1]) as source:
        documents = [d for d in yaml.safe_load_all(source) if d]
    print("# Generated by hack/karpenter/kwok-config.py from " + sys.argv[1])
    yaml.dump_all(
        split_node_stages(documents), sys.stdout, Dumper=BlockStrings, sort_keys=False, width=200
    )


if __name__ == "__main__":
    main()
