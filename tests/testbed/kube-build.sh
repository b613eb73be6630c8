#!/usr/bin/env bash
# Build kube-apiserver, kube-controller-manager and kube-scheduler from
# Debian's `kubernetes` source package (it ships vendor/), once per version.
# Output: ${EDGE_CACHE}/kubernetes-<version>/bin/
source "$(dirname "$0")/lib.sh"

apt_install golang-go rsync jq dpkg-dev make ca-certificates

src_list=/etc/apt/sources.list.d/edge-cluster-src.list
if ! grep -qs 'deb-src' "$src_list"; then
  mirror=$(debian_mirror)
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror} bookworm main" > "$src_list"
  apt-get update -qq
fi

version=$(apt-cache showsrc kubernetes | awk '/^Version:/{print $2; exit}')
[ -n "$version" ] || die "Debian has no 'kubernetes' source package in its lists"
upstream="${version%%-*}"; upstream="${upstream#*:}"; upstream="${upstream##*really}"
dest="${EDGE_CACHE}/kubernetes-${upstream}"
if [ -x "${dest}/bin/kube-apiserver" ] && [ -x "${dest}/bin/kube-controller-manager" ] && [ -x "${dest}/bin/kube-scheduler" ]; then
  log "control plane ${upstream} already built in ${dest}"
  echo "$dest"
  exit 0
fi

# One builder at a time; a second caller waits and then finds the binaries.
mkdir -p "$EDGE_CACHE"
exec 9> "${EDGE_CACHE}/kube-build.lock"
flock 9
if [ -x "${dest}/bin/kube-apiserver" ] && [ -x "${dest}/bin/kube-controller-manager" ] && [ -x "${dest}/bin/kube-scheduler" ]; then
  echo "$dest"
  exit 0
fi

work="${EDGE_CACHE}/build/kubernetes-${upstream}"
mkdir -p "$work"
cd "$work" || exit 1
orig=$(find . -maxdepth 1 -name '*.orig.tar.*' | head -n1)
if [ -z "$orig" ]; then
  log "downloading Debian source of kubernetes ${version}"
  apt-get source --download-only kubernetes >/dev/null
  orig=$(find . -maxdepth 1 -name '*.orig.tar.*' | head -n1)
fi
if [ ! -d src ]; then
  mkdir -p src.tmp
  tar -xf "$orig" -C src.tmp --strip-components=1
  mv src.tmp src
fi
cd src || exit 1
log "building kube-apiserver, kube-controller-manager, kube-scheduler ${upstream} (about 6 minutes)"
export HOME="${work}/home" GOCACHE="${work}/gocache" GOPATH="${work}/gopath" CGO_ENABLED=0
mkdir -p "$HOME"
make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler" > "${work}/build.log" 2>&1 \
  || { tail -n 40 "${work}/build.log" >&2; die "kubernetes build failed, log: ${work}/build.log"; }
mkdir -p "${dest}/bin"
for b in kube-apiserver kube-controller-manager kube-scheduler; do
  install -m 0755 "$(find _output -type f -name "$b" | head -n1)" "${dest}/bin/$b"
done
log "built into ${dest}/bin"
echo "$dest"
