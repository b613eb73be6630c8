"""playbooks/edge.yml as AWX runs it: through ansible-runner (the engine of AWX
jobs), with AWX's private data directory (inventory/, env/extravars with the
survey answers and the kubeconfig credential's injected file), and with job
slicing: the edge group split the way AWX slices an inventory, both slices
running at the same time against one cluster, each launched with a limit.

Each slice holds only its own hosts (AWX drops the others from a slice's
inventory, the cloud host included), so the inventory follows the README's AWX
setup: the cluster is read from the job's own container (edge_cluster_cloud_host:
localhost) with the credential file.
"""

import json
import os
import stat

import pytest
import yaml
from kubernetes import client

pytestmark = pytest.mark.lane("edge")

ansible_runner = pytest.importorskip("ansible_runner", reason="ansible-runner is in requirements.txt")


@pytest.fixture(scope="module")
def fleet(edge_hosts, edge_lab):
    return edge_hosts.start(2)


def awx_slice(base, number, count, hosts, lab):
    """A private data directory for slice `number` of `count`, as AWX prepares it."""
    pdd = base / ("slice-%d" % number)
    for sub in ("inventory", "env"):
        (pdd / sub).mkdir(parents=True)
    # AWX slices the inventory's hosts round-robin; a group keeps only its hosts of the slice.
    mine = hosts[number - 1::count]
    group_vars = lab.edge_vars()
    del group_vars["edgenode_cloud_host"]
    del group_vars["edgenode_kubeconfig"]
    group_vars["edgenode_kubeconfig"] = "{{ edge_cluster_kubeconfig_file }}"
    inventory = {"all": {"vars": {"edge_cluster_cloud_host": "localhost"},
                         "children": {"cloud": {"hosts": {}},
                                      "edge": {"hosts": dict((h.name, {}) for h in mine), "vars": group_vars}}}}
    (pdd / "inventory" / "hosts.yml").write_text(yaml.safe_dump(inventory), encoding="utf-8")
    # The "Kubernetes kubeconfig" credential: a file in the job's directory, named by an extra var.
    cred = pdd / "kubeconfig_credential"
    cred.write_bytes(open(lab.kubeconfig, "rb").read())
    cred.chmod(stat.S_IRUSR | stat.S_IWUSR)
    survey = {"edge_cluster_edge_hosts": "edge", "edge_cluster_survey_batch_size": ""}
    extravars = dict(survey, edge_cluster_kubeconfig_file=str(cred))
    (pdd / "env" / "extravars").write_text(json.dumps(extravars), encoding="utf-8")
    (pdd / "env" / "envvars").write_text(json.dumps({
        "ANSIBLE_TRANSPORT": "community.docker.docker", "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_COLLECTIONS_PATH": os.environ.get("ANSIBLE_COLLECTIONS_PATH", "")}), encoding="utf-8")
    return pdd, [h.name for h in mine]


def test_two_job_slices_at_once(rel, edge_lab, fleet, api_client, tmp_path):
    slices = [awx_slice(tmp_path, n, 2, fleet, edge_lab) for n in (1, 2)]
    runs = []
    for pdd, names in slices:
        # AWX's "limit" on launch: the slice's own host, by name (the cloud host is in no slice).
        thread, runner = ansible_runner.run_async(private_data_dir=str(pdd), project_dir=str(rel.REPO),
                                                  playbook="playbooks/edge.yml", limit=",".join(names), quiet=True)
        runs.append((thread, runner))
    for thread, dummy in runs:
        thread.join(900)
    core = client.CoreV1Api(api_client)
    for (pdd, names), (dummy, runner) in zip(slices, runs):
        out = runner.stdout.read()
        assert runner.status == "successful" and runner.rc == 0, out[-4000:]
        summary = [e for e in runner.events if e.get("event") == "runner_on_ok"
                   and e["event_data"].get("task") == "Edge | Report joined and failed nodes"]
        assert len(summary) == 1, out[-4000:]
        assert summary[0]["event_data"]["res"]["msg"] == {"joined": names, "failed": []}
        for name in names:
            assert rel.node_ready(core, name), "Node %s of %s is not Ready" % (name, pdd.name)
        # The credential was read where AWX put it, never copied onto a host.
        assert "Kubeconfig | Copy" not in out
