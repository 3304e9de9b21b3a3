#!/usr/bin/env bash
# Proxy mode, the SAS shape: a Java scoring server on port ${SCORER_PORT:-9090} (local-test/proxy/Scorer.java),
# fronted by the product on port ${PORT:-8080} with the SageMaker contract (/ping from the scorer's health,
# /invocations forwarded to its /score). serve starts the scorer, supervises it and stops it.
# usage: local-test/serve-proxy.sh [IMAGE]
#   without IMAGE: runs container/serve directly (needs `npm run build`, nginx and Java 11+)
#   with IMAGE:    builds the example image FROM IMAGE (local-test/proxy/Dockerfile: adds a JDK and the
#                  scorer) and runs `docker run EXAMPLE_IMAGE serve` (DOCKER=podman to use podman)
# Then: local-test/predict.sh local-test/payloads/iris.csv text/csv
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib/engine.sh
. "$here/lib/engine.sh"
port="${PORT:-8080}"

if [ "$#" -gt 1 ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  echo "usage: $0 [IMAGE]" >&2
  exit 2
fi

if [ "$#" -eq 1 ]; then
  engine_from_env "$1"
  example="${EXAMPLE_IMAGE:-sagemaker-onnx-proxy-example:latest}"
  if ! "$ENGINE" image inspect "$example" >/dev/null 2>&1; then
    echo "serve-proxy: building $example FROM $1 (adds a JDK and the example scorer)" >&2
    (cd "$here/proxy" && engine_build "$example" --build-arg "BASE_IMAGE=$1") >&2
  fi
  exec "$ENGINE" run --rm -p "$port:8080" "$example" serve
fi

command -v java >/dev/null 2>&1 || { echo "serve-proxy: java is not installed (the example scorer is Java: apt-get install -y openjdk-17-jdk-headless)" >&2; exit 1; }
export SAGEMAKER_BIND_TO_PORT="$port"
# No ONNX model in proxy mode; the base dir only needs to exist.
export SAGEMAKER_BASE_DIR="${SAGEMAKER_BASE_DIR:-$here/test-dir}"
export MODEL_SERVER_UPSTREAM="http://127.0.0.1:${SCORER_PORT:-9090}"
export MODEL_SERVER_UPSTREAM_COMMAND="java $here/proxy/Scorer.java"
export MODEL_SERVER_UPSTREAM_INVOCATIONS_PATH=/score
export MODEL_SERVER_UPSTREAM_HEALTH_PATH=/health
echo "serve-proxy: the example scorer on $MODEL_SERVER_UPSTREAM, fronted on http://localhost:$port (Ctrl-C stops both)" >&2
exec "$here/../container/serve"
