# syntax=docker/dockerfile:1
# The churn prediction service (serving/): FastAPI on port 8080, as a non-root user.
# Build from the repository root:
#   docker build -f docker/service.Dockerfile -t ghcr.io/churnops/churnops-service:0.1.0 .
# Configuration is by CHURNOPS_* environment variables (churnops/settings.py: ServiceSettings).
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    CHURNOPS_HOME=/var/lib/churnops

# The project's exact lock, installed with the uv version scripts/bootstrap.sh uses.
WORKDIR /app
COPY requirements.txt ./
RUN python -m venv /opt/venv \
    && pip install --no-cache-dir uv==0.13.9 \
    && uv pip install --no-cache --python /opt/venv/bin/python -r requirements.txt

RUN groupadd --system --gid 10001 churnops \
    && useradd --system --uid 10001 --gid churnops --no-create-home \
        --home-dir /var/lib/churnops --shell /usr/sbin/nologin churnops \
    && install -d -o churnops -g churnops /var/lib/churnops

# Only what the service imports (churnops/, serving/) and the default Feast repo.
COPY churnops/ churnops/
COPY serving/ serving/
COPY feature_repo/ feature_repo/

USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4)"]
CMD ["python", "-m", "serving.server", "--host", "0.0.0.0", "--port", "8080"]
