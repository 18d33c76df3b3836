# syntax=docker/dockerfile:1
# Showtime operator image.
#
#   docker build -t showtime:dev .        # or `make image` (Docker, else buildah; hack/image.sh)
#   kind load docker-image showtime:dev --name showtime   # or push to your registry
#   kubectl apply --server-side -k deploy/
#
# Stage 1 builds wheels (Showtime's and its dependencies') and installs them into a
# virtualenv; stage 2 is the slim Python image plus that virtualenv, run as a non-root
# user. The final image has no compiler, no pip and no source tree.
ARG PYTHON_IMAGE=python:3.11-slim
# The package's version (pyproject.toml); the build fails if they differ.
ARG VERSION=0.1.0

FROM ${PYTHON_IMAGE} AS builder
ARG VERSION
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Only what the wheel needs (see .dockerignore): metadata, README, the package, and the
# lock of the runtime dependencies (requirements.lock: exact versions with hashes).
COPY pyproject.toml README.md requirements.lock ./
COPY operator/showtime ./operator/showtime
# pip reaches the package index the way the build host does when the build is given the
# host's pip configuration as secrets (hack/image.sh does): they are mounted for this RUN
# only and never land in a layer. Wheels are kept in a build cache (not in the image) and
# the index is asked only when they do not satisfy pyproject.toml (an index that sends no
# cache headers leaves pip's own HTTP cache empty).
RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=secret,id=pip.conf \
    --mount=type=secret,id=pip-ca.crt \
    if [ -s /run/secrets/pip.conf ]; then export PIP_CONFIG_FILE=/run/secrets/pip.conf; fi \
 && cached=/root/.cache/pip/wheelhouse \
 && mkdir -p "${cached}" \
 && { python -m pip wheel --no-index --find-links "${cached}" --wheel-dir /wheels --require-hashes -r requirements.lock \
      || { python -m pip wheel --find-links "${cached}" --wheel-dir "${cached}" --require-hashes -r requirements.lock \
           && python -m pip wheel --no-index --find-links "${cached}" --wheel-dir /wheels --require-hashes -r requirements.lock ; } ; } \
 && { python -m pip wheel --no-index --find-links "${cached}" --no-deps --wheel-dir /wheels . \
      || { python -m pip wheel --find-links "${cached}" --wheel-dir "${cached}" setuptools wheel \
           && python -m pip wheel --no-index --find-links "${cached}" --no-deps --wheel-dir /wheels . ; } ; } \
 && python -m venv /opt/showtime \
 && /opt/showtime/bin/python -m pip install --no-index --find-links /wheels --require-hashes -r requirements.lock \
 && /opt/showtime/bin/python -m pip install --no-index --find-links /wheels --no-deps showtime \
 && /opt/showtime/bin/python -m pip check \
 && /opt/showtime/bin/python -m pip uninstall --yes pip \
 && test "$(/opt/showtime/bin/showtime --version)" = "showtime ${VERSION}"

FROM ${PYTHON_IMAGE}
ARG VERSION
LABEL org.opencontainers.image.title="showtime" \
      org.opencontainers.image.description="Kubernetes operator that pre-warms workloads ahead of known traffic bursts" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
# MALLOC_ARENA_MAX: glibc gives each thread (informers, writes, queries) an arena of its
# own, up to 8 per CPU, and memory freed in one is not handed back to the others.
ENV PATH=/opt/showtime/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MALLOC_ARENA_MAX=2
# No pip in the final image: the base's pip, its commands and the wheels ensurepip would
# reinstall it from are removed (the operator's virtualenv has none either).
RUN site="$(python -c 'import os, pip; print(os.path.dirname(os.path.dirname(pip.__file__)))')" \
 && bundled="$(python -c 'import ensurepip, os; print(os.path.dirname(ensurepip.__file__))')" \
 && rm -rf "${site}"/pip "${site}"/pip-*.dist-info /usr/local/bin/pip* /usr/bin/pip* \
           "${bundled}"/_bundled/pip-*.whl /usr/share/python-wheels/pip-*.whl \
 && ! python -c 'import pip' 2>/dev/null
COPY --from=builder /opt/showtime /opt/showtime
# 65532: the conventional "nonroot" uid/gid; numeric so that runAsNonRoot can verify it.
# It has no passwd entry, and needs none: the operator never asks who it runs as.
USER 65532:65532
# 9102: the operator's Prometheus metrics; 8080: kopf's liveness endpoint (/healthz).
EXPOSE 9102 8080
ENTRYPOINT ["showtime"]
CMD ["run"]
