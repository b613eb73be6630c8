#!/usr/bin/env bash
# Cloud side of the edgenode scenario, run by tests/testbed/molecule-all.sh:
#   testbed.sh setup     start it and print the EDGE_* exports molecule.yml uses
#   testbed.sh teardown  nothing to stop: the cloudcore double and the artifacts
#                        server are shared with the tests of other lanes (start reuses them)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
tb="${root}/tests/testbed"
case "${1:-}" in
  setup)
    "${tb}/controlplane.sh" start >/dev/null
    art=$("${root}/tests/double/package.sh" v1.13.1 | tail -n1)
    url=$("${tb}/artifacts-server.sh" start | tail -n1)
    "${tb}/cloudcore-double.sh" start >/dev/null
    eval "$("${tb}/cloudcore-double.sh" env)"
    eval "$("${tb}/controlplane.sh" env)"
    # A clean slate: Nodes of an earlier run must not satisfy this run's checks.
    python3 - "$KUBECONFIG" "${root}/molecule/edgenode/molecule.yml" >&2 <<'PY'
import sys
import yaml
from kubernetes import client, config
config.load_kube_config(config_file=sys.argv[1])
api = client.CoreV1Api()
for platform in yaml.safe_load(open(sys.argv[2]))["platforms"]:
    try:
        api.delete_node(platform["name"])
        print("deleted Node %s of an earlier run" % platform["name"])
    except client.ApiException as exc:
        if exc.status != 404:
            raise
PY
    echo "export KUBECONFIG=${KUBECONFIG}"
    echo "export EDGE_CLOUDCORE_ADDRESS=${CLOUDCORE_ADDRESS}"
    echo "export EDGE_ARTIFACTS_DIR=${art}"
    echo "export EDGE_ARTIFACTS_URL=${url}"
    printf "export EDGE_IMAGE_ARCHIVES_JSON='%s'\n" \
      '[{"archive": "installation-package-v1.13.1.tar", "image": "docker.io/kubeedge/installation-package:v1.13.1"},
        {"archive": "pause-3.6.tar", "image": "registry.k8s.io/pause:3.6"},
        {"archive": "eclipse-mosquitto-1.6.15.tar", "image": "docker.io/library/eclipse-mosquitto:1.6.15"}]' | tr -d '\n'
    echo
    ;;
  teardown)
    ;;
  *) echo "usage: $0 setup|teardown" >&2; exit 2 ;;
esac
