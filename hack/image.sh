#!/usr/bin/env bash
# Build the operator image from the repository's Dockerfile, as it is.
#
#   hack/image.sh            build IMAGE (default showtime:dev); the last line printed is its name
#   hack/image.sh base       only make sure the Python base image exists (buildah path)
#
# With a working Docker engine: `docker build`. Without one: buildah, daemonless
# (`buildah bud --isolation chroot`), on a Python 3.11 base made from Debian packages,
# because python:3.11-slim cannot be pulled everywhere:
#   debootstrap --variant=minbase IMAGE_BASE_SUITE + IMAGE_BASE_PACKAGES (hack/versions.sh)
#   from the Debian mirror apt already uses here, imported with `podman import`.
# The base is cached (its root filesystem as a tarball under SHOWTIME_CACHE, and the image
# in container storage), keyed by suite, packages, mirror and architecture; it is rebuilt
# only when one of those changes. pip inside the build reaches the package index the way
# this host's pip does: the host's pip settings and CA bundle go in as build secrets,
# mounted for the one RUN that needs them, never into a layer.
# Missing buildah/podman/debootstrap are installed with apt-get (as root).
#
# Settings (environment): IMAGE, SHOWTIME_IMAGE_BUILDER (docker|buildah; default: docker
# when its daemon answers), SHOWTIME_DEBIAN_MIRROR (default: from /etc/apt/sources.list*),
# PYTHON (the host Python whose pip configuration is carried, default python3),
# SHOWTIME_IMAGE_IIDFILE (write the built image's ID there: the tag may move meanwhile).
# Progress goes to stderr; stdout carries only the image name.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "${HERE}/.." && pwd)"
# shellcheck source=hack/versions.sh
source "${HERE}/versions.sh"

IMAGE="${IMAGE:-showtime:dev}"
PYTHON="${PYTHON:-python3}"
BASE_REPO="localhost/showtime-python-base"
BASE_DIR="${SHOWTIME_CACHE}/image"

log() { echo "image: $*" >&2; }
die() {
  echo "image: ERROR: $*" >&2
  exit 1
}

package_version() {
  sed -nE 's/^version = "([^"]+)"$/\1/p' "${REPO}/pyproject.toml" | head -n 1
}

docker_usable() {
  command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1
}

# apt-get install the tools named in "$@" (command:package pairs) that are missing.
ensure_tools() {
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  ((${#missing[@]} == 0)) && return 0
  local how="apt-get install -y ${missing[*]}"
  command -v apt-get >/dev/null 2>&1 ||
    die "missing ${missing[*]} and this is not a Debian/Ubuntu system; install them, or use Docker"
  ((EUID == 0)) || die "missing ${missing[*]}: install them ('sudo ${how}'), then retry"
  log "installing ${missing[*]} (apt-get, once)"
  local rc=0
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >&2 || rc=$?
  ((rc == 0)) || die "'${how}' failed (exit ${rc}); fix apt (network, sources), then retry"
}

# The first Debian archive (not -security) in apt's sources that serves the base's suite
# with component main; one-line .list entries and deb822 .sources files both count.
debian_mirror() {
  if [[ -n "${SHOWTIME_DEBIAN_MIRROR:-}" ]]; then
    echo "${SHOWTIME_DEBIAN_MIRROR}"
    return
  fi
  "${PYTHON}" - "${IMAGE_BASE_SUITE}" <<'PY'
import glob, re, sys

suite = sys.argv[1]
entries = []  # (types, uris, suites, components)
for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for line in lines:
        line = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
        if len(line) >= 4:
            entries.append(([line[0]], [line[1]], [line[2]], line[3:]))
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for stanza in re.split(r"\n\s*\n", open(path).read()):
        fields = {}
        for line in stanza.splitlines():
            if line.strip().startswith("#") or ":" not in line or line[0].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.split()
        if fields.get("enabled", ["yes"])[0].lower() == "no":
            continue
        entries.append((fields.get("types", []), fields.get("uris", []),
                        fields.get("suites", []), fields.get("components", [])))
for types, uris, suites, components in entries:
    if "deb" in types and suite in suites and "main" in components:
        for uri in uris:
            if "security" not in uri:
                print(uri.rstrip("/"))
                sys.exit(0)
sys.exit(1)
PY
}

# The Python base image (buildah path): reuse it when its inputs did not change.
ensure_base() {
  local mirror arch key tarball
  mirror="$(debian_mirror)" || true
  [[ -n "${mirror}" ]] ||
    die "no Debian mirror in /etc/apt/sources.list*; set SHOWTIME_DEBIAN_MIRROR, or build with Docker"
  arch="$(dpkg --print-architecture)"
  key="$(printf '%s\n' "${IMAGE_BASE_SUITE}" "${IMAGE_BASE_PACKAGES}" "${mirror}" "${arch}" | sha256sum | cut -c1-12)"
  BASE_IMAGE="${BASE_REPO}:${IMAGE_BASE_SUITE}-${key}"
  if buildah inspect --type image "${BASE_IMAGE}" >/dev/null 2>&1; then
    log "base ${BASE_IMAGE} (cached)"
    return
  fi
  mkdir -p "${BASE_DIR}"
  tarball="${BASE_DIR}/python-base-${IMAGE_BASE_SUITE}-${key}.tar"
  if [[ ! -s "${tarball}" ]]; then
    log "debootstrap ${IMAGE_BASE_SUITE} (${IMAGE_BASE_PACKAGES}) from ${mirror} (about a minute, once)"
    local rootfs keyring=()
    rootfs="$(mktemp -d "${BASE_DIR}/.rootfs.XXXXXX")"
    # Expand now: the trap removes this very directory. --one-file-system: never into
    # a /proc, /sys or /dev that a failed debootstrap left mounted inside it.
    # shellcheck disable=SC2064
    trap "rm -rf --one-file-system '${rootfs}' '${tarball}.tmp'" EXIT
    [[ -f /usr/share/keyrings/debian-archive-keyring.gpg ]] &&
      keyring=(--keyring /usr/share/keyrings/debian-archive-keyring.gpg)
    debootstrap --variant=minbase "${keyring[@]}" --include="${IMAGE_BASE_PACKAGES}" \
      "${IMAGE_BASE_SUITE}" "${rootfs}" "${mirror}" >"${BASE_DIR}/debootstrap.log" 2>&1 ||
      die "debootstrap failed; see ${BASE_DIR}/debootstrap.log"
    # Nothing of this host in the image: apt lists, caches, logs, resolver, hostname.
    rm -rf "${rootfs}"/var/lib/apt/lists/* "${rootfs}"/var/cache/apt/* "${rootfs}"/var/log/* \
      "${rootfs}"/debootstrap
    : >"${rootfs}/etc/resolv.conf"
    : >"${rootfs}/etc/hostname"
    tar --numeric-owner --xattrs -C "${rootfs}" -cf "${tarball}.tmp" .
    mv "${tarball}.tmp" "${tarball}"
    rm -rf --one-file-system "${rootfs}"
    trap - EXIT
  fi
  log "importing ${tarball##*/} as ${BASE_IMAGE}"
  podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    "${tarball}" "${BASE_IMAGE}" >/dev/null
}

# A pip.conf with the host's settings for reaching the index (files and PIP_* variables
# merged by pip itself), its CA bundle copied next to it; prints the CA file's path.
host_pip_config() {
  local out="$1"
  "${PYTHON}" - "${out}" <<'PY'
import ast, os, shutil, subprocess, sys

out = sys.argv[1]
listed = subprocess.run(
    [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False
).stdout
# Options about reaching the index; paths of this host (find-links, caches) stay here.
network = {"index-url", "extra-index-url", "trusted-host", "proxy", "timeout",
           "default-timeout", "retries", "cert", "client-cert", "find-links"}
settings = {}
for line in listed.splitlines():
    name, sep, value = line.partition("=")
    if not sep:
        continue
    option = name.rpartition(".")[2]
    value = ast.literal_eval(value)
    if option == "default-timeout":
        option = "timeout"
    if option == "find-links" and not value.startswith(("http://", "https://")):
        continue
    if option in network:
        settings[option] = value
ca = settings.pop("cert", "") or os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE") \
    or "/etc/ssl/certs/ca-certificates.crt"
if os.path.isfile(ca):
    shutil.copyfile(ca, out + ".ca.crt")
    settings["cert"] = "/run/secrets/pip-ca.crt"
else:
    open(out + ".ca.crt", "w").close()
client = settings.pop("client-cert", "")
if client:
    print(f"image: pip's client-cert ({client}) is not carried into the build", file=sys.stderr)
with open(out, "w") as conf:
    conf.write("[global]\n")
    for option, value in sorted(settings.items()):
        conf.write(f"{option} = {value}\n".replace("\n", "\n    ", value.count("\n")))
print(out + ".ca.crt")
PY
}

build_with_buildah() {
  ensure_tools buildah:buildah podman:podman debootstrap:debootstrap
  # One build at a time (e2e workers may each ask for the image): the others wait, then
  # find the base and the layers cached.
  mkdir -p "${BASE_DIR}"
  exec 9>"${BASE_DIR}/.build.lock"
  flock 9
  ensure_base
  local scratch ca
  scratch="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '${scratch}'" EXIT
  ca="$(host_pip_config "${scratch}/pip.conf")"
  log "buildah bud ${IMAGE} (base ${BASE_IMAGE})"
  local iid=()
  [[ -n "${SHOWTIME_IMAGE_IIDFILE:-}" ]] && iid=(--iidfile "${SHOWTIME_IMAGE_IIDFILE}")
  buildah bud --isolation chroot --layers "${iid[@]}" \
    --build-arg "PYTHON_IMAGE=${BASE_IMAGE}" \
    --build-arg "VERSION=$(package_version)" \
    --secret "id=pip.conf,src=${scratch}/pip.conf" \
    --secret "id=pip-ca.crt,src=${ca}" \
    -f "${REPO}/Dockerfile" -t "${IMAGE}" "${REPO}" >&2
  rm -rf "${scratch}"
  trap - EXIT
  log "$(buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' "${IMAGE}" | head -n 1)"
}

build_with_docker() {
  log "docker build ${IMAGE}"
  local iid=()
  [[ -n "${SHOWTIME_IMAGE_IIDFILE:-}" ]] && iid=(--iidfile "${SHOWTIME_IMAGE_IIDFILE}")
  docker build "${iid[@]}" --build-arg "VERSION=$(package_version)" -t "${IMAGE}" "${REPO}" >&2
}

builder="${SHOWTIME_IMAGE_BUILDER:-}"
if [[ -z "${builder}" ]]; then
  if docker_usable; then builder=docker; else builder=buildah; fi
fi
case "${1:-build}:${builder}" in
  build:docker) build_with_docker ;;
  build:buildah) build_with_buildah ;;
  base:*) ensure_tools buildah:buildah podman:podman debootstrap:debootstrap && ensure_base && echo "${BASE_IMAGE}" && exit 0 ;;
  *) die "usage: hack/image.sh [build|base]; SHOWTIME_IMAGE_BUILDER is docker or buildah" ;;
esac
echo "${IMAGE}"
