"""Verify the superedge scenario on the real hosts and in the real kube-apiserver."""

import base64
import os

import pytest
from kubernetes import client, config

EDGE_LABEL = "superedge.io/node-edge"   # edgeadm v0.9.0 (v0.6.1+)


@pytest.fixture(scope="module")
def core():
    config.load_kube_config(config_file=os.environ["KUBECONFIG"])
    return client.CoreV1Api()


def test_kubelet_and_lite_apiserver_running(host):
    for unit in ("kubelet", "lite-apiserver"):
        svc = host.service(unit)
        assert svc.is_running, unit
        assert svc.is_enabled, unit


def test_join_files(host):
    conf = host.file("/etc/kubernetes/kubelet.conf")
    assert conf.exists and conf.mode == 0o600
    assert not host.file("/etc/kubernetes/bootstrap-kubelet.conf").exists
    assert host.file("/etc/kubernetes/edge/lite-apiserver.key").mode == 0o600
    # The CA written by the join is the cluster's (discovery pinned it).
    assert "BEGIN CERTIFICATE" in host.file("/etc/kubernetes/pki/ca.crt").content_string
    flags = host.file("/var/lib/kubelet/kubeadm-flags.env").content_string
    assert "--hostname-override=%s" % host.backend.get_hostname() in flags


def test_package_unpacked_from_checked_archive(host):
    top = "/var/cache/edge-cluster-superedge/edgeadm-linux-amd64-v0.9.0-k8s-1.22.6"
    assert host.file(top + "/edgeadm").mode & 0o111
    assert host.file(top + "/kube-linux-amd64-v1.22.6.tar.gz").exists
    assert host.file("/var/cache/edge-cluster-superedge").mode == 0o700


def test_node_ready_with_edge_label(host, core):
    name = host.backend.get_hostname()
    node = core.read_node(name)
    assert node.metadata.labels.get(EDGE_LABEL) == "enable"
    assert node.metadata.labels.get("superedge.io.hostname") == name
    ready = [c for c in node.status.conditions if c.type == "Ready"]
    assert ready and ready[0].status == "True"
    lease = client.CoordinationV1Api().read_namespaced_lease(name, "kube-node-lease")
    assert lease.spec.holder_identity == name


def test_edge_apps_installed_once(core):
    apps = client.AppsV1Api()
    names = sorted(d.metadata.name for d in apps.list_namespaced_deployment("edge-system").items)
    assert names == ["application-grid-controller", "edge-health-admission", "tunnel-cloud"]
    info = core.read_namespaced_config_map("edge-info", "edge-system").data
    assert info["kube-api-cluster-ip"] == core.read_namespaced_service("kubernetes", "default").spec.cluster_ip


def test_one_reused_token_signed_in_cluster_info(core):
    secrets = core.list_namespaced_secret("kube-system", label_selector="edge.cluster/purpose=superedge-join").items
    assert len(secrets) == 1   # converge, idempotence and check reused it
    token_id = base64.b64decode(secrets[0].data["token-id"]).decode()
    assert "jws-kubeconfig-%s" % token_id in core.read_namespaced_config_map("cluster-info", "kube-public").data
