"""Verify the edgenode scenario on the real hosts and in the real apiserver."""

import os

from kubernetes import client, config

RUNTIME = {
    "edge-bookworm-containerd": ("containerd", "systemd"),
    "edge-bullseye-docker": ("docker", "cgroupfs"),
}


def test_nsswitch_hosts_line(host):
    lines = [ln.split() for ln in host.file("/etc/nsswitch.conf").content_string.splitlines()
             if ln.startswith("hosts:")]
    assert lines == [["hosts:", "dns", "files", "mdns4_minimal", "[NOTFOUND=return]"]]


def test_ip_forward_live_and_persisted(host):
    assert host.sysctl("net.ipv4.ip_forward") == 1
    conf = host.file("/etc/sysctl.d/90-edge-cluster.conf").content_string.replace(" ", "")
    assert "net.ipv4.ip_forward=1" in conf


def test_runtime_active_with_cgroup_driver(host):
    runtime, driver = RUNTIME[host.backend.get_hostname()]
    assert host.service(runtime).is_running
    assert host.service(runtime).is_enabled
    if runtime == "containerd":
        cfg = host.file("/etc/containerd/config.toml").content_string
        assert ("SystemdCgroup = %s" % ("true" if driver == "systemd" else "false")) in cfg
    else:
        assert host.check_output("docker info --format '{{.CgroupDriver}}'") == driver


def test_keadm_version(host):
    out = host.check_output("/usr/local/bin/keadm version")
    assert 'GitVersion:"v1.13.1"' in out


def test_edgecore_active_and_enabled(host):
    svc = host.service("edgecore")
    assert svc.is_running
    assert svc.is_enabled
    # edgecore.yaml holds the join token: owner-only.
    assert host.file("/etc/kubeedge/config/edgecore.yaml").mode & 0o077 == 0


def test_node_ready_with_edge_role(host):
    config.load_kube_config(config_file=os.environ["KUBECONFIG"])
    node = client.CoreV1Api().read_node(host.backend.get_hostname())
    assert "node-role.kubernetes.io/edge" in node.metadata.labels
    assert node.metadata.labels.get("edge.cluster/test") == "molecule"
    ready = [c for c in node.status.conditions if c.type == "Ready"]
    assert ready and ready[0].status == "True"
