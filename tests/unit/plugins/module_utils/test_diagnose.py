"""module_utils/diagnose.py: findings from what diagnose.yml read, and the table."""

import pytest

from ansible_collections.edge.cluster.plugins.module_utils import diagnose as dg


def edge_info(**edgecore):
    base = {"config_exists": True, "config_error": "", "node_name": "edge-1", "token_present": True,
            "cloudcore_server": "192.0.2.10:10000"}
    base.update(edgecore)
    return {"edgecore": base, "units": {"edgecore": {"exists": True, "active_state": "active", "sub_state": "running",
                                                     "unit_file_state": "enabled"},
                                        "kubelet": {"exists": False, "active_state": ""}}}


NODE = {"name": "edge-1", "ready": True, "kubeedge_version": "v1.13.1"}
RELEASE = {"version": "v1.13.1", "advertise_addresses": ["192.0.2.10"]}


def whats(findings):
    return [f["what"] for f in findings]


def test_a_healthy_edge_host_has_no_findings():
    assert dg.edge_findings(edge_info(), {10000: True, 10002: True}, NODE, RELEASE) == []


def test_edge_findings_name_each_problem():
    info = edge_info()
    info["units"]["edgecore"].update(active_state="failed", sub_state="failed")
    info["units"]["kubelet"].update(active_state="active")
    node = dict(NODE, ready=False, kubeedge_version="v1.14.5")
    found = whats(dg.edge_findings(info, {10000: False, 10004: True}, node, RELEASE))
    assert "edgecore.service is failed/failed (journalctl -u edgecore: edgecore.log)" in found
    assert "kubelet runs on this host: edgecore cannot run beside it" in found
    assert "CloudCore port 10000 (cloudhub websocket) is not reachable from this host" in found
    assert "Node edge-1 is not Ready" in found
    assert any(w.startswith("CloudCore at 192.0.2.10 runs KubeEdge v1.13.1, older than the v1.14.5") for w in found)
    assert not any("10004" in w for w in found)


def test_edge_host_never_joined():
    info = edge_info(config_exists=False, node_name="", token_present=False, cloudcore_server="")
    assert whats(dg.edge_findings(info, {}, None, {})) == ["no edgecore.yaml: the host was never joined (or was reset)"]


def test_missing_node_and_unreadable_cluster():
    assert "Node edge-1 does not exist in the cluster" in whats(dg.edge_findings(edge_info(), {}, None, RELEASE))
    found = whats(dg.edge_findings(edge_info(), {}, None, {}, cloud_read_error="Unauthorized (token=abc.def)"))
    assert found == ["the cluster could not be read: Unauthorized (token=<redacted>"]


def cloud(**extra):
    base = {"deployment": {"exists": True, "ready_replicas": 1}, "token_secret": {"exists": True},
            "server_certificate": {"exists": True, "readable": True, "ip_addresses": ["192.0.2.10"]},
            "edge_nodes": [NODE], "release": RELEASE}
    base.update(extra)
    return base


def test_a_healthy_cloud_has_no_findings():
    assert dg.cloud_findings(cloud()) == []


def test_cloud_findings_name_each_problem():
    found = whats(dg.cloud_findings(cloud(
        deployment={"exists": True, "ready_replicas": 0}, token_secret={"exists": False},
        server_certificate={"exists": True, "readable": True, "ip_addresses": ["198.51.100.1"]},
        edge_nodes=[dict(NODE, ready=False), dict(NODE, name="edge-2", kubeedge_version="v1.14.5")])))
    assert "Deployment kubeedge/cloudcore has no ready replica" in found
    assert "no join token Secret kubeedge/tokensecret: CloudCore has not started once" in found
    assert any("lacks the advertise address(es) 192.0.2.10" in w for w in found)
    assert "edge Nodes not Ready: edge-1" in found
    assert "edge Nodes newer than CloudCore v1.13.1: edge-2" in found


def test_binary_cloudcore_is_judged_by_its_unit():
    found = whats(dg.cloud_findings(cloud(deployment={"exists": False}),
                                    unit={"exists": True, "active_state": "inactive", "sub_state": "dead"}))
    assert found == ["cloudcore.service is inactive/dead (journalctl -u cloudcore: cloudcore.log)"]
    assert whats(dg.cloud_findings(cloud(deployment={"exists": False}), unit={"exists": False}))[0].startswith(
        "no CloudCore found")


def test_unreadable_cluster_is_one_finding():
    found = dg.cloud_findings({"failed": True, "msg": "Bearer abcdef123 refused"})
    assert whats(found) == ["the cluster could not be read: Bearer <redacted> refused"]


@pytest.mark.parametrize("probes,expected", [
    ([{"item": 10000, "state": "started", "elapsed": 0},
      {"item": 10002, "msg": "Timeout when waiting for x:10002", "elapsed": 3}], {10000: True, 10002: False}),
    ([{"item": 10000, "skipped": True}], {}),
    ([], {}), (None, {}),
])
def test_port_map(probes, expected):
    assert dg.port_map(probes) == expected


def test_table():
    lines = dg.table({"edge-2": [], "edge-1": [{"level": "error", "what": "Node edge-1 is not Ready"}]})
    assert lines[0].split() == ["host", "level", "finding"]
    assert lines[1].split(None, 2) == ["edge-1", "error", "Node edge-1 is not Ready"]
    assert lines[2].split() == ["edge-2", "ok"]
