"""playbooks/reset.yml decides first, then acts: on real systemd hosts against the real kube-apiserver.

A host that is not proven to be an edge node of this cluster (CloudCore on it, a Kubernetes worker with
its own kubelet and containerd workload, KubeEdge files nothing proves ours, a node name that belongs to
another Node) is refused: the run exits non-zero and nothing on the host or in the cluster changes.
A proven host is reset; check mode only lists what would go; a clean host is left alone.

The CloudCore, kubelet and keadm found on these hosts are stand-ins (a copy of sleep under the real name,
run by the real unit names), since what the reset looks at is the unit, the process, the files.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RESET = REPO / "playbooks" / "reset.yml"
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
# What a reset would remove or stop: a refused host must keep all of it.
WATCHED = "/etc /usr/local /var/lib/kubeedge /var/lib/edged /var/lib/containerd /var/cache"


def _unit(name, exe):
    return ("printf '[Unit]\\nDescription=%s stand-in\\n[Service]\\nExecStart=%s infinity\\n"
            "[Install]\\nWantedBy=multi-user.target\\n' > /etc/systemd/system/%s.service && "
            "cp /bin/sleep %s && systemctl daemon-reload && systemctl enable --now %s.service"
            % (name, exe, name, exe, name))


def _snapshot(host):
    """Every file under WATCHED with its size and mtime, plus the running units of interest."""
    files = host.sh("find %s -xdev \\( -type f -o -type l \\) -printf '%%p %%s %%T@\\n' 2>/dev/null | sort"
                    % WATCHED, check=False).stdout
    units = host.sh("systemctl is-active cloudcore kubelet edgecore containerd 2>/dev/null", check=False).stdout
    return files, units


def _recap(out, name):
    rows = {m.group(1): tuple(int(m.group(i)) for i in range(2, 6)) for m in RECAP.finditer(out)}
    assert name in rows, out[-3000:]
    return dict(zip(("ok", "changed", "unreachable", "failed"), rows[name]))


@pytest.fixture
def reset_run(tmp_path, kubeconfig):
    """Run playbooks/reset.yml on one container host; the cluster is read from localhost."""
    def run(host, check=False, extra=None):
        inventory = {"all": {"hosts": {"localhost": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            # the controller runs as root without sudo: the cloud play's become is not needed here
            "ansible_become": False}},
            "children": {"edge": {"hosts": {host.name: {
                "ansible_connection": "community.docker.docker",
                "ansible_python_interpreter": "/usr/bin/python3"}}}}}}
        inv = tmp_path / "hosts.yml"
        inv.write_text(yaml.safe_dump(inventory), encoding="utf-8")
        extra_vars = {"reset_confirm": False, "reset_cloud_host": "localhost", "reset_kubeconfig": kubeconfig,
                      "edge_cluster_cloud_host": "localhost"}
        extra_vars.update(extra or {})
        cmd = ["ansible-playbook", "-i", str(inv), str(RESET), "-e", json.dumps(extra_vars)]
        if check:
            cmd += ["--check", "--diff"]
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        proc = subprocess.run(cmd, cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=env, check=False, timeout=600)
        return proc.returncode, proc.stdout
    return run


def _edgecore_config(host, node_name):
    host.sh("mkdir -p /etc/kubeedge/config && printf 'apiVersion: edgecore.config.kubeedge.io/v1alpha2\\n"
            "kind: EdgeCore\\nmodules:\\n  edged:\\n    hostnameOverride: %s\\n  edgeHub:\\n"
            "    token: not-a-real-token\\n' > /etc/kubeedge/config/edgecore.yaml && "
            "chmod 600 /etc/kubeedge/config/edgecore.yaml" % node_name)


def _clean(host):
    host.sh("systemctl disable --now cloudcore kubelet edgecore >/dev/null 2>&1; "
            "rm -rf /etc/kubeedge /var/lib/kubeedge /var/lib/edged /var/cache/edge-cluster-edgenode "
            "/usr/local/bin/* /etc/systemd/system/cloudcore.service /etc/systemd/system/kubelet.service "
            "/etc/systemd/system/edgecore.service /var/lib/kubelet /etc/kubernetes; systemctl daemon-reload",
            check=False)


def test_a_cloudcore_host_is_refused_and_keeps_everything(systemd_host, reset_run, api_client):
    host = systemd_host
    _clean(host)
    # The binary method's cloud host: cloudcore.yaml, the stream certificate and key, the service.
    host.sh("mkdir -p /etc/kubeedge/config /etc/kubeedge/certs && echo 'kind: CloudCore' > "
            "/etc/kubeedge/config/cloudcore.yaml && echo key > /etc/kubeedge/certs/stream.key && "
            "cp /bin/true /usr/local/bin/keadm && " + _unit("cloudcore", "/usr/local/bin/cloudcore"))
    before = _snapshot(host)
    rc, out = reset_run(host)
    assert rc != 0, out[-3000:]
    assert _recap(out, host.name)["changed"] == 0
    assert re.search(r"is not reset: CloudCore: its configuration, unit cloudcore.service \(active\), "
                     r"a running cloudcore \(pid \d+\), /usr/local/bin/cloudcore", out), out[-3000:]
    assert _snapshot(host) == before
    assert host.sh("systemctl is-active cloudcore", check=False).stdout.strip() == "active"


def test_a_kubernetes_worker_with_a_containerd_workload_is_refused(systemd_host, reset_run, api_client):
    host = systemd_host
    _clean(host)
    pause = subprocess.run([str(REPO / "tests" / "double" / "package.sh"), "v1.13.1"], check=True,
                           stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()[-1]
    subprocess.run(["docker", "cp", "%s/images/pause-3.6.tar" % pause, "%s:/root/pause.tar" % host.name],
                   check=True)
    host.sh("command -v ctr >/dev/null || (apt-get update -qq && "
            "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq containerd >/dev/null)")
    # overlay snapshots cannot live on the container's own overlay: a tmpfs under containerd's root
    host.sh("mountpoint -q /var/lib/containerd || (systemctl stop containerd; mkdir -p /var/lib/containerd && "
            "mount -t tmpfs tmpfs /var/lib/containerd)")
    host.sh("systemctl start containerd && for i in $(seq 1 30); do ctr version >/dev/null 2>&1 && break; "
            "sleep 1; done; ctr -n k8s.io images import /root/pause.tar >/dev/null")
    # A pod sandbox and container of the worker's own kubelet, and a plain container, in k8s.io.
    host.sh("ctr -n k8s.io containers rm worker-pod worker-app site-tool >/dev/null 2>&1; "
            "ctr -n k8s.io containers create --label io.cri-containerd.kind=sandbox "
            "--label io.kubernetes.pod.uid=1111-worker --label io.kubernetes.pod.name=web "
            "--label io.kubernetes.pod.namespace=default docker.io/kubeedge/pause:3.6 worker-pod && "
            "ctr -n k8s.io containers create --label io.kubernetes.pod.uid=1111-worker "
            "docker.io/kubeedge/pause:3.6 worker-app && "
            "ctr -n k8s.io containers create docker.io/kubeedge/pause:3.6 site-tool")
    host.sh("mkdir -p /var/lib/kubelet /etc/kubernetes && echo 'kind: KubeletConfiguration' > "
            "/var/lib/kubelet/config.yaml && echo 'kind: Config' > /etc/kubernetes/kubelet.conf && "
            # a stray keadm from someone's try: tempting, not ours
            "cp /bin/true /usr/local/bin/keadm && " + _unit("kubelet", "/usr/local/bin/kubelet"))
    before = _snapshot(host)
    containers = host.sh("ctr -n k8s.io containers ls -q").stdout.split()
    rc, out = reset_run(host)
    assert rc != 0, out[-3000:]
    assert _recap(out, host.name)["changed"] == 0
    assert "a Kubernetes node that is not a SuperEdge edge node of this cluster: unit kubelet.service (active)" \
        in out, out[-3000:]
    assert sorted(host.sh("ctr -n k8s.io containers ls -q").stdout.split()) == sorted(containers)
    assert {"worker-pod", "worker-app", "site-tool"} <= set(containers)
    assert _snapshot(host) == before
    host.sh("ctr -n k8s.io containers rm worker-pod worker-app site-tool; systemctl stop containerd")


def test_kubeedge_files_nothing_proves_ours_are_refused(systemd_host, reset_run, api_client, nodes, node_exists):
    host = systemd_host
    _clean(host)
    # edgecore.yaml names a Node the cluster does not have, and no edgenode leftovers are there.
    _edgecore_config(host, "reset-guard-absent-%s" % os.urandom(2).hex())
    host.sh("cp /bin/true /usr/local/bin/keadm")
    before = _snapshot(host)
    rc, out = reset_run(host)
    assert rc != 0, out[-3000:]
    assert "nothing proves it is an edge node of this cluster" in out, out[-3000:]
    assert _snapshot(host) == before

    # The name belongs to another Node (a control-plane node): refused, and that Node stays.
    other = nodes({"node-role.kubernetes.io/control-plane": ""})
    _edgecore_config(host, other)
    before = _snapshot(host)
    rc, out = reset_run(host)
    assert rc != 0, out[-3000:]
    assert "Node %s exists in the cluster but carries none of the labels" % other in out, out[-3000:]
    assert _snapshot(host) == before
    assert node_exists(other)


def test_a_proven_edge_host_check_mode_lists_then_the_reset_removes(systemd_host, reset_run, api_client, nodes, node_exists):
    host = systemd_host
    _clean(host)
    node = nodes({"node-role.kubernetes.io/edge": ""})
    _edgecore_config(host, node)
    host.sh("mkdir -p /var/lib/edged/pods/uid-1 /var/cache/edge-cluster-edgenode && cp /bin/true /usr/local/bin/keadm"
            " && " + _unit("edgecore", "/usr/local/bin/edgecore"))
    before = _snapshot(host)
    rc, out = reset_run(host, check=True)
    assert rc == 0, out[-3000:]
    assert "is reset (Node %s carries the edge label node-role.kubernetes.io/edge)" % node in out
    assert ("remove /etc/kubeedge, /var/lib/edged, /etc/systemd/system/edgecore.service, "
            "/var/cache/edge-cluster-edgenode, /usr/local/bin/keadm, /usr/local/bin/edgecore") in out
    assert "stop edgecore" in out
    assert "delete Node %s" % node in out
    assert _snapshot(host) == before, "check mode changed the host"
    assert node_exists(node)
    # the token in edgecore.yaml never reaches the output, not even in --check --diff
    assert "not-a-real-token" not in out

    rc, out = reset_run(host)
    assert rc == 0, out[-3000:]
    assert not node_exists(node)
    left = host.sh("ls -d /etc/kubeedge /var/lib/edged /var/cache/edge-cluster-edgenode /usr/local/bin/keadm "
                   "/usr/local/bin/edgecore /etc/systemd/system/edgecore.service 2>/dev/null", check=False).stdout
    assert left == ""
    assert host.sh("pidof edgecore", check=False).returncode == 1

    # Now clean: a second run changes nothing and succeeds.
    rc, out = reset_run(host)
    assert rc == 0, out[-3000:]
    assert _recap(out, host.name)["changed"] == 0
    assert "%s holds nothing of KubeEdge: nothing to remove." % host.name in out
