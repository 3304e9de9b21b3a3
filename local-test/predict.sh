#!/usr/bin/env bash
# Sends a payload file to a running server's /invocations and prints the answer.
# usage: local-test/predict.sh PAYLOAD [CONTENT_TYPE [ACCEPT]]
#   e.g. local-test/predict.sh local-test/payloads/iris.csv text/csv application/json
set -euo pipefail
if [ "$#" -lt 1 ] || [ "$#" -gt 3 ]; then
  echo "usage: $0 PAYLOAD [CONTENT_TYPE [ACCEPT]]" >&2
  exit 2
fi
command -v curl >/dev/null 2>&1 || { echo "predict: curl is not installed" >&2; exit 1; }
payload="$1"
[ -f "$payload" ] || { echo "predict: no such file: $payload" >&2; exit 1; }
content_type="${2:-text/csv}"
accept="${3:-$content_type}"
curl --silent --show-error --fail-with-body \
  -H "Content-Type: $content_type" -H "Accept: $accept" \
  --data-binary "@$payload" "http://localhost:${PORT:-8080}/invocations"
