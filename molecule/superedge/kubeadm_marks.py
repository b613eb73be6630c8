"""Make the test bed's control plane look kubeadm-built for the superedge role, and undo it.

The test bed runs kube-apiserver and kube-controller-manager as plain
processes (tests/testbed/controlplane.sh), not as kubeadm static Pods. The
role's preflight reads what kubeadm leaves in the cluster, so this creates:

* ConfigMap kube-system/kubeadm-config (ClusterConfiguration),
* ConfigMap kube-system/kube-proxy with a kubeconfig.conf key,
* Pod kube-system/kube-controller-manager-<suffix> labelled
  component=kube-controller-manager, whose command is the argv of the REAL
  kube-controller-manager process (read from /proc), like the mirror Pod a
  kubelet publishes for a static Pod. It names a scheduler that does not exist,
  so it never lands on a node.

Objects that existed before are left alone. `cleanup` also removes what
`edgeadm addon edge-apps` (the double) left outside edge-system when those
objects did not exist before `setup`.

    python3 kubeadm_marks.py setup STATE [--controllers LIST]
    python3 kubeadm_marks.py teardown STATE
"""

import json
import os
import sys

from kubernetes import client, config
from kubernetes.client.rest import ApiException

MARK = {"edge.cluster/test-mark": "superedge"}
RUN = os.environ.get("EDGE_CLUSTER_RUN", os.path.join(os.environ.get("EDGE_CLUSTER_CACHE", "/var/cache/edge-cluster"),
                                                      "run"))
# What the edgeadm double's addon creates outside edge-system: (kind, namespace, name).
ADDON_LEFTOVERS = [
    ("ConfigMap", "kube-public", "cluster-info"),
    ("ConfigMap", "kube-system", "kubelet-config-1.22"),
    ("ConfigMap", "kube-system", "kubelet-config-1.18"),
    ("Role", "kube-public", "kubeadm:bootstrap-signer-clusterinfo"),
    ("RoleBinding", "kube-public", "kubeadm:bootstrap-signer-clusterinfo"),
    ("ClusterRole", None, "kubeadm:get-nodes"),
    ("ClusterRoleBinding", None, "kubeadm:get-nodes"),
    ("ClusterRoleBinding", None, "kubeadm:kubelet-bootstrap"),
    ("ClusterRoleBinding", None, "kubeadm:node-autoapprove-bootstrap"),
    ("ClusterRoleBinding", None, "kubeadm:node-autoapprove-certificate-rotation"),
    ("ClusterRole", None, "edgeadm-double:bootstrap-kubelet"),
    ("ClusterRoleBinding", None, "edgeadm-double:bootstrap-kubelet"),
    ("Namespace", None, "edge-system"),
]

PROXY_KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority: /var/lib/kube-proxy/ca.crt
    server: https://%s
  name: default
contexts:
- context:
    cluster: default
    namespace: default
    user: default
  name: default
current-context: default
users:
- name: default
  user:
    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
"""


def _ops(api_client, kind):
    core = client.CoreV1Api(api_client)
    rbac = client.RbacAuthorizationV1Api(api_client)
    return {
        "ConfigMap": (core.read_namespaced_config_map, core.delete_namespaced_config_map),
        "Pod": (core.read_namespaced_pod, core.delete_namespaced_pod),
        "Role": (rbac.read_namespaced_role, rbac.delete_namespaced_role),
        "RoleBinding": (rbac.read_namespaced_role_binding, rbac.delete_namespaced_role_binding),
        "ClusterRole": (rbac.read_cluster_role, rbac.delete_cluster_role),
        "ClusterRoleBinding": (rbac.read_cluster_role_binding, rbac.delete_cluster_role_binding),
        "Namespace": (core.read_namespace, core.delete_namespace),
    }[kind]


def exists(api_client, kind, namespace, name):
    read = _ops(api_client, kind)[0]
    try:
        if namespace:
            read(name, namespace)
        else:
            read(name)
        return True
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise


def delete(api_client, kind, namespace, name):
    remove = _ops(api_client, kind)[1]
    try:
        if namespace:
            remove(name, namespace)
        else:
            remove(name)
    except ApiException as exc:
        if exc.status != 404:
            raise


def real_kcm_argv():
    """argv of the running kube-controller-manager of the test bed."""
    with open(os.path.join(RUN, "controlplane", "kube-controller-manager.pid")) as f:
        pid = f.read().strip()
    with open("/proc/%s/cmdline" % pid, "rb") as f:
        argv = [a.decode() for a in f.read().split(b"\0") if a]
    return ["kube-controller-manager"] + argv[1:]


def kcm_pod(argv, suffix):
    return client.V1Pod(
        metadata=client.V1ObjectMeta(
            name="kube-controller-manager-%s" % suffix, namespace="kube-system",
            labels=dict(MARK, component="kube-controller-manager", tier="control-plane"),
            annotations={"edge.cluster/mirror-of": "the kube-controller-manager process of the test bed"}),
        spec=client.V1PodSpec(
            scheduler_name="edge-cluster-none", host_network=True, priority_class_name=None,
            containers=[client.V1Container(name="kube-controller-manager",
                                           image="k8s.gcr.io/kube-controller-manager:v1.20.2", command=argv)]))


def setup(api_client, controllers=None, kcm=True, kubeadm=True, suffix="superedge-test"):
    """Create the marks; return the list of (kind, namespace, name) created and the pre-existing leftovers."""
    core = client.CoreV1Api(api_client)
    for pod in core.list_namespaced_pod("kube-system", label_selector="edge.cluster/test-mark=superedge").items:
        delete(api_client, "Pod", "kube-system", pod.metadata.name)
    created = []
    if kubeadm:
        server = api_client.configuration.host.replace("https://", "")
        for name, data in (("kubeadm-config", {"ClusterConfiguration":
                                               "apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\n"
                                               "kubernetesVersion: v1.20.2\n"}),
                           ("kube-proxy", {"kubeconfig.conf": PROXY_KUBECONFIG % server,
                                           "config.conf": "apiVersion: kubeproxy.config.k8s.io/v1alpha1\n"
                                           "kind: KubeProxyConfiguration\n"})):
            if not exists(api_client, "ConfigMap", "kube-system", name):
                core.create_namespaced_config_map("kube-system", client.V1ConfigMap(
                    metadata=client.V1ObjectMeta(name=name, namespace="kube-system", labels=MARK), data=data))
                created.append(("ConfigMap", "kube-system", name))
    if kcm:
        argv = real_kcm_argv()
        if controllers is not None:
            argv = [a for a in argv if not a.startswith("--controllers")]
            if controllers:
                argv.append("--controllers=%s" % controllers)
        core.create_namespaced_pod("kube-system", kcm_pod(argv, suffix))
        created.append(("Pod", "kube-system", "kube-controller-manager-%s" % suffix))
    before = [list(o) for o in ADDON_LEFTOVERS if exists(api_client, *o)]
    return {"created": [list(o) for o in created], "preexisting": before}


def teardown(api_client, state):
    for kind, namespace, name in state["created"]:
        delete(api_client, kind, namespace, name)
    cleanup_addon(api_client, state)


def cleanup_addon(api_client, state):
    """Remove what the addon double left, unless it existed before setup()."""
    keep = set(tuple(o) for o in state.get("preexisting", []))
    for obj in ADDON_LEFTOVERS:
        if obj not in keep:
            delete(api_client, *obj)


def _client():
    config.load_kube_config(config_file=os.environ["KUBECONFIG"])
    return client.ApiClient()


def main(argv):
    if len(argv) < 2 or argv[0] not in ("setup", "teardown"):
        sys.stderr.write(__doc__)
        return 2
    api_client = _client()
    if argv[0] == "setup":
        controllers = None
        if "--controllers" in argv:
            controllers = argv[argv.index("--controllers") + 1]
        state = setup(api_client, controllers=controllers)
        with open(argv[1], "w") as f:
            json.dump(state, f)
    else:
        if os.path.exists(argv[1]):
            with open(argv[1]) as f:
                teardown(api_client, json.load(f))
            os.remove(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
