"""The local lab end to end (`make lab`), reached over SSH as the unprivileged
user "ops" with sudo, as a real fleet: site.yml brings up CloudCore and three
edge nodes (at -vvv, printing no token or kubeconfig credential), a second run
changes nothing, reset.yml removes one edge node without residue; then the
operator's "add nodes later" path: edge.yml --limit <that node> with CloudCore
stopped fails loudly and changes nothing, and with CloudCore back joins it
while the others are not restarted; a last site.yml changes nothing. Then the
upgrade to v1.14.5, CloudCore first (playbooks/upgrade.yml through lab.sh upgrade).

Uses the lab's fixed container names (inventories/lab) and removes the lab at
the end (`lab.sh down`)."""

import os
import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.lane("cloud")

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


def edgecore_started(host):
    return docker_sh(host, "systemctl show -p ActiveEnterTimestampMonotonic -p MainPID edgecore").stdout


def cloudcore_down(down):
    """Stop CloudCore on lab-cloud (down=True) or start it again. The real binaries run it as
    cloudcore.service; the doubles' keadm "pod" is a transient unit, gone once stopped, so its
    unit file is kept as a runtime unit to start it the same way again."""
    if docker_sh("lab-cloud", "systemctl cat cloudcore >/dev/null 2>&1 && echo unit").stdout.strip() == "unit":
        script = "systemctl %s cloudcore" % ("stop" if down else "start")
    elif down:
        script = ("systemctl cat cloudcore-keadm > /run/cloudcore-keadm.unit && systemctl stop cloudcore-keadm && "
                  "cp /run/cloudcore-keadm.unit /run/systemd/system/cloudcore-keadm.service && systemctl daemon-reload")
    else:
        script = "systemctl start cloudcore-keadm"
    res = docker_sh("lab-cloud", script)
    assert res.returncode == 0, res.stdout


def test_site_reset_site(lab, api_client, secret_needles):
    # 1. make lab: site.yml from nothing, at -vvv, over SSH.
    rc, out = run([str(LAB), "up", "-vvv"])
    assert rc == 0, out[-6000:]
    # It says where the KubeEdge binaries came from; this run records which.
    expected = "from KUBEEDGE_ARTIFACTS_DIR" if os.environ.get("KUBEEDGE_ARTIFACTS_DIR") else "KubeEdge TEST DOUBLES"
    assert expected in out, out[:3000]
    print("lab ran with: %s" % [ln for ln in out.splitlines() if "NOTICE:" in ln])
    assert "ESTABLISH SSH CONNECTION FOR USER: ops" in out
    assert "ESTABLISH DOCKER CONNECTION" not in out.split("playbooks/site.yml", 1)[1]
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

    # 4. Add it back later with edge.yml --limit, the cloud host outside the limit.
    limit = ["ansible-playbook", "-i", "inventories/lab", "-e", "@.lab/lab-vars.yml", "playbooks/edge.yml",
             "--limit", "lab-edge-1"]
    others = {h: edgecore_started(h) for h in ("lab-edge-2", "lab-edge-3")}
    #    CloudCore stopped: non-zero, the message names the cloud host, nothing changed, no Node.
    cloudcore_down(True)
    try:
        rc, out = run(limit)
    finally:
        cloudcore_down(False)
    assert rc != 0, out[-6000:]
    assert "CloudCore (cloud host lab-cloud) is not reachable from lab-edge-1" in out, out[-6000:]
    assert "Edge nodes that did not join: lab-edge-1." in out
    assert recap(out)["lab-edge-1"][1] == 0, out[-6000:]
    assert "lab-edge-1" not in ready_nodes(api_client)
    #    CloudCore back: it joins; the other nodes' edgecore was not restarted.
    docker_sh("lab-cloud", "for i in $(seq 60); do bash -c 'exec 3<>/dev/tcp/172.29.213.10/10000' 2>/dev/null && break; "
                           "sleep 1; done")
    rc, out = run(limit)
    assert rc == 0, out[-6000:]
    assert set(recap(out)) == {"lab-edge-1"}, out[-3000:]
    assert ready_nodes(api_client).get("lab-edge-1")
    assert {h: edgecore_started(h) for h in others} == others

    # 5. The whole site again: nothing left to change anywhere.
    rc, out = run([str(LAB), "up"])
    assert rc == 0, out[-6000:]
    last = recap(out)
    assert {h: r[1] for h, r in last.items() if r[1]} == {}, out[-6000:]
    assert all(ready_nodes(api_client).get(e) for e in EDGES)


def node_uids(api_client):
    from kubernetes import client
    return {n.metadata.name: n.metadata.uid for n in client.CoreV1Api(api_client).list_node().items
            if n.metadata.name in EDGES}


def kubeedge_versions(api_client):
    from kubernetes import client
    return {n.metadata.name: (n.status.node_info.kubelet_version or "").rsplit("-kubeedge-", 1)[-1]
            for n in client.CoreV1Api(api_client).list_node().items if n.metadata.name in EDGES}


def cloudcore_version(api_client):
    """keadm's Deployment image tag (the doubles), or the binary method's record (real binaries)."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException
    try:
        dep = client.AppsV1Api(api_client).read_namespaced_deployment("cloudcore", "kubeedge")
        return dep.spec.template.spec.containers[0].image.rsplit(":", 1)[1]
    except ApiException as exc:
        assert exc.status == 404, exc
    record = client.CoreV1Api(api_client).read_namespaced_config_map("edge-cluster-cloudcore", "kubeedge")
    return record.data["version.lab-cloud"]


def cloud_secrets(api_client):
    from kubernetes import client
    core = client.CoreV1Api(api_client)
    return {name: core.read_namespaced_secret(name, "kubeedge").metadata.uid
            for name in ("tokensecret", "casecret", "cloudcoresecret")}


class ReadyWatch:
    """Polls the edge Nodes' Ready condition every second while a run goes on."""

    def __init__(self, api_client):
        import threading
        self.api_client, self.seen, self.stop = api_client, [], threading.Event()
        self.thread = threading.Thread(target=self.poll, daemon=True)

    def poll(self):
        while not self.stop.is_set():
            try:
                ready = ready_nodes(self.api_client)
                self.seen.append({e: ready.get(e) for e in EDGES})
            except Exception as exc:  # noqa: BLE001 - an API hiccup is recorded, not fatal
                self.seen.append({"error": str(exc)[:200]})
            self.stop.wait(1)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)

    def not_ready(self):
        return [s for s in self.seen if "error" in s or not all(s.values())]


def test_upgrade_cloud_first(lab, api_client):
    """playbooks/upgrade.yml (lab.sh upgrade) from v1.13.1 to v1.14.5: CloudCore first, then the edge
    nodes, which stay Ready throughout with the same Node objects; the token and certificates stay;
    a re-run changes nothing; an edge-only run before CloudCore, a skipped minor, a dockershim node
    and a downgrade are refused before anything changes."""
    rc, out = run([str(LAB), "up"])
    assert rc == 0, out[-6000:]
    assert all(ready_nodes(api_client).get(e) for e in EDGES)
    assert cloudcore_version(api_client) == "v1.13.1"
    uids, secrets = node_uids(api_client), cloud_secrets(api_client)
    assert set(uids) == set(EDGES)
    play = ["ansible-playbook", "-i", "inventories/lab", "-e", "@.lab/lab-vars.yml", "playbooks/upgrade.yml"]

    # 1. A skipped minor release: refused on the cloud host, nothing changed anywhere.
    rc, out = run(play + ["-e", "lab_kubeedge_version=v1.15.4"])
    assert rc != 0, out[-6000:]
    assert "CloudCore runs v1.13.1 and v1.15.4 skips a minor release" in out, out[-6000:]
    assert {h: r[1] for h, r in recap(out).items() if r[1]} == {}, out[-6000:]
    assert cloudcore_version(api_client) == "v1.13.1"

    # 2. The edge nodes alone (--limit edge) before CloudCore: refused, nothing changed.
    rc, out = run([str(LAB), "upgrade", "v1.14.5", "--limit", "edge"])
    assert rc != 0, out[-6000:]
    assert "CloudCore at 172.29.213.10 runs KubeEdge v1.13.1, older than the v1.14.5" in out, out[-6000:]
    assert {h: r[1] for h, r in recap(out).items() if r[1]} == {}, out[-6000:]
    assert set(kubeedge_versions(api_client).values()) == {"v1.13.1"}

    # 3. The upgrade: CloudCore, then the edge nodes on containerd (lab-edge-2 runs docker through
    #    dockershim, see 4); Ready throughout, same Nodes, same Secrets.
    upgraded = ["lab-edge-1", "lab-edge-3"]
    limit = ["--limit", ",".join(["lab-cloud"] + upgraded)]
    with ReadyWatch(api_client) as watch:
        rc, out = run([str(LAB), "upgrade", "v1.14.5"] + limit)
    assert rc == 0, out[-6000:]
    assert out.index("Upgrade | CloudCore first") < out.index("Upgrade | Edge nodes")
    assert cloudcore_version(api_client) == "v1.14.5"
    assert kubeedge_versions(api_client) == {"lab-edge-1": "v1.14.5", "lab-edge-2": "v1.13.1", "lab-edge-3": "v1.14.5"}
    assert all(ready_nodes(api_client).get(e) for e in EDGES)
    assert node_uids(api_client) == uids
    assert cloud_secrets(api_client) == secrets
    assert len(watch.seen) > 10 and watch.not_ready() == [], watch.not_ready()[:5]
    print("upgrade: %d Ready polls, none NotReady" % len(watch.seen))

    #    Again: nothing changes.
    rc, out = run([str(LAB), "upgrade", "v1.14.5"] + limit)
    assert rc == 0, out[-6000:]
    again = recap(out)
    assert set(again) == {"lab-cloud", *upgraded}
    assert {h: r[1] for h, r in again.items() if r[1]} == {}, out[-6000:]

    # 4. lab-edge-2 joined with docker through dockershim, which v1.14 removed: refused before any
    #    change (the real v1.14.5 edgecore never came back on it), still Ready on v1.13.1.
    rc, out = run([str(LAB), "upgrade", "v1.14.5", "--limit", "lab-edge-2"])
    assert rc != 0, out[-6000:]
    assert "runs its containers with docker through dockershim" in out, out[-6000:]
    assert recap(out)["lab-edge-2"][1] == 0, out[-6000:]
    assert kubeedge_versions(api_client)["lab-edge-2"] == "v1.13.1"
    assert ready_nodes(api_client).get("lab-edge-2")

    # 5. A downgrade: refused on the cloud host, nothing changed.
    rc, out = run(play + ["-e", "lab_kubeedge_version=v1.13.1"])
    assert rc != 0, out[-6000:]
    assert "CloudCore runs v1.14.5 and v1.13.1 is older: a downgrade is not supported" in out, out[-6000:]
    assert {h: r[1] for h, r in recap(out).items() if r[1]} == {}, out[-6000:]
    assert cloudcore_version(api_client) == "v1.14.5"
    assert node_uids(api_client) == uids
