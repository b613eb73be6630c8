#!/usr/bin/env bash
# Build the systemd host images the Molecule scenarios use, with debootstrap
# and `docker import` (no registry is reachable). Built once, reused while the
# image exists. Usage: images.sh [suite...]   (default: bookworm bullseye)
source "$(dirname "$0")/lib.sh"

"$(dirname "$0")/docker.sh"
apt_install debootstrap

suites=("$@")
[ "${#suites[@]}" -gt 0 ] || suites=(bookworm bullseye)
mirror=$(debian_mirror)
for suite in "${suites[@]}"; do
  image="edge-cluster/systemd-debian:${suite}"
  if docker image inspect "$image" >/dev/null 2>&1; then
    log "image ${image} present"
    continue
  fi
  rootfs="${EDGE_CACHE}/rootfs-${suite}"
  rm -rf "$rootfs"
  log "debootstrap ${suite} from ${mirror} (about 1 minute)"
  debootstrap --variant=minbase \
    --include=python3,python3-apt,systemd,systemd-sysv,dbus,iproute2,procps,sudo,ca-certificates,gnupg \
    "$suite" "$rootfs" "$mirror" > "${EDGE_CACHE}/debootstrap-${suite}.log" 2>&1 \
    || { tail -n 30 "${EDGE_CACHE}/debootstrap-${suite}.log" >&2; die "debootstrap ${suite} failed"; }
  # The host's apt sources for the same mirror, so roles can apt-install inside.
  echo "deb ${mirror} ${suite} main" > "${rootfs}/etc/apt/sources.list"
  # No getty / udev noise in a container.
  rm -f "${rootfs}"/etc/systemd/system/getty.target.wants/* 2>/dev/null || true
  tar -C "$rootfs" -c . | docker import \
    --change 'CMD ["/lib/systemd/systemd"]' \
    --change 'ENV container=docker' - "$image" >/dev/null
  rm -rf "$rootfs"
  log "built ${image}"
done
