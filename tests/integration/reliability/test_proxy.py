"""A join through a real HTTP proxy (Debian's tinyproxy, tests/testbed/proxy.sh).

The release downloads are served on 127.0.0.2 of the test machine, which an edge host can reach only
through the proxy (its own 127.0.0.2 is itself). Without a proxy the join stops at the download and
says which URL. With edge_cluster_http_proxy (the shared variable, given once) it joins: the proxy's
log shows keadm's archive and checksum requests, containerd gets the proxy as a systemd drop-in whose
no_proxy holds CloudCore's address, and the Node is Ready. A second run changes nothing; a run
without the proxy removes the drop-in again.
"""

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kubernetes import client

pytestmark = pytest.mark.lane("edge")

DROPIN = "/etc/systemd/system/containerd.service.d/edge-cluster-proxy.conf"


@pytest.fixture
def loopback_server(edge_lab):
    """The artifacts, served on 127.0.0.2 only."""
    sock = socket.socket()
    sock.bind(("127.0.0.2", 0))
    port = sock.getsockname()[1]
    sock.close()
    root = str(Path(edge_lab.art_dir).parent)
    proc = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.2", "--directory", root,
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for dummy in range(50):
        try:
            socket.create_connection(("127.0.0.2", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield "http://127.0.0.2:%d" % port
    proc.terminate()
    proc.wait(10)


def test_join_through_a_real_proxy(rel, edge_lab, edge_hosts, api_client, tmp_path, loopback_server):
    proxy = subprocess.run([str(rel.TESTBED / "proxy.sh"), "start"], check=True, stdout=subprocess.PIPE,
                           text=True).stdout.strip().splitlines()[-1]
    log = Path(subprocess.run([str(rel.TESTBED / "proxy.sh"), "log"], check=True, stdout=subprocess.PIPE,
                              text=True).stdout.strip())
    host = edge_hosts.start(1)[0]
    name = host.name.lower()
    version = rel.KUBEEDGE_VERSION
    archive = "%s/%s/keadm-%s-linux-amd64.tar.gz" % (loopback_server, version, version)
    checksum = "%s/%s/checksum_keadm-%s-linux-amd64.tar.gz.txt" % (loopback_server, version, version)
    group_vars = edge_lab.edge_vars(edgenode_keadm_install_method="url", edgenode_release_base_url=loopback_server,
                                    edgenode_keadm_checksum="sha512:" + checksum)
    inventory = rel.write_inventory(tmp_path / "proxy.yml", [host], group_vars)
    ev = {"edgenode_kubeconfig": edge_lab.kubeconfig}

    # 1. No proxy: the download cannot reach 127.0.0.2; the run says which URL, no Node.
    direct = rel.play(inventory, extra_vars=ev)
    assert direct.rc != 0, direct
    assert "127.0.0.2" in direct.output and "Connection refused" in direct.output, direct
    assert rel.node_ready(client.CoreV1Api(api_client), name) is None

    # 2. Through the proxy: joined, the proxy saw keadm's archive and checksum, containerd has the drop-in.
    start = log.stat().st_size
    via = dict(ev, edge_cluster_http_proxy=proxy, edge_cluster_no_proxy=["10.96.0.0/12"])
    joined = rel.play(inventory, extra_vars=via)
    assert joined.rc == 0, joined
    seen = log.read_text(errors="replace")[start:]
    assert "GET %s HTTP" % checksum in seen, seen[-3000:]
    assert "GET %s HTTP" % archive in seen, seen[-3000:]
    assert rel.node_ready(client.CoreV1Api(api_client), name)
    dropin = host.sh("cat %s" % DROPIN).stdout
    assert host.sh("stat -c %%a %s" % DROPIN).stdout.strip() == "600"  # a proxy URL may hold a password
    assert 'Environment="HTTP_PROXY=%s"' % proxy in dropin, dropin
    no_proxy = [l for l in dropin.splitlines() if l.startswith('Environment="NO_PROXY=')][0]
    assert no_proxy == 'Environment="NO_PROXY=10.96.0.0/12,%s,localhost,127.0.0.1,::1"' % edge_lab.cloud_address
    env = host.sh("systemctl show containerd -p Environment").stdout
    assert "HTTP_PROXY=%s" % proxy in env, env

    # 3. Again: nothing changes (containerd is not restarted).
    pid = host.sh("systemctl show containerd -p MainPID").stdout
    again = rel.play(inventory, extra_vars=via)
    assert again.rc == 0, again
    assert again.recap()[host.name]["changed"] == 0, again
    assert host.sh("systemctl show containerd -p MainPID").stdout == pid

    # 4. The proxy taken out of the inventory: the drop-in goes, containerd restarts without it.
    removed = rel.play(inventory, extra_vars=ev)
    assert removed.rc == 0, removed
    assert host.sh("test -e %s && echo present || echo gone" % DROPIN).stdout.strip() == "gone"
    assert "HTTP_PROXY" not in host.sh("systemctl show containerd -p Environment").stdout
    assert rel.node_ready(client.CoreV1Api(api_client), name)
