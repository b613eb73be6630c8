#!/usr/bin/env bash
# Cloud side of the superedge scenario, run by tests/testbed/molecule-all.sh:
#   testbed.sh setup     start it and print the SUPEREDGE_* exports molecule.yml uses
#   testbed.sh teardown  undo the kubeadm marks and what the edgeadm double left
# The artifacts server is shared with other scenarios: it is left running.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "${here}/../.." && pwd)"
tb="${root}/tests/testbed"
run="${EDGE_CLUSTER_RUN:-${EDGE_CLUSTER_CACHE:-/var/cache/edge-cluster}/run}"
state="${run}/superedge-molecule-marks.json"
case "${1:-}" in
  setup)
    "${tb}/controlplane.sh" start >/dev/null
    art=$("${root}/tests/double/package-edgeadm.sh" v0.9.0 | tail -n1)
    url=$("${tb}/artifacts-server.sh" start | tail -n1)
    eval "$("${tb}/controlplane.sh" env)"
    # Nodes of an earlier run must not satisfy this run's checks.
    python3 - "$KUBECONFIG" >&2 <<'PY'
import sys
from kubernetes import client, config
config.load_kube_config(config_file=sys.argv[1])
api = client.CoreV1Api()
for name in ("superedge-edge-1", "superedge-edge-2"):
    try:
        api.delete_node(name)
        print("deleted Node %s of an earlier run" % name)
    except client.ApiException as exc:
        if exc.status != 404:
            raise
PY
    if [ -f "$state" ]; then python3 "${here}/kubeadm_marks.py" teardown "$state" >&2; fi
    python3 "${here}/kubeadm_marks.py" setup "$state" >&2
    echo "export KUBECONFIG=${KUBECONFIG}"
    echo "export SUPEREDGE_APISERVER=${EDGE_APISERVER#https://}"
    echo "export SUPEREDGE_PKI=${run}/controlplane/pki"
    echo "export SUPEREDGE_ARTIFACTS_DIR=${art}/v0.9.0/amd64"
    echo "export SUPEREDGE_ARTIFACTS_URL=${url}/superedge"
    ;;
  teardown)
    python3 "${here}/kubeadm_marks.py" teardown "$state" || true
    ;;
  *) echo "usage: $0 setup|teardown" >&2; exit 2 ;;
esac
