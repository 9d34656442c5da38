#!/usr/bin/env bash
# Register the kubeflow stack with the zenml CLI: the same secrets, components and stack as
# `python -m stacks.kubeflow.register`, which does it in one process (each zenml CLI call
# takes 8-15 s; the Python script is idempotent, this script expects a store without them).
#
#   bash stacks/kubeflow/register.sh             # register (from any folder)
#   DRY_RUN=1 bash stacks/kubeflow/register.sh   # print the commands, run nothing
#   zenml stack set kubeflow                     # then switch; back with: zenml stack set local
#
# Variables (README.md in this folder, or `python -m stacks.kubeflow.register --help`):
#   required  CHURNOPS_KFP_HOST CHURNOPS_REGISTRY_URI CHURNOPS_S3_ENDPOINT_URL
#             CHURNOPS_MLFLOW_TRACKING_URI CHURNOPS_SELDON_BASE_URL CHURNOPS_FEAST_OFFLINE_SOURCE
#   optional  CHURNOPS_KFP_USER_NAMESPACE CHURNOPS_ARTIFACT_PATH CHURNOPS_SELDON_NAMESPACE
#             CHURNOPS_KUBE_CONTEXT CHURNOPS_SELDON_STORAGE_SECRET CHURNOPS_FEAST_REPO
#             CHURNOPS_FEAST_PROJECT
#   secrets   CHURNOPS_S3_ACCESS_KEY_ID CHURNOPS_S3_SECRET_ACCESS_KEY -> churnops-minio, churnops-feast
#             CHURNOPS_MLFLOW_TRACKING_USERNAME CHURNOPS_MLFLOW_TRACKING_PASSWORD -> churnops-mlflow
#             CHURNOPS_FEAST_REGISTRY_URL CHURNOPS_FEAST_REDIS        -> churnops-feast
#             CHURNOPS_INFERENCE_LOG_URL CHURNOPS_DEPLOYMENT_URL      -> churnops-state
#   (needed while the secret does not exist; when set, they create or update it)
set -euo pipefail
cd "$(dirname "$0")/../.."  # the project root: plugin flavors are imported from here
# The zenml console script does not put the working folder on sys.path, and the plugins
# import the project's packages (churnops, ...).
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
ZENML="${ZENML:-.venv/bin/zenml}"
export ZENML_ANALYTICS_OPT_IN="${ZENML_ANALYTICS_OPT_IN:-false}"

: "${CHURNOPS_KFP_HOST:?Kubeflow Pipelines API, e.g. https://kubeflow.example.com/pipeline}"
: "${CHURNOPS_REGISTRY_URI:?container registry, e.g. ghcr.io/churnops}"
: "${CHURNOPS_S3_ENDPOINT_URL:?MinIO endpoint, e.g. http://minio.churnops.svc:9000}"
: "${CHURNOPS_MLFLOW_TRACKING_URI:?MLflow server, e.g. http://mlflow.churnops.svc:5000}"
: "${CHURNOPS_SELDON_BASE_URL:?ingress base URL of the Seldon deployments}"
: "${CHURNOPS_FEAST_OFFLINE_SOURCE:?e.g. s3://churnops/feast/customer_snapshot.parquet}"
CHURNOPS_ARTIFACT_PATH="${CHURNOPS_ARTIFACT_PATH:-s3://churnops/zenml}"
CHURNOPS_SELDON_NAMESPACE="${CHURNOPS_SELDON_NAMESPACE:-churnops}"
CHURNOPS_FEAST_REPO="${CHURNOPS_FEAST_REPO:-/app/feature_repo}"
CHURNOPS_FEAST_PROJECT="${CHURNOPS_FEAST_PROJECT:-churnops}"

run() {  # echo the command with secret values masked, then run it
  echo "+ $*" | sed -E 's/(--(aws_access_key_id|aws_secret_access_key|AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|username|password|CHURNOPS_FEAST_REGISTRY_URL|CHURNOPS_FEAST_REDIS|CHURNOPS_INFERENCE_LOG_URL|CHURNOPS_DEPLOYMENT_URL)=)[^ ]*/\1***/g'
  [ -n "${DRY_RUN:-}" ] || "$@"
}

secret() {  # secret NAME KEY=VAR...: create or update NAME from the variables that are set
  local name="$1" args=() pair var
  shift
  for pair in "$@"; do
    var="${pair#*=}"
    if [ -n "${!var:-}" ]; then args+=("--${pair%%=*}=${!var}"); fi
  done
  if [ ${#args[@]} -eq 0 ]; then
    echo "  (no values for the secret $name: it must exist already)"
  elif [ -z "${DRY_RUN:-}" ] && "$ZENML" secret get "$name" >/dev/null 2>&1; then
    run "$ZENML" secret update "$name" "${args[@]}"
  else
    run "$ZENML" secret create "$name" "${args[@]}"
  fi
}

secret churnops-minio aws_access_key_id=CHURNOPS_S3_ACCESS_KEY_ID \
  aws_secret_access_key=CHURNOPS_S3_SECRET_ACCESS_KEY
secret churnops-mlflow username=CHURNOPS_MLFLOW_TRACKING_USERNAME \
  password=CHURNOPS_MLFLOW_TRACKING_PASSWORD
# The step pods' variables: Feast's registry and Redis, and the standard AWS keys that
# pyarrow and s3fs read for Feast's s3:// offline source on MinIO.
secret churnops-feast CHURNOPS_FEAST_REGISTRY_URL=CHURNOPS_FEAST_REGISTRY_URL \
  CHURNOPS_FEAST_REDIS=CHURNOPS_FEAST_REDIS AWS_ACCESS_KEY_ID=CHURNOPS_S3_ACCESS_KEY_ID \
  AWS_SECRET_ACCESS_KEY=CHURNOPS_S3_SECRET_ACCESS_KEY
# The databases every stage shares, attached to the orchestrator: every step pod gets them.
secret churnops-state CHURNOPS_INFERENCE_LOG_URL=CHURNOPS_INFERENCE_LOG_URL \
  CHURNOPS_DEPLOYMENT_URL=CHURNOPS_DEPLOYMENT_URL

# Stack plugins (custom flavors), by import path from the project root.
run "$ZENML" data-validator flavor register stacks.plugins.data_validator.flavor.GXEvidentlyDataValidatorFlavor
run "$ZENML" model-deployer flavor register stacks.plugins.model_deployer.flavor.SeldonProgressiveDeployerFlavor

optional=()
[ -n "${CHURNOPS_KFP_USER_NAMESPACE:-}" ] && optional+=("--user_namespace=$CHURNOPS_KFP_USER_NAMESPACE")
run "$ZENML" orchestrator register kubeflow --flavor=kubeflow \
  --kubeflow_hostname="$CHURNOPS_KFP_HOST" --secret=churnops-state "${optional[@]}"
# `authentication_secret`, not the `key`/`secret` fields: `--secret` is the CLI's own option.
run "$ZENML" artifact-store register minio --flavor=s3 --path="$CHURNOPS_ARTIFACT_PATH" \
  --client_kwargs="{\"endpoint_url\": \"$CHURNOPS_S3_ENDPOINT_URL\"}" \
  --authentication_secret=churnops-minio
run "$ZENML" container-registry register registry --flavor=default --uri="$CHURNOPS_REGISTRY_URI"
run "$ZENML" image-builder register docker --flavor=local
run "$ZENML" experiment-tracker register mlflow_remote --flavor=mlflow \
  --tracking_uri="$CHURNOPS_MLFLOW_TRACKING_URI" \
  --tracking_username='{{churnops-mlflow.username}}' --tracking_password='{{churnops-mlflow.password}}'
run "$ZENML" model-registry register mlflow_remote --flavor=mlflow
optional=()
[ -n "${CHURNOPS_KUBE_CONTEXT:-}" ] && optional+=("--kubernetes_context=$CHURNOPS_KUBE_CONTEXT")
[ -n "${CHURNOPS_SELDON_STORAGE_SECRET:-}" ] && optional+=("--kubernetes_secret_name=$CHURNOPS_SELDON_STORAGE_SECRET")
run "$ZENML" model-deployer register seldon --flavor=seldon_progressive \
  --kubernetes_namespace="$CHURNOPS_SELDON_NAMESPACE" --base_url="$CHURNOPS_SELDON_BASE_URL" \
  "${optional[@]}"
# Every step pod gets CHURNOPS_FEAST_ENV=production and the churnops-feast secret as variables.
run "$ZENML" feature-store register feast_prod --flavor=feast --feast_repo="$CHURNOPS_FEAST_REPO" \
  --env CHURNOPS_FEAST_ENV=production --env CHURNOPS_FEAST_PROJECT="$CHURNOPS_FEAST_PROJECT" \
  --env CHURNOPS_FEAST_OFFLINE_SOURCE="$CHURNOPS_FEAST_OFFLINE_SOURCE" \
  --env AWS_ENDPOINT_URL="$CHURNOPS_S3_ENDPOINT_URL" --secret=churnops-feast
# Shared with the local stack, which may have registered it already.
if [ -n "${DRY_RUN:-}" ] || ! "$ZENML" data-validator describe gx_evidently >/dev/null 2>&1; then
  run "$ZENML" data-validator register gx_evidently --flavor=gx_evidently
fi

run "$ZENML" stack register kubeflow -o kubeflow -a minio -c registry -i docker \
  -e mlflow_remote -r mlflow_remote -d seldon -f feast_prod -dv gx_evidently
echo "Registered the kubeflow stack. Activate it with: $ZENML stack set kubeflow"
