#!/usr/bin/env bash
# package-edgeadm.sh VERSION... : build the edgeadm test double's static install
# packages, offline, under $EDGE_CACHE/artifacts/superedge/<version>/<arch>/,
# the layout of SuperEdge's download site (<base>/<version>/<arch>/<file>):
#
#   edgeadm-linux-amd64-<v>-k8s-<k>.tgz          (v0.7.0 and later; before: edgeadm-linux-amd64-<v>.tgz)
#     edgeadm-linux-amd64-<v>-k8s-<k>/edgeadm                 the double (tests/double/edgeadm.py)
#     edgeadm-linux-amd64-<v>-k8s-<k>/kube-linux-amd64-v<k>.tar.gz
#       edge-install/bin/{kubelet,lite-apiserver}             the kubelet and lite-apiserver stand-ins
#       edge-install/script/init-node.sh                      placeholder (the real one tunes the host)
#   edgeadm-linux-amd64-<v>-k8s-<k>.tgz.sha256   "<sha256 hex>  <file name>" (not published by SuperEdge)
#
# <k> is the Kubernetes version SuperEdge ships with that release: 1.18.2
# (v0.4-v0.6), 1.20.6 (v0.7), 1.22.6 (v0.8, v0.9). Rebuilt when the double
# changes. Prints the artifacts root ($EDGE_CACHE/artifacts/superedge) last.
source "$(dirname "$0")/../testbed/lib.sh"

[ "$#" -gt 0 ] || die "usage: $0 VERSION... (e.g. v0.9.0)"

ART="${EDGE_CACHE}/artifacts/superedge"
DOUBLE="${REPO_ROOT}/tests/double"
mkdir -p "$ART"
exec 9> "${ART}/.lock"
flock 9

stamp=$(cat "${DOUBLE}/edgeadm.py" "${DOUBLE}/package-edgeadm.sh" | sha256sum | cut -c1-16)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

kube_version() {
  case "$1" in
    v0.[456].*) echo 1.18.2 ;;
    v0.7.*) echo 1.20.6 ;;
    *) echo 1.22.6 ;;
  esac
}

build_version() {
  local v=$1 arch=amd64
  [[ "$v" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "bad version '$v' (expected vX.Y.Z)"
  local k top out="${ART}/${v}/${arch}"
  k=$(kube_version "$v")
  case "$v" in
    v0.[456].*) top="edgeadm-linux-${arch}-${v}" ;;
    *) top="edgeadm-linux-${arch}-${v}-k8s-${k}" ;;
  esac
  if [ "$(cat "${out}/.stamp" 2>/dev/null)" = "$stamp" ]; then
    log "edgeadm packages for ${v} up to date in ${out}"
    return 0
  fi
  log "building the edgeadm static install package ${top}.tgz"
  rm -rf "$out"; mkdir -p "$out"
  local b="${work}/${v}"
  mkdir -p "${b}/${top}" "${b}/kube/edge-install/bin" "${b}/kube/edge-install/script"
  # The source carries no shebang; the packaged "binaries" run with the hosts' python3.
  { echo '#!/usr/bin/env python3'
    sed -e '1{/^#!/d}' -e "s/@EDGEADM_VERSION@/${v}/" -e "s/@KUBE_VERSION@/v${k}/" "${DOUBLE}/edgeadm.py"; } \
    > "${b}/${top}/edgeadm"
  chmod 755 "${b}/${top}/edgeadm"
  cp "${b}/${top}/edgeadm" "${b}/kube/edge-install/bin/kubelet"
  cp "${b}/${top}/edgeadm" "${b}/kube/edge-install/bin/lite-apiserver"
  printf '#!/bin/sh\n# edgeadm double: the real init-node.sh tunes sysctl, swap and modules.\nexit 0\n' \
    > "${b}/kube/edge-install/script/init-node.sh"
  chmod 755 "${b}/kube/edge-install/script/init-node.sh"
  tar -C "${b}/kube" --owner=0 --group=0 -czf "${b}/${top}/kube-linux-${arch}-v${k}.tar.gz" edge-install
  tar -C "$b" --owner=0 --group=0 -czf "${out}/${top}.tgz" "${top}/"
  (cd "$out" && sha256sum "${top}.tgz" > "${top}.tgz.sha256")
  chmod 644 "${out}"/*
  echo "$stamp" > "${out}/.stamp"
}

for v in "$@"; do build_version "$v"; done
echo "$ART"
