#!/usr/bin/env bash
# One-time set-up on a fresh machine: nginx (the one system package the server needs), ONNX's backend
# test data (libonnx-testdata, which npm test runs through the server), a JDK (the proxy-mode tests and
# example run a real Java scorer), the npm dependencies, and the compiled TypeScript. Safe to run again.
# usage: local-test/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

have_nginx() { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; }
# ONNX's backend conformance tests (one model per operator), which `npm test` sends through the server.
TESTDATA=/usr/share/libonnx-testdata/data/node
have_testdata() { [ -d "$TESTDATA" ]; }

if ! command -v node >/dev/null 2>&1; then
  echo "setup: Node.js 20 or newer is required (https://nodejs.org, or your package manager)" >&2
  exit 1
fi

packages=()
have_nginx || packages+=(nginx)
have_testdata || packages+=(libonnx-testdata)
if [ "${#packages[@]}" -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
      command -v sudo >/dev/null 2>&1 || { echo "setup: ${packages[*]} missing; as root run: apt-get install -y ${packages[*]}" >&2; exit 1; }
      sudo="sudo"
    fi
    echo "setup: installing ${packages[*]} (apt-get install -y ${packages[*]})"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
    # Debian starts a default nginx on port 80; the model server runs its own, so stop that one.
    if [[ " ${packages[*]} " == *" nginx "* ]] && command -v systemctl >/dev/null 2>&1 && [ "$(systemctl is-system-running 2>/dev/null || true)" != "offline" ]; then
      $sudo systemctl disable --now nginx >/dev/null 2>&1 || echo "setup: note: could not stop the system nginx service on port 80"
    fi
  elif ! have_nginx; then
    echo "setup: nginx is missing: install it (dnf install -y nginx, brew install nginx, ...) and run this again" >&2
    exit 1
  else
    echo "setup: note: npm test needs ONNX's backend test data in $(dirname "$TESTDATA") (Debian/Ubuntu: apt-get install libonnx-testdata)" >&2
  fi
fi

if ! command -v javac >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo"
  echo "setup: installing a JDK for the proxy-mode tests (apt-get install -y openjdk-17-jdk-headless)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq openjdk-17-jdk-headless >/dev/null \
    || echo "setup: note: no JDK installed; npm test's proxy-mode tests need java and javac (11 or newer)"
fi

# onnxruntime-node's install script would download CUDA files from outside the npm registry; the CPU build
# is in the package. npm 11 runs no dependency's install script (package.json allowScripts); npm 10 needs this.
ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-fund --no-audit
npm run build
# The inference-code examples (local-test/examples): their models, and their code/node_modules.
node tools/dist/make-hook-examples.js >/dev/null
echo "setup: done. Serve the example model with: npm start"
