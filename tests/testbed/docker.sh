#!/usr/bin/env bash
# Make sure a Docker Engine (Debian's docker.io) runs on this machine.
source "$(dirname "$0")/lib.sh"

# Every systemd container holds inotify instances of the host's root user;
# the kernel default (128) stops the tenth or so from booting.
if [ "$(cat /proc/sys/fs/inotify/max_user_instances 2>/dev/null || echo 0)" -lt 1024 ]; then
  sysctl -qw fs.inotify.max_user_instances=1024 2>/dev/null || log "could not raise fs.inotify.max_user_instances"
fi

if docker info >/dev/null 2>&1; then
  exit 0
fi
command -v dockerd >/dev/null 2>&1 || apt_install docker.io
# Debian's package may leave a client from elsewhere first on PATH; either works.
mkdir -p "$EDGE_RUN"
log "starting dockerd (log: ${EDGE_RUN}/dockerd.log)"
setsid dockerd --storage-driver=overlay2 > "${EDGE_RUN}/dockerd.log" 2>&1 < /dev/null 8>&- 9>&- &
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && { log "dockerd is up"; exit 0; }
  sleep 1
done
tail -n 30 "${EDGE_RUN}/dockerd.log" >&2
die "dockerd did not answer within 60 s"
