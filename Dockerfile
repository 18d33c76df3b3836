# syntax=docker/dockerfile:1
# Showtime operator image.
#
#   docker build -t showtime:dev .
#   kind load docker-image showtime:dev --name showtime   # or push to your registry
#   kubectl apply --server-side -k deploy/
#
# Stage 1 builds wheels (Showtime's and its dependencies') and installs them into a
# virtualenv; stage 2 is the slim Python image plus that virtualenv, run as a non-root
# user. The final image has no compiler, no pip cache and no source tree.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Only what the wheel needs (see .dockerignore): metadata, README, the package.
COPY pyproject.toml README.md ./
COPY operator/showtime ./operator/showtime
RUN python -m pip wheel --wheel-dir /wheels . \
 && python -m venv /opt/showtime \
 && /opt/showtime/bin/python -m pip install --no-index --find-links /wheels showtime \
 && /opt/showtime/bin/python -m pip uninstall --yes pip \
 && /opt/showtime/bin/showtime --help >/dev/null

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="showtime" \
      org.opencontainers.image.description="Kubernetes operator that pre-warms workloads ahead of known traffic bursts" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/showtime/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=builder /opt/showtime /opt/showtime
# 65532: the conventional "nonroot" uid/gid; numeric so that runAsNonRoot can verify it.
USER 65532:65532
# 9102: the operator's Prometheus metrics; 8080: kopf's liveness endpoint (/healthz).
EXPOSE 9102 8080
ENTRYPOINT ["showtime"]
CMD ["run"]
