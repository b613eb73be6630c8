"""After the reset: nothing of KubeEdge is left on the hosts or in the apiserver."""

import os

import pytest
from kubernetes import client, config

GONE = [
    "/etc/kubeedge", "/var/lib/kubeedge", "/var/lib/edged", "/var/log/kubeedge",
    "/etc/systemd/system/edgecore.service", "/etc/systemd/system/edgecore.service.d",
    "/etc/systemd/system/multi-user.target.wants/edgecore.service",
    "/usr/local/bin/keadm", "/usr/local/bin/edgecore",
    "/etc/sysctl.d/90-edge-cluster.conf", "/etc/cni/net.d/10-edge-cluster-bridge.conflist",
    "/var/cache/edge-cluster-edgenode", "/var/cache/edge-cluster-keadm",
    "/var/lib/cni/networks/edge-cluster-bridge",
]
DIRS = ("/etc/kubeedge", "/var/lib/kubeedge", "/var/lib/edged", "/var/log/kubeedge")


@pytest.mark.parametrize("path", GONE)
def test_path_is_gone(host, path):
    assert not host.file(path).exists, path


def test_no_edgecore_unit_or_process(host):
    units = host.run("systemctl list-unit-files --no-legend 'edgecore*'")
    assert units.stdout.strip() == ""
    assert host.run("systemctl is-active edgecore").stdout.strip() in ("inactive", "unknown")
    assert host.run("pidof edgecore").rc == 1


def test_no_mounts_under_the_kubeedge_directories(host):
    mounts = [line.split()[1] for line in host.file("/proc/mounts").content_string.splitlines()]
    left = [m for m in mounts if any(m == d or m.startswith(d + "/") for d in DIRS)]
    assert left == []


def test_only_the_sites_own_container_is_left_in_the_cri_namespace(host):
    # residue.yml planted edgecore's pod container, the join sandbox, and site-own (not edgecore's)
    assert host.check_output("ctr -n k8s.io containers ls -q").split() == ["site-own"]
    assert host.check_output("ctr -n k8s.io tasks ls -q") == ""


def test_runtime_and_images_stay(host):
    # the runtime is not ours to remove; the preloaded images stay (like keadm reset)
    assert host.service("containerd").is_running
    assert "docker.io/kubeedge/pause:3.6" in host.check_output("ctr -n k8s.io images ls -q").split()


def test_no_iptables_rule_of_the_edgenode_role(host):
    out = host.run("iptables -S INPUT")
    assert out.rc == 0
    assert "edge.cluster edgenode" not in out.stdout


def test_mosquitto_purged(host):
    assert host.run("dpkg-query -W -f='${Status}' mosquitto").stdout.find("install ok installed") == -1
    assert not host.file("/etc/mosquitto").exists


def test_cni_bridge_deleted(host):
    assert not host.file("/sys/class/net/cni0").exists


def test_node_object_deleted(host):
    config.load_kube_config(config_file=os.environ["KUBECONFIG"])
    name = host.backend.get_hostname()
    with pytest.raises(client.ApiException) as exc:
        client.CoreV1Api().read_node(name)
    assert exc.value.status == 404
