#!/usr/bin/env bash
# Serves the model in local-test/test-dir/model on port ${PORT:-8080}.
# usage: local-test/serve-local.sh [IMAGE]
#   without IMAGE: runs container/serve directly (needs `npm run build` and nginx)
#   with IMAGE:    runs `docker run IMAGE serve` with test-dir mounted at /opt/ml (DOCKER=podman to use podman)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
port="${PORT:-8080}"

if [ "$#" -gt 1 ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  echo "usage: $0 [IMAGE]" >&2
  exit 2
fi

if [ "$#" -eq 1 ]; then
  docker="${DOCKER:-docker}"
  command -v "$docker" >/dev/null 2>&1 || { echo "serve-local: $docker is not installed (needed to run image $1; set DOCKER=podman to use podman)" >&2; exit 1; }
  exec "$docker" run --rm -p "$port:8080" -v "$here/test-dir:/opt/ml" "$1" serve
fi

export SAGEMAKER_BASE_DIR="${SAGEMAKER_BASE_DIR:-$here/test-dir}"
export SAGEMAKER_BIND_TO_PORT="$port"
echo "serve-local: serving $SAGEMAKER_BASE_DIR/model on http://localhost:$port (Ctrl-C stops)" >&2
exec "$here/../container/serve"
