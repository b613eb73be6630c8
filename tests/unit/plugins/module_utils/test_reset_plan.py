"""Unit tests for module_utils/reset_plan.py: which hosts a reset may touch, and what it removes."""

import copy

import pytest

from ansible_collections.edge.cluster.plugins.module_utils import reset_plan as rp
from ansible_collections.edge.cluster.plugins.module_utils import superedge as se

EDGE_PATHS = ["/etc/kubeedge", "/var/lib/kubeedge", "/var/lib/edged", "/usr/local/bin/keadm",
              "/usr/local/bin/edgecore", "/etc/systemd/system/edgecore.service",
              "/var/cache/edge-cluster-edgenode", "/etc/sysctl.d/90-edge-cluster.conf",
              "/etc/cni/net.d/10-edge-cluster-bridge.conflist"]
MARKERS = ["/var/cache/edge-cluster-edgenode", "/var/cache/edge-cluster-keadm",
           "/etc/sysctl.d/90-edge-cluster.conf", "/etc/cni/net.d/10-edge-cluster-bridge.conflist"]
SE_MARKERS = ["/etc/kubernetes/kubelet.conf", "/var/lib/kubelet/config.yaml"]
OPTIONS = dict(node_name="edge-1", paths=EDGE_PATHS, markers=MARKERS, superedge="auto",
               superedge_markers=SE_MARKERS, superedge_labels=list(se.EDGE_NODE_LABEL_KEYS),
               cloud_member=False, delete_node=True, keadm_bin="/usr/local/bin/keadm",
               edgecore_bin="/usr/local/bin/edgecore", edgeadm_bin="/usr/local/bin/edgeadm",
               remove_containers=True, cni_conflist="/etc/cni/net.d/10-edge-cluster-bridge.conflist",
               cni_bridge_path="/sys/class/net/cni0")
ALL_PATHS = sorted(set(EDGE_PATHS + MARKERS + SE_MARKERS + ["/sys/class/net/cni0"]))


def unit(name, exists=False, active="inactive", enabled=""):
    return {"unit": name + ".service", "exists": exists, "active_state": active, "unit_file_state": enabled,
            "load_state": "loaded" if exists else "not-found", "sub_state": "", "main_pid": 0, "fragment_path": ""}


def host(present=(), units=None, procs=None, binaries=(), config=None, pod_uids=(), containerd=(), docker=()):
    """A kubeedge_edge_info result: present paths, running units, processes, binaries."""
    names = ["edgecore", "cloudcore", "kubelet", "firewalld", "ufw"]
    info = {
        "edgecore": dict({"config_exists": False, "node_name": "", "pod_uids": list(pod_uids)}, **(config or {})),
        "cloudcore": {"config_exists": False},
        "units": dict((n, unit(n)) for n in names),
        "processes": dict((n, []) for n in ["edgecore", "cloudcore", "kubelet", "kube-proxy"]),
        "binaries": dict((n, {"path": "/usr/local/bin/" + n, "exists": n in binaries})
                         for n in ["keadm", "edgecore", "edgeadm", "cloudcore"]),
        "keadm": {"version": "v1.13.1" if "keadm" in binaries else "", "semver": "", "error": ""},
        "paths": dict((p, p in present) for p in ALL_PATHS),
        "containers": {"containerd": list(containerd), "docker": list(docker)},
    }
    info["units"].update(units or {})
    info["processes"].update(procs or {})
    return info


def node(name="edge-1", labels=None):
    return {"metadata": {"name": name, "uid": "u-" + name, "labels": labels}}


EDGE_NODE = node(labels={"node-role.kubernetes.io/edge": "", "node-role.kubernetes.io/agent": ""})
JOINED = dict(present=["/etc/kubeedge", "/var/lib/edged", "/usr/local/bin/keadm", "/usr/local/bin/edgecore",
                       "/etc/systemd/system/edgecore.service"],
              units={"edgecore": unit("edgecore", True, "active", "enabled")}, procs={"edgecore": [42]},
              binaries=("keadm", "edgecore"), config={"config_exists": True, "node_name": "edge-1"})


def plan(info, node_obj=None, **kw):
    return rp.plan(info, node=node_obj, options=dict(OPTIONS, **kw.pop("opts", {})), **kw)


def test_a_joined_edge_node_with_its_labelled_node_is_reset():
    p = plan(host(**JOINED), EDGE_NODE)
    assert p["verdict"] == "reset" and p["kind"] == "kubeedge"
    assert "node-role.kubernetes.io/edge" in p["proof"]
    rm = p["remove"]
    assert rm["keadm_reset"] and rm["stop_edgecore"] and rm["kill_edgecore"]
    assert rm["node"] == "edge-1"
    assert rm["paths"] == ["/etc/kubeedge", "/var/lib/edged", "/usr/local/bin/keadm", "/usr/local/bin/edgecore",
                           "/etc/systemd/system/edgecore.service"]


def test_a_keadm_that_does_not_answer_version_is_not_run():
    info = host(**JOINED)
    info["keadm"]["version"] = ""
    p = plan(info, EDGE_NODE)
    assert p["verdict"] == "reset" and p["remove"]["keadm_reset"] is False
    assert "run keadm reset" not in rp.summary(p, "h")


def test_delete_node_false_keeps_the_node():
    assert plan(host(**JOINED), EDGE_NODE, opts={"delete_node": False})["remove"]["node"] == ""


@pytest.mark.parametrize("change,needle", [
    ({"config": {"config_exists": True}}, "its configuration"),
    ({"units": {"cloudcore": unit("cloudcore", True, "active", "enabled")}}, "unit cloudcore.service (active)"),
    ({"procs": {"cloudcore": [7]}}, "a running cloudcore (pid 7)"),
    ({"binaries": ("cloudcore",)}, "/usr/local/bin/cloudcore"),
])
def test_cloudcore_in_any_form_refuses_the_host(change, needle):
    info = host(**JOINED)
    if "config" in change:
        info["cloudcore"]["config_exists"] = True
    if "units" in change:
        info["units"].update(change["units"])
    if "procs" in change:
        info["processes"].update(change["procs"])
    if "binaries" in change:
        info["binaries"]["cloudcore"]["exists"] = True
    p = plan(info, EDGE_NODE)
    assert p["verdict"] == "refuse"
    assert any(needle in r and r.startswith("CloudCore: ") for r in p["reasons"]), p["reasons"]
    assert p["remove"]["paths"] == [] and not p["remove"]["keadm_reset"] and p["remove"]["node"] == ""


def test_a_binary_method_cloud_host_is_refused_and_nothing_is_planned():
    # The measured case: /etc/kubeedge holds cloudcore.yaml and the stream certificate, cloudcore.service runs.
    info = host(present=["/etc/kubeedge"], units={"cloudcore": unit("cloudcore", True, "active", "enabled")},
                procs={"cloudcore": [100]}, binaries=("cloudcore", "keadm"))
    info["cloudcore"]["config_exists"] = True
    p = plan(info, None)
    assert p["verdict"] == "refuse"
    assert p["remove"] == rp._empty(copy.deepcopy(p))["remove"]
    assert "Nothing on it was changed" in rp.summary(p, "lab-cloud")[0]


def test_a_host_of_the_cloud_group_is_refused_even_when_it_looks_like_an_edge_node():
    p = plan(host(**JOINED), EDGE_NODE, opts={"cloud_member": True})
    assert p["verdict"] == "refuse"
    assert "inventory group of the CloudCore hosts" in p["reasons"][0]


@pytest.mark.parametrize("change", [
    {"units": {"kubelet": unit("kubelet", True, "active", "enabled")}},
    {"procs": {"kubelet": [12]}},
    {"procs": {"kube-proxy": [13]}},
])
def test_a_kubernetes_worker_is_refused(change):
    info = host(present=SE_MARKERS, binaries=(), **change)
    p = plan(info, node(labels={"node-role.kubernetes.io/worker": ""}))
    assert p["verdict"] == "refuse"
    assert "not a SuperEdge edge node of this cluster" in p["reasons"][-1]
    assert p["remove"]["containerd"] == [] and p["remove"]["edgeadm_reset"] is False


@pytest.mark.parametrize("label", se.EDGE_NODE_LABEL_KEYS)
def test_a_superedge_edge_node_is_reset_with_either_label(label):
    info = host(present=SE_MARKERS, binaries=("edgeadm",), units={"kubelet": unit("kubelet", True, "active")},
                procs={"kubelet": [5]})
    p = plan(info, node(labels={label: "enable"}))
    assert p["verdict"] == "reset" and p["kind"] == "superedge"
    assert p["remove"]["edgeadm_reset"] is True
    assert p["remove"]["node"] == "edge-1"


def test_the_current_superedge_label_is_accepted_by_default():
    # edgeadm v0.9.0 (the collection's default) writes superedge.io/node-edge
    assert se.edge_node_label("v0.9.0") == "superedge.io/node-edge"
    assert "superedge.io/node-edge" in OPTIONS["superedge_labels"]


def test_superedge_false_does_not_prove_a_kubelet_host():
    info = host(present=SE_MARKERS, binaries=("edgeadm",), procs={"kubelet": [5]})
    p = plan(info, node(labels={"superedge.io/node-edge": "enable"}), opts={"superedge": "false"})
    assert p["verdict"] == "refuse"


def test_edgeadm_without_the_label_is_not_proof():
    info = host(present=SE_MARKERS, binaries=("edgeadm",), procs={"kubelet": [5]})
    assert plan(info, node(labels={}))["verdict"] == "refuse"


def test_kubeedge_without_a_labelled_node_or_leftovers_is_refused():
    p = plan(host(**JOINED), None)
    assert p["verdict"] == "refuse"
    assert "no Node edge-1 with an edge label" in p["reasons"][0]
    assert "/var/cache/edge-cluster-edgenode" in p["reasons"][0]


def test_an_unreadable_cluster_is_named_when_it_was_needed():
    p = plan(host(**JOINED), None, node_error="connection refused")
    assert p["verdict"] == "refuse"
    assert "could not be asked about Node edge-1 (connection refused)" in p["reasons"][0]


def test_leftovers_of_the_edgenode_role_prove_a_failed_join_of_ours():
    info = host(present=["/etc/kubeedge", "/var/cache/edge-cluster-edgenode", "/usr/local/bin/keadm"],
                binaries=("keadm",))
    p = plan(info, None, node_error="connection refused")
    assert p["verdict"] == "reset" and p["kind"] == "leftovers"
    assert "/var/cache/edge-cluster-edgenode" in p["proof"]
    assert p["remove"]["node"] == ""
    assert p["remove"]["keadm_reset"] is True  # /etc/kubeedge is there


def test_a_node_of_that_name_without_an_edge_label_refuses_the_host():
    p = plan(host(**JOINED), node(labels={"node-role.kubernetes.io/control-plane": ""}))
    assert p["verdict"] == "refuse"
    assert "Node edge-1 exists in the cluster but carries none of the labels" in p["reasons"][0]


def test_a_clean_host_is_left_alone():
    p = plan(host(), None)
    assert p["verdict"] == "clean"
    assert rp.summary(p, "h")[0] == "h holds nothing of KubeEdge: nothing to remove."


def test_a_clean_host_whose_labelled_node_is_left_only_deletes_the_node():
    p = plan(host(), EDGE_NODE)
    assert p["verdict"] == "reset" and p["kind"] == "node"
    assert p["remove"]["node"] == "edge-1" and p["remove"]["paths"] == []


def test_keadm_alone_on_a_host_is_not_proof():
    # a keadm-method cloud host outside the cloud group: only keadm is there
    p = plan(host(present=["/usr/local/bin/keadm"], binaries=("keadm",)), None)
    assert p["verdict"] == "refuse"
    assert "/usr/local/bin/keadm" in p["reasons"][0]


SANDBOX = {"id": "aaa111", "image": "docker.io/kubeedge/pause:3.6",
           "labels": {"io.cri-containerd.kind": "sandbox", "io.kubernetes.pod.uid": "pod-a",
                      "io.kubernetes.pod.name": "web", "io.kubernetes.pod.namespace": "default"}}
APP = {"id": "bbb222", "image": "nginx",
       "labels": {"io.cri-containerd.kind": "container", "io.kubernetes.pod.uid": "pod-a"}}
CLUSTER_POD = {"id": "ccc333", "image": "x", "labels": {"io.kubernetes.pod.uid": "pod-from-cluster"}}
JOIN_SANDBOX = {"id": "ddd444", "image": "pause", "labels": {
    "io.cri-containerd.kind": "sandbox", "io.kubernetes.pod.name": "edgecore",
    "io.kubernetes.pod.namespace": "kubeedge", "io.kubernetes.pod.uid": ""}}
FOREIGN = {"id": "eee555", "image": "db", "labels": {"io.kubernetes.pod.uid": "someone-elses"}}
BARE = {"id": "fff666", "image": "tool", "labels": None}


def test_only_edgecores_containers_are_removed():
    info = host(pod_uids=["pod-a"], containerd=[SANDBOX, APP, CLUSTER_POD, JOIN_SANDBOX, FOREIGN, BARE], **JOINED)
    info["edgecore"]["pod_uids"] = ["pod-a"]
    p = rp.plan(info, node=EDGE_NODE, node_pod_uids=["pod-from-cluster"], options=OPTIONS)
    assert p["remove"]["containerd"] == ["aaa111", "bbb222", "ccc333", "ddd444"]
    assert p["remove"]["sandboxes"] == ["aaa111", "ddd444"]
    assert p["kept"] == {"containerd": 2, "docker": 0}
    assert any("keep 2 container(s)" in line for line in rp.summary(p, "h"))


def test_docker_containers_by_label_name_or_mqtt():
    docker = [
        {"id": "d1", "name": "k8s_POD_web_default_pod-a_0", "image": "pause", "labels": {}},
        {"id": "d2", "name": "k8s_app_web_default_other-uid_0", "image": "app", "labels": {}},
        {"id": "d3", "name": "anything", "image": "x", "labels": {"io.kubernetes.pod.uid": "pod-a"}},
        {"id": "d4", "name": "mqtt", "image": "eclipse-mosquitto:1.6.15", "labels": {}},
        {"id": "d5", "name": "mqtt", "image": "my-broker", "labels": {}},
        {"id": "d6", "name": "k8s_edgecore_edgecore_kubeedge__0", "image": "installation-package", "labels": {}},
    ]
    info = host(docker=docker, **JOINED)
    info["edgecore"]["pod_uids"] = ["pod-a"]
    p = rp.plan(info, node=EDGE_NODE, options=OPTIONS)
    assert p["remove"]["docker"] == ["d1", "d3", "d4", "d6"]
    assert p["kept"]["docker"] == 2


def test_remove_containers_false_plans_none():
    info = host(containerd=[SANDBOX], **JOINED)
    info["edgecore"]["pod_uids"] = ["pod-a"]
    p = plan(info, EDGE_NODE, opts={"remove_containers": False})
    assert p["remove"]["containerd"] == [] and p["kept"] == {"containerd": 0, "docker": 0}


def test_the_cni_bridge_goes_only_with_the_edgenode_roles_config():
    ours = host(present=["/etc/cni/net.d/10-edge-cluster-bridge.conflist", "/sys/class/net/cni0"])
    assert plan(ours, None)["remove"]["cni_bridge"] is True
    foreign = host(present=["/sys/class/net/cni0", "/var/cache/edge-cluster-edgenode"])
    p = plan(foreign, None)
    assert p["verdict"] == "reset" and p["remove"]["cni_bridge"] is False


def test_docker_name_parsing():
    assert rp.docker_pod_uid("/k8s_POD_web_default_1234-uid_0") == "1234-uid"
    assert rp.docker_pod_ref("k8s_POD_web_default_1234_0") == ("web", "default")
    assert rp.docker_pod_uid("mqtt") == "" and rp.docker_pod_ref("k8s_short") == ("", "")


def test_the_plan_does_not_modify_its_input():
    info = host(**JOINED)
    before = copy.deepcopy(info)
    plan(info, EDGE_NODE)
    assert info == before
