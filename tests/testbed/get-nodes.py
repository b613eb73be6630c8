"""Print `kubectl get nodes -o wide` through the kubernetes Python client
(for machines without kubectl). Usage: get-nodes.py KUBECONFIG"""

import datetime
import sys

from kubernetes import client, config


def age(created):
    secs = int((datetime.datetime.now(datetime.timezone.utc) - created).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return "%d%s" % (secs // size, unit)
    return "%ds" % secs


def main():
    config.load_kube_config(config_file=sys.argv[1])
    rows = [("NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION",
             "CONTAINER-RUNTIME")]
    for node in client.CoreV1Api().list_node().items:
        labels = node.metadata.labels or {}
        roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")) or ["<none>"]
        ready = [c.status for c in (node.status.conditions or []) if c.type == "Ready"]
        status = "Ready" if ready == ["True"] else "NotReady"
        if node.spec.unschedulable:
            status += ",SchedulingDisabled"
        ips = [a.address for a in (node.status.addresses or []) if a.type == "InternalIP"] or ["<none>"]
        info = node.status.node_info
        rows.append((node.metadata.name, status, ",".join(roles), age(node.metadata.creation_timestamp),
                     info.kubelet_version if info else "", ips[0], info.os_image if info else "",
                     info.kernel_version if info else "", info.container_runtime_version if info else ""))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("   ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())


if __name__ == "__main__":
    main()
