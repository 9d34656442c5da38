# syntax=docker/dockerfile:1
# The image the pipeline steps run in on the kubeflow stack: Python 3.11, the project's
# exact lock, and the project source in /app, ZenML's working directory in its images.
# The MLflow tracking server (deploy/k8s/mlflow.yaml) runs from it too.
# Build from the repository root:
#   docker build -f docker/pipeline.Dockerfile -t ghcr.io/churnops/churnops-pipeline:0.1.0 .
#
# ZenML uses it as `DockerSettings(parent_image=...)`: either as is (`skip_build=True`), or
# as the base of its own build. In that case set `install_stack_requirements=False`: the
# lock already holds every integration, and ZenML's own pins would downgrade some of them.
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

# A non-root user for the pods (runAsUser: 10001). The image itself stays root: ZenML's
# builds on a parent image run pip, chmod and chown in /app and switch to
# `DockerSettings(user=...)` themselves.
RUN groupadd --system --gid 10001 churnops \
    && useradd --system --uid 10001 --gid churnops --create-home \
        --home-dir /home/churnops --shell /usr/sbin/nologin churnops \
    && install -d -o churnops -g churnops /var/lib/churnops

# The project source (.dockerignore keeps out local state, caches, tests and docs).
COPY --chown=churnops:churnops . .
