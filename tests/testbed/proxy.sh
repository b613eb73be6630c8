#!/usr/bin/env bash
# A real HTTP proxy for the tests: Debian's tinyproxy on the docker0 address and
# a free port, logging every request it forwards.
#
#   proxy.sh start   start (or reuse) it; prints its URL (http://<docker0>:<port>)
#   proxy.sh stop
#   proxy.sh log     print the path of its log
source "$(dirname "$0")/lib.sh"

RUN="${EDGE_RUN}/proxy"

address() { docker0_address; }
alive() { pid_alive "$RUN"; }
url() { echo "http://$(cat "${RUN}/address"):$(cat "${RUN}/port")"; }
# tinyproxy answers a request for itself with an error page: any HTTP answer means it listens.
answers() { curl -s --max-time 3 -o /dev/null -w '%{http_code}' "$(url)/" 2>/dev/null | grep -q '^[1-5]'; }

do_start() {
  apt_install tinyproxy curl
  # Debian's package starts a system-wide tinyproxy on 8888: the tests use their own.
  systemctl disable --now tinyproxy >/dev/null 2>&1 || true
  mkdir -p "$RUN"
  if alive && answers && [ "$(cat "${RUN}/address")" = "$(address)" ]; then
    url; return 0
  fi
  do_stop quiet
  local ip port
  ip=$(address)
  port=$(free_port "$ip")
  echo "$ip" > "${RUN}/address"; echo "$port" > "${RUN}/port"
  : > "${RUN}/tinyproxy.log"
  chown nobody:nogroup "${RUN}/tinyproxy.log" 2>/dev/null || chmod 666 "${RUN}/tinyproxy.log"
  cat > "${RUN}/tinyproxy.conf" <<CONF
User nobody
Group nogroup
Port ${port}
Listen ${ip}
Timeout 120
LogFile "${RUN}/tinyproxy.log"
LogLevel Info
MaxClients 50
# no Allow line: every client may use it (it listens on the docker0 address only)
DisableViaHeader Yes
CONF
  # -d: in the foreground, as our child (8>&- 9>&-: it must not inherit the start lock).
  setsid tinyproxy -d -c "${RUN}/tinyproxy.conf" > "${RUN}/stdout.log" 2>&1 < /dev/null 8>&- 9>&- &
  echo $! > "${RUN}/pid"
  for _ in $(seq 1 30); do
    answers && { log "tinyproxy at $(url) (log: ${RUN}/tinyproxy.log)"; url; return 0; }
    alive || break
    sleep 0.5
  done
  tail -n 20 "${RUN}/stdout.log" "${RUN}/tinyproxy.log" >&2
  die "tinyproxy did not start"
}

do_stop() { stop_daemon "$RUN" "tinyproxy" "${1:-}"; }

case "${1:-}" in
  start)
    mkdir -p "$EDGE_RUN"
    exec 9> "${EDGE_RUN}/proxy.lock"
    flock 9
    do_start ;;
  stop) do_stop ;;
  log) echo "${RUN}/tinyproxy.log" ;;
  *) echo "usage: $0 start|stop|log" >&2; exit 2 ;;
esac
