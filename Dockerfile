# vte-cds: the CDS Hooks service, served by gunicorn on port 8080.
#
#   docker build -t vte-cds:local .
#   docker run --rm -p 8080:8080 -e VTE_CDS_TRUSTED_ISSUERS='{...}' vte-cds:local
#
# docker-compose.yml builds this image for the vte-cds service and for the one-shot loader.
# Settings are VTE_CDS_* environment variables (README.md, "Settings"); none is baked in here.

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# An unprivileged account with a fixed uid, so volume ownership and Kubernetes
# runAsNonRoot checks work without a name lookup.
RUN groupadd --system --gid 10001 vte \
 && useradd --system --uid 10001 --gid vte --home-dir /app --shell /usr/sbin/nologin vte

# Install from the source tree (.dockerignore keeps .venv, .git, tests and caches out), then
# drop the sources: the image runs the installed package only.
WORKDIR /src
COPY . .
RUN pip install . \
 && rm -rf /src

# Working directory for the process; the default SQLite feedback store
# (sqlite:///instance/feedback.db) would live here if VTE_CDS_DATABASE_URL is not set.
WORKDIR /app
RUN chown vte:vte /app
USER vte

EXPOSE 8080

# slim has no curl: probe /healthz with the standard library, bypassing any proxy settings.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:8080/healthz', timeout=4)"]

CMD ["vte-cds", "serve", "--host", "0.0.0.0", "--port", "8080", "--workers", "2"]
