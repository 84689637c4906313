# The model server: the package, and the production model with its feature store from the workspace.
#   mlops-nb run                       (puts a model in production in ./workspace)
#   docker build -t mlops-server .     (for an index that holds mlops_nb: --build-arg PIP_EXTRA_INDEX_URL=https://...)
#   python -c "import secrets; print(secrets.token_urlsafe(32))" > token     (clients send: Authorization: Bearer <it>)
#   docker run --rm -p 8000:8000 -v "$PWD/token:/run/secrets/mlops_nb_token:ro" mlops-server
# The token is a secret mounted as a file (a Docker secret, a Kubernetes Secret at /run/secrets), not in the image.
FROM python:3.11-slim
ARG MLOPS_NB_VERSION=0.1.0
ARG PIP_EXTRA_INDEX_URL
# MLOPS_NB_TOKEN_FILE names where the secret is mounted; it holds none
# hadolint ignore=DL3064
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 WANDB_MODE=offline MLOPS_NB_WORKSPACE=/srv/workspace \
    MLOPS_NB_TOKEN_FILE=/run/secrets/mlops_nb_token
RUN pip install --no-cache-dir "mlops_nb==${MLOPS_NB_VERSION}" \
 && useradd --create-home --uid 10001 mlops \
 && mkdir -p /srv/workspace \
 && chown mlops:mlops /srv/workspace
WORKDIR /srv
COPY --chown=mlops:mlops workspace/registry.db workspace/registry.db
COPY --chown=mlops:mlops workspace/artifacts workspace/artifacts
COPY --chown=mlops:mlops workspace/runs workspace/runs
COPY --chown=mlops:mlops workspace/feature_repo workspace/feature_repo
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/ready', timeout=4)"]
CMD ["mlops-nb", "serve", "--host", "0.0.0.0", "--port", "8000"]
