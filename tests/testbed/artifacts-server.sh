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

address() { docker0_address; }
alive() { pid_alive "$RUN"; }
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
  port=$(free_port "$ip")
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

do_stop() { stop_daemon "$RUN" "artifacts server" "${1:-}"; }

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
