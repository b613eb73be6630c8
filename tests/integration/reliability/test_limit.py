"""playbooks/edge.yml as operators run it: with --limit (AWX's "limit" too), on an
inventory whose cloud group holds the host that reads the cluster, with that
host left out of the limit.

Real systemd hosts, the real kube-apiserver, the cloudcore double behind the
suite's forwarders. The tests run in file order on two hosts:

  1. --limit <one new host>: it joins (Node Ready), exit 0, the summary names it;
     the other host is not touched.
  2. The same for the second host while CloudCore is down: non-zero exit, the
     message names the cloud host and the unreachable ports, nothing changed.
  3. CloudCore back: --limit <second host> joins it; the first host's edgecore
     is not restarted.
  4. A token set in the inventory wins over the cluster's: a malformed one makes
     the run fail with that reason (a play variable used to replace it).
  5. A cloud host that cannot read the cluster: non-zero exit naming it and why.
"""

import sys

import yaml

import pytest
from kubernetes import client

pytestmark = pytest.mark.lane("edge")

CLOUD = "ctl-cloud"  # the controller itself, as the inventory's cloud host


@pytest.fixture(scope="module")
def pair(edge_hosts, edge_lab):
    return edge_hosts.start(2)


@pytest.fixture(scope="module")
def core(api_client):
    return client.CoreV1Api(api_client)


def inventory(path, lab, hosts, host_vars=None):
    """cloud: ctl-cloud (local connection, this Python); edge: the hosts, with the role's
    cloud host left to its default (the first cloud host), as in inventories/example."""
    edge_vars = lab.edge_vars()
    del edge_vars["edgenode_cloud_host"]
    inv = {"all": {"children": {
        "cloud": {"hosts": {CLOUD: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}},
        "edge": {"hosts": dict((h.name, dict((host_vars or {}).get(h.name, {}))) for h in hosts),
                 "vars": edge_vars}}}}
    path.write_text(yaml.safe_dump(inv), encoding="utf-8")
    return path


def edgecore_started(host):
    return host.sh("systemctl show -p ActiveEnterTimestampMonotonic -p MainPID edgecore").stdout


def test_limit_joins_only_the_named_host(rel, edge_lab, pair, core, tmp_path):
    a, b = pair
    b.mark()
    res = rel.play(inventory(tmp_path / "inv.yml", edge_lab, pair), limit=a.name)
    assert res.rc == 0, res
    assert res.summary() == {"joined": [a.name], "failed": []}, res
    assert rel.node_ready(core, a.name), "Node %s is not Ready" % a.name
    assert rel.node_ready(core, b.name) is None
    assert b.changed_since_marker() == [], "a host outside --limit was changed"
    assert set(res.recap()) == {a.name}, res.recap()


def test_limit_with_cloudcore_down_fails_loudly(rel, edge_lab, pair, core, tmp_path):
    b = pair[1]
    b.mark()
    edge_lab.cloud_down()
    try:
        res = rel.play(inventory(tmp_path / "inv.yml", edge_lab, pair), limit=b.name)
    finally:
        edge_lab.cloud_up()
    assert res.rc != 0, res
    assert "CloudCore (cloud host %s) is not reachable from %s" % (CLOUD, b.name) in res.output, res
    assert res.summary() == {"joined": [], "failed": [b.name]}, res
    assert "Edge nodes that did not join: %s." % b.name in res.output
    assert b.changed_since_marker() == [], "a failed preflight changed the host"
    assert rel.node_ready(core, b.name) is None


def test_limit_adds_the_second_host_and_leaves_the_first_alone(rel, edge_lab, pair, core, tmp_path):
    a, b = pair
    before = edgecore_started(a)
    res = rel.play(inventory(tmp_path / "inv.yml", edge_lab, pair), limit=b.name)
    assert res.rc == 0, res
    assert res.summary() == {"joined": [b.name], "failed": []}, res
    assert rel.node_ready(core, b.name) and rel.node_ready(core, a.name)
    assert edgecore_started(a) == before, "edgecore on %s was restarted" % a.name


def test_inventory_token_wins(rel, edge_lab, pair, tmp_path):
    a = pair[0]
    a.mark()
    bad = {a.name: {"edgenode_token": "not-a-kubeedge-token"}}
    res = rel.play(inventory(tmp_path / "inv.yml", edge_lab, pair, host_vars=bad), limit=a.name)
    assert res.rc != 0, res
    assert res.summary() == {"joined": [], "failed": [a.name]}, res
    assert "token is malformed" in res.output, res
    assert a.changed_since_marker() == []


def test_cloud_host_that_cannot_read_the_cluster_is_named(rel, edge_lab, pair, tmp_path):
    a = pair[0]
    a.mark()
    res = rel.play(inventory(tmp_path / "inv.yml", edge_lab, pair), limit=a.name,
                   extra_vars={"edgenode_kubeconfig": str(tmp_path / "no-such-kubeconfig")})
    assert res.rc != 0, res
    assert "could not be read on the cloud host %s" % CLOUD in res.output, res
    assert res.summary() == {"joined": [], "failed": [a.name]}, res
    assert a.changed_since_marker() == []
