"""KEDA's metrics-apiserver Service and APIService from its Go module, wired to 127.0.0.1.

What lives here: reading ``config/metrics-server/{api_service,service}.yaml`` from the
KEDA module directory and rewriting them the way kwokctl rewrites metrics-server's: the
Service becomes ``type: ExternalName`` to 127.0.0.1, the APIService points at the
adapter's local port and trusts the bench CA. Printed as YAML for ``kubectl apply``.
What does not: starting KEDA (``hack/bench-cluster.sh``) or the CRDs (applied as they are).

    python -m benchmarks.burst.keda_manifests <keda-module-dir> <ca.crt> <adapter-port>
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Any

import yaml


def rewrite(objects: list[dict[str, Any]], ca_pem: bytes, port: int) -> list[dict[str, Any]]:
    """The APIService and Service, redirected to 127.0.0.1:``port``; other kinds dropped."""
    out: list[dict[str, Any]] = []
    for obj in objects:
        spec = obj.get("spec", {})
        if obj.get("kind") == "APIService":
            spec["service"]["port"] = port
            spec["caBundle"] = base64.b64encode(ca_pem).decode()
            spec.pop("insecureSkipTLSVerify", None)
            out.append(obj)
        elif obj.get("kind") == "Service":
            for key in ("ports", "selector", "clusterIP", "clusterIPs"):
                spec.pop(key, None)
            spec["type"] = "ExternalName"
            spec["externalName"] = "127.0.0.1"
            out.append(obj)
    return out


def main(argv: list[str]) -> int:
    module, ca_file, port = Path(argv[0]), Path(argv[1]), int(argv[2])
    objects: list[dict[str, Any]] = []
    for name in ("api_service.yaml", "service.yaml"):
        text = (module / "config" / "metrics-server" / name).read_text()
        objects += [o for o in yaml.safe_load_all(text) if o]
    print(yaml.safe_dump_all(rewrite(objects, ca_file.read_bytes(), port)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
