"""Unit tests for module_utils/affinity.py: the pure affinity functions and the
service's request pattern (a fake API that counts calls; no cluster needed)."""

import copy

import pytest

from ansible_collections.edge.cluster.plugins.module_utils import affinity as af

KEY = "node-role.kubernetes.io/edge"
OURS = {"key": KEY, "operator": "DoesNotExist"}
REQ = af.REQUIRED


def required(*terms):
    return {"nodeAffinity": {REQ: {"nodeSelectorTerms": list(terms)}}}


USER_EXPR = {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}
ARCH_EXPR = {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}
FIELDS = {"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["bad-node"]}]}
PREFERRED = [{"weight": 10, "preference": {"matchExpressions": [
    {"key": "zone", "operator": "In", "values": ["a"]}]}}]
ANTI = {"requiredDuringSchedulingIgnoredDuringExecution": [
    {"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": "kubernetes.io/hostname"}]}

# (id, before, expected after "present")
PRESENT_CASES = [
    ("no-affinity", None, required({"matchExpressions": [OURS]})),
    ("empty-affinity", {}, required({"matchExpressions": [OURS]})),
    ("empty-node-affinity", {"nodeAffinity": {}}, required({"matchExpressions": [OURS]})),
    ("empty-terms", required(), required({"matchExpressions": [OURS]})),
    ("several-terms-each-gets-it",
     required({"matchExpressions": [USER_EXPR]}, {"matchExpressions": [ARCH_EXPR]}),
     required({"matchExpressions": [USER_EXPR, OURS]}, {"matchExpressions": [ARCH_EXPR, OURS]})),
    ("only-match-fields", required(FIELDS),
     required(dict(FIELDS, matchExpressions=[OURS]))),
    ("fields-and-expressions", required(dict(FIELDS, matchExpressions=[USER_EXPR])),
     required(dict(FIELDS, matchExpressions=[USER_EXPR, OURS]))),
    ("preferred-and-anti-affinity-untouched",
     {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": PREFERRED}, "podAntiAffinity": ANTI},
     {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": PREFERRED,
                       REQ: {"nodeSelectorTerms": [{"matchExpressions": [OURS]}]}},
      "podAntiAffinity": ANTI}),
    # Decision: a user expression on the same key with another operator is kept
    # untouched and ours is added next to it (requires_label flags the case
    # where that leaves no node).
    ("same-key-other-operator-kept",
     required({"matchExpressions": [{"key": KEY, "operator": "In", "values": ["x"]}]}),
     required({"matchExpressions": [{"key": KEY, "operator": "In", "values": ["x"]}, OURS]})),
]


@pytest.mark.parametrize("before,expected", [c[1:] for c in PRESENT_CASES], ids=[c[0] for c in PRESENT_CASES])
def test_add(before, expected):
    original = copy.deepcopy(before)
    after, changed = af.add_node_exclusion(before, KEY)
    assert after == expected
    assert changed is True
    assert before == original, "the argument must not be modified"
    assert af.has_node_exclusion(after, KEY)
    # idempotence: applying twice is applying once
    again, changed_again = af.add_node_exclusion(after, KEY)
    assert again == after
    assert changed_again is False


@pytest.mark.parametrize("before,expected", [c[1:] for c in PRESENT_CASES
                                             if c[1] not in ({}, {"nodeAffinity": {}}, required())],
                         ids=[c[0] for c in PRESENT_CASES if c[1] not in ({}, {"nodeAffinity": {}}, required())])
def test_absent_restores_what_present_changed(before, expected):
    restored, changed = af.remove_node_exclusion(expected, KEY)
    assert changed is True
    assert restored == before
    assert af.remove_node_exclusion(restored, KEY) == (restored, False)


def test_already_present_is_unchanged():
    aff = required({"matchExpressions": [USER_EXPR, OURS]}, dict(FIELDS, matchExpressions=[OURS]))
    assert af.add_node_exclusion(aff, KEY) == (aff, False)


def test_ours_with_empty_values_counts_as_present():
    aff = required({"matchExpressions": [dict(OURS, values=[])]})
    assert af.add_node_exclusion(aff, KEY) == (aff, False)


def test_present_only_in_some_terms_is_completed():
    aff = required({"matchExpressions": [OURS]}, {"matchExpressions": [USER_EXPR]})
    after, changed = af.add_node_exclusion(aff, KEY)
    assert changed
    assert after == required({"matchExpressions": [OURS]}, {"matchExpressions": [USER_EXPR, OURS]})


def test_absent_removes_only_ours_and_keeps_users_expressions():
    aff = {"nodeAffinity": {REQ: {"nodeSelectorTerms": [
        {"matchExpressions": [USER_EXPR, OURS, {"key": KEY, "operator": "Exists"}]}]},
        "preferredDuringSchedulingIgnoredDuringExecution": PREFERRED},
        "podAntiAffinity": ANTI}
    after, changed = af.remove_node_exclusion(aff, KEY)
    assert changed
    assert after == {"nodeAffinity": {REQ: {"nodeSelectorTerms": [
        {"matchExpressions": [USER_EXPR, {"key": KEY, "operator": "Exists"}]}]},
        "preferredDuringSchedulingIgnoredDuringExecution": PREFERRED},
        "podAntiAffinity": ANTI}


def test_absent_cleans_empties_up_to_affinity():
    assert af.remove_node_exclusion(required({"matchExpressions": [OURS]}), KEY) == (None, True)


def test_absent_keeps_other_keys_of_emptied_structures():
    aff = {"nodeAffinity": {REQ: {"nodeSelectorTerms": [{"matchExpressions": [OURS]}]},
                            "preferredDuringSchedulingIgnoredDuringExecution": PREFERRED}}
    after = af.remove_node_exclusion(aff, KEY)[0]
    assert after == {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": PREFERRED}}
    aff = dict(required({"matchExpressions": [OURS]}), podAntiAffinity=ANTI)
    assert af.remove_node_exclusion(aff, KEY)[0] == {"podAntiAffinity": ANTI}


def test_absent_keeps_structures_that_were_empty_already():
    aff = {"nodeAffinity": {REQ: {"nodeSelectorTerms": [{"matchExpressions": []}, FIELDS]}}}
    assert af.remove_node_exclusion(aff, KEY) == (aff, False)
    assert af.remove_node_exclusion({}, KEY) == ({}, False)
    assert af.remove_node_exclusion(None, KEY) == (None, False)


def test_absent_other_key_untouched():
    aff = required({"matchExpressions": [{"key": "other", "operator": "DoesNotExist"}]})
    assert af.remove_node_exclusion(aff, KEY) == (aff, False)


@pytest.mark.parametrize("spec,expected", [
    ({}, False),
    ({"nodeSelector": {KEY: ""}}, True),
    ({"affinity": required({"matchExpressions": [{"key": KEY, "operator": "Exists"}]})}, True),
    ({"affinity": required({"matchExpressions": [{"key": KEY, "operator": "In", "values": [""]}]})}, True),
    ({"affinity": required({"matchExpressions": [{"key": KEY, "operator": "Exists"}]},
                           {"matchExpressions": [USER_EXPR]})}, False),
    ({"affinity": required({"matchExpressions": [OURS]})}, False),
    ({"nodeSelector": {"kubernetes.io/os": "linux"}}, False),
])
def test_requires_label(spec, expected):
    assert af.requires_label(spec, KEY) is expected


def test_build_patch_guards_generation():
    ds = {"metadata": {"resourceVersion": "42", "generation": 3}}
    assert af.build_patch(ds, {"a": 1}) == [
        {"op": "test", "path": "/metadata/generation", "value": 3},
        {"op": "add", "path": "/spec/template/spec/affinity", "value": {"a": 1}}]
    assert af.build_patch(ds, None)[1] == {"op": "remove", "path": "/spec/template/spec/affinity"}


# --------------------------------------------------------------------------
# The service against a fake API that counts requests.


def apply_json_patch(obj, ops):
    obj = copy.deepcopy(obj)
    for op in ops:
        parts = op["path"].strip("/").split("/")
        parent = obj
        for part in parts[:-1]:
            parent = parent[part]
        if op["op"] == "test":
            if parent.get(parts[-1]) != op["value"]:
                raise af.ApiError("test failed", 422)  # what kube-apiserver answers
        elif op["op"] == "add":
            parent[parts[-1]] = copy.deepcopy(op["value"])
        elif op["op"] == "remove":
            del parent[parts[-1]]
    obj["metadata"]["resourceVersion"] = str(int(obj["metadata"]["resourceVersion"]) + 1)
    if any(op["op"] != "test" and op["path"].startswith("/spec") for op in ops):
        obj["metadata"]["generation"] += 1
    return obj


def test_status_updates_do_not_block_the_patch():
    """The DaemonSet controller bumps resourceVersion on status writes; the patch still applies."""
    ds = daemonset("kube-system", "kube-proxy")
    ops = af.build_patch(ds, {"a": 1})
    ds["metadata"]["resourceVersion"] = "7"  # a status update in between
    assert apply_json_patch(ds, ops)["spec"]["template"]["spec"]["affinity"] == {"a": 1}


class FakeApi:
    def __init__(self, nodes=(), pods=(), daemonsets=(), replicasets=()):
        self.nodes = list(nodes)
        self.pods = list(pods)
        self.ds = dict((af.ref(d), d) for d in daemonsets)
        self.replicasets = list(replicasets)
        self.calls = []
        self.interfere = {}

    def list_nodes(self, label_selector):
        self.calls.append("list_nodes")
        return [n for n in self.nodes if label_selector in n["metadata"].get("labels", {})]

    def list_pods(self, namespace):
        self.calls.append("list_pods")
        return [p for p in self.pods if namespace in (None, p["metadata"]["namespace"])]

    def list_daemonsets(self, namespace, label_selector):
        self.calls.append("list_daemonsets")
        out = []
        for d in self.ds.values():
            if namespace not in (None, d["metadata"]["namespace"]):
                continue
            if label_selector:
                k, v = label_selector.split("=")
                if d["metadata"].get("labels", {}).get(k) != v:
                    continue
            out.append(copy.deepcopy(d))
        return out

    def list_replicasets(self, namespace):
        self.calls.append("list_replicasets")
        return list(self.replicasets)

    def get_daemonset(self, namespace, name):
        self.calls.append("get_daemonset")
        key = "%s/%s" % (namespace, name)
        if key not in self.ds:
            raise af.ApiError("not found", 404)
        return copy.deepcopy(self.ds[key])

    def patch_daemonset(self, namespace, name, ops):
        self.calls.append("patch_daemonset")
        key = "%s/%s" % (namespace, name)
        if key in self.interfere:  # someone edits it between our read and our patch
            self.ds[key] = apply_json_patch(self.ds[key], self.interfere.pop(key))
        self.ds[key] = apply_json_patch(self.ds[key], ops)
        return self.ds[key]

    def count(self, name):
        return self.calls.count(name)


def node(name, edge):
    return {"metadata": {"name": name, "labels": {KEY: ""} if edge else {}}}


def daemonset(ns, name, affinity=None, uid=None, labels=None, node_selector=None):
    spec = {"containers": [{"name": "c", "image": "x"}]}
    if affinity is not None:
        spec["affinity"] = affinity
    if node_selector:
        spec["nodeSelector"] = node_selector
    return {"metadata": {"namespace": ns, "name": name, "uid": uid or "uid-" + name, "resourceVersion": "1",
                         "generation": 1, "labels": labels or {}},
            "spec": {"template": {"spec": spec}}}


def pod(ns, name, node_name, kind=None, owner=None, uid=None):
    meta = {"namespace": ns, "name": name}
    if kind:
        meta["ownerReferences"] = [{"kind": kind, "name": owner, "uid": uid or "uid-" + owner, "controller": True}]
    return {"metadata": meta, "spec": {"nodeName": node_name}}


@pytest.fixture
def cluster():
    nodes = [node("cloud-1", False)] + [node("edge-%d" % i, True) for i in range(5)]
    dss = [daemonset("kube-system", "calico-node"), daemonset("kube-system", "kube-proxy"),
           daemonset("kube-system", "cloud-only", node_selector={"cloud": "true"}),
           daemonset("kube-system", "edgemesh-agent", node_selector={KEY: ""})]
    pods = [pod("kube-system", "cloud-only-a", "cloud-1", "DaemonSet", "cloud-only")]
    for i in range(5):
        pods.append(pod("kube-system", "calico-%d" % i, "edge-%d" % i, "DaemonSet", "calico-node"))
        pods.append(pod("kube-system", "proxy-%d" % i, "edge-%d" % i, "DaemonSet", "kube-proxy"))
        pods.append(pod("kube-system", "mesh-%d" % i, "edge-%d" % i, "DaemonSet", "edgemesh-agent"))
        pods.append(pod("apps", "web-abc-%d" % i, "edge-%d" % i, "ReplicaSet", "web-abc"))
    pods.append(pod("apps", "db-0", "edge-1", "StatefulSet", "db"))
    pods.append(pod("apps", "bare", "edge-2"))
    rss = [{"metadata": {"namespace": "apps", "name": "web-abc", "uid": "uid-web-abc",
                         "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": "d1", "controller": True}]}}]
    return FakeApi(nodes, pods, dss, rss)


def test_discover_request_count_is_constant(cluster):
    service = af.EdgeAffinityService(cluster)
    result = service.run(discover=True)
    assert result["changed_daemonsets"] == ["kube-system/calico-node", "kube-system/kube-proxy"]
    # 21 pods on 5 edge nodes: still one list of each kind, no per-pod request
    assert sorted(cluster.calls) == sorted(["list_nodes", "list_pods", "list_daemonsets", "list_replicasets",
                                            "patch_daemonset", "patch_daemonset"])
    assert "skipped" not in result, "Ansible would read it as 'task skipped'"
    kinds = dict(((s["kind"], s["name"]), s) for s in result["other_workloads"])
    assert kinds[("Deployment", "web")]["pods"] == ["web-abc-%d@edge-%d" % (i, i) for i in range(5)]
    assert ("StatefulSet", "db") in kinds and ("Pod", "bare") in kinds
    assert "ReplicaSet" not in [s["kind"] for s in result["other_workloads"]]
    mesh = [d for d in result["daemonsets"] if d["name"] == "edgemesh-agent"][0]
    assert mesh["status"] == "skipped", "an edge-only DaemonSet must not be made unschedulable"
    assert len(mesh["edge_pods"]) == 5 and "requires the label" in mesh["reason"]
    assert any("Deployment apps/web" in w for w in service.warnings)
    assert result["edge_nodes"] == ["edge-%d" % i for i in range(5)]
    assert af.has_node_exclusion(af.pod_affinity_of(cluster.ds["kube-system/calico-node"]), KEY)
    assert "affinity" not in cluster.ds["kube-system/cloud-only"]["spec"]["template"]["spec"]

    # second run: nothing to patch, same number of lists
    cluster.calls = []
    again = af.EdgeAffinityService(cluster).run(discover=True)
    assert again["changed"] is False
    assert cluster.count("patch_daemonset") == 0
    assert len(cluster.calls) == 4
    statuses = dict((d["name"], d["status"]) for d in again["daemonsets"])
    assert statuses == {"calico-node": "unchanged", "kube-proxy": "unchanged", "edgemesh-agent": "skipped"}


def test_discover_without_replicaset_pods_does_not_list_replicasets(cluster):
    cluster.pods = [p for p in cluster.pods if p["metadata"]["namespace"] == "kube-system"]
    af.EdgeAffinityService(cluster).run(discover=True)
    assert cluster.count("list_replicasets") == 0


def test_discover_without_edge_nodes_warns(cluster):
    service = af.EdgeAffinityService(cluster, node_label="example.com/nothing")
    result = service.run(discover=True)
    assert result["changed"] is False
    assert "list_pods" not in cluster.calls
    assert any("No node carries the label example.com/nothing" in w for w in service.warnings)


def test_check_mode_predicts_without_patching(cluster):
    result = af.EdgeAffinityService(cluster, check_mode=True).run(discover=True)
    assert result["changed"] is True
    assert cluster.count("patch_daemonset") == 0
    assert "affinity" not in cluster.ds["kube-system/calico-node"]["spec"]["template"]["spec"]


def test_discover_absent_undoes_everywhere_with_one_list(cluster):
    af.EdgeAffinityService(cluster).run(discover=True)
    cluster.calls = []
    service = af.EdgeAffinityService(cluster, state="absent")
    result = service.run(discover=True)
    assert result["changed_daemonsets"] == ["kube-system/calico-node", "kube-system/kube-proxy"]
    assert cluster.calls == ["list_daemonsets", "patch_daemonset", "patch_daemonset"]
    assert "affinity" not in cluster.ds["kube-system/calico-node"]["spec"]["template"]["spec"]


def test_explicit_targets_one_get_each(cluster):
    service = af.EdgeAffinityService(cluster)
    result = service.run(daemonsets=[{"namespace": "kube-system", "name": "kube-proxy"},
                                     {"namespace": "kube-system", "name": "cloud-only"},
                                     {"namespace": "kube-system", "name": "kube-proxy"}])
    assert cluster.calls == ["get_daemonset", "get_daemonset", "patch_daemonset", "patch_daemonset"]
    assert result["changed_daemonsets"] == ["kube-system/cloud-only", "kube-system/kube-proxy"]


def test_explicit_missing_target_fails_with_its_name(cluster):
    with pytest.raises(af.EdgeAffinityError, match="DaemonSet kube-system/nope not found; check the name "
                                                   "or use discover: true"):
        af.EdgeAffinityService(cluster).run(daemonsets=[{"namespace": "kube-system", "name": "nope"}])


def test_explicit_edge_only_target_fails(cluster):
    with pytest.raises(af.EdgeAffinityError, match="edgemesh-agent cannot be kept off edge nodes"):
        af.EdgeAffinityService(cluster).run(daemonsets=[{"namespace": "kube-system", "name": "edgemesh-agent"}])
    assert cluster.count("patch_daemonset") == 0


def test_label_selector_one_list(cluster):
    cluster.ds["kube-system/kube-proxy"]["metadata"]["labels"] = {"k8s-app": "kube-proxy"}
    result = af.EdgeAffinityService(cluster).run(label_selector="k8s-app=kube-proxy", namespace="kube-system")
    assert cluster.calls == ["list_daemonsets", "patch_daemonset"]
    assert result["changed_daemonsets"] == ["kube-system/kube-proxy"]


def test_concurrent_edit_is_not_lost(cluster):
    user_aff = required({"matchExpressions": [USER_EXPR]})
    cluster.interfere["kube-system/kube-proxy"] = [
        {"op": "add", "path": "/spec/template/spec/affinity", "value": user_aff}]
    service = af.EdgeAffinityService(cluster)
    result = service.run(daemonsets=[{"namespace": "kube-system", "name": "kube-proxy"}])
    assert result["changed"] is True
    assert cluster.calls == ["get_daemonset", "patch_daemonset", "get_daemonset", "patch_daemonset"]
    assert af.pod_affinity_of(cluster.ds["kube-system/kube-proxy"]) == required(
        {"matchExpressions": [USER_EXPR, OURS]})


def test_diff_records_before_and_after(cluster):
    service = af.EdgeAffinityService(cluster, check_mode=True)
    service.run(daemonsets=[{"namespace": "kube-system", "name": "kube-proxy"}])
    assert service.diffs == [{"before_header": "DaemonSet kube-system/kube-proxy affinity",
                              "after_header": "DaemonSet kube-system/kube-proxy affinity",
                              "before": {}, "after": required({"matchExpressions": [OURS]})}]
