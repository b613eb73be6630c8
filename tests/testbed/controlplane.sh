#!/usr/bin/env bash
# A real Kubernetes control plane for the tests: etcd (Debian) plus
# kube-apiserver, kube-controller-manager and kube-scheduler built from
# Debian's kubernetes source (kube-build.sh).
#
#   controlplane.sh start    start (or reuse) it, print the admin kubeconfig path
#   controlplane.sh stop     stop it and wipe its state
#   controlplane.sh restart-apiserver   restart kube-apiserver alone (etcd and its data stay)
#   controlplane.sh status   exit 0 when the apiserver answers /readyz
#   controlplane.sh env      print shell exports (KUBECONFIG, EDGE_APISERVER...)
#
# The apiserver listens on the docker0 address (so systemd test containers
# reach it) and on 127.0.0.1, both covered by its certificate.
source "$(dirname "$0")/lib.sh"

CP="${EDGE_RUN}/controlplane"
KUBECONFIG_OUT="${CP}/admin.kubeconfig"
ETCD_PORT="${EDGE_ETCD_PORT:-12379}"
API_PORT="${EDGE_APISERVER_PORT:-6443}"

bind_ip() {
  local ip
  ip=$(ip -4 -o addr show dev docker0 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -n1)
  echo "${ip:-127.0.0.1}"
}

ready() {
  [ -f "${CP}/admin.token" ] || return 1
  curl -fsS --max-time 3 --cacert "${CP}/pki/ca.crt" \
    -H "Authorization: Bearer $(cat "${CP}/admin.token")" \
    "https://$(cat "${CP}/bind_ip" 2>/dev/null || echo 127.0.0.1):${API_PORT}/readyz" >/dev/null 2>&1
}

ready_while_alive() {
  # Ready now, or within 60 s while etcd and kube-apiserver run: on a loaded
  # machine (lanes side by side) /readyz can be slow for a while, and wiping
  # the shared cluster then would pull it from under the other lanes' tests.
  local n
  for n in $(seq 1 30); do
    ready && return 0
    alive etcd && alive kube-apiserver || return 1
    [ "$n" = 1 ] && log "control plane running but not ready yet: waiting up to 60 s before starting it anew"
    sleep 2
  done
  return 1
}

pki() {
  local ip=$1 d="${CP}/pki"
  [ -f "${d}/apiserver.crt" ] && grep -qx "$ip" "${d}/ip" 2>/dev/null && return 0
  mkdir -p "$d"; chmod 700 "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=edge-cluster-test-ca" \
    -keyout "${d}/ca.key" -out "${d}/ca.crt" 2>/dev/null
  cat > "${d}/san.cnf" <<CNF
[req]
distinguished_name=dn
[dn]
[ext]
subjectAltName=IP:${ip},IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
CNF
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout "${d}/apiserver.key" -out "${d}/apiserver.csr" 2>/dev/null
  openssl x509 -req -in "${d}/apiserver.csr" -CA "${d}/ca.crt" -CAkey "${d}/ca.key" -CAcreateserial \
    -days 3650 -extfile "${d}/san.cnf" -extensions ext -out "${d}/apiserver.crt" 2>/dev/null
  openssl genrsa -out "${d}/sa.key" 2048 2>/dev/null
  openssl rsa -in "${d}/sa.key" -pubout -out "${d}/sa.pub" 2>/dev/null
  echo "$ip" > "${d}/ip"
}

start_bg() {
  # start_bg NAME CMD... : run CMD detached, pid in ${CP}/NAME.pid
  local name=$1; shift
  # 8>&- : the daemon must not inherit the start lock.
  setsid "$@" > "${CP}/${name}.log" 2>&1 < /dev/null 8>&- &
  echo $! > "${CP}/${name}.pid"
}

alive() { [ -f "${CP}/$1.pid" ] && kill -0 "$(cat "${CP}/$1.pid")" 2>/dev/null; }

start_apiserver() {
  # start_apiserver IP KUBE_DIR: start kube-apiserver on etcd's data, wait until ready
  local ip=$1 kdir=$2
  log "starting kube-apiserver on ${ip}:${API_PORT}"
  # Every request is audited (Metadata level) to ${CP}/audit.log, so tests and
  # benchmarks can count API requests; EDGE_AUDIT_POLICY overrides the policy.
  local audit_args=(--audit-policy-file="${EDGE_AUDIT_POLICY:-${REPO_ROOT}/tests/testbed/audit-policy.yaml}"
                    --audit-log-path="${CP}/audit.log" --audit-log-maxsize=200 --audit-log-maxbackup=3)
  start_bg kube-apiserver "${kdir}/bin/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:${ETCD_PORT}" \
    --bind-address=0.0.0.0 --advertise-address="$ip" --secure-port="$API_PORT" \
    --tls-cert-file="${CP}/pki/apiserver.crt" --tls-private-key-file="${CP}/pki/apiserver.key" \
    --client-ca-file="${CP}/pki/ca.crt" \
    --token-auth-file="${CP}/tokens.csv" --authorization-mode=Node,RBAC \
    --service-account-key-file="${CP}/pki/sa.pub" \
    --service-account-signing-key-file="${CP}/pki/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range=10.96.0.0/16 --allow-privileged=true \
    --enable-bootstrap-token-auth=true "${audit_args[@]}"
  for _ in $(seq 1 60); do
    ready && break
    alive kube-apiserver || { tail -n 30 "${CP}/kube-apiserver.log" >&2; die "kube-apiserver exited"; }
    sleep 1
  done
  ready || { tail -n 30 "${CP}/kube-apiserver.log" >&2; die "kube-apiserver not ready after 60 s"; }
}

restart_apiserver() {
  # A real restart of kube-apiserver alone (etcd, its data and the other
  # components keep running): what a control plane upgrade or crash looks like
  # to clients. The reliability suite restarts it in the middle of a play.
  ready || die "control plane is not running: run $0 start"
  local kdir n
  kdir=$("$(dirname "$0")/kube-build.sh" | tail -n1)
  log "restarting kube-apiserver"
  kill "$(cat "${CP}/kube-apiserver.pid")"
  for n in $(seq 1 40); do alive kube-apiserver || break; sleep 0.25; done
  if alive kube-apiserver; then kill -9 "$(cat "${CP}/kube-apiserver.pid")" 2>/dev/null || true; sleep 1; fi
  start_apiserver "$(cat "${CP}/bind_ip")" "$kdir"
  log "kube-apiserver restarted (${n} x 0.25 s to stop)"
}

do_start() {
  "$(dirname "$0")/docker.sh" || log "docker not available: binding the apiserver to 127.0.0.1"
  apt_install etcd-server openssl curl
  local kdir ip
  kdir=$("$(dirname "$0")/kube-build.sh" | tail -n1)
  ip=$(bind_ip)
  mkdir -p "$CP"; chmod 700 "$CP"
  if [ "$(cat "${CP}/bind_ip" 2>/dev/null)" = "$ip" ] && ready_while_alive; then
    log "control plane already running on ${ip}:${API_PORT}"
    echo "$KUBECONFIG_OUT"; return 0
  fi
  do_stop quiet
  mkdir -p "$CP"; chmod 700 "$CP"
  echo "$ip" > "${CP}/bind_ip"
  pki "$ip"
  [ -f "${CP}/admin.token" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "${CP}/admin.token"
  [ -f "${CP}/nobody.token" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "${CP}/nobody.token"
  chmod 600 "${CP}"/*.token
  {
    echo "$(cat "${CP}/admin.token"),admin,admin-uid,\"system:masters\""
    echo "$(cat "${CP}/nobody.token"),nobody,nobody-uid"
  } > "${CP}/tokens.csv"
  chmod 600 "${CP}/tokens.csv"

  log "starting etcd on 127.0.0.1:${ETCD_PORT}"
  start_bg etcd etcd --name edge-test --data-dir "${CP}/etcd" \
    --listen-client-urls "http://127.0.0.1:${ETCD_PORT}" --advertise-client-urls "http://127.0.0.1:${ETCD_PORT}" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-cluster "edge-test=http://127.0.0.1:$((ETCD_PORT + 1))"
  for _ in $(seq 1 30); do
    curl -fsS "http://127.0.0.1:${ETCD_PORT}/health" >/dev/null 2>&1 && break; sleep 1
  done

  start_apiserver "$ip" "$kdir"

  umask 077
  cat > "$KUBECONFIG_OUT" <<KC
apiVersion: v1
kind: Config
clusters:
- name: edge-test
  cluster:
    server: https://${ip}:${API_PORT}
    certificate-authority-data: $(base64 -w0 < "${CP}/pki/ca.crt")
users:
- name: admin
  user:
    token: $(cat "${CP}/admin.token")
- name: nobody
  user:
    token: $(cat "${CP}/nobody.token")
contexts:
- name: edge-test
  context: {cluster: edge-test, user: admin}
- name: edge-test-nobody
  context: {cluster: edge-test, user: nobody}
current-context: edge-test
KC
  chmod 600 "$KUBECONFIG_OUT"

  log "starting kube-controller-manager and kube-scheduler"
  start_bg kube-controller-manager "${kdir}/bin/kube-controller-manager" \
    --kubeconfig="$KUBECONFIG_OUT" --service-account-private-key-file="${CP}/pki/sa.key" \
    --root-ca-file="${CP}/pki/ca.crt" --controllers='*,bootstrapsigner,tokencleaner' \
    --leader-elect=false --bind-address=127.0.0.1 --port=0 --secure-port=10257
  start_bg kube-scheduler "${kdir}/bin/kube-scheduler" \
    --kubeconfig="$KUBECONFIG_OUT" --leader-elect=false --bind-address=127.0.0.1 --port=0 --secure-port=10259
  sleep 2
  alive kube-controller-manager || { tail -n 20 "${CP}/kube-controller-manager.log" >&2; die "kube-controller-manager exited"; }
  alive kube-scheduler || { tail -n 20 "${CP}/kube-scheduler.log" >&2; die "kube-scheduler exited"; }
  log "control plane $("${kdir}/bin/kube-apiserver" --version) ready: KUBECONFIG=${KUBECONFIG_OUT}"
  echo "$KUBECONFIG_OUT"
}

do_stop() {
  local n
  # The cloudcore double lives on this control plane's data: it goes with it.
  "$(dirname "$0")/cloudcore-double.sh" stop quiet >/dev/null 2>&1 || true
  for n in kube-scheduler kube-controller-manager kube-apiserver etcd; do
    if alive "$n"; then
      kill "$(cat "${CP}/${n}.pid")" 2>/dev/null || true
      for _ in $(seq 1 20); do alive "$n" || break; sleep 0.5; done
      if alive "$n"; then kill -9 "$(cat "${CP}/${n}.pid")" 2>/dev/null || true; fi
    fi
    rm -f "${CP}/${n}.pid"
  done
  rm -rf "${CP}/etcd"
  [ "${1:-}" = quiet ] || log "control plane stopped"
}

case "${1:-}" in
  start)
    mkdir -p "$EDGE_RUN"
    exec 8> "${EDGE_RUN}/controlplane.lock"
    flock 8
    do_start ;;
  stop) do_stop ;;
  restart-apiserver)
    exec 8> "${EDGE_RUN}/controlplane.lock"
    flock 8
    restart_apiserver ;;
  status) ready ;;
  env)
    ready || die "control plane is not running: run $0 start"
    echo "export KUBECONFIG=${KUBECONFIG_OUT}"
    echo "export EDGE_APISERVER=https://$(cat "${CP}/bind_ip"):${API_PORT}"
    ;;
  *) echo "usage: $0 start|stop|restart-apiserver|status|env" >&2; exit 2 ;;
esac
