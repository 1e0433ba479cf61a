# syntax=docker/dockerfile:1
# One image for every process: `mission-control ingress` (the default), `worker` and `migrate`.
# Build: docker build -t mission-control-ingest:latest .

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# A C compiler for the compiled hot path (docs/operations.md, "Compiled hot path"); only the
# virtualenv reaches the runtime stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# README.md is optional for the build (pyproject names it; setuptools only warns without it).
COPY pyproject.toml setup.py README.md* ./
COPY cli ./cli
COPY ingress ./ingress
COPY shared ./shared
COPY workers ./workers
COPY migrations ./migrations
# A regular (non-editable) install: the runtime stage gets the package, not the source tree.
# MC_COMPILE=1 compiles the ingest hot path with mypyc (setup.py).
RUN MC_COMPILE=1 pip install .

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# A fixed numeric uid/gid so Kubernetes `runAsNonRoot` can verify it and volumes can be chowned.
RUN groupadd --system --gid 10001 mc \
    && useradd --system --uid 10001 --gid mc --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin mc
COPY --from=build /opt/venv /opt/venv
# Settings come from the environment; the process reads `.env` from here only if one is mounted.
WORKDIR /app
USER 10001:10001
# 8000: ingress HTTP (API, /healthz, /readyz, /metrics). 9100: a worker's /metrics.
EXPOSE 8000 9100
# No HEALTHCHECK here: the same image runs the ingress, workers and the one-shot migrate, which
# need different checks. compose.yml and the Kubernetes manifests define one per process.
CMD ["mission-control", "ingress"]
