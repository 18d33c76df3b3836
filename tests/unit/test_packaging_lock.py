"""Reproducible, conventional packaging: the hashed lock the image installs from, the
update bot's configuration, and ``crds/`` as plain manifests for ``kubectl apply -f``."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements.lock"


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes), from requirements.lock."""
    found: dict[str, tuple[str, list[str]]] = {}
    text = LOCK.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, *options = line.split()
        name, _, version = requirement.partition("==")
        assert version, f"not pinned with ==: {line}"
        hashes = [o.removeprefix("--hash=") for o in options if o.startswith("--hash=")]
        found[_normal(name)] = (version, hashes)
    return found


def test_the_lock_pins_every_runtime_dependency_with_hashes() -> None:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {_normal(re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0]) for d in deps}
    lock = locked()
    assert names <= set(lock), names - set(lock)
    for name, (_, hashes) in lock.items():
        assert hashes, f"{name} has no hash"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), name
    assert "pip-compile" in LOCK.read_text().split("\n\n", 1)[0]  # how to regenerate it


def test_the_image_installs_from_the_lock_and_checks_hashes() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "requirements.lock" in dockerfile.split("COPY pyproject.toml", 1)[1].splitlines()[0]
    installs = [line for line in dockerfile.splitlines() if "pip install" in line]
    assert any("--require-hashes -r requirements.lock" in line for line in installs), installs
    assert any("--no-deps showtime" in line for line in installs), installs  # nothing unlocked


def test_renovate_updates_python_the_actions_and_the_go_built_pins() -> None:
    config = json.loads((REPO / "renovate.json").read_text())
    managers = set(config["enabledManagers"])
    assert {"pep621", "pip-compile", "github-actions", "custom.regex"} <= managers
    assert any("requirements" in p for p in config["pip-compile"]["managerFilePatterns"])
    versions = (REPO / "hack" / "versions.sh").read_text()
    pins = set(re.findall(r'^([A-Z_]+_VERSION)="\$\{\1:-v', versions, re.MULTILINE))
    covered = {}
    for manager in config["customManagers"]:
        (pattern,) = manager["matchStrings"]
        found = re.findall(pattern.replace("(?<", "(?P<"), versions)
        assert len(found) == 1, (manager["depNameTemplate"], found)
        assert manager["datasourceTemplate"] == "go"
        covered[pattern.split("=", 1)[0]] = found[0]
    assert pins == set(covered), pins ^ set(covered)


def test_crds_holds_only_what_kubectl_apply_f_can_apply() -> None:
    # kubectl apply -f DIR reads *.json, *.yaml and *.yml; each must be a CRD.
    seen = [p for p in (REPO / "crds").iterdir() if p.suffix in (".json", ".yaml", ".yml")]
    assert seen
    for path in seen:
        kinds = [d.get("kind") for d in yaml.safe_load_all(path.read_text()) if d]
        assert kinds == ["CustomResourceDefinition"], (path.name, kinds)
