#!/usr/bin/env bash
# Runs a SageMaker-style batch transform locally (see tools/src/transform.ts): against
# --endpoint URL, or against container/serve started in batch mode on local-test/test-dir (or --base-dir).
# usage: local-test/transform-local.sh --input FILE|DIR --output DIR [--endpoint URL] [--content-type T]
#          [--accept T] [--split-type Line|None] [--batch-strategy MultiRecord|SingleRecord]
#          [--max-payload-mb N] [--max-concurrent N] [--base-dir DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cli="$here/../tools/dist/transform.js"
[ -f "$cli" ] || { echo "transform-local: $cli is missing: run npm run build" >&2; exit 1; }
exec node "$cli" "$@"
