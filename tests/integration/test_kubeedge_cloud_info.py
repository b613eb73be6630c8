"""edge.cluster.kubeedge_cloud_info against the real kube-apiserver of the test bed.

Each test builds what `keadm init` leaves in a namespace of its own (the
Deployment and ConfigMap `cloudcore`, Secrets `cloudcoresecret` and
`tokensecret`), or Nodes with a label of its own, and reads them through the
module with the `ansible` CLI: what the cloudcore and edgenode roles decide on.
"""

import base64
import json
import os

import pytest
import yaml
from kubernetes import client

MODULE = "edge.cluster.kubeedge_cloud_info"
CONFIG = "apiVersion: cloudcore.config.kubeedge.io/v1alpha2\nkind: CloudCore\nmodules:\n  cloudHub:\n" \
         "    advertiseAddress: [192.0.2.10]\n"


@pytest.fixture
def core(api_client):
    return client.CoreV1Api(api_client)


def put_secret(core, namespace, name, data):
    core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name=name), data={k: base64.b64encode(v).decode() for k, v in data.items()}))


def install_cloud_side(api_client, supplied_tls, namespace, image="kubeedge/cloudcore:v1.13.1"):
    """The objects of keadm init's release (those the module reads); returns the Secrets' raw data."""
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    labels = {"k8s-app": "kubeedge", "kubeedge": "cloudcore"}
    apps.create_namespaced_deployment(namespace, client.V1Deployment.from_dict({
        "metadata": {"name": "cloudcore", "labels": labels},
        "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "sidecar", "image": "busybox:1"},
                                                      {"name": "cloudcore", "image": image}]}}}}))
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="cloudcore"), data={"cloudcore.yaml": CONFIG}))
    server = supplied_tls.server_secret(["192.0.2.10", "127.0.0.1"], ["cloudcore.example.org"])
    put_secret(core, namespace, "cloudcoresecret", server)
    token = b"%s.eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.c2ln" % (b"a" * 64)
    put_secret(core, namespace, "tokensecret", {"tokendata": token})
    return [server["cloudcoredata"], server["cloudcorekeydata"], token]


def test_an_empty_namespace_reads_as_absent(run_module, kubeconfig, namespace, api_client):
    rc, result = run_module(MODULE, {"kubeconfig": kubeconfig, "namespace": namespace, "cluster_uid": True})
    assert rc == 0, result
    assert result["changed"] is False
    assert result["deployment"] == {"exists": False}
    assert result["config"] == ""
    assert result["server_certificate"]["exists"] is False
    assert result["token_secret"] == {"exists": False}
    version = client.VersionApi(api_client).get_code()
    assert (result["kubernetes"]["major"], result["kubernetes"]["minor"]) == (version.major, version.minor)
    assert result["cluster_uid"] == client.CoreV1Api(api_client).read_namespace("kube-system").metadata.uid


def test_reads_what_keadm_init_installed_and_never_its_secrets(run_module, kubeconfig, namespace, api_client,
                                                               supplied_tls):
    secrets = install_cloud_side(api_client, supplied_tls, namespace)
    for check in (False, True):
        rc, result = run_module(MODULE, {"kubeconfig": kubeconfig, "namespace": namespace}, check=check)
        assert rc == 0, result
        assert result["changed"] is False
        assert result["deployment"]["exists"] is True
        deployment = result["deployment"]
        assert (deployment["image"], deployment["version"]) == ("kubeedge/cloudcore:v1.13.1", "v1.13.1")
        assert result["config"] == CONFIG
        cert = result["server_certificate"]
        assert cert["exists"] is True and cert["readable"] is True, cert
        assert sorted(cert["ip_addresses"]) == ["127.0.0.1", "192.0.2.10"]
        assert cert["dns_names"] == ["cloudcore.example.org"]
        assert result["token_secret"] == {"exists": True}
        text = json.dumps(result)
        for raw in secrets:
            assert base64.b64encode(raw).decode()[:40] not in text
        assert "eyJleHAiOjF9" not in text  # the token's payload


def test_a_certificate_that_is_no_certificate_is_reported_not_fatal(run_module, kubeconfig, namespace, core):
    put_secret(core, namespace, "cloudcoresecret", {"cloudcoredata": b"not a certificate"})
    rc, result = run_module(MODULE, {"kubeconfig": kubeconfig, "namespace": namespace, "cloudcore": False})
    assert rc == 0, result
    cert = result["server_certificate"]
    assert cert["exists"] is True and cert["readable"] is False and cert["error"], cert


def test_edge_nodes_and_other_nodes(run_module, kubeconfig, core):
    label = "t-cloud-info-%s.example.org/edge" % os.urandom(3).hex()
    made = []

    def node(name, labels, kubelet=None, ready=None, ip=None):
        core.create_node({"metadata": {"name": name, "labels": labels}})
        made.append(name)
        status = {}
        if kubelet:
            status["nodeInfo"] = {"kubeletVersion": kubelet}
        if ready is not None:
            status["conditions"] = [{"type": "Ready", "status": "True" if ready else "False", "reason": "t"}]
        if ip:
            status["addresses"] = [{"type": "InternalIP", "address": ip}]
        if status:
            core.patch_node_status(name, {"status": status})

    tag = os.urandom(3).hex()
    try:
        node("t-ci-ready-%s" % tag, {label: ""}, "v1.23.15-kubeedge-v1.13.1", True, "192.0.2.21")
        node("t-ci-down-%s" % tag, {label: "", "site": "a"}, "v1.28.11-kubeedge-v1.17.5", False)
        node("t-ci-new-%s" % tag, {label: ""})
        node("t-ci-cloud-%s" % tag, {"node-role.kubernetes.io/control-plane": ""})
        rc, result = run_module(MODULE, {"kubeconfig": kubeconfig, "edge_nodes": True, "other_nodes": True,
                                         "edge_node_label": label, "cloudcore": False,
                                         "server_certificate": False, "token_secret": False, "version": False})
        assert rc == 0, result
        edges = {n["name"]: n for n in result["edge_nodes"]}
        assert sorted(edges) == sorted(made[:3]) and [n["name"] for n in result["edge_nodes"]] == sorted(made[:3])
        ready = edges["t-ci-ready-%s" % tag]
        assert (ready["kubeedge_version"], ready["ready"], ready["internal_ips"]) == ("v1.13.1", True, ["192.0.2.21"])
        down = edges["t-ci-down-%s" % tag]
        assert (down["kubeedge_version"], down["ready"], down["labels"]["site"]) == ("v1.17.5", False, "a")
        assert (edges["t-ci-new-%s" % tag]["kubeedge_version"], edges["t-ci-new-%s" % tag]["ready"]) == ("", False)
        others = {n["name"] for n in result["other_nodes"]}
        assert "t-ci-cloud-%s" % tag in others and not others & set(made[:3])
        assert "kubernetes" not in result and "deployment" not in result
    finally:
        for name in made:
            core.delete_node(name)


def test_without_rights_the_read_stage_fails_and_says_so(run_module, kubeconfig, namespace):
    rc, result = run_module(MODULE, {"kubeconfig": kubeconfig, "context": "edge-test-nobody", "namespace": namespace})
    assert rc != 0
    assert result["stage"] == "read", result
    assert "forbidden" in result["msg"].lower() or "403" in result["msg"], result["msg"]


def test_an_unreachable_cluster_fails_at_the_version_stage(run_module, tmp_path, kubeconfig):
    cfg = yaml.safe_load(open(kubeconfig, encoding="utf-8"))
    for cluster in cfg["clusters"]:
        cluster["cluster"]["server"] = "https://127.0.0.1:1"
    path = tmp_path / "unreachable"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    path.chmod(0o600)
    rc, result = run_module(MODULE, {"kubeconfig": str(path)})
    assert rc != 0
    assert result["stage"] in ("connect", "version"), result
    assert "127.0.0.1:1" in result["msg"] or "refused" in result["msg"].lower(), result["msg"]
