# shellcheck shell=bash
# Shared settings for the test bed scripts. Everything cached lives outside
# the work tree so that later runs on the same machine are fast.
set -euo pipefail

EDGE_CACHE="${EDGE_CLUSTER_CACHE:-/var/cache/edge-cluster}"
EDGE_RUN="${EDGE_CLUSTER_RUN:-${EDGE_CACHE}/run}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export EDGE_CACHE EDGE_RUN REPO_ROOT

log() { printf '[testbed %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Small daemons of the test bed (artifacts server, proxy): on the docker0
# address, a free port, a pid file in their run directory.
docker0_address() {
  local ip
  ip=$(ip -4 -o addr show dev docker0 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -n1)
  echo "${ip:-127.0.0.1}"
}
free_port() { python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$1"; }
pid_alive() { [ -f "$1/pid" ] && kill -0 "$(cat "$1/pid")" 2>/dev/null; }
stop_daemon() {
  # stop_daemon RUN_DIR NAME [quiet]
  if pid_alive "$1"; then
    kill "$(cat "$1/pid")" 2>/dev/null || true
    for _ in $(seq 1 20); do pid_alive "$1" || break; sleep 0.25; done
  fi
  rm -f "$1/pid"
  [ "${3:-}" = quiet ] || log "$2 stopped"
}

apt_updated=""
apt_install() {
  # apt_install PKG... : install Debian packages that are missing.
  local missing=()
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  # Test lanes run side by side (tests/testbed/lanes.sh): one apt at a time, and
  # wait for apt's own locks when something else holds them.
  mkdir -p "$EDGE_RUN"
  (
    flock 8
    if [ -z "$apt_updated" ]; then
      apt-get -o DPkg::Lock::Timeout=600 update -qq
    fi
    log "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a \
      apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  ) 8> "${EDGE_RUN}/apt.lock"
  apt_updated=1
}

debian_mirror() {
  # The mirror this machine's apt uses for Debian itself.
  local m
  m=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
      | grep -E 'debian/?$|debian/? ' | grep -v security | head -n1 | awk '{print $2}' || true)
  [ -n "$m" ] || die "no Debian mirror in this machine's apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d/): the test bed builds its hosts from the mirror apt already uses; add one there"
  echo "$m"
}
