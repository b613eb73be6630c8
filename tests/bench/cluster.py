"""Cluster plumbing shared by the benchmarks: identities, Nodes, cleanup.

Each measured party authenticates as its own ServiceAccount (bound to
cluster-admin, like the admin kubeconfig it stands for), so its requests can
be counted exactly in the audit log even while other test runs use the shared
apiserver as admin at the same time. Everything created carries the run's
prefix and is deleted by ``Bench.cleanup``.
"""

import base64
import copy
import os
import time

import yaml
from kubernetes import client, config

BENCH_LABEL = "bench.edge.cluster/run"
EDGE_LABEL = "node-role.kubernetes.io/edge"


class Bench(object):
    def __init__(self, kubeconfig, prefix, workdir):
        self.kubeconfig = kubeconfig
        self.prefix = prefix
        self.workdir = workdir
        self.api = config.new_client_from_config(config_file=kubeconfig)
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.rbac = client.RbacAuthorizationV1Api(self.api)
        self.home_ns = prefix
        self.namespaces = []
        self.nodes = []
        self.identities = {}
        with open(kubeconfig) as handle:
            self._admin_cfg = yaml.safe_load(handle)

    # ---- identities ------------------------------------------------------
    def ensure_namespace(self, name):
        try:
            self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
                name=name, labels={BENCH_LABEL: self.prefix})))
        except client.ApiException as exc:
            if exc.status != 409:
                raise
        if name not in self.namespaces:
            self.namespaces.append(name)
        return name

    def identity(self, who):
        """A kubeconfig authenticating as ServiceAccount <prefix>/<who> (cluster-admin).

        Returns (kubeconfig path, audit user name)."""
        if who in self.identities:
            return self.identities[who]
        self.ensure_namespace(self.home_ns)
        self.core.create_namespaced_service_account(self.home_ns, client.V1ServiceAccount(
            metadata=client.V1ObjectMeta(name=who)))
        binding = "%s-%s" % (self.prefix, who)
        self.rbac.create_cluster_role_binding(client.V1ClusterRoleBinding(
            metadata=client.V1ObjectMeta(name=binding, labels={BENCH_LABEL: self.prefix}),
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole",
                                      name="cluster-admin"),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name=who, namespace=self.home_ns)]))
        token = None
        for _attempt in range(60):  # the token controller adds the token Secret
            sa = self.core.read_namespaced_service_account(who, self.home_ns)
            for ref in sa.secrets or []:
                secret = self.core.read_namespaced_secret(ref.name, self.home_ns)
                if secret.data and secret.data.get("token"):
                    token = base64.b64decode(secret.data["token"]).decode()
            if token:
                break
            time.sleep(0.5)
        if not token:
            raise RuntimeError("no token Secret for ServiceAccount %s/%s after 30 s: is "
                               "kube-controller-manager running (tests/testbed/controlplane.sh status)?"
                               % (self.home_ns, who))
        cfg = copy.deepcopy(self._admin_cfg)
        ctx_name = cfg["current-context"]
        ctx = [c for c in cfg["contexts"] if c["name"] == ctx_name][0]
        cfg["users"] = [{"name": who, "user": {"token": token}}]
        cfg["contexts"] = [{"name": ctx_name, "context": dict(ctx["context"], user=who)}]
        path = os.path.join(self.workdir, "kubeconfig-%s" % who)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
            yaml.safe_dump(cfg, handle)
        user = "system:serviceaccount:%s:%s" % (self.home_ns, who)
        self.identities[who] = (path, user)
        return path, user

    # ---- Nodes -------------------------------------------------------------
    def add_nodes(self, names, labels):
        """Node objects without a kubelet (they stay NotReady), as the test bed allows."""
        for name in names:
            self.core.create_node(client.V1Node.from_dict({
                "metadata": {"name": name, "labels": dict(labels, **{BENCH_LABEL: self.prefix})},
                "status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                           "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}},
            }))
            self.nodes.append(name)

    def delete_nodes(self, names):
        for name in names:
            try:
                self.core.delete_node(name)
            except client.ApiException as exc:
                if exc.status != 404:
                    raise

    def force_delete_pods(self, namespace):
        """Pods on Nodes without a kubelet never finish terminating: delete them with grace 0."""
        try:
            pods = self.core.list_namespaced_pod(namespace).items
        except client.ApiException as exc:
            if exc.status == 404:
                return
            raise
        for pod in pods:
            try:
                self.core.delete_namespaced_pod(pod.metadata.name, namespace, grace_period_seconds=0)
            except client.ApiException as exc:
                if exc.status != 404:
                    raise

    def cleanup(self):
        """Delete everything of this run (namespaces, Nodes, bindings); errors are reported, not raised."""
        errors = []
        for ns in self.namespaces:
            try:
                self.apps.delete_collection_namespaced_daemon_set(ns)
                self.force_delete_pods(ns)
                self.core.delete_namespace(ns)
            except client.ApiException as exc:
                if exc.status != 404:
                    errors.append("namespace %s: %s" % (ns, exc.reason))
        try:
            self.rbac.delete_collection_cluster_role_binding(label_selector="%s=%s" % (BENCH_LABEL, self.prefix))
        except client.ApiException as exc:
            errors.append("clusterrolebindings: %s" % exc.reason)
        try:
            labelled = [n.metadata.name for n in self.core.list_node(
                label_selector="%s=%s" % (BENCH_LABEL, self.prefix)).items]
            self.delete_nodes(sorted(set(self.nodes) | set(labelled)))
        except client.ApiException as exc:
            errors.append("nodes: %s" % exc.reason)
        return errors
