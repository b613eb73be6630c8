"""playbooks/diagnose.yml on a joined edge host and a cloud host (the controller, reading the test bed's cluster).

It exits 0, prints a table, and writes an owner-only archive with each host's files; nothing of the join
token or the kubeconfig's credentials is in it (edgecore.yaml's token is masked). With edgecore stopped,
the table says so; the preflight verdict of a joined host is "passed". Nothing on the host changes.
"""

import json
import sys
import tarfile

import pytest
import yaml
from kubernetes import client

pytestmark = pytest.mark.lane("edge")


def inventory(path, host, edge_vars, kubeconfig):
    inv = {"all": {"children": {
        "edge": {"hosts": {host.name: {}}, "vars": edge_vars},
        "cloud": {"hosts": {"localhost": {"ansible_connection": "local", "ansible_become": False,
                                          "ansible_python_interpreter": sys.executable,
                                          "cloudcore_kubeconfig": kubeconfig}}}}}}
    path.write_text(yaml.safe_dump(inv), encoding="utf-8")
    return path


def members(archive):
    """{<host>/<file>: text}, whether or not the archive keeps the directory's own name as its root."""
    with tarfile.open(archive) as tar:
        files = {m.name.lstrip("./"): tar.extractfile(m).read().decode() for m in tar.getmembers() if m.isfile()}
    return {(name.split("/", 1)[1] if name.startswith("diag/") else name): text for name, text in files.items()}


def test_diagnose_collects_masks_and_names_what_is_wrong(rel, edge_lab, edge_hosts, api_client, tmp_path,
                                                         secret_needles):
    host = edge_hosts.start(1)[0]
    ev = {"edgenode_kubeconfig": edge_lab.kubeconfig}
    joined = rel.play(rel.write_inventory(tmp_path / "join.yml", [host], edge_lab.edge_vars()), extra_vars=ev)
    assert joined.rc == 0, joined
    inv = inventory(tmp_path / "diag.yml", host, edge_lab.edge_vars(), edge_lab.kubeconfig)
    out_dir = tmp_path / "diag"
    diag_ev = dict(ev, edge_cluster_diagnose_dir=str(out_dir))
    playbook = rel.REPO / "playbooks" / "diagnose.yml"

    # 1. A healthy joined host: its own lines say nothing about edgecore or its Node.
    host.mark()
    run = rel.play(inv, playbook=playbook, extra_vars=diag_ev)
    assert run.rc == 0, run
    assert run.recap()[host.name]["changed"] == 0, run
    assert host.changed_since_marker() == []
    archive = tmp_path / "diag.tar.gz"
    assert (archive.stat().st_mode & 0o777) == 0o600
    files = members(archive)
    for name in ("edge.json", "edgecore.log", "edgecore.yaml", "ports.json", "preflight.txt", "findings.json"):
        assert "%s/%s" % (host.name, name) in files, sorted(files)
    for name in ("cloud.json", "cloudcore.log", "cloudcore.yaml", "findings.json"):
        assert "localhost/%s" % name in files, sorted(files)
    assert files["%s/preflight.txt" % host.name].strip() == "passed"
    assert "token: <redacted>" in files["%s/edgecore.yaml" % host.name]
    edge = json.loads(files["%s/edge.json" % host.name])
    assert edge["edgecore"]["node_name"] == host.name.lower()
    cloud = json.loads(files["localhost/cloud.json"])
    assert host.name.lower() in [n["name"] for n in cloud["edge_nodes"]]
    findings = json.loads(files["%s/findings.json" % host.name])
    assert not [f for f in findings if "edgecore" in f["what"] or "Node" in f["what"]], findings
    assert "host" in run.output and "finding" in run.output

    # 2. Nothing secret anywhere in the archive.
    token = secret_needles.token_of(client.CoreV1Api(api_client))
    needles = secret_needles.token_needles(token) + secret_needles.kubeconfig_needles(edge_lab.kubeconfig)
    leaked = sorted(name for name, text in files.items() for needle in needles if needle in text)
    assert leaked == [], leaked

    # 3. edgecore stopped: the table names it.
    assert host.sh("systemctl stop edgecore").returncode == 0
    run = rel.play(inv, playbook=playbook, extra_vars=diag_ev)
    assert run.rc == 0, run
    findings = json.loads(members(archive)["%s/findings.json" % host.name])
    assert any(f["what"].startswith("edgecore.service is inactive/") for f in findings), findings
    assert "edgecore.service is inactive/" in run.output
