# syntax=docker/dockerfile:1
# One image for every Pulse service: `pulse collector serve`, `pulse loader run`, `pulse hot run`,
# `pulse archive run`, `pulse migrate`. Build: docker build -t pulse:0.1.0 .
ARG PYTHON_IMAGE=python:3.11-slim

# ---- build: the project's wheel (the same `pip wheel .` that tests/packaging installs and runs outside
# the repository) and wheels of its dependencies; compilers stay in this stage ----
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so editing the code does not rebuild them.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" \
      > requirements.txt \
 && pip wheel --wheel-dir /wheels -r requirements.txt
# The package and the content it ships (pyproject maps these folders into it: migrations, named queries, Grafana).
COPY ingest ./ingest
COPY clickhouse/schema ./clickhouse/schema
COPY clickhouse/queries ./clickhouse/queries
COPY grafana ./grafana
COPY metrics ./metrics
RUN pip wheel --no-deps --wheel-dir /dist .

# ---- runtime: slim, no compiler, numeric non-root user, read-only root filesystem friendly ----
FROM ${PYTHON_IMAGE} AS runtime
ARG PULSE_UID=10001
LABEL org.opencontainers.image.title="pulse" \
      org.opencontainers.image.description="Pulse real-time analytics services" \
      org.opencontainers.image.version="0.1.0"
RUN groupadd --system --gid ${PULSE_UID} pulse \
 && useradd --system --uid ${PULSE_UID} --gid ${PULSE_UID} --no-create-home --home-dir /tmp --shell /usr/sbin/nologin pulse
# The wheel and nothing else: migrations, named queries and dashboards are package data.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    --mount=type=bind,from=build,source=/dist,target=/dist \
    pip install --no-cache-dir --no-index --find-links=/wheels /dist/pulse_analytics-*.whl
# Everything writable lives under /tmp (an emptyDir in Kubernetes, tmpfs in compose).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    PULSE_STACK__HOME=/tmp/pulse \
    PULSE_COLLECTOR__HOST=0.0.0.0 \
    PULSE_STACK__HOST=0.0.0.0 \
    HEALTHCHECK_URL=http://127.0.0.1:8080/healthz
WORKDIR /app
USER ${PULSE_UID}:${PULSE_UID}
EXPOSE 8080 9464
# The collector answers /healthz; consumers set HEALTHCHECK_URL to their /metrics port. With the collector on
# HTTPS (PULSE_COLLECTOR__TLS_CERTFILE) set HEALTHCHECK_URL=https://127.0.0.1:8080/healthz: this loopback
# liveness check does not verify the certificate (clients do; see docs/deployment.md "TLS").
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, ssl, urllib.request; urllib.request.urlopen(os.environ['HEALTHCHECK_URL'], timeout=2, context=ssl._create_unverified_context())"]
ENTRYPOINT ["pulse"]
CMD ["--help"]
