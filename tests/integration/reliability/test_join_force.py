"""edgenode_join_force on a host joined under another node name.

A real systemd host is joined as one Node; the operator then asks for another
node name. The edgenode role refuses the other join's leftovers and names the
variable; with edgenode_join_force=true it resets the host (keadm reset) and
joins it again under the new name, Ready; a further run changes nothing.
"""

import pytest
from kubernetes import client

pytestmark = pytest.mark.lane("edge")


def test_join_force_rejoins_under_the_new_name(rel, edge_lab, edge_hosts, api_client, tmp_path):
    host = edge_hosts.start(1)[0]
    core = client.CoreV1Api(api_client)
    first, second = host.name.lower(), host.name.lower() + "-renamed"
    ev = {"edgenode_kubeconfig": edge_lab.kubeconfig}

    def inventory(name):
        return rel.write_inventory(tmp_path / ("%s.yml" % name), [host], edge_lab.edge_vars(),
                                   host_vars={host.name: {"edgenode_node_name": name}})

    joined = rel.play(inventory(first), extra_vars=ev)
    assert joined.rc == 0, joined
    assert rel.node_ready(core, first)

    try:
        refused = rel.play(inventory(second), extra_vars=ev)
        assert refused.rc != 0, refused
        assert "has leftovers of an earlier KubeEdge join" in refused.output, refused.output[-3000:]
        assert "edgenode_join_force=true" in refused.output
        assert "hostnameOverride: %s" % first in host.sh("cat /etc/kubeedge/config/edgecore.yaml").stdout
        assert rel.node_ready(core, second) is None

        forced = rel.play(inventory(second), extra_vars=dict(ev, edgenode_join_force=True))
        assert forced.rc == 0, forced
        assert rel.node_ready(core, second)
        assert "hostnameOverride: %s" % second in host.sh("cat /etc/kubeedge/config/edgecore.yaml").stdout
        assert host.sh("pgrep -c -x edgecore").stdout.strip() == "1"

        again = rel.play(inventory(second), extra_vars=dict(ev, edgenode_join_force=True))
        assert again.rc == 0 and again.recap()[host.name]["changed"] == 0, again
    finally:
        for name in (first, second):
            try:
                core.delete_node(name)
            except client.ApiException as exc:
                assert exc.status == 404
