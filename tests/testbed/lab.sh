#!/usr/bin/env bash
# The local lab: the real control plane of the test bed plus one cloud host
# and three edge hosts (systemd containers, inventories/lab), then the main job:
#   lab.sh up [ansible-playbook args...]   build what is missing, run playbooks/site.yml
#   lab.sh down                            remove the lab hosts, network, Nodes, CloudCore's Helm release and .lab/
# KubeEdge binaries: KUBEEDGE_ARTIFACTS_DIR (a directory per version in the
# release layout: keadm-<v>-linux-amd64.tar.gz, kubeedge-<v>-..., checksum_*.txt,
# optional image archives) when set; else downloaded from KUBEEDGE_RELEASE_URL
# only when that names a download source (opt-in: nothing leaves the machine
# otherwise); else the test doubles of tests/double. A notice says which.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT" || exit 1
LAB="${REPO_ROOT}/.lab"
INV="${REPO_ROOT}/inventories/lab"
VERSION=$(awk '/^lab_kubeedge_version:/ {print $2}' "${INV}/group_vars/all.yml")
RELEASES="${KUBEEDGE_RELEASE_URL:-}"
lab_hosts() { python3 -c 'import sys, yaml; d = yaml.safe_load(open(sys.argv[1]))
for g in d["all"]["children"].values():
    print("\n".join(g["hosts"]))' "${INV}/hosts.yml"; }

artifacts() {
  # Fill .lab/artifacts/<version> and write .lab/lab-vars.yml.
  local dest="${LAB}/artifacts/${VERSION}" src
  rm -rf "${LAB}/artifacts"; mkdir -p "${LAB}/artifacts"
  if [ -n "${KUBEEDGE_ARTIFACTS_DIR:-}" ]; then
    src="${KUBEEDGE_ARTIFACTS_DIR%/}/${VERSION}"
    [ -d "$src" ] || src="${KUBEEDGE_ARTIFACTS_DIR%/}"
    [ -f "${src}/keadm-${VERSION}-linux-amd64.tar.gz" ] \
      || die "KUBEEDGE_ARTIFACTS_DIR: no keadm-${VERSION}-linux-amd64.tar.gz in ${src}"
    log "NOTICE: KubeEdge ${VERSION} from KUBEEDGE_ARTIFACTS_DIR (${src}); CloudCore runs as a systemd service (binary method)"
    cp -a "$src" "$dest"
    lab_vars real "$dest"
  elif [ -n "$RELEASES" ]; then
    log "NOTICE: KubeEdge ${VERSION} downloaded from KUBEEDGE_RELEASE_URL (${RELEASES}); images are pulled by the hosts"
    mkdir -p "$dest"
    local t
    for t in keadm kubeedge; do
      curl -fsSL -o "${dest}/${t}-${VERSION}-linux-amd64.tar.gz" "${RELEASES}/${VERSION}/${t}-${VERSION}-linux-amd64.tar.gz"
      curl -fsSL -o "${dest}/checksum_${t}-${VERSION}-linux-amd64.tar.gz.txt" \
        "${RELEASES}/${VERSION}/checksum_${t}-${VERSION}-linux-amd64.tar.gz.txt"
    done
    lab_vars real "$dest"
  else
    log "NOTICE: no KUBEEDGE_ARTIFACTS_DIR or KUBEEDGE_RELEASE_URL: the lab uses the KubeEdge TEST DOUBLES of tests/double (not real KubeEdge)"
    src="$("${REPO_ROOT}/tests/double/package.sh" "$VERSION" | tail -n1)/${VERSION}"
    cp -a "$src" "$dest"
    lab_vars doubles "$dest"
  fi
}

lab_vars() {
  # lab_vars SOURCE DIR : the settings that depend on where the binaries come from.
  local source=$1 dir=$2
  {
    echo "---"
    echo "lab_artifacts_source: ${source}"
    if [ "$source" = real ]; then
      # A real keadm init installs a Helm chart whose pod needs a kubelet; the lab
      # cluster has none, so the real CloudCore runs as a service on lab-cloud.
      echo "cloudcore_method: binary"
      # Real cloudcore's CloudStream needs the cluster CA (kubectl logs/exec):
      # the test bed's control plane CA, read on the controller.
      echo "cloudcore_stream_ca_cert_src: ${EDGE_RUN}/controlplane/pki/ca.crt"
      echo "cloudcore_stream_ca_key_src: ${EDGE_RUN}/controlplane/pki/ca.key"
      echo "cloudcore_stream_ca_remote_src: false"
    fi
    echo "lab_image_archives:"
    local f img
    for f in installation-package-${VERSION}.tar:docker.io/kubeedge/installation-package:${VERSION} \
             pause-3.6.tar:registry.k8s.io/pause:3.6 \
             eclipse-mosquitto-1.6.15.tar:docker.io/library/eclipse-mosquitto:1.6.15; do
      img=${f#*:}
      [ -f "${dir}/${f%%:*}" ] && echo "  - {archive: ${f%%:*}, image: \"${img}\"}"
    done
    true
  } > "${LAB}/lab-vars.yml"
  grep -q "archive:" "${LAB}/lab-vars.yml" || sed -i 's/^lab_image_archives:$/lab_image_archives: []/' "${LAB}/lab-vars.yml"
}

up() {
  local start
  start=$(date +%s)
  mkdir -p "$LAB"; chmod 700 "$LAB"
  "${REPO_ROOT}/tests/testbed/images.sh" >/dev/null
  "${REPO_ROOT}/tests/testbed/controlplane.sh" start >/dev/null
  eval "$("${REPO_ROOT}/tests/testbed/controlplane.sh" env)"
  install -m 0600 "$KUBECONFIG" "${LAB}/kubeconfig"
  artifacts
  log "starting the lab hosts: $(lab_hosts | tr '\n' ' ')"
  ansible-playbook -i "$INV" -e "@${LAB}/lab-vars.yml" tests/testbed/lab-hosts.yml >"${LAB}/lab-hosts.log" \
    || { tail -n 40 "${LAB}/lab-hosts.log" >&2; die "could not start the lab hosts (log: .lab/lab-hosts.log)"; }
  log "ansible-playbook -i inventories/lab playbooks/site.yml"
  ansible-playbook -i "$INV" -e "@${LAB}/lab-vars.yml" playbooks/site.yml "$@"
  log "the lab cluster (KUBECONFIG=.lab/kubeconfig):"
  nodes
  log "make lab finished in $(( $(date +%s) - start )) s"
}

nodes() {
  if command -v kubectl >/dev/null 2>&1 && kubectl --kubeconfig "${LAB}/kubeconfig" get nodes -o wide 2>/dev/null; then
    return 0
  fi
  # No kubectl on this machine: the same table through the Python client.
  python3 "${REPO_ROOT}/tests/testbed/get-nodes.py" "${LAB}/kubeconfig"
}

down() {
  local h kc="${LAB}/kubeconfig"
  # Without the lab's kubeconfig (.lab/ already removed), the test bed's admin
  # one: a CloudCore release left in the cluster would break the next `up`.
  [ -f "$kc" ] || kc="${EDGE_RUN}/controlplane/admin.kubeconfig"
  if [ -f "$kc" ] && "${REPO_ROOT}/tests/testbed/controlplane.sh" status; then
    # shellcheck disable=SC2046  # one argument per host name
    python3 - "$kc" $(lab_hosts) <<'PY' || log "WARNING: could not remove the lab's Nodes and CloudCore release (see above)"
import sys
from kubernetes import client, config
config.load_kube_config(config_file=sys.argv[1])
api = client.CoreV1Api()
for name in sys.argv[2:]:
    try:
        api.delete_node(name)
        print("deleted Node %s" % name)
    except client.ApiException as exc:
        if exc.status != 404:
            raise
# The Helm release keadm init installed for lab-cloud's CloudCore (what `helm
# uninstall cloudcore` removes): without it the next lab would find a CloudCore
# Deployment whose host is gone. The namespace and its Secrets (token, CA) stay:
# the test bed's other users share them.
from kubernetes.client import AppsV1Api, RbacAuthorizationV1Api
apps, rbac = AppsV1Api(api.api_client), RbacAuthorizationV1Api(api.api_client)
ns = "kubeedge"


def ours(obj):
    meta = obj.metadata
    return ((meta.annotations or {}).get("meta.helm.sh/release-name") == "cloudcore"
            or ((meta.labels or {}).get("owner") == "helm" and (meta.labels or {}).get("name") == "cloudcore"))


# Deletes do not parse the answer (_preload_content=False): the client cannot read
# the Status that kube-apiserver v1.20 returns for a deleted Service.
kinds = [
    (lambda: apps.list_namespaced_deployment(ns).items, apps.delete_namespaced_deployment),
    (lambda: api.list_namespaced_service(ns).items, api.delete_namespaced_service),
    (lambda: api.list_namespaced_config_map(ns).items, api.delete_namespaced_config_map),
    (lambda: api.list_namespaced_service_account(ns).items, api.delete_namespaced_service_account),
    (lambda: api.list_namespaced_secret(ns).items, api.delete_namespaced_secret),
    (lambda: rbac.list_cluster_role_binding().items, rbac.delete_cluster_role_binding),
    (lambda: rbac.list_cluster_role().items, rbac.delete_cluster_role),
]
for list_, delete in kinds:
    for obj in list_():
        if ours(obj):
            try:
                args = (obj.metadata.name, ns) if obj.metadata.namespace else (obj.metadata.name,)
                delete(*args, _preload_content=False)
                print("deleted %s %s" % (obj.kind or type(obj).__name__, obj.metadata.name))
            except client.ApiException as exc:
                if exc.status != 404:
                    raise
PY
  fi
  for h in $(lab_hosts); do
    if docker rm -f -v "$h" >/dev/null 2>&1; then log "removed ${h}"; fi
  done
  docker network rm edge-lab >/dev/null 2>&1 || true
  rm -rf "$LAB"
  log "lab removed (the shared control plane keeps running: make controlplane-stop stops it)"
}

case "${1:-up}" in
  up) shift || true; up "$@" ;;
  down) down ;;
  nodes) nodes ;;
  *) die "usage: $0 up [ansible-playbook args] | down | nodes" ;;
esac
