#!/usr/bin/env bash
# Invokes one model of a running multi-model endpoint the way SageMaker's runtime does for
# InvokeEndpoint(TargetModel=TARGET): loads the model on first use (POST /models), then posts the payload
# to /models/<name>/invoke with X-Amzn-SageMaker-Target-Model: TARGET, and prints the answer.
# usage: local-test/invoke-model.sh TARGET PAYLOAD [CONTENT_TYPE [ACCEPT]]
#   TARGET: the model's artifact as SageMaker names it (e.g. iris.tar.gz); its folder is MODELS_URL/<name>/model,
#   <name> being TARGET without .tar.gz and with / as _. MODELS_URL defaults to local-test/models (the
#   default of serve-multi-model.sh); with the image, set MODELS_URL=/opt/ml/models.
#   e.g. local-test/invoke-model.sh iris.tar.gz local-test/payloads/iris.csv text/csv application/json
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ "$#" -lt 2 ] || [ "$#" -gt 4 ]; then
  echo "usage: $0 TARGET PAYLOAD [CONTENT_TYPE [ACCEPT]]" >&2
  exit 2
fi
command -v curl >/dev/null 2>&1 || { echo "invoke-model: curl is not installed" >&2; exit 1; }
target="$1"
payload="$2"
[ -f "$payload" ] || { echo "invoke-model: no such file: $payload" >&2; exit 1; }
content_type="${3:-text/csv}"
accept="${4:-$content_type}"
base="http://localhost:${PORT:-8080}"
name="${target%.tar.gz}"
name="${name//\//_}"
url="${MODELS_URL:-$here/models}/$name/model"

status=$(curl --silent --output /dev/null --write-out '%{http_code}' "$base/models/$name")
if [ "$status" = 404 ]; then
  load=$(curl --silent --show-error --write-out '\n%{http_code}' -H 'Content-Type: application/json' \
    --data "{\"model_name\": \"$name\", \"url\": \"$url\"}" "$base/models")
  code="${load##*$'\n'}"
  # 409: another caller loaded it meanwhile, which is as good.
  if [ "$code" != 200 ] && [ "$code" != 409 ]; then
    echo "invoke-model: loading $name from $url failed ($code): ${load%$'\n'*}" >&2
    exit 1
  fi
fi
curl --silent --show-error --fail-with-body \
  -H "Content-Type: $content_type" -H "Accept: $accept" -H "X-Amzn-SageMaker-Target-Model: $target" \
  --data-binary "@$payload" "$base/models/$name/invoke"
