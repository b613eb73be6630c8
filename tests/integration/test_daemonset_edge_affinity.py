"""edge.cluster.daemonset_edge_affinity against the real control plane.

Nodes are created through the API (they never become Ready, no kubelet);
the DaemonSet controller still creates pods for them because the test
DaemonSets tolerate every taint, like calico-node and kube-proxy do, and the
scheduler binds them. Every test uses its own node names and its own edge
label, and scopes discovery to its namespace, so tests running in parallel on
the shared apiserver do not see each other's objects.
"""

import copy
import json
import os
import time

import pytest
from kubernetes import client

from ansible_collections.edge.cluster.plugins.module_utils import affinity as af

MODULE = "edge.cluster.daemonset_edge_affinity"
IMAGE = "registry.invalid/pause:1"
TOLERATE_ALL = [{"operator": "Exists"}]

USER_AFFINITY = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "example.com/zone", "operator": "NotIn", "values": ["nowhere"]}]},
            {"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["no-such-node"]}]},
        ]},
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 5, "preference": {"matchExpressions": [
                {"key": "example.com/disk", "operator": "In", "values": ["ssd"]}]}}],
    },
    "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 1, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "user-aff"}},
                                          "topologyKey": "kubernetes.io/hostname"}}]},
}


def raw(method, *args, **kwargs):
    return json.loads(method(*args, _preload_content=False, **kwargs).data)


def daemonset_body(name, labels=None, affinity=None, node_selector=None):
    spec = {"containers": [{"name": "main", "image": IMAGE}], "tolerations": TOLERATE_ALL,
            "terminationGracePeriodSeconds": 0}
    if affinity is not None:
        spec["affinity"] = copy.deepcopy(affinity)
    if node_selector:
        spec["nodeSelector"] = node_selector
    return client.V1DaemonSet.from_dict({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": name, "labels": dict(labels or {}, app=name)},
        "spec": {"selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": spec}},
    })


class Cluster:
    def __init__(self, api_client, namespace):
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.ns = namespace
        self.tag = os.urandom(3).hex()
        self.edge_label = "edge-test.example.com/edge-%s" % self.tag
        self.cloud_label = "edge-test.example.com/cloud-%s" % self.tag
        self.nodes = []

    def add_node(self, name, labels):
        name = "%s-%s" % (name, self.tag)
        self.core.create_node(client.V1Node.from_dict({
            "metadata": {"name": name, "labels": labels},
            "status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                       "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}},
        }))
        self.nodes.append(name)
        return name

    def add_daemonset(self, name, **kwargs):
        self.apps.create_namespaced_daemon_set(self.ns, daemonset_body(name, **kwargs))
        return self.read(name)

    def read(self, name):
        return raw(self.apps.read_namespaced_daemon_set, name, self.ns)

    def affinity(self, name):
        return af.pod_affinity_of(self.read(name))

    def pods_by_node(self):
        pods = raw(self.core.list_namespaced_pod, self.ns)["items"]
        return [(p["metadata"]["name"], p["spec"].get("nodeName")) for p in pods]

    def cleanup(self):
        for name in self.nodes:
            try:
                self.core.delete_node(name)
            except client.ApiException:
                pass


@pytest.fixture
def cluster(api_client, namespace):
    c = Cluster(api_client, namespace)
    yield c
    c.cleanup()


def wait_for(what, predicate, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise AssertionError("timed out waiting for %s" % what)


@pytest.fixture
def edge_setup(cluster):
    """One cloud node, two edge nodes, three DaemonSets and a Deployment."""
    cloud = cluster.add_node("cloud", {cluster.cloud_label: "true"})
    edges = [cluster.add_node("edge-%d" % i, {cluster.edge_label: ""}) for i in range(2)]
    cluster.add_daemonset("everywhere")
    cluster.add_daemonset("user-aff", affinity=USER_AFFINITY)
    cluster.add_daemonset("cloud-only", node_selector={cluster.cloud_label: "true"})
    cluster.apps.create_namespaced_deployment(cluster.ns, client.V1Deployment.from_dict({
        "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "main", "image": IMAGE}],
                                       "nodeSelector": {cluster.edge_label: ""},
                                       "tolerations": TOLERATE_ALL}}},
    }))

    def ready():
        placed = cluster.pods_by_node()
        on = dict((owner, set(n for p, n in placed if p.startswith(owner + "-") and n)) for owner in
                  ("everywhere", "user-aff", "cloud-only", "web"))
        return (set(edges) <= on["everywhere"] and set(edges) <= on["user-aff"] and cloud in on["cloud-only"]
                and on["web"] & set(edges))
    wait_for("DaemonSet and Deployment pods bound to the test nodes", ready)
    return cloud, edges


def base_args(kubeconfig, cluster, **extra):
    args = {"kubeconfig": kubeconfig, "namespace": cluster.ns, "node_label": cluster.edge_label}
    args.update(extra)
    return args


def warnings_of(result):
    return " ".join(str(w) for w in result.get("warnings", []))


def test_discover_check_apply_idempotent_and_absent(run_module, kubeconfig, cluster, edge_setup):
    ns = cluster.ns
    before = dict((n, cluster.read(n)) for n in ("everywhere", "user-aff", "cloud-only"))
    args = base_args(kubeconfig, cluster, discover=True)
    expected = sorted(["%s/everywhere" % ns, "%s/user-aff" % ns])

    # check mode: predicts the change, sends no patch
    rc, result = run_module(MODULE, args, check=True, diff=True)
    assert rc == 0, result
    assert result["changed"] is True
    assert sorted(result["changed_daemonsets"]) == expected
    diffs = dict((d["before_header"], d) for d in result["diff"])
    assert diffs["DaemonSet %s/everywhere affinity" % ns]["before"] == {}
    assert diffs["DaemonSet %s/user-aff affinity" % ns]["before"] == USER_AFFINITY
    # No patch sent: generation and spec unchanged (resourceVersion is not: the DaemonSet
    # controller may still be writing status while the module runs).
    for name, obj in before.items():
        now = cluster.read(name)
        assert (now["metadata"]["generation"], now["spec"]) == (obj["metadata"]["generation"], obj["spec"]), name

    # apply
    rc, result = run_module(MODULE, args)
    assert rc == 0, result
    assert result["changed"] is True
    assert sorted(result["changed_daemonsets"]) == expected
    ours = {"key": cluster.edge_label, "operator": "DoesNotExist"}
    assert cluster.affinity("everywhere") == {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [ours]}]}}}
    merged = cluster.affinity("user-aff")
    assert merged == af.add_node_exclusion(USER_AFFINITY, cluster.edge_label)[0]
    terms = merged["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"][0] == USER_AFFINITY["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"][0]
    assert terms[1]["matchFields"] and ours in terms[1]["matchExpressions"]
    assert merged["podAntiAffinity"] == USER_AFFINITY["podAntiAffinity"]
    cloud_only = cluster.read("cloud-only")
    assert (cloud_only["metadata"]["generation"], cloud_only["spec"]) == \
        (before["cloud-only"]["metadata"]["generation"], before["cloud-only"]["spec"])
    statuses = dict((d["name"], d["status"]) for d in result["daemonsets"])
    assert statuses == {"everywhere": "changed", "user-aff": "changed"}
    assert sorted(result["edge_nodes"]) == sorted(edge_setup[1])

    # the Deployment with a pod on an edge node is reported, not patched
    deployments = [s for s in result["other_workloads"] if s["kind"] == "Deployment"]
    assert [(s["namespace"], s["name"]) for s in deployments] == [(ns, "web")]
    assert deployments[0]["pods"]
    assert "Deployment %s/web" % ns in warnings_of(result)
    assert not [s for s in result["other_workloads"] if s["kind"] == "ReplicaSet"]
    web = raw(cluster.apps.read_namespaced_deployment, "web", ns)
    assert "affinity" not in web["spec"]["template"]["spec"]

    # second apply: nothing to do
    rc, again = run_module(MODULE, args)
    assert rc == 0, again
    assert again["changed"] is False
    assert again["changed_daemonsets"] == []

    # absent restores the original affinity exactly
    rc, result = run_module(MODULE, dict(args, state="absent"), diff=True)
    assert rc == 0, result
    assert result["changed"] is True
    assert sorted(result["changed_daemonsets"]) == expected
    for name, obj in before.items():
        assert cluster.read(name)["spec"]["template"]["spec"] == obj["spec"]["template"]["spec"], name
    rc, result = run_module(MODULE, dict(args, state="absent"))
    assert rc == 0 and result["changed"] is False, result


def test_explicit_targets_and_missing_daemonset(run_module, kubeconfig, cluster):
    ns = cluster.ns
    cluster.add_daemonset("calico-node")
    cluster.add_daemonset("kube-proxy", affinity=USER_AFFINITY)
    args = {"kubeconfig": kubeconfig, "daemonsets": [{"namespace": ns, "name": "calico-node"},
                                                     {"name": "kube-proxy"}], "namespace": ns}
    rc, result = run_module(MODULE, args)
    assert rc == 0, result
    assert sorted(result["changed_daemonsets"]) == ["%s/calico-node" % ns, "%s/kube-proxy" % ns]
    default = {"key": "node-role.kubernetes.io/edge", "operator": "DoesNotExist"}
    assert cluster.affinity("calico-node")["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] \
        == {"nodeSelectorTerms": [{"matchExpressions": [default]}]}
    assert cluster.affinity("kube-proxy") == af.add_node_exclusion(USER_AFFINITY, default["key"])[0]

    rc, again = run_module(MODULE, args, check=True)
    assert rc == 0 and again["changed"] is False, again

    rc, result = run_module(MODULE, dict(args, state="absent"))
    assert rc == 0 and result["changed"] is True, result
    assert cluster.affinity("calico-node") is None
    assert cluster.affinity("kube-proxy") == USER_AFFINITY

    rc, result = run_module(MODULE, {"kubeconfig": kubeconfig,
                                     "daemonsets": [{"namespace": ns, "name": "calico-node"},
                                                    {"namespace": ns, "name": "no-such-ds"}]})
    assert rc != 0
    assert result.get("failed") is True
    assert "DaemonSet %s/no-such-ds not found; check the name or use discover: true" % ns in result["msg"]
    assert cluster.affinity("calico-node") is None, "nothing is patched when a target is missing"


def test_label_selector(run_module, kubeconfig, cluster):
    ns = cluster.ns
    cluster.add_daemonset("flannel", labels={"tier": "net"})
    cluster.add_daemonset("other")
    args = {"kubeconfig": kubeconfig, "namespace": ns, "label_selector": "tier=net",
            "node_label": "node-role.kubernetes.io/agent"}
    rc, result = run_module(MODULE, args)
    assert rc == 0, result
    assert result["changed_daemonsets"] == ["%s/flannel" % ns]
    assert [d["name"] for d in result["daemonsets"]] == ["flannel"]
    assert cluster.affinity("flannel")["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"] == [{"matchExpressions": [{"key": "node-role.kubernetes.io/agent",
                                                        "operator": "DoesNotExist"}]}]
    assert cluster.affinity("other") is None
    rc, result = run_module(MODULE, dict(args, state="absent"))
    assert rc == 0 and result["changed"] is True, result
    assert cluster.affinity("flannel") is None


def test_discover_with_no_labelled_node_warns(run_module, kubeconfig, cluster):
    cluster.add_daemonset("everywhere")
    rc, result = run_module(MODULE, base_args(kubeconfig, cluster, discover=True))
    assert rc == 0, result
    assert result["changed"] is False
    assert result["edge_nodes"] == []
    assert "No node carries the label %s" % cluster.edge_label in warnings_of(result)


def test_targeting_modes_are_exclusive(run_module, kubeconfig, cluster):
    rc, result = run_module(MODULE, {"kubeconfig": kubeconfig, "discover": True, "label_selector": "a=b"})
    assert rc != 0
    assert "exactly one of daemonsets, label_selector or discover" in result["msg"]


# ---- a second writer against the real kube-apiserver -------------------------
class SecondWriter:
    """The module's KubernetesApi, talking to the real kube-apiserver, with another
    client editing the DaemonSet's affinity between the module's read and its
    patch, `times` times: kube-apiserver itself must reject the stale patch."""

    def __init__(self, api_client, cluster, name, times):
        from ansible_collections.edge.cluster.plugins.modules.daemonset_edge_affinity import KubernetesApi
        self.real = KubernetesApi(api_client)
        self.cluster, self.name, self.left = cluster, name, times
        self.patches = []  # the status of each patch the apiserver answered

    def __getattr__(self, attr):
        return getattr(self.real, attr)

    def patch_daemonset(self, namespace, name, json_patch):
        if self.left:
            self.left -= 1
            weight = 10 + self.left
            self.cluster.apps.patch_namespaced_daemon_set(self.name, self.cluster.ns, {"spec": {"template": {"spec": {
                "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": weight, "preference": {"matchExpressions": [
                        {"key": "example.com/writer", "operator": "In", "values": ["w%d" % weight]}]}}]}}}}}})
        try:
            out = self.real.patch_daemonset(namespace, name, json_patch)
            self.patches.append(200)
            return out
        except af.ApiError as exc:
            self.patches.append(exc.status)
            raise


@pytest.mark.parametrize("times", [1, 2])
def test_a_concurrent_edit_is_kept_and_the_exclusion_still_lands(api_client, cluster, times):
    """Another client changes the affinity after the module read the DaemonSet: the
    real apiserver rejects the module's patch (its test of metadata.generation
    fails), the module reads again, and both edits are in the end state."""
    cluster.add_daemonset("busy")
    api = SecondWriter(api_client, cluster, "busy", times)
    service = af.EdgeAffinityService(api, node_label=cluster.edge_label)
    result = service.run(daemonsets=[{"namespace": cluster.ns, "name": "busy"}])
    assert api.patches == [422] * times + [200], api.patches
    assert result["changed"] is True
    final = cluster.affinity("busy")
    assert af.has_node_exclusion(final, cluster.edge_label), final
    prefs = final["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert [p["weight"] for p in prefs] == [10], prefs  # the second writer's last edit, not lost


def test_a_writer_that_never_stops_fails_with_a_message(api_client, cluster):
    cluster.add_daemonset("busier")
    api = SecondWriter(api_client, cluster, "busier", af.EdgeAffinityService.MAX_CONFLICT_RETRIES + 5)
    service = af.EdgeAffinityService(api, node_label=cluster.edge_label)
    with pytest.raises(af.ApiError) as err:
        service.run(daemonsets=[{"namespace": cluster.ns, "name": "busier"}])
    assert err.value.status == 422
    assert "DaemonSet %s/busier" % cluster.ns in str(err.value)
    assert api.patches == [422] * af.EdgeAffinityService.MAX_CONFLICT_RETRIES
    assert not af.has_node_exclusion(cluster.affinity("busier"), cluster.edge_label)
