#!/usr/bin/env bash
# Proves the image the way SageMaker uses it: lints the Dockerfile, builds the image (building the
# node:20-bookworm-slim base offline first when there is no Docker engine), then runs `IMAGE serve` with a
# model mounted read-only at /opt/ml/model, `IMAGE train` on an /opt/ml tree, the local-test scripts in
# their image mode, and proxy mode: the example image FROM IMAGE with a Java scorer (local-test/proxy/,
# its JDK from the Debian mirror) run as a "secured" container would, with no writable /tmp.
# KServe: the image as deploy/kserve/ makes KServe run it, spoken to over the Open Inference Protocol
# (tools/src/kserve-check.ts).
# Prints one ok/not ok line per check and a closing "N passed, N failed" line.
# usage: local-test/test-image.sh [IMAGE]    (without IMAGE: builds sagemaker-onnx:test from this checkout)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
# shellcheck source=lib/engine.sh
. "$here/lib/engine.sh"

if [ "$#" -gt 1 ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  echo "usage: $0 [IMAGE]" >&2
  exit 2
fi
command -v curl >/dev/null 2>&1 || engine_die "curl is missing (apt-get install -y curl)"

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }
check() { local what="$1"; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }

work=$(mktemp -d)
containers=()
proxy_image="localhost/sagemaker-onnx-proxy-example:test-$$"
cleanup() {
  for c in "${containers[@]}"; do "$ENGINE" rm -f "$c" >/dev/null 2>&1 || true; done
  "$ENGINE" rmi -f "$proxy_image" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

wait_ping() { # port seconds
  local deadline=$((SECONDS + $2))
  while [ "$SECONDS" -lt "$deadline" ]; do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/ping" || true)" = 200 ] && return 0
    sleep 0.5
  done
  return 1
}

engine_setup
echo "# engine: $ENGINE"

lint=$(cd "$root" && npx --no-install dockerfile-utils lint Dockerfile 2>&1 | grep -v '^npm warn' || true)
if [ -z "$lint" ]; then ok "Dockerfile lints clean (dockerfile-utils)"; else not_ok "Dockerfile lint: $lint"; fi

image="${1:-}"
if [ -z "$image" ]; then
  image=sagemaker-onnx:test
  if [ "$ENGINE" = podman ]; then "$here/build-base-image.sh"; fi
  start=$SECONDS
  if (cd "$root" && engine_build "$image" >"$work/build.log" 2>&1); then
    ok "image builds from the Dockerfile ($((SECONDS - start)) s)"
  else
    tail -30 "$work/build.log"
    not_ok "image builds from the Dockerfile"
    echo "$passed passed, $failed failed"
    exit 1
  fi
fi
size=$("$ENGINE" image inspect "$image" --format '{{.Size}}')
echo "# image $image: $((size / 1000000)) MB"

label=$("$ENGINE" image inspect "$image" --format '{{ index .Config.Labels "com.amazonaws.sagemaker.capabilities.accept-bind-to-port" }}')
check "image has the accept-bind-to-port label" test "$label" = "true"
check "image exposes 8080" bash -c "'$ENGINE' image inspect '$image' --format '{{json .Config.ExposedPorts}}' | grep -q 8080/tcp"

# --- serve, as SageMaker runs it: the model extracted at /opt/ml/model, read-only; and, as "secured"
# deployments do, a read-only root filesystem with only /tmp writable (MODEL_SERVER_RUN_DIR lives there).
serve_model() { # NAME MODEL_DIR: starts the container; its host port is then in $served_port
  served_port=$(free_port)
  containers+=("$1")
  "$ENGINE" run -d --name "$1" --read-only --tmpfs /tmp -p "127.0.0.1:$served_port:8080" -v "$2:/opt/ml/model:ro" "$image" serve >/dev/null
}
name="sm-serve-$$"
serve_model "$name" "$here/test-dir/model"
port=$served_port
if wait_ping "$port" 60; then ok "IMAGE serve answers /ping 200 (read-only root filesystem, model mounted read-only)"; else not_ok "IMAGE serve answers /ping 200"; "$ENGINE" logs "$name" 2>&1 | tail -20; fi
answer=$(curl -s -H 'Content-Type: text/csv' --data-binary $'5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3' "http://127.0.0.1:$port/invocations" || true)
check "a CSV invocation answers the iris classes" test "$answer" = $'setosa\nvirginica'
pid1=$("$ENGINE" exec "$name" cat /proc/1/cmdline | tr '\0' ' ' || true)
check "the Node primary is PID 1, so it receives SIGTERM itself (got: $pid1)" bash -c "[[ '$pid1' == node* ]]"
start=$SECONDS
"$ENGINE" stop -t 30 "$name" >/dev/null
took=$((SECONDS - start))
code=$("$ENGINE" inspect "$name" --format '{{.State.ExitCode}}')
check "SIGTERM: exit code 0 (got $code)" test "$code" = 0
check "SIGTERM: stopped in under 30 s (took $took s)" test "$took" -lt 30
nonjson=$("$ENGINE" logs "$name" 2>&1 | grep -v '^{' || true)
if [ -z "$nonjson" ]; then ok "serve logs are JSON lines only"; else not_ok "serve logs are JSON lines only: $nonjson"; fi

# --- An XGBoost model as SageMaker's XGBoost training job writes it: model.tar.gz holding xgboost-model
# (the legacy binary format of XGBoost 1.7), extracted into /opt/ml/model as SageMaker does.
mkdir -p "$work/xgb-tar" "$work/xgb-model"
cp "$root/test/fixtures/trees/xgb-binary-logistic.model" "$work/xgb-tar/xgboost-model"
tar -czf "$work/model.tar.gz" -C "$work/xgb-tar" xgboost-model
tar -xzf "$work/model.tar.gz" -C "$work/xgb-model"
xname="sm-xgb-$$"
serve_model "$xname" "$work/xgb-model"
xport=$served_port
if wait_ping "$xport" 60; then ok "IMAGE serve loads SageMaker XGBoost's model.tar.gz (xgboost-model)"; else not_ok "IMAGE serve loads SageMaker XGBoost's model.tar.gz"; "$ENGINE" logs "$xname" 2>&1 | tail -20; fi
# The expected lines are what XGBoost 1.7.4's own predict gives for these two rows (ntree_limit=best_ntree_limit),
# written as the container's Python writes floats.
xanswer=$(curl -s -H 'Content-Type: text/csv' --data-binary $'0.5,-1.2,0.3,,1.1,0\n-0.7,0.1,2.5,1.0,,0.4' "http://127.0.0.1:$xport/invocations" || true)
check "it answers as SageMaker's XGBoost container (got: $xanswer)" test "$xanswer" = $'0.9545536637306213\n0.04387922212481499'
"$ENGINE" stop -t 30 "$xname" >/dev/null

# --- KServe: the image started the way deploy/kserve/ makes KServe start it (its command and arguments with
# the InferenceService's name, its environment and Knative's, its numeric non-root user, the model read-only
# at /mnt/models), then every Open Inference Protocol route through the client written from the specification.
[ -f "$root/tools/dist/kserve-check.js" ] || (cd "$root" && npm run build >/dev/null)
kout=$(cd "$root" && node tools/dist/kserve-check.js --engine "$ENGINE" --image "$image" --model "$here/test-dir/model" 2>&1 || true)
printf '%s\n' "$kout" | grep -E '^(ok|not ok) ' || true
passed=$((passed + $(printf '%s\n' "$kout" | grep -c '^ok ' || true)))
kfailed=$(printf '%s\n' "$kout" | grep -c '^not ok ' || true)
if ! printf '%s\n' "$kout" | grep -qE '^[0-9]+ passed, [0-9]+ failed$'; then kfailed=$((kfailed + 1)); echo "not ok - kserve: the check did not finish: $(printf '%s\n' "$kout" | tail -5)"; fi
failed=$((failed + kfailed))

# --- train, as SageMaker runs it: an /opt/ml tree mounted.
# Multi-model mode, as SageMaker runs it: the label, SAGEMAKER_MULTI_MODEL=true, models under /opt/ml/models.
mme_label=$("$ENGINE" image inspect "$image" --format '{{ index .Config.Labels "com.amazonaws.sagemaker.capabilities.multi-models" }}')
check "image has the multi-models label" test "$mme_label" = "true"
mkdir -p "$work/models/iris"
cp -r "$here/test-dir/model" "$work/models/iris/model"
mport=$(free_port)
mname="sm-mme-$$"
containers+=("$mname")
"$ENGINE" run -d --name "$mname" --read-only --tmpfs /tmp -e SAGEMAKER_MULTI_MODEL=true -p "127.0.0.1:$mport:8080" -v "$work/models:/opt/ml/models:ro" "$image" serve >/dev/null
if wait_ping "$mport" 60; then ok "multi-model IMAGE serve answers /ping 200 with no model loaded"; else not_ok "multi-model IMAGE serve answers /ping 200"; "$ENGINE" logs "$mname" 2>&1 | tail -20; fi
loaded=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d '{"model_name": "iris", "url": "/opt/ml/models/iris/model"}' "http://127.0.0.1:$mport/models" || true)
check "POST /models loads a model from /opt/ml/models (got $loaded)" test "$loaded" = 200
listed=$(curl -s "http://127.0.0.1:$mport/models" || true)
check "GET /models lists it" test "$listed" = '{"models":[{"modelName":"iris","modelUrl":"/opt/ml/models/iris/model"}]}'
manswer=$(curl -s -H 'Content-Type: text/csv' -H 'X-Amzn-SageMaker-Target-Model: iris.tar.gz' --data-binary $'5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3' "http://127.0.0.1:$mport/models/iris/invoke" || true)
check "POST /models/iris/invoke answers the iris classes" test "$manswer" = $'setosa\nvirginica'
unloaded=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "http://127.0.0.1:$mport/models/iris" || true)
check "DELETE /models/iris unloads it (got $unloaded)" test "$unloaded" = 200
"$ENGINE" stop -t 30 "$mname" >/dev/null
mcode=$("$ENGINE" inspect "$mname" --format '{{.State.ExitCode}}')
check "multi-model SIGTERM: exit code 0 (got $mcode)" test "$mcode" = 0

# Inference code in the image: the PNG example (its own code/node_modules, mounted read-only as SageMaker
# extracts model.tar.gz), and the hooks' typed declarations shipped for editors.
[ -d "$here/examples/png-colour/model/code/node_modules/pngjs" ] || (cd "$root" && node tools/dist/make-hook-examples.js >/dev/null)
cport=$(free_port)
cname="sm-code-$$"
containers+=("$cname")
"$ENGINE" run -d --name "$cname" --read-only --tmpfs /tmp -p "127.0.0.1:$cport:8080" -v "$here/examples/png-colour/model:/opt/ml/model:ro" "$image" serve >/dev/null
if wait_ping "$cport" 60; then ok "IMAGE serve loads a model with code/inference.mjs"; else not_ok "IMAGE serve loads a model with code/inference.mjs"; "$ENGINE" logs "$cname" 2>&1 | tail -20; fi
canswer=$(curl -s -H 'Content-Type: image/png' --data-binary "@$here/examples/png-colour/red.png" "http://127.0.0.1:$cport/invocations" || true)
check "its inputFn decodes a PNG with its own pngjs and outputFn answers (got: $canswer)" bash -c "[[ '$canswer' == '{\"colour\":\"red\"'* ]]"
check "the hooks' typed declarations are in the image" "$ENGINE" exec "$cname" test -s /opt/program/container/types/inference.d.ts
"$ENGINE" stop -t 30 "$cname" >/dev/null

mkdir -p "$work/ml/input/config" "$work/ml/input/data/training"
cp "$here/test-dir/input/data/training/iris.csv" "$work/ml/input/data/training/"
cp "$here/test-dir/input/config/hyperparameters.json" "$work/ml/input/config/"
if "$ENGINE" run --rm -v "$work/ml:/opt/ml" "$image" train >"$work/train.log" 2>&1; then ok "IMAGE train exits 0"; else not_ok "IMAGE train exits 0"; tail -20 "$work/train.log"; fi
check "IMAGE train writes model.onnx and model.json" test -s "$work/ml/model/model.onnx" -a -s "$work/ml/model/model.json"
check "IMAGE train prints metric lines" grep -q '^train:accuracy=' "$work/train.log"
check "the model trained in the image is the bundled example, byte for byte" cmp -s "$work/ml/model/model.onnx" "$here/test-dir/model/model.onnx"

mkdir -p "$work/bad/input/data/training"
printf 'a,1,2\nb,1\n' > "$work/bad/input/data/training/bad.csv"
if "$ENGINE" run --rm -v "$work/bad:/opt/ml" "$image" train >"$work/bad.log" 2>&1; then not_ok "IMAGE train fails on a ragged CSV"; else ok "IMAGE train fails on a ragged CSV (non-zero exit)"; fi
check "the failure reason names the file and line" grep -q 'bad.csv, line 2' "$work/bad/output/failure"
check "nothing is written to model/ on failure" bash -c "[ ! -e '$work/bad/model' ] || [ -z \"\$(ls -A '$work/bad/model')\" ]"

# --- the local-test scripts in their image mode.
copy="$work/local-test"
cp -r "$here" "$copy"
rm -rf "$copy/test-dir/model" "$copy/test-dir/output"
if DOCKER="$ENGINE" "$copy/train-local.sh" "$image" >"$work/train-local.log" 2>&1 && [ -s "$copy/test-dir/model/model.onnx" ]; then
  ok "local-test/train-local.sh IMAGE trains into test-dir"
else
  not_ok "local-test/train-local.sh IMAGE trains into test-dir"
  tail -20 "$work/train-local.log"
fi
port=$(free_port)
DOCKER="$ENGINE" PORT="$port" "$copy/serve-local.sh" "$image" >"$work/serve-local.log" 2>&1 &
serve_pid=$!
if wait_ping "$port" 60; then ok "local-test/serve-local.sh IMAGE serves on PORT"; else not_ok "local-test/serve-local.sh IMAGE serves on PORT"; tail -20 "$work/serve-local.log"; fi
answer=$(PORT="$port" "$copy/predict.sh" "$copy/payloads/iris.csv" text/csv application/jsonlines || true)
check "local-test/predict.sh answers through it" test "$(printf '%s\n' "$answer" | wc -l)" -eq 3
kill -TERM "$serve_pid" 2>/dev/null || true
wait "$serve_pid" 2>/dev/null || true

# The multi-model scripts in image mode: models mounted at /opt/ml/models, loaded on first use by target.
mport=$(free_port)
DOCKER="$ENGINE" PORT="$mport" "$copy/serve-multi-model.sh" "$image" >"$work/serve-mme.log" 2>&1 &
mme_pid=$!
if wait_ping "$mport" 60; then ok "local-test/serve-multi-model.sh IMAGE serves a multi-model endpoint on PORT"; else not_ok "local-test/serve-multi-model.sh IMAGE serves on PORT"; tail -20 "$work/serve-mme.log"; fi
manswer=$(PORT="$mport" MODELS_URL=/opt/ml/models "$copy/invoke-model.sh" iris2.tar.gz "$copy/payloads/iris.csv" text/csv application/jsonlines || true)
check "local-test/invoke-model.sh loads iris2 on first use and answers through it" test "$(printf '%s\n' "$manswer" | grep -c predicted_label)" -eq 3
kill -TERM "$mme_pid" 2>/dev/null || true
wait "$mme_pid" 2>/dev/null || true

# --- proxy mode, the SAS shape: serve-proxy.sh IMAGE builds the example image FROM IMAGE (a JDK and the
# example Java scorer) and serves it on PORT; then that image runs as "secured" containers do, with a
# read-only root filesystem, no writable /tmp at all, and MODEL_SERVER_RUN_DIR on the one writable mount.
pport=$(free_port)
DOCKER="$ENGINE" EXAMPLE_IMAGE="$proxy_image" PORT="$pport" "$copy/serve-proxy.sh" "$image" >"$work/serve-proxy.log" 2>&1 &
proxy_pid=$!
if wait_ping "$pport" 240; then ok "local-test/serve-proxy.sh IMAGE builds the example image and fronts its Java scorer on PORT"; else not_ok "local-test/serve-proxy.sh IMAGE fronts the Java scorer on PORT"; tail -20 "$work/serve-proxy.log"; fi
panswer=$(PORT="$pport" "$copy/predict.sh" "$copy/payloads/iris.csv" text/csv || true)
check "local-test/predict.sh answers through the proxy (the scorer's labels)" test "$panswer" = $'setosa\nversicolor\nvirginica'
kill -TERM "$proxy_pid" 2>/dev/null || true
wait "$proxy_pid" 2>/dev/null || true

if "$ENGINE" image inspect "$proxy_image" >/dev/null 2>&1; then
  sport=$(free_port)
  sname="sm-proxy-$$"
  containers+=("$sname")
  # podman mounts a writable /tmp into --read-only containers unless told not to; Docker does not.
  no_tmp=()
  [ "$ENGINE" = podman ] && no_tmp=(--read-only-tmpfs=false)
  "$ENGINE" run -d --name "$sname" --read-only "${no_tmp[@]}" --tmpfs /srv/run -e MODEL_SERVER_RUN_DIR=/srv/run/ms -p "127.0.0.1:$sport:8080" "$proxy_image" serve >/dev/null
  if wait_ping "$sport" 90; then ok "proxy mode: /ping 200 once the Java scorer is healthy, with no writable /tmp"; else not_ok "proxy mode: /ping 200 with no writable /tmp"; "$ENGINE" logs "$sname" 2>&1 | tail -20; fi
  sanswer=$(curl -s -H 'Content-Type: text/csv' --data-binary $'5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3' "http://127.0.0.1:$sport/invocations" || true)
  check "proxy mode: invocations reach the scorer and its answer comes back" test "$sanswer" = $'setosa\nvirginica'
  serr=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d '{}' "http://127.0.0.1:$sport/invocations" || true)
  check "proxy mode: the scorer's own 415 passes through (got $serr)" test "$serr" = 415
  check "proxy mode: /tmp is not writable in this container" bash -c "! '$ENGINE' exec '$sname' touch /tmp/probe 2>/dev/null"
  check "proxy mode: the JVM's temporary files are under MODEL_SERVER_RUN_DIR" bash -c "'$ENGINE' logs '$sname' 2>&1 | grep -q 'model loaded (work area /srv/run/ms/upstream-tmp/'"
  start=$SECONDS
  "$ENGINE" stop -t 30 "$sname" >/dev/null
  took=$((SECONDS - start))
  scode=$("$ENGINE" inspect "$sname" --format '{{.State.ExitCode}}')
  check "proxy mode SIGTERM: exit code 0 in under 30 s (got $scode in $took s)" bash -c "[ '$scode' = 0 ] && [ '$took' -lt 30 ]"
  check "proxy mode SIGTERM: the scorer stopped after nginx" bash -c "'$ENGINE' logs '$sname' 2>&1 | grep -q '\"msg\":\"the scorer has stopped\"'"
  pnonjson=$("$ENGINE" logs "$sname" 2>&1 | grep -v '^{' || true)
  if [ -z "$pnonjson" ]; then ok "proxy mode logs are JSON lines only, the scorer's output included"; else not_ok "proxy mode logs are JSON lines only: $pnonjson"; fi
else
  not_ok "the proxy example image was built"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
