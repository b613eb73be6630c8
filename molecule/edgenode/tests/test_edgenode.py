"""Verify the edgenode scenario on the real hosts and in the real apiserver."""

import os

import pytest
import yaml
from kubernetes import client, config

RUNTIME = {
    # keadm v1.13.1 cannot join containerd with systemd cgroups: the role's default is cgroupfs there.
    "edge-bookworm-containerd": ("containerd", "cgroupfs"),
    "edge-bullseye-docker": ("docker", "cgroupfs"),
    "edge-bookworm-binary": ("containerd", "systemd"),
}
# Hosts that join with edgenode_install_method=binary (no keadm).
BINARY = {"edge-bookworm-binary"}
CLOUD = os.environ.get("EDGE_CLOUDCORE_ADDRESS", "")


def _binary(host):
    return host.backend.get_hostname() in BINARY


def _edgecore_config(host):
    return yaml.safe_load(host.file("/etc/kubeedge/config/edgecore.yaml").content_string)


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
    if _binary(host):
        pytest.skip("binary method: no keadm")
    out = host.check_output("/usr/local/bin/keadm version")
    assert 'GitVersion:"v1.13.1"' in out


def test_binary_method_installs_no_keadm(host):
    if not _binary(host):
        pytest.skip("keadm method")
    assert not host.file("/usr/local/bin/keadm").exists
    assert host.file("/usr/local/bin/edgecore").mode == 0o755
    # The release archive's edgecore, byte for byte (the real 1.13 edgecore has no working --version).
    staged = host.check_output("ls /var/cache/edge-cluster-*/kubeedge-v1.13.1-linux-amd64/edge/edgecore")
    assert host.file("/usr/local/bin/edgecore").sha256sum == host.file(staged.split()[0]).sha256sum


def test_binary_method_unit_like_keadm_v1_13_1(host):
    if not _binary(host):
        pytest.skip("keadm method")
    unit = host.file("/etc/systemd/system/edgecore.service")
    assert unit.mode == 0o644
    lines = [ln for ln in unit.content_string.splitlines() if ln and not ln.startswith("#")]
    # The real keadm v1.13.1 unit (no KillMode before v1.13.3), mqtt off.
    assert lines == ["[Unit]", "Description=edgecore.service", "[Service]", "Type=simple",
                     "ExecStart=/usr/local/bin/edgecore", "Restart=always", "RestartSec=10",
                     "Environment=DEPLOY_MQTT_CONTAINER=false", "[Install]", "WantedBy=multi-user.target"]


def test_binary_method_edgecore_config(host):
    if not _binary(host):
        pytest.skip("keadm method")
    name = host.backend.get_hostname()
    cfg = _edgecore_config(host)
    assert cfg["apiVersion"] == "edgecore.config.kubeedge.io/v1alpha2" and cfg["kind"] == "EdgeCore"
    hub, edged = cfg["modules"]["edgeHub"], cfg["modules"]["edged"]
    kubelet = edged["tailoredKubeletConfig"]
    if CLOUD:
        assert hub["websocket"]["server"] == CLOUD + ":10000"
        assert hub["httpServer"] == "https://%s:10002" % CLOUD
        assert cfg["modules"]["edgeStream"]["server"] == CLOUD + ":10004"
    assert hub["websocket"]["enable"] is True and hub["quic"]["enable"] is False
    # edgecore blanked the token once it had its certificates; the role left it so.
    assert hub["token"] == ""
    assert edged["hostnameOverride"] == name
    assert edged["nodeIP"] in host.check_output("hostname -I").split()
    assert edged["nodeLabels"] == {"edge.cluster/test": "molecule"}
    # v1.13: the runtime is set in edged itself.
    assert edged["containerRuntime"] == "remote"
    assert edged["remoteRuntimeEndpoint"] == edged["remoteImageEndpoint"] == "unix:///run/containerd/containerd.sock"
    assert "containerRuntimeEndpoint" not in kubelet
    assert kubelet["cgroupDriver"] == RUNTIME[name][1]
    assert kubelet["clusterDNS"] == ["169.254.96.16"]
    assert kubelet["clusterDomain"] == "cluster.local"
    assert kubelet["maxPods"] == 50  # edgenode_edgecore_config_overrides
    assert kubelet["readOnlyPort"] == 10350  # from the base data
    assert cfg["modules"]["metaManager"]["metaServer"]["enable"] is True
    assert cfg["modules"]["edgeStream"]["enable"] is True
    for f in ("/etc/kubeedge/ca/rootCA.crt", "/etc/kubeedge/certs/server.crt", "/etc/kubeedge/certs/server.key"):
        assert host.file(f).exists, f


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
    name = host.backend.get_hostname()
    expected = None if name == "edge-bullseye-docker" else "molecule"   # that host joins with no extra labels
    assert node.metadata.labels.get("edge.cluster/test") == expected
    # keadm gets exactly the labels asked for (no stray "None" from an empty value)
    assert "None" not in node.metadata.labels
    ready = [c for c in node.status.conditions if c.type == "Ready"]
    assert ready and ready[0].status == "True"


def test_role_settings_in_edgecore_yaml(host):
    """metaServer, edgeStream and clusterDNS/clusterDomain land in edgecore.yaml with both methods
    (keadm: merged into the file join wrote, tasks/configure.yml)."""
    cfg = _edgecore_config(host)
    mods = cfg["modules"]
    kubelet = mods["edged"]["tailoredKubeletConfig"]
    assert mods["metaManager"]["metaServer"]["enable"] is True
    assert mods["edgeStream"]["enable"] is True
    assert kubelet["clusterDNS"] == ["169.254.96.16"]
    assert kubelet["clusterDomain"] == "cluster.local"
    if not _binary(host):
        # what join wrote is kept: the merge only adds the role's settings
        assert mods["edged"]["hostnameOverride"] == host.backend.get_hostname()
        assert mods["edgeHub"]["websocket"]["server"].endswith(":10000")
        assert kubelet["readOnlyPort"] == 10350
