#!/usr/bin/env bash
# The cloudcore test double (tests/double/cloudcore.py) as a background
# daemon against the test control plane (start controlplane.sh first).
#
#   cloudcore-double.sh start    start (or reuse) it; waits for 10000/10002 and the tokensecret
#   cloudcore-double.sh stop     stop it (the kubeedge namespace and its secrets stay)
#   cloudcore-double.sh status   exit 0 when it runs and answers
#   cloudcore-double.sh env      print exports: CLOUDCORE_ADDRESS, CLOUDCORE_IPPORT, ...
source "$(dirname "$0")/lib.sh"

CC="${EDGE_RUN}/cloudcore-double"
CP="${EDGE_RUN}/controlplane"
HUB_PORT="${EDGE_CLOUDHUB_PORT:-10000}"
HTTPS_PORT="${EDGE_CLOUDCORE_HTTPS_PORT:-10002}"
CC_VERSION="${EDGE_CLOUDCORE_VERSION:-v1.13.1}"

address() { cat "${CP}/bind_ip" 2>/dev/null || echo 127.0.0.1; }
alive() { [ -f "${CC}/pid" ] && kill -0 "$(cat "${CC}/pid")" 2>/dev/null; }
answers() {
  local ip; ip=$(cat "${CC}/address" 2>/dev/null) || return 1
  curl -ksf --max-time 3 -o /dev/null "https://${ip}:${HTTPS_PORT}/ca.crt" || return 1
  # the cloudhub port asks for a client certificate: a TLS handshake is enough
  timeout 3 bash -c "exec 3<>/dev/tcp/${ip}/${HUB_PORT}" 2>/dev/null
}
token_secret_exists() {
  "$1" - "${KUBECONFIG_PATH}" <<'PY'
import sys
from kubernetes import client, config
api = config.new_client_from_config(config_file=sys.argv[1])
s = client.CoreV1Api(api).read_namespaced_secret("tokensecret", "kubeedge")
sys.exit(0 if (s.data or {}).get("tokendata") else 1)
PY
}

do_start() {
  "$(dirname "$0")/controlplane.sh" status || die "the control plane is not running: run controlplane.sh start first"
  KUBECONFIG_PATH="${CP}/admin.kubeconfig"
  local ip py
  ip=$(address)
  py="$("$(dirname "$0")/venv.sh")/bin/python"
  mkdir -p "$CC"; chmod 700 "$CC"
  # Reused only while its token Secret exists: a control plane restarted with
  # a wiped etcd (controlplane.sh stop/start) needs a new double.
  if alive && answers && [ "$(cat "${CC}/address")" = "$ip" ] && token_secret_exists "$py" 2>/dev/null; then
    log "cloudcore double already running on ${ip}"
    return 0
  fi
  do_stop quiet
  echo "$ip" > "${CC}/address"
  log "starting the cloudcore double ${CC_VERSION} on ${ip}:${HUB_PORT}/${HTTPS_PORT}"
  # 8>&- 9>&- : the daemon must not inherit the start locks.
  CLOUDCORE_DOUBLE_VERSION="$CC_VERSION" setsid "$py" "${REPO_ROOT}/tests/double/cloudcore.py" \
    --kubeconfig "$KUBECONFIG_PATH" --advertise-address "$ip" \
    --https-port "$HTTPS_PORT" --cloudhub-port "$HUB_PORT" --state-dir "${CC}/state" \
    > "${CC}/cloudcore.log" 2>&1 < /dev/null 8>&- 9>&- &
  echo $! > "${CC}/pid"
  for _ in $(seq 1 60); do
    if answers && token_secret_exists "$py" 2>/dev/null; then
      log "cloudcore double ready (log: ${CC}/cloudcore.log)"
      return 0
    fi
    alive || { tail -n 30 "${CC}/cloudcore.log" >&2; die "the cloudcore double exited"; }
    sleep 1
  done
  tail -n 30 "${CC}/cloudcore.log" >&2
  die "the cloudcore double did not answer within 60 s"
}

do_stop() {
  if alive; then
    kill "$(cat "${CC}/pid")" 2>/dev/null || true
    for _ in $(seq 1 20); do alive || break; sleep 0.5; done
    if alive; then kill -9 "$(cat "${CC}/pid")" 2>/dev/null || true; fi
  fi
  rm -f "${CC}/pid"
  [ "${1:-}" = quiet ] || log "cloudcore double stopped"
}

case "${1:-}" in
  start)
    mkdir -p "$EDGE_RUN"
    exec 9> "${EDGE_RUN}/cloudcore-double.lock"
    flock 9
    do_start ;;
  stop) do_stop ;;
  status) alive && answers ;;
  env)
    { alive && answers; } || die "the cloudcore double is not running: run $0 start"
    ip=$(cat "${CC}/address")
    echo "export CLOUDCORE_ADDRESS=${ip}"
    echo "export CLOUDCORE_IPPORT=${ip}:${HUB_PORT}"
    echo "export CLOUDCORE_CERTPORT=${HTTPS_PORT}"
    echo "export CLOUDCORE_TOKEN_FILE=${CC}/state/token"
    echo "export CLOUDCORE_CA_FILE=${CC}/state/ca.crt"
    echo "export CLOUDCORE_LOG=${CC}/cloudcore.log"
    ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
