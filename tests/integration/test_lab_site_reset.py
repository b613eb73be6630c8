"""The local lab end to end (`make lab`): site.yml brings up CloudCore and three
edge nodes (at -vvv, printing no token or kubeconfig credential), a second run
changes nothing, reset.yml removes one edge node
without residue, and site.yml again re-joins it while the others stay untouched.

Uses the lab's fixed container names (inventories/lab) and removes the lab at
the end (`lab.sh down`)."""

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "tests" / "testbed" / "lab.sh"
EDGES = ["lab-edge-1", "lab-edge-2", "lab-edge-3"]
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def run(cmd, timeout=1500):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    proc = subprocess.run(cmd, cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=env, timeout=timeout, check=False)
    return proc.returncode, proc.stdout


def recap(out):
    """{host: (ok, changed, unreachable, failed)} of the LAST play recap."""
    tail = out[out.rindex("PLAY RECAP"):]
    return {m.group(1): tuple(int(m.group(i)) for i in range(2, 6)) for m in RECAP.finditer(tail)}


def ready_nodes(api_client):
    from kubernetes import client
    ready = {}
    for node in client.CoreV1Api(api_client).list_node().items:
        conds = {c.type: c.status for c in (node.status.conditions or [])}
        ready[node.metadata.name] = conds.get("Ready") == "True"
    return ready


def docker_sh(host, script):
    return subprocess.run(["docker", "exec", host, "sh", "-c", script], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, check=False)


@pytest.fixture(scope="module")
def lab(kubeconfig):
    run([str(LAB), "down"], timeout=300)
    yield
    rc, out = run([str(LAB), "down"], timeout=300)
    assert rc == 0, out[-3000:]


def test_site_reset_site(lab, api_client, secret_needles):
    # 1. make lab: site.yml from nothing, at -vvv.
    rc, out = run([str(LAB), "up", "-vvv"])
    assert rc == 0, out[-6000:]
    assert "NOTICE:" in out  # it says where the KubeEdge binaries came from
    nodes = ready_nodes(api_client)
    assert all(nodes.get(e) for e in EDGES), {e: nodes.get(e) for e in EDGES}
    assert (REPO / ".lab" / "kubeconfig").stat().st_mode & 0o077 == 0
    # Nothing of the join token or the kubeconfig's credentials in the -vvv output.
    from kubernetes import client
    token = secret_needles.token_of(client.CoreV1Api(api_client))
    needles = secret_needles.token_needles(token) + secret_needles.kubeconfig_needles(REPO / ".lab" / "kubeconfig")
    assert "ESTABLISH" in out  # really verbose
    leaked = [i for i, needle in enumerate(needles) if needle in out]
    assert leaked == [], "secret(s) number %s of %d printed by site.yml -vvv" % (leaked, len(needles))

    # 2. The same run again changes nothing anywhere.
    rc, out = run([str(LAB), "up"])
    assert rc == 0, out[-6000:]
    again = recap(out)
    assert set(again) >= {"lab-cloud", *EDGES}
    assert {h: r[1] for h, r in again.items() if r[1]} == {}, out[-6000:]

    # 3. Reset one edge node: nothing of ours is left on it, its Node is gone.
    rc, out = run(["ansible-playbook", "-i", "inventories/lab", "-e", "@.lab/lab-vars.yml",
                   "playbooks/reset.yml", "--limit", "lab-edge-1", "-e", "reset_confirm=false"])
    assert rc == 0, out[-6000:]
    assert "lab-edge-1" not in ready_nodes(api_client)
    left = docker_sh("lab-edge-1", "ls -d /etc/kubeedge /var/lib/kubeedge /usr/local/bin/keadm /usr/local/bin/edgecore "
                                   "/etc/systemd/system/edgecore.service /etc/sysctl.d/90-edge-cluster.conf 2>/dev/null; "
                                   "systemctl is-active edgecore 2>/dev/null; true")
    assert left.stdout.split() in ([], ["inactive"], ["unknown"]), left.stdout
    # The other nodes were not touched.
    nodes = ready_nodes(api_client)
    assert nodes.get("lab-edge-2") and nodes.get("lab-edge-3")

    # 4. site.yml again re-joins it; the rest reports no change.
    rc, out = run([str(LAB), "up"])
    assert rc == 0, out[-6000:]
    third = recap(out)
    assert third["lab-edge-1"][1] > 0
    assert {h: r[1] for h, r in third.items() if r[1] and h != "lab-edge-1"} == {}, out[-6000:]
    assert ready_nodes(api_client).get("lab-edge-1")
