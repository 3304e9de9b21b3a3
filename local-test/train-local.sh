#!/usr/bin/env bash
# Trains on local-test/test-dir (laid out like /opt/ml): input/config/hyperparameters.json and the
# input/data/training channel; writes test-dir/model/ and test-dir/output/.
# usage: local-test/train-local.sh [IMAGE]
#   without IMAGE: runs container/train directly (needs `npm run build`)
#   with IMAGE:    runs `docker run IMAGE train` with test-dir mounted at /opt/ml (DOCKER=podman to use podman)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

if [ "$#" -gt 1 ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  echo "usage: $0 [IMAGE]" >&2
  exit 2
fi

rm -f "$here/test-dir/output/failure"
if [ "$#" -eq 1 ]; then
  docker="${DOCKER:-docker}"
  command -v "$docker" >/dev/null 2>&1 || { echo "train-local: $docker is not installed (needed to run image $1; set DOCKER=podman to use podman)" >&2; exit 1; }
  "$docker" run --rm -v "$here/test-dir:/opt/ml" "$1" train
else
  SAGEMAKER_BASE_DIR="${SAGEMAKER_BASE_DIR:-$here/test-dir}" "$here/../container/train"
fi
echo "train-local: model written to ${SAGEMAKER_BASE_DIR:-$here/test-dir}/model; serve it with local-test/serve-local.sh" >&2
