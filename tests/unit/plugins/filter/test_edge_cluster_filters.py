"""Unit tests for the filters of plugins/filter/edge_cluster.py."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.edge.cluster.plugins.filter import edge_cluster as f
from ansible_collections.edge.cluster.plugins.module_utils import firewall as fw
from ansible_collections.edge.cluster.plugins.module_utils import superedge as se


def test_filters_are_registered():
    assert set(f.FilterModule().filters()) == {"reset_plan", "active_firewall", "superedge_edge_label",
                                               "non_edge_nodes", "redact", "cloud_host", "join_summary", "survey_or",
                                               "version_select", "version_flags", "systemctl_show",
                                               "ports_held_by_others", "upgrade_problem", "edge_version_problem",
                                               "node_metadata_in_step", "diagnose_findings", "diagnose_table",
                                               "diagnose_ports", "proxy_env"}


@pytest.mark.parametrize("version,label", [
    ("v0.4.0", "superedge.io/edge-node"), ("v0.6.0", "superedge.io/edge-node"),
    ("v0.6.1", "superedge.io/node-edge"), ("v0.9.0", "superedge.io/node-edge"), ("0.9.0", "superedge.io/node-edge"),
    ("v0.3.0", "superedge.io/edge-node"),
])
def test_superedge_edge_label_per_version(version, label):
    assert f.superedge_edge_label(version) == label


def test_superedge_edge_label_rejects_a_non_version():
    with pytest.raises(AnsibleFilterError, match="is not a version like v0.9.0"):
        f.superedge_edge_label("latest")


@pytest.mark.parametrize("units,wanted,expected", [
    ({"firewalld": {"active_state": "active"}, "ufw": {"active_state": "active", "unit_file_state": "enabled"}},
     "auto", "firewalld"),
    ({"firewalld": {"active_state": "inactive"}, "ufw": {"active_state": "active", "unit_file_state": "enabled"}},
     "auto", "ufw"),
    ({"ufw": {"active_state": "active", "unit_file_state": "disabled"}}, "auto", "none"),
    ({"ufw.service": {"ActiveState": "active", "UnitFileState": "enabled"}}, "auto", "ufw"),
    ({"firewalld.service": {"ActiveState": "active"}}, "auto", "firewalld"),
    ({}, "auto", "none"),
    ({"firewalld": {"active_state": "active"}}, "iptables", "iptables"),
    ({"firewalld": {"active_state": "active"}}, "none", "none"),
])
def test_active_firewall(units, wanted, expected):
    assert f.active_firewall(units, wanted) == expected


def test_active_firewall_rejects_an_unknown_choice():
    with pytest.raises(AnsibleFilterError, match="is not one of auto, firewalld, ufw, iptables, none"):
        f.active_firewall({}, "nft")
    assert fw.CHOICES[0] == "auto"


def test_non_edge_nodes_accepts_every_edge_label():
    nodes = [{"metadata": {"name": n, "labels": labels}} for n, labels in [
        ("kubeedge", {"node-role.kubernetes.io/edge": ""}),
        ("superedge-old", {"superedge.io/edge-node": "enable"}),
        ("superedge-new", {"superedge.io/node-edge": "enable"}),
        ("worker", {"node-role.kubernetes.io/worker": ""}),
        ("bare", None),
    ]]
    assert f.non_edge_nodes(nodes) == ["worker", "bare"]
    assert len(se.EDGE_NODE_LABEL_KEYS) == 2


def test_reset_plan_filter_adds_the_summary_and_every_superedge_label():
    info = {"binaries": {"edgeadm": {"exists": True, "path": "/usr/local/bin/edgeadm"}},
            "processes": {"kubelet": [3]}, "paths": {"/etc/kubernetes/kubelet.conf": True}}
    node = {"metadata": {"name": "se-1", "labels": {"superedge.io/node-edge": "enable"}}}
    options = {"node_name": "se-1", "superedge_markers": ["/etc/kubernetes/kubelet.conf"]}
    plan = f.reset_plan(info, node=node, options=options, host="se-host")
    assert plan["verdict"] == "reset" and plan["kind"] == "superedge"
    assert plan["summary"][0].startswith("se-host is reset (Node se-1 carries the SuperEdge edge label)")
    assert "run edgeadm reset --force" in plan["summary"]


def test_reset_plan_filter_needs_the_module_result():
    with pytest.raises(AnsibleFilterError, match="kubeedge_edge_info"):
        f.reset_plan("not a dict")


@pytest.mark.parametrize("groups,explicit,expected", [
    ({"cloud": ["c1", "c2"], "edge": ["e1"]}, "", "c1"),
    ({"cloud": ["c1"]}, "other", "other"),
    ({"cloud": [], "edge": ["e1"]}, "", "localhost"),
    ({"edge": ["e1"]}, "", "localhost"),
    ({}, None, "localhost"),
    (None, "", "localhost"),
])
def test_cloud_host(groups, explicit, expected):
    assert f.cloud_host(groups, explicit) == expected


def test_join_summary_splits_and_explains():
    hostvars = {
        "e1": {"edgenode_joined_ok": True},
        "e2": {"edge_cluster_failure": "Join | keadm join: token " + "0123456789abcdef" * 4
               + ".eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.c2ln rejected"},
        "e3": {},
    }
    got = f.join_summary(["e1", "e2", "e3"], hostvars)
    assert got["joined"] == ["e1"]
    assert got["failed"] == ["e2", "e3"]
    assert "eyJleHAiOjF9" not in got["why"]["e2"] and "rejected" in got["why"]["e2"]
    assert "unreachable" in got["why"]["e3"]
    assert "e1" not in got["why"]


def test_join_summary_of_no_hosts_and_other_keys():
    assert f.join_summary([], {}) == {"joined": [], "failed": [], "why": {}}
    got = f.join_summary(["a"], {"a": {"done": 1}}, ok_key="done")
    assert got["joined"] == ["a"] and got["failed"] == []


@pytest.mark.parametrize("answer,inventory,expected", [
    (None, 7, 7), ("", 7, 7), ("  ", 7, 7), ("inventory", True, True), ("Inventory", False, False),
    ("true", False, "true"), ("false", True, "false"), (20, 50, 20), (0, 50, 0),
])
def test_survey_or(answer, inventory, expected):
    assert f.survey_or(answer, inventory) == expected


def test_version_filters_wrap_errors():
    assert f.version_select([{"since": "v1.14.0", "x": 1}, {"x": 2}], "v1.13.1") == [{"x": 2}]
    assert f.version_flags([{"flag": "--a", "value": "b", "until": "v1.14.0"}], "v1.13.1") == ["--a=b"]
    with pytest.raises(AnsibleFilterError, match="version_select"):
        f.version_select([{"since": "soon"}], "v1.13.1")
    with pytest.raises(AnsibleFilterError, match="version_flags"):
        f.version_flags([{"value": "x"}], "v1.13.1")


def test_systemctl_show_filter_feeds_active_firewall():
    text = ("Id=firewalld.service\nActiveState=inactive\nUnitFileState=disabled\n\n"
            "Id=ufw.service\nActiveState=active\nUnitFileState=enabled\n")
    units = f.systemctl_show(text, ["firewalld", "ufw"])
    assert units["ufw"]["active_state"] == "active"
    assert f.active_firewall(units, "auto") == "ufw"
    with pytest.raises(AnsibleFilterError, match="systemctl_show"):
        f.systemctl_show("Id=a\n", ["a", "b"])


def test_upgrade_problem_filter():
    assert f.upgrade_problem("v1.13.1", "v1.14.5") == ""
    assert "downgrade" in f.upgrade_problem("v1.14.5", "v1.13.1")
    assert f.upgrade_problem("v1.13.1", "v1.15.4", "edgecore").startswith("edgecore runs v1.13.1")
    with pytest.raises(AnsibleFilterError, match="upgrade_problem: 'latest' is not a version"):
        f.upgrade_problem("v1.13.1", "latest")


def test_edge_version_problem_filter():
    release = {"version": "v1.13.1", "advertise_addresses": ["192.0.2.10"]}
    assert "older than the v1.14.5" in f.edge_version_problem(release, "192.0.2.10:10000", "v1.14.5")
    assert f.edge_version_problem(release, "192.0.2.10:10000", "v1.13.1") == ""
    with pytest.raises(AnsibleFilterError, match="must be the release"):
        f.edge_version_problem("v1.13.1", "192.0.2.10", "v1.14.5")


def test_node_metadata_in_step_filter():
    node = {"labels": {"zone": "a"}, "taints": [], "managed_metadata": {"labels": ["zone"], "taints": []}}
    assert f.node_metadata_in_step([node], {"zone": "a"}, []) is True
    assert f.node_metadata_in_step([], {"zone": "a"}, []) is False
    assert f.node_metadata_in_step([node, node], {"zone": "a"}, []) is False
    with pytest.raises(AnsibleFilterError, match="node_metadata_in_step: taint k has the effect"):
        f.node_metadata_in_step(node, {}, [{"key": "k", "effect": "Never"}])


def test_diagnose_filters():
    assert f.diagnose_ports([{"item": 10000, "state": "started"}]) == {10000: True}
    info = {"edgecore": {"config_exists": False}, "units": {}}
    assert f.diagnose_findings(info, "edge")[0]["level"] == "error"
    assert f.diagnose_findings({"failed": True, "msg": "x"}, "cloud")[0]["what"].startswith("the cluster could not")
    assert f.diagnose_table({"h": []})[1].split() == ["h", "ok"]
    with pytest.raises(AnsibleFilterError, match="side must be 'edge' or 'cloud'"):
        f.diagnose_findings(info, "middle")


def test_proxy_env_filter():
    env = f.proxy_env("http://proxy:3128", "", "example.org", ["192.0.2.10", "", None])
    assert env["http_proxy"] == "http://proxy:3128" and "HTTPS_PROXY" not in env
    assert env["NO_PROXY"] == "example.org,192.0.2.10,localhost,127.0.0.1,::1"
    assert f.proxy_env("", "") == {}
    with pytest.raises(AnsibleFilterError, match="proxy_env: http_proxy 'proxy:3128' is not a proxy URL"):
        f.proxy_env("proxy:3128")
