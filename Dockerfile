# okrsync as a scheduled service: `okrsync run` syncs on OKRSYNC_SCHEDULE and
# serves /healthz and /readyz on 8080. See deploy/README.md.
#
#   docker build -t okrsync .            # or: make image (podman, see Makefile)
#   docker run -v okrsync-data:/data -v "$PWD/mappings:/mappings:ro" \
#     -e STATS_TOKEN okrsync              # `okrsync run --once` for a cron job
#
# BASE_IMAGE is an argument so that machines without a registry can build on a
# local stand-in (any Debian-based image with python ≥ 3.11, pip and venv).
ARG BASE_IMAGE=python:3.12-slim

# --- build: wheels of okrsync and its runtime dependencies, installed in a venv
FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# Dependencies first, from pyproject.toml alone (a stub package stands in for
# the code), wheeled and installed offline from those wheels into the venv the
# runtime stage copies; a change to the code does not redo this layer.
COPY pyproject.toml README.md ./
RUN mkdir okrsync \
 && touch okrsync/__init__.py \
 && pip wheel --wheel-dir /wheels '.[postgres]' \
 && python -m venv /opt/okrsync \
 && /opt/okrsync/bin/pip install --no-index --find-links /wheels 'okrsync[postgres]' \
 && rm -r /wheels/okrsync-*.whl okrsync build ./*.egg-info
# Then the real package over the stub (setuptools' build/ is gone, or its stale
# stub would be packaged), a consistency check, and pip out of the venv.
COPY okrsync okrsync
COPY connectors connectors
COPY mappings mappings
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/okrsync/bin/pip install --no-index --no-deps --force-reinstall /wheels/okrsync-*.whl \
 && /opt/okrsync/bin/pip check \
 && /opt/okrsync/bin/pip uninstall --yes pip setuptools

# --- runtime: the venv, no build tools, a non-root user ---------------------------
FROM ${BASE_IMAGE}
ARG VERSION=0.1.0
ARG SOURCE_URL=https://github.com/okrsync/okrsync
LABEL org.opencontainers.image.title="okrsync" \
      org.opencontainers.image.description="Keeps OKR key results in sync with the tools where the numbers live" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
ENV PATH=/opt/okrsync/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    OKRSYNC_MAPPINGS=/mappings \
    OKRSYNC_STORE_URL=sqlite:////data/okrsync.db \
    OKRSYNC_LOG_FORMAT=json
RUN groupadd --gid 10001 app \
 && useradd --uid 10001 --gid app --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin app \
 && mkdir /data \
 && chown app:app /data
COPY --from=build /opt/okrsync /opt/okrsync
# The example company; mount your own mappings (read-only) over /mappings.
COPY mappings /mappings
WORKDIR /data
VOLUME ["/data"]
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request as u; p = os.environ.get('OKRSYNC_HEALTH_PORT', '8080'); sys.exit(p != '0' and u.urlopen(f'http://127.0.0.1:{p}/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["okrsync"]
CMD ["run"]
