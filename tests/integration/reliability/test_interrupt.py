"""Ctrl-C in the middle of a join, then the operator runs playbooks/edge.yml again.

Real systemd hosts, the real kube-apiserver, the KubeEdge test doubles. SIGINT goes to the
whole run (ansible-playbook, its workers, their docker exec connections) right after the task
starts, as a terminal's Ctrl-C does:

  1. during `keadm join` (keadm method): the re-run ends with the node joined and Ready, or
     refuses the leftovers naming the one variable to set, which then joins it;
  2. during the unpack of the kubeedge release archive (binary method): the re-run unpacks
     again (no half-unpacked tree passes for a finished one) and joins.

Either way edgecore.yaml ends owner-only, the run lock the interrupted run left is taken over,
and a third run changes nothing.
"""

import pytest
from kubernetes import client

pytestmark = pytest.mark.lane("edge")


@pytest.fixture(scope="module")
def pair(edge_hosts, edge_lab):
    return edge_hosts.start(2)


def _run(rel, lab, tmp_path, host, name, **extra):
    inventory = rel.write_inventory(tmp_path / ("%s.yml" % name), [host], lab.edge_vars(**extra))
    return inventory


def _ready(api_client, name):
    try:
        node = client.CoreV1Api(api_client).read_node(name)
    except client.ApiException as exc:
        assert exc.status == 404
        return False
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])


def _interrupt_then_converge(rel, lab, api_client, tmp_path, host, task, **extra):
    inventory = _run(rel, lab, tmp_path, host, "interrupt-" + host.name, **extra)
    ev = {"edgenode_kubeconfig": lab.kubeconfig}
    cut = rel.play(inventory, extra_vars=ev, interrupt_on="TASK [edge.cluster.%s" % task, interrupt_after=0.3)
    assert cut.rc != 0, cut
    assert "TASK [edge.cluster.%s" % task in cut.output
    assert "User interrupted execution" in cut.output, cut.output[-2000:]

    again = rel.play(inventory, extra_vars=ev)
    if again.rc != 0:
        # The interrupted step left a half-done join: the message names the one variable to set.
        assert "leftovers of an earlier KubeEdge join" in again.output, again
        assert "edgenode_join_force=true" in again.output
        again = rel.play(inventory, extra_vars=dict(ev, edgenode_join_force=True))
    assert again.rc == 0, again
    assert "Another run" not in again.output
    node = host.name.lower()
    assert _ready(api_client, node), "Node %s is not Ready after the re-run" % node
    assert host.sh("stat -c %a /etc/kubeedge/config/edgecore.yaml").stdout.strip() == "600"
    assert host.sh("test -e /run/edge-cluster/edgenode.lock", check=False).returncode != 0

    third = rel.play(inventory, extra_vars=ev)
    assert third.rc == 0, third
    assert third.recap()[host.name]["changed"] == 0, third
    return cut


def test_ctrl_c_during_keadm_join_then_rerun_joins(rel, edge_lab, pair, api_client, tmp_path):
    _interrupt_then_converge(rel, edge_lab, api_client, tmp_path, pair[0], "edgenode : Join | Run keadm join")


def test_ctrl_c_during_the_binary_unpack_then_rerun_joins(rel, edge_lab, pair, api_client, tmp_path):
    host = pair[1]
    _interrupt_then_converge(rel, edge_lab, api_client, tmp_path, host, "keadm : Keadm | Unpack into the scratch",
                             edgenode_install_method="binary", edgenode_kubeedge_archive_method="artifacts")
    # the tree was moved into place whole: its binary is there and no scratch directory is left
    assert host.sh("ls /var/cache/edge-cluster-keadm/kubeedge-v1.13.1-linux-amd64/edge/edgecore").returncode == 0
    assert host.sh("ls -d /var/cache/edge-cluster-keadm/.unpacking-* 2>/dev/null", check=False).stdout == ""
