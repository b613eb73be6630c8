#!/usr/bin/env bash
# Serve $EDGE_CACHE/artifacts (built by tests/double/package.sh) over HTTP on
# the docker0 address and a free port, so that containers can download
# "release" files from it.
#
#   artifacts-server.sh start   start (or reuse) it; prints the base URL
#   artifacts-server.sh stop
#   artifacts-server.sh url     print the base URL (exit 1 when not running)
source "$(dirname "$0")/lib.sh"

RUN="${EDGE_RUN}/artifacts-server"
ART="${EDGE_CACHE}/artifacts"

address() {
  local ip
  ip=$(ip -4 -o addr show dev docker0 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -n1)
  echo "${ip:-127.0.0.1}"
}
alive() { [ -f "${RUN}/pid" ] && kill -0 "$(cat "${RUN}/pid")" 2>/dev/null; }
url() { echo "http://$(cat "${RUN}/address"):$(cat "${RUN}/port")"; }
answers() { curl -fs --max-time 3 -o /dev/null "$(url)/" 2>/dev/null; }

do_start() {
  mkdir -p "$RUN" "$ART"
  if alive && answers && [ "$(cat "${RUN}/address")" = "$(address)" ]; then
    url; return 0
  fi
  do_stop quiet
  local ip port
  ip=$(address)
  port=$(python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$ip")
  echo "$ip" > "${RUN}/address"; echo "$port" > "${RUN}/port"
  # 8>&- 9>&- : the daemon must not inherit the start lock.
  setsid python3 -m http.server --bind "$ip" --directory "$ART" "$port" \
    > "${RUN}/server.log" 2>&1 < /dev/null 8>&- 9>&- &
  echo $! > "${RUN}/pid"
  for _ in $(seq 1 30); do
    answers && { log "serving ${ART} at $(url)"; url; return 0; }
    alive || break
    sleep 0.5
  done
  tail -n 20 "${RUN}/server.log" >&2
  die "the artifacts server did not start"
}

do_stop() {
  if alive; then
    kill "$(cat "${RUN}/pid")" 2>/dev/null || true
    for _ in $(seq 1 20); do alive || break; sleep 0.25; done
  fi
  rm -f "${RUN}/pid"
  [ "${1:-}" = quiet ] || log "artifacts server stopped"
}

case "${1:-}" in
  start)
    mkdir -p "$EDGE_RUN"
    exec 9> "${EDGE_RUN}/artifacts-server.lock"
    flock 9
    do_start ;;
  stop) do_stop ;;
  url) { [ -f "${RUN}/port" ] && alive && answers; } || die "the artifacts server is not running: run $0 start"; url ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
