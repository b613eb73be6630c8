#!/usr/bin/env bash
# package.sh VERSION... : build the KubeEdge test doubles' release artifacts,
# offline, under $EDGE_CACHE/artifacts/<version>/ (outside the work tree):
#
#   keadm-<v>-linux-amd64.tar.gz      keadm-<v>-linux-amd64/{keadm/keadm,version}
#   checksum_keadm-<v>-linux-amd64.tar.gz.txt       sha512 hex, like the real release
#   kubeedge-<v>-linux-amd64.tar.gz   kubeedge-<v>-linux-amd64/{edge/edgecore,cloud/cloudcore/cloudcore,version}
#   checksum_kubeedge-<v>-linux-amd64.tar.gz.txt
#   installation-package-<v>.tar      docker save of docker.io/kubeedge/installation-package:<v>
#   pause-3.6.tar                     docker.io/kubeedge/pause:3.6 + registry.k8s.io/pause:3.6
#                                     + k8s.gcr.io/pause:3.2 (containerd's sandbox images)
#   eclipse-mosquitto-1.6.15.tar      docker.io/library/eclipse-mosquitto:1.6.15
#   SHA256SUMS                        sha256 of every file above (not in real releases)
#
# The image archives load with `docker load -i` and `ctr -n k8s.io images import`.
# Built once per version; rebuilt when the doubles' sources change. Prints the
# artifacts root on its last line.
source "$(dirname "$0")/../testbed/lib.sh"

[ "$#" -gt 0 ] || die "usage: $0 VERSION... (e.g. v1.13.1)"
"${REPO_ROOT}/tests/testbed/docker.sh"
apt_install busybox-static

ART="${EDGE_CACHE}/artifacts"
DOUBLE="${REPO_ROOT}/tests/double"
mkdir -p "${ART}/images"
exec 9> "${ART}/.lock"
flock 9

stamp=$(cat "${DOUBLE}/keadm.py" "${DOUBLE}/edgecore.py" "${DOUBLE}/cloudcore.py" "${DOUBLE}/package.sh" | sha256sum | cut -c1-16)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

rootfs() {
  # rootfs DIR : a tiny busybox root (sh, cp, sleep...)
  local d=$1
  mkdir -p "$d/bin" "$d/usr/local/bin" "$d/tmp"
  cp /bin/busybox "$d/bin/busybox"
  local a
  for a in sh cp ls cat sleep mkdir rm true; do ln -sf busybox "$d/bin/$a"; done
}

image_archive() {
  # image_archive OUT.tar ROOTFS CMD_JSON REF...
  local out=$1 dir=$2 cmd=$3; shift 3
  local first=$1
  tar -C "$dir" -c . | docker import --change "CMD ${cmd}" - "$first" >/dev/null
  local r
  for r in "${@:2}"; do docker tag "$first" "$r"; done
  docker save -o "${out}.tmp" "$@"
  chmod 644 "${out}.tmp"
  mv "${out}.tmp" "$out"
}

shared_images() {
  local s="${ART}/images"
  if [ ! -f "${s}/pause-3.6.tar" ]; then
    log "building pause image archive"
    rootfs "${work}/pause"
    printf '#!/bin/sh\ntrap "exit 0" TERM INT\nwhile :; do sleep 3600 & wait $!; done\n' > "${work}/pause/pause"
    chmod 755 "${work}/pause/pause"
    image_archive "${s}/pause-3.6.tar" "${work}/pause" '["/pause"]' \
      docker.io/kubeedge/pause:3.6 registry.k8s.io/pause:3.6 k8s.gcr.io/pause:3.2
  fi
  if [ ! -f "${s}/eclipse-mosquitto-1.6.15.tar" ]; then
    log "building eclipse-mosquitto stand-in image archive"
    rootfs "${work}/mosq"
    image_archive "${s}/eclipse-mosquitto-1.6.15.tar" "${work}/mosq" '["/bin/sleep","2147483647"]' \
      docker.io/library/eclipse-mosquitto:1.6.15
  fi
}

build_version() {
  local v=$1 out="${ART}/$1"
  [[ "$v" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "bad version '$v' (expected vX.Y.Z)"
  if [ "$(cat "${out}/.stamp" 2>/dev/null)" = "$stamp" ]; then
    log "artifacts for ${v} up to date in ${out}"
    return 0
  fi
  log "building artifacts for ${v} in ${out}"
  rm -rf "$out"; mkdir -p "$out"
  local b="${work}/${v}"
  mkdir -p "${b}/keadm-${v}-linux-amd64/keadm" "${b}/kubeedge-${v}-linux-amd64/edge" \
    "${b}/kubeedge-${v}-linux-amd64/cloud/cloudcore"
  # The sources carry no shebang (ansible-test allows none but `python` in
  # tests/); the packaged "binaries" run with the hosts' python3.
  { echo '#!/usr/bin/env python3'; sed -e '1{/^#!/d}' -e "s/@KUBEEDGE_VERSION@/${v}/" "${DOUBLE}/keadm.py"; } \
    > "${b}/keadm-${v}-linux-amd64/keadm/keadm"
  { echo '#!/usr/bin/env python3'; sed -e '1{/^#!/d}' -e "s/@KUBEEDGE_VERSION@/${v}/" "${DOUBLE}/edgecore.py"; } \
    > "${b}/kubeedge-${v}-linux-amd64/edge/edgecore"
  # The cloudcore double runs on the controller's venv or a cloud host's python3.
  { echo '#!/usr/bin/env python3'; sed -e '1{/^#!/d}' \
      -e "s/\"CLOUDCORE_DOUBLE_VERSION\", \"v1.13.1\"/\"CLOUDCORE_DOUBLE_VERSION\", \"${v}\"/" "${DOUBLE}/cloudcore.py"; } \
    > "${b}/kubeedge-${v}-linux-amd64/cloud/cloudcore/cloudcore"
  chmod 755 "${b}/keadm-${v}-linux-amd64/keadm/keadm" "${b}/kubeedge-${v}-linux-amd64/edge/edgecore" \
    "${b}/kubeedge-${v}-linux-amd64/cloud/cloudcore/cloudcore"
  echo "$v" > "${b}/keadm-${v}-linux-amd64/version"
  echo "$v" > "${b}/kubeedge-${v}-linux-amd64/version"
  local t
  for t in keadm kubeedge; do
    tar -C "$b" --owner=0 --group=0 -czf "${out}/${t}-${v}-linux-amd64.tar.gz" "${t}-${v}-linux-amd64/"
    sha512sum "${out}/${t}-${v}-linux-amd64.tar.gz" | cut -d' ' -f1 > "${out}/checksum_${t}-${v}-linux-amd64.tar.gz.txt"
  done
  rootfs "${b}/ip"
  cp "${b}/kubeedge-${v}-linux-amd64/edge/edgecore" "${b}/ip/usr/local/bin/edgecore"
  image_archive "${out}/installation-package-${v}.tar" "${b}/ip" '["/bin/sh"]' \
    "docker.io/kubeedge/installation-package:${v}"
  ln -f "${ART}/images/pause-3.6.tar" "${out}/pause-3.6.tar"
  ln -f "${ART}/images/eclipse-mosquitto-1.6.15.tar" "${out}/eclipse-mosquitto-1.6.15.tar"
  (cd "$out" && sha256sum -- *.tar.gz *.tar *.txt > SHA256SUMS)
  echo "$stamp" > "${out}/.stamp"
}

shared_images
for v in "$@"; do build_version "$v"; done
echo "$ART"
