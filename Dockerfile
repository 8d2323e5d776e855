# syntax=docker/dockerfile:1
# Concord's container image (README, Deployment):  docker build -t concord:0.1.0 .
#
# Two stages: the first builds wheels of Concord and its dependencies (with a compiler, for
# any dependency without a prebuilt wheel on this platform); the second installs them into a
# clean python:3.11-slim with no build tools, runs as an unprivileged user and keeps its data
# in the /data volume. The entry point, concord-container, turns a StatefulSet pod's
# environment into concord-server flags; the health check PINGs and reads INFO raft.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY concord_resp ./concord_resp
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CONCORD_DIR=/data
RUN groupadd --system --gid 10001 concord \
    && useradd --system --uid 10001 --gid concord --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin concord \
    && mkdir /data \
    && chown concord:concord /data
# The wheels are mounted from the build stage, not copied: no layer keeps them.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index /wheels/*.whl
USER 10001:10001
WORKDIR /
VOLUME ["/data"]
EXPOSE 6379 16379
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["concord-container", "health"]
ENTRYPOINT ["concord-container", "start", "--"]
CMD []
