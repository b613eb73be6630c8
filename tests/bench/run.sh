#!/usr/bin/env bash
# make bench: the benchmarks of BENCHMARKS.md on the real test bed.
#
#   tests/bench/run.sh [--only daemonset,fleet,idempotence] [--output FILE]
#
# Starts (or reuses) the control plane, the KubeEdge doubles' cloud side and
# the artifacts server, fetches kubectl v1.20.2 for the runbook script, runs
# tests/bench/bench.py and rewrites BENCHMARKS.md. Settings are environment
# variables, listed in tests/bench/bench.py (BENCH_REPS, BENCH_FLEET_SIZES...).
# Benchmarks measure; they never fail on a timing. Everything created carries
# the run's prefix (ebench-<hex>) and is removed at the end.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
tb="${root}/tests/testbed"
cache="${EDGE_CLUSTER_CACHE:-/var/cache/edge-cluster}"
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [ -z "${ANSIBLE_COLLECTIONS_PATH:-}" ]; then
  # Not called through the Makefile's $(RUN): do what it does.
  collections="${cache}/collections/$(cd "$root" && pwd | sha256sum | cut -c1-12)"
  "${tb}/collections-path.sh" "$collections" >/dev/null
  # shellcheck source=/dev/null
  source "${tb}/env.sh" "$collections"
fi

# BENCH_REF=<commit>: measure that commit (git archive, no checkout) instead of
# the work tree, e.g. while files are being edited.
if [ -n "${BENCH_REF:-}" ]; then
  sha=$(git -C "$root" rev-parse --short=12 "${BENCH_REF}^{commit}")
  src="${cache}/bench/src-${sha}"
  if [ ! -d "$src" ]; then
    rm -rf "${src}.tmp"; mkdir -p "${src}.tmp"
    git -C "$root" archive "$sha" | tar -x -C "${src}.tmp"
    mv "${src}.tmp" "$src"
  fi
  mkdir -p "${cache}/bench/collections-${sha}/ansible_collections/edge"
  ln -sfn "$src" "${cache}/bench/collections-${sha}/ansible_collections/edge/cluster"
  export ANSIBLE_COLLECTIONS_PATH="${cache}/bench/collections-${sha}"
  export PYTHONPATH="${ANSIBLE_COLLECTIONS_PATH}${PYTHONPATH:+:${PYTHONPATH}}"
  export BENCH_COLLECTION_DIR="$src" BENCH_COLLECTION_REF="$sha"
  log "measuring commit ${sha} (${src})"
fi

"${tb}/controlplane.sh" start >/dev/null
eval "$("${tb}/controlplane.sh" env)"
"${tb}/images.sh" >/dev/null
art=$("${root}/tests/double/package.sh" v1.13.1 | tail -n1)
url=$("${tb}/artifacts-server.sh" start | tail -n1)
"${tb}/cloudcore-double.sh" start >/dev/null
eval "$("${tb}/cloudcore-double.sh" env)"
export EDGE_CLOUDCORE_ADDRESS="${CLOUDCORE_ADDRESS}" EDGE_ARTIFACTS_DIR="${art}" EDGE_ARTIFACTS_URL="${url}"

# The runbook script runs the kubectl of the cluster's version: Debian's
# kubernetes-client (1.20.2), unpacked here and never installed system-wide.
kdir="${cache}/bench/kubectl"
kubectl="${kdir}/root/usr/bin/kubectl"
if [ ! -x "$kubectl" ]; then
  log "fetching kubectl 1.20.2 (Debian kubernetes-client) into ${kdir}"
  mkdir -p "$kdir"
  (cd "$kdir" && apt-get download kubernetes-client >/dev/null 2>&1 \
     && dpkg-deb -x kubernetes-client_*.deb root) || true
fi
if [ ! -x "$kubectl" ]; then
  kubectl=$(command -v kubectl || true)
  [ -n "$kubectl" ] || { log "ERROR: no kubectl: apt-get download kubernetes-client failed and none is in PATH"; exit 1; }
  log "WARNING: using ${kubectl} ($("$kubectl" version --client --short 2>/dev/null | tail -n1)) for the runbook script"
fi

cd "$root"
exec python "${root}/tests/bench/bench.py" --kubectl "$kubectl" "$@"
