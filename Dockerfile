# The app's image: one image, three roles (web, worker, migrate) chosen by the command.
#   docker build -t dropship-ops .
#   docker run dropship-ops web | worker | migrate      (see compose.yaml and README "Operating")
# Base pinned to an exact Python patch release on Debian bookworm (slim); bump it deliberately.
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8000 \
    LOG_FORMAT=json

WORKDIR /app

# A fixed, unprivileged uid/gid: volumes and Kubernetes securityContext can name it.
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app

# Dependencies first (every version pinned in requirements.txt): code changes reuse this layer.
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

COPY --chown=app:app . .
RUN python -m shopify_app.i18n
RUN install -d -o app -g app /app/instance

USER 10001:10001
EXPOSE 8000

# Liveness only (no database): readiness is /readyz, which the orchestrator's probe or compose's healthcheck uses.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz\", timeout=3)"]

# Exec form: SIGTERM reaches the Python process directly (graceful shutdown), no shell in between.
ENTRYPOINT ["python", "-m", "shopify_app.cli"]
CMD ["web"]
