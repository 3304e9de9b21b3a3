# Container engine helpers, sourced by the local-test scripts. With a Docker engine they use docker;
# without one (air-gapped or CI hosts that only reach a Debian mirror and an npm registry) they use
# buildah and podman from Debian, set up as shared/CONTAINER.md describes.
# Provides: ENGINE (docker|podman), engine_setup, engine_build TAG [ARGS...], npm_ca_mount_args,
# engine_from_env IMAGE.

engine_die() { echo "${0##*/}: $*" >&2; exit 1; }

engine_setup() {
  if [ "${ENGINE:-}" = docker ] || { [ -z "${ENGINE:-}" ] && command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }; then
    ENGINE=docker
    return
  fi
  ENGINE=podman
  if ! command -v podman >/dev/null 2>&1 || ! command -v buildah >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1 \
      || engine_die "no Docker engine, and buildah/podman are missing: install them (apt-get install -y buildah podman runc debootstrap)"
    echo "${0##*/}: no Docker engine; installing buildah and podman" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah podman runc debootstrap >/dev/null
  fi
  # podman asks for nofile=1048576 unless told otherwise, which these kernels refuse; crun cannot run in
  # hybrid cgroups here, runc can.
  if [ "$(id -u)" -eq 0 ] && [ ! -f /etc/containers/containers.conf ]; then
    local n
    n=$(ulimit -Hn)
    mkdir -p /etc/containers
    printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=32768:32768"]\n\n[engine]\nruntime = "runc"\n' "$n" "$n" > /etc/containers/containers.conf
  fi
  if [ "$(id -u)" -eq 0 ] && [ ! -f /etc/containers/storage.conf ]; then
    printf '[storage]\ndriver = "overlay"\nrunroot = "/run/containers/storage"\ngraphroot = "/var/lib/containers/storage"\n' > /etc/containers/storage.conf
  fi
}

# The engine a local-test script runs IMAGE with: $DOCKER (docker, or podman), or a clear error.
engine_from_env() {
  ENGINE="${DOCKER:-docker}"
  command -v "$ENGINE" >/dev/null 2>&1 || engine_die "$ENGINE is not installed (needed to run image $1; set DOCKER=podman to use podman)"
}

# npm inside a build must trust the same CA as the host's npm (a TLS-intercepting proxy, for instance).
# Prints buildah arguments that mount a /root holding that CA and an .npmrc pointing at it.
npm_ca_mount_args() {
  local ca
  ca=$(npm config get cafile 2>/dev/null || true)
  [ -n "$ca" ] && [ "$ca" != "null" ] && [ "$ca" != "undefined" ] && [ -f "$ca" ] || ca="${NODE_EXTRA_CA_CERTS:-}"
  [ -n "$ca" ] && [ -f "$ca" ] || return 0
  local dir
  dir=$(mktemp -d)
  cp "$ca" "$dir/ca.pem"
  printf 'cafile=/root/ca.pem\n' > "$dir/.npmrc"
  printf -- '-v %s:/root' "$dir"
}

# engine_build TAG [extra build args...]: builds the Dockerfile in the current directory.
engine_build() {
  local tag="$1"
  shift
  if [ "$ENGINE" = docker ]; then
    docker build -t "$tag" "$@" .
  else
    # shellcheck disable=SC2046
    buildah bud --isolation chroot --network host --pull=never $(npm_ca_mount_args) -t "$tag" "$@" .
  fi
}
