#!/usr/bin/env bash
# The local lab: a real control plane plus systemd hosts, then the main job.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT" || exit 1
"$(dirname "$0")/controlplane.sh" start >/dev/null
eval "$("$(dirname "$0")/controlplane.sh" env)"
if [ ! -f playbooks/site.yml ]; then
  log "control plane up (KUBECONFIG=${KUBECONFIG}); host images built."
  log "playbooks/site.yml does not exist yet: the lab inventory and site playbook land with the playbooks issue."
  exit 0
fi
ansible-playbook -i inventories/lab playbooks/site.yml "$@"
