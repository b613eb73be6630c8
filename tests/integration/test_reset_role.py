"""The reset role's guards, against the real kube-apiserver (confirm and cloud entry points)."""

import re
import sys
from pathlib import Path

from kubernetes import client

PLAYBOOK = Path(__file__).parent / "playbooks" / "reset_cloud.yml"
# localhost runs the kubernetes modules with this (the venv's) python
LOCAL = {"ANSIBLE_TRANSPORT": "local", "ANSIBLE_PYTHON_INTERPRETER": sys.executable}


def _recap(result):
    m = re.search(r"^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", result.stdout, re.M)
    assert m, result
    return {"ok": int(m.group(1)), "changed": int(m.group(2)), "failed": int(m.group(3))}


def test_without_a_terminal_the_confirmation_stops_the_run(run_playbook, kubeconfig, nodes, api_client, node_exists):
    edge = nodes({"node-role.kubernetes.io/edge": ""})
    r = run_playbook(PLAYBOOK, extra_vars={"reset_node_names": [edge], "reset_kubeconfig": str(kubeconfig)}, env=LOCAL)
    assert r.rc != 0
    assert "Reset not confirmed" in r.stdout and "reset_confirm=false" in r.stdout
    assert node_exists(edge), "nothing may change before the confirmation"


def test_the_cluster_changes_need_their_own_confirmation(run_playbook, kubeconfig, nodes, api_client, node_exists):
    # The edge hosts' "yes" (reset_confirm=false here) does not cover the cluster.
    edge = nodes({"node-role.kubernetes.io/edge": ""})
    r = run_playbook(PLAYBOOK, extra_vars={"reset_confirm": False, "reset_node_names": [edge],
                                           "reset_kubeconfig": str(kubeconfig)}, env=LOCAL)
    assert r.rc != 0
    assert "The cluster changes (delete Node(s) %s) were not confirmed" % edge in r.stdout
    assert "reset_cloud_confirm=false" in r.stdout
    assert node_exists(edge)


def test_a_kubeconfig_of_another_cluster_stops_the_reset(run_playbook, kubeconfig, nodes, api_client, node_exists):
    edge = nodes({"node-role.kubernetes.io/edge": ""})
    r = run_playbook(PLAYBOOK, extra_vars={"reset_confirm": False, "reset_cloud_confirm": False,
                                           "reset_node_names": [edge], "reset_kubeconfig": str(kubeconfig),
                                           "reset_expected_cluster_uid": "00000000-0000-0000-0000-000000000000"},
                     env=LOCAL)
    assert r.rc != 0
    uid = client.CoreV1Api(api_client).read_namespace("kube-system").metadata.uid
    assert ("reaches the cluster with kube-system UID %s (Kubernetes v1.20.2) reached from localhost, not the "
            "cluster whose kube-system UID" % uid) in " ".join(r.stdout.split())
    assert node_exists(edge)


def test_check_mode_deletes_nothing(run_playbook, kubeconfig, nodes, api_client, node_exists):
    edge = nodes({"node-role.kubernetes.io/edge": ""})
    r = run_playbook(PLAYBOOK, check=True,
                     extra_vars={"reset_node_names": [edge], "reset_kubeconfig": str(kubeconfig)}, env=LOCAL)
    assert r.rc == 0, r
    assert _recap(r)["changed"] == 1
    assert node_exists(edge)


def test_edge_nodes_are_deleted_once(run_playbook, kubeconfig, nodes, api_client, node_exists):
    edge = nodes({"node-role.kubernetes.io/edge": "", "node-role.kubernetes.io/agent": ""})
    superedge = nodes({"superedge.io/edge-node": "enable"})  # edgeadm up to v0.6.0
    superedge_new = nodes({"superedge.io/node-edge": "enable"})  # edgeadm v0.6.1 and later (v0.9.0)
    extra = {"reset_confirm": False, "reset_cloud_confirm": False,
             "reset_node_names": [edge, superedge, superedge_new, "reset-test-never-existed"],
             "reset_kubeconfig": str(kubeconfig)}
    r = run_playbook(PLAYBOOK, extra_vars=extra, env=LOCAL)
    assert r.rc == 0, r
    assert _recap(r)["changed"] == 1  # one task, the three Nodes
    assert not node_exists(edge) and not node_exists(superedge)
    assert not node_exists(superedge_new)
    again = run_playbook(PLAYBOOK, extra_vars=extra, env=LOCAL)
    assert again.rc == 0, again
    assert _recap(again)["changed"] == 0


def test_a_node_without_an_edge_label_is_never_deleted(run_playbook, kubeconfig, nodes, api_client, node_exists):
    edge = nodes({"node-role.kubernetes.io/edge": ""})
    worker = nodes({"node-role.kubernetes.io/worker": ""})
    r = run_playbook(PLAYBOOK, extra_vars={"reset_confirm": False, "reset_cloud_confirm": False,
                                           "reset_node_names": [edge, worker],
                                           "reset_kubeconfig": str(kubeconfig)}, env=LOCAL)
    assert r.rc != 0
    assert "Node(s) %s carry no KubeEdge or SuperEdge edge label" % worker in r.stdout
    assert "reset_node_names" in r.stdout
    # refused before anything was deleted
    assert node_exists(worker) and node_exists(edge)


def test_bad_cloudcore_method_is_refused_with_the_choices(run_playbook, kubeconfig):
    r = run_playbook(PLAYBOOK, extra_vars={"reset_confirm": False, "reset_cloud_confirm": False,
                                           "reset_cloudcore_method": "helm",
                                           "reset_kubeconfig": str(kubeconfig)}, env=LOCAL)
    assert r.rc != 0
    assert "value of reset_cloudcore_method must be one of: keadm, binary, got: helm" in r.stdout
