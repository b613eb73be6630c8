"""Labels and taints at join, kept in step, and only ours removed.

A real systemd host joins (playbooks/edge.yml) with edgenode_labels and edgenode_taints: the Node
carries both right after the join. The operator adds a label and a taint of their own with the
API. A re-run changes nothing. Changing the inventory (one label dropped, one taint's value changed)
changes the Node accordingly and leaves the operator's label and taint alone; emptying the taints
removes ours only. Each converged state is followed by a run that changes nothing.
"""

import pytest
from kubernetes import client

pytestmark = pytest.mark.lane("edge")

OURS = {"key": "edge.cluster/dedicated", "value": "pos", "effect": "NoSchedule"}
THEIRS = {"key": "ops.example.org/maintenance", "value": "soon", "effect": "PreferNoSchedule"}


def taints_of(node):
    return sorted(({"key": t.key, "value": t.value or "", "effect": t.effect} for t in node.spec.taints or []),
                  key=lambda t: t["key"])


def test_labels_and_taints_follow_the_inventory(rel, edge_lab, edge_hosts, api_client, tmp_path):
    host = edge_hosts.start(1)[0]
    core = client.CoreV1Api(api_client)
    name = host.name.lower()
    ev = {"edgenode_kubeconfig": edge_lab.kubeconfig}

    def converge(step, labels, taints):
        inv = rel.write_inventory(tmp_path / ("%s.yml" % step), [host], edge_lab.edge_vars(),
                                  host_vars={host.name: {"edgenode_labels": labels, "edgenode_taints": taints}})
        run = rel.play(inv, extra_vars=ev)
        assert run.rc == 0, run
        again = rel.play(inv, extra_vars=ev)
        assert again.rc == 0, again
        assert again.recap()[host.name]["changed"] == 0, again
        return core.read_node(name)

    # 1. Join: the labels (keadm join --labels) and the taint (set once the Node registered).
    node = converge("join", {"edge.cluster/test": "reliability", "zone": "a"}, [OURS])
    assert node.metadata.labels["zone"] == "a"
    assert taints_of(node) == [OURS]
    assert rel.node_ready(core, name)

    # 2. The operator's own label and taint, through the API.
    core.patch_node(name, {"metadata": {"labels": {"team": "ops"}},
                           "spec": {"taints": [{"key": t.key, "value": t.value, "effect": t.effect}
                                               for t in node.spec.taints] + [THEIRS]}})

    # 3. zone dropped, our taint's value changed: theirs stay.
    changed = dict(OURS, value="kiosk")
    node = converge("change", {"edge.cluster/test": "reliability"}, [changed])
    assert "zone" not in node.metadata.labels
    assert node.metadata.labels["team"] == "ops"
    assert taints_of(node) == [changed, THEIRS]

    # 4. No taints asked for: ours goes, theirs stays; the labels asked for stay.
    node = converge("none", {"edge.cluster/test": "reliability"}, [])
    assert taints_of(node) == [THEIRS]
    assert node.metadata.labels["team"] == "ops"
    assert node.metadata.labels["edge.cluster/test"] == "reliability"
    assert rel.node_ready(core, name)
