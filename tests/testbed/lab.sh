#!/usr/bin/env bash
# The local lab: the real control plane of the test bed plus one cloud host
# and three edge hosts (systemd containers, inventories/lab), then the main job:
#   lab.sh up [ansible-playbook args...]   build what is missing, run playbooks/site.yml
#   lab.sh upgrade VERSION [args...]       run playbooks/upgrade.yml to that release (CloudCore first)
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
lab_hosts() { python3 -c 'import sys, yaml
def walk(group):
    for name in (group.get("hosts") or {}):
        print(name)
    for child in (group.get("children") or {}).values():
        walk(child or {})
walk(yaml.safe_load(open(sys.argv[1]))["all"])' "${INV}/hosts.yml"; }

artifacts() {
  # Fill .lab/artifacts/<version> (a fresh directory) and write .lab/lab-vars.yml.
  rm -rf "${LAB}/artifacts"
  lab_vars "$(release "$VERSION")" "${LAB}/artifacts/${VERSION}"
}

release() {
  # release VERSION: copy that release into .lab/artifacts/VERSION; prints where it came from.
  local v=$1 dest="${LAB}/artifacts/$1" src
  rm -rf "$dest"; mkdir -p "${LAB}/artifacts"
  if [ -n "${KUBEEDGE_ARTIFACTS_DIR:-}" ]; then
    src="${KUBEEDGE_ARTIFACTS_DIR%/}/${v}"
    [ -d "$src" ] || src="${KUBEEDGE_ARTIFACTS_DIR%/}"
    [ -f "${src}/keadm-${v}-linux-amd64.tar.gz" ] \
      || die "KUBEEDGE_ARTIFACTS_DIR: no keadm-${v}-linux-amd64.tar.gz in ${src}"
    log "NOTICE: KubeEdge ${v} from KUBEEDGE_ARTIFACTS_DIR (${src}); CloudCore runs as a systemd service (binary method)"
    cp -a "$src" "$dest"
    echo real
  elif [ -n "$RELEASES" ]; then
    log "NOTICE: KubeEdge ${v} downloaded from KUBEEDGE_RELEASE_URL (${RELEASES}); images are pulled by the hosts"
    mkdir -p "$dest"
    local t
    for t in keadm kubeedge; do
      curl -fsSL -o "${dest}/${t}-${v}-linux-amd64.tar.gz" "${RELEASES}/${v}/${t}-${v}-linux-amd64.tar.gz"
      curl -fsSL -o "${dest}/checksum_${t}-${v}-linux-amd64.tar.gz.txt" \
        "${RELEASES}/${v}/checksum_${t}-${v}-linux-amd64.tar.gz.txt"
    done
    echo real
  else
    log "NOTICE: no KUBEEDGE_ARTIFACTS_DIR or KUBEEDGE_RELEASE_URL: the lab uses the KubeEdge TEST DOUBLES of tests/double (not real KubeEdge)"
    src="$("${REPO_ROOT}/tests/double/package.sh" "$v" | tail -n1)/${v}"
    cp -a "$src" "$dest"
    echo doubles
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
      # The lab's hosts are containers sharing this machine's cgroup hierarchy: real
      # edged cannot create its systemd QoS slices there ("root container [kubepods]
      # doesn't exist"), so every lab edge host runs the cgroupfs driver with real
      # binaries. Real machines keep edgenode_cgroup_driver as their inventory says.
      echo "edgenode_cgroup_driver: cgroupfs"
    fi
    echo "lab_image_archives:"
    local f img archive
    # The lab's version is a variable (playbooks/upgrade.yml runs with another one):
    # the installation-package archive and image follow it.
    # shellcheck disable=SC2016  # Jinja, not shell
    for f in 'installation-package-{{ lab_kubeedge_version }}.tar:docker.io/kubeedge/installation-package:{{ lab_kubeedge_version }}' \
             pause-3.6.tar:registry.k8s.io/pause:3.6 \
             eclipse-mosquitto-1.6.15.tar:docker.io/library/eclipse-mosquitto:1.6.15; do
      img=${f#*:}
      archive=${f%%:*}
      [ -f "${dir}/${archive//\{\{ lab_kubeedge_version \}\}/${VERSION}}" ] \
        && echo "  - {archive: \"${f%%:*}\", image: \"${img}\"}"
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
  # The operator's SSH key; host keys are learnt again for the hosts of this run.
  if ! command -v ssh-keygen >/dev/null 2>&1 || ! command -v ssh >/dev/null 2>&1; then
    apt_install openssh-client
  fi
  mkdir -p "${LAB}/ssh"; chmod 700 "${LAB}/ssh"
  [ -f "${LAB}/ssh/id_ed25519" ] || ssh-keygen -q -t ed25519 -N "" -C edge-lab-ops -f "${LAB}/ssh/id_ed25519"
  rm -f "${LAB}/ssh/known_hosts"
  ansible-playbook -i "$INV" -e "@${LAB}/lab-vars.yml" -e lab_connection=docker tests/testbed/lab-hosts.yml >"${LAB}/lab-hosts.log" \
    || { tail -n 40 "${LAB}/lab-hosts.log" >&2; die "could not start the lab hosts (log: .lab/lab-hosts.log)"; }
  log "ansible-playbook -i inventories/lab playbooks/site.yml (SSH as ops, become)"
  ansible-playbook -i "$INV" -e "@${LAB}/lab-vars.yml" playbooks/site.yml "$@"
  log "the lab cluster (KUBECONFIG=.lab/kubeconfig):"
  nodes
  log "make lab finished in $(( $(date +%s) - start )) s"
}

upgrade() {
  # upgrade VERSION [ansible-playbook args]: playbooks/upgrade.yml on the running lab, CloudCore
  # first, with that release from the same source as the lab's (doubles or real binaries).
  local to=${1:?usage: lab.sh upgrade VERSION [ansible-playbook args]} source
  shift
  [ -f "${LAB}/lab-vars.yml" ] || die "no lab to upgrade: run lab.sh up first"
  source=$(release "$to")
  grep -qx "lab_artifacts_source: ${source}" "${LAB}/lab-vars.yml" \
    || die "the lab runs binaries of another source than ${to}'s (${source}): bring it up again"
  log "ansible-playbook -i inventories/lab playbooks/upgrade.yml -e lab_kubeedge_version=${to}"
  ansible-playbook -i "$INV" -e "@${LAB}/lab-vars.yml" -e "lab_kubeedge_version=${to}" playbooks/upgrade.yml "$@"
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
    python3 "${REPO_ROOT}/tests/testbed/remove-cloudcore-release.py" "$kc" $(lab_hosts) \
      || log "WARNING: could not remove the lab's Nodes and CloudCore release (see above)"
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
  upgrade) shift; upgrade "$@" ;;
  down) down ;;
  nodes) nodes ;;
  *) die "usage: $0 up [ansible-playbook args] | upgrade VERSION [ansible-playbook args] | down | nodes" ;;
esac
