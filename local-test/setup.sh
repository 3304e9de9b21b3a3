#!/usr/bin/env bash
# One-time set-up on a fresh machine: nginx (the one system package the server needs), a JDK (the
# proxy-mode tests and example run a real Java scorer), the npm dependencies, and the compiled
# TypeScript. Safe to run again.
# usage: local-test/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

have_nginx() { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; }

if ! command -v node >/dev/null 2>&1; then
  echo "setup: Node.js 20 or newer is required (https://nodejs.org, or your package manager)" >&2
  exit 1
fi

if ! have_nginx; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
      command -v sudo >/dev/null 2>&1 || { echo "setup: nginx is missing; as root run: apt-get install -y nginx" >&2; exit 1; }
      sudo="sudo"
    fi
    echo "setup: installing nginx (apt-get install -y nginx)"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nginx >/dev/null
    # Debian starts a default nginx on port 80; the model server runs its own, so stop that one.
    if command -v systemctl >/dev/null 2>&1 && [ "$(systemctl is-system-running 2>/dev/null || true)" != "offline" ]; then
      $sudo systemctl disable --now nginx >/dev/null 2>&1 || echo "setup: note: could not stop the system nginx service on port 80"
    fi
  else
    echo "setup: nginx is missing: install it (dnf install -y nginx, brew install nginx, ...) and run this again" >&2
    exit 1
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

npm ci
npm run build
echo "setup: done. Serve the example model with: npm start"
