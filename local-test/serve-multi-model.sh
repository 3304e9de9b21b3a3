#!/usr/bin/env bash
# Serves a multi-model endpoint on port ${PORT:-8080}, the way SageMaker runs one: SAGEMAKER_MULTI_MODEL=true
# and no model at start; models are loaded from MODELS_DIR (laid out like /opt/ml/models: <name>/model/...)
# with POST /models, or on first use by invoke-model.sh.
# usage: local-test/serve-multi-model.sh [IMAGE]
#   MODELS_DIR defaults to local-test/models, filled with two copies of the example model (iris, iris2)
#   without IMAGE: runs container/serve directly (needs `npm run build` and nginx)
#   with IMAGE:    runs `docker run IMAGE serve` with MODELS_DIR mounted at /opt/ml/models (DOCKER=podman to use podman)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
port="${PORT:-8080}"

if [ "$#" -gt 1 ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  echo "usage: $0 [IMAGE]" >&2
  exit 2
fi

models="${MODELS_DIR:-$here/models}"
if [ -z "${MODELS_DIR:-}" ]; then
  for name in iris iris2; do
    if [ ! -f "$models/$name/model/model.onnx" ]; then
      mkdir -p "$models/$name/model"
      cp "$here/test-dir/model/model.onnx" "$here/test-dir/model/model.json" "$models/$name/model/"
    fi
  done
fi
[ -d "$models" ] || { echo "serve-multi-model: MODELS_DIR=$models is not a folder" >&2; exit 1; }
models="$(cd "$models" && pwd)"

if [ "$#" -eq 1 ]; then
  docker="${DOCKER:-docker}"
  command -v "$docker" >/dev/null 2>&1 || { echo "serve-multi-model: $docker is not installed (needed to run image $1; set DOCKER=podman to use podman)" >&2; exit 1; }
  echo "serve-multi-model: models in $models are at /opt/ml/models inside the image: invoke with MODELS_URL=/opt/ml/models local-test/invoke-model.sh" >&2
  exec "$docker" run --rm -p "$port:8080" -e SAGEMAKER_MULTI_MODEL=true -v "$models:/opt/ml/models:ro" "$1" serve
fi

export SAGEMAKER_MULTI_MODEL=true
export SAGEMAKER_BIND_TO_PORT="$port"
# No model at start; the base dir only needs to exist.
export SAGEMAKER_BASE_DIR="${SAGEMAKER_BASE_DIR:-$here/test-dir}"
echo "serve-multi-model: multi-model endpoint on http://localhost:$port; models under $models (Ctrl-C stops)" >&2
exec "$here/../container/serve"
