#!/usr/bin/env bash
# Lint the GitHub Actions workflows (.github/workflows) with actionlint.
# actionlint is a Go module; it is built once with `go install` into a version-keyed
# directory of the cache (hack/versions.sh: SHOWTIME_CACHE). Needs Go and the module proxy
# the first time only.
#
#   hack/actionlint.sh [workflow files...]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=hack/versions.sh
source "${HERE}/versions.sh"

ACTIONLINT_VERSION="${ACTIONLINT_VERSION:-v1.7.12}"
TOOL_DIR="${SHOWTIME_CACHE}/bin/tools/actionlint-${ACTIONLINT_VERSION}"
ACTIONLINT="${TOOL_DIR}/actionlint"

if [[ ! -x "${ACTIONLINT}" ]]; then
  command -v go >/dev/null 2>&1 ||
    { echo "actionlint: Go is not on PATH; install Go 1.22 or newer, then retry" >&2; exit 1; }
  echo "actionlint: building github.com/rhysd/actionlint ${ACTIONLINT_VERSION} into ${TOOL_DIR} (once)" >&2
  mkdir -p "${TOOL_DIR}"
  GOBIN="${TOOL_DIR}" GOFLAGS="-buildvcs=false" CGO_ENABLED=0 \
    go install "github.com/rhysd/actionlint/cmd/actionlint@${ACTIONLINT_VERSION}" >&2 ||
    { echo "actionlint: 'go install' failed; check that the Go module proxy is reachable ($(go env GOPROXY))" >&2; exit 1; }
fi

cd "${HERE}/.."
# No shellcheck/pyflakes integration: run-steps are checked by actionlint's own rules only,
# so the result does not depend on what else happens to be installed.
exec "${ACTIONLINT}" -no-color -shellcheck= -pyflakes= "$@"
