"""Verify CloudCore on the cloud hosts: real state on the hosts and in the cluster."""

import base64
import ipaddress
import json
import os
import socket
import ssl

import pytest
import testinfra
import yaml
from cryptography import x509
from kubernetes import client, config

from ansible_collections.edge.cluster.plugins.module_utils.kubeedge import decode_token_data, parse_token

testinfra_hosts = ["cloud-keadm", "cloud-binary"]


@pytest.fixture(scope="module")
def api():
    return config.new_client_from_config(config_file=os.environ["KUBECONFIG"])


def method(host):
    return host.ansible.get_variables()["cloudcore_method"]


def advertise(host):
    return host.ansible("setup", "gather_subset=network")["ansible_facts"]["ansible_default_ipv4"]["address"]


@pytest.fixture(scope="module")
def addresses():
    """Every cloud host's default address, in testinfra_hosts order."""
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    return [advertise(testinfra.get_host("ansible://%s" % name, ansible_inventory=inventory))
            for name in testinfra_hosts]


def advertised(host, addresses):
    """What molecule.yml makes each host advertise: its own address first, then the peer's."""
    own = advertise(host)
    return [own] + [a for a in addresses if a != own]


def test_token_secret_holds_a_valid_token(api):
    secret = client.CoreV1Api(api).read_namespaced_secret("tokensecret", "kubeedge")
    token = parse_token(decode_token_data(secret.data["tokendata"]))
    assert not token["expired"]
    ca = client.CoreV1Api(api).read_namespaced_secret("casecret", "kubeedge")
    assert ca.data["cadata"]


def test_cloudhub_and_https_answer_on_the_advertise_address(host):
    address = advertise(host)
    for port in (10000, 10002):
        with socket.create_connection((address, port), timeout=5):
            pass


def test_served_certificate_has_the_advertise_address_as_ip_san(host, addresses, api):
    """Each CloudCore serves a certificate naming both addresses (the shared Secret cloudcoresecret
    was rotated when it lacked one), signed by the shared CA of Secret casecret."""
    address = advertise(host)
    pem = ssl.get_server_certificate((address, 10002))
    cert = x509.load_pem_x509_certificate(pem.encode())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(sans.get_values_for_type(x509.IPAddress)) == sorted(map(ipaddress.ip_address, addresses))
    ca = x509.load_der_x509_certificate(base64.b64decode(
        client.CoreV1Api(api).read_namespaced_secret("casecret", "kubeedge").data["cadata"]))
    cert.verify_directly_issued_by(ca)


def test_cloudcore_process_holds_the_ports(host):
    out = host.check_output("ss -Htlnp")
    for port in (10000, 10002, 10003, 10004):
        lines = [line for line in out.splitlines() if line.split()[3].endswith(":%d" % port)]
        assert lines and '"cloudcore"' in lines[0], (port, out)


def test_keadm_method_deployment_and_configmap(host, api, addresses):
    if method(host) != "keadm":
        pytest.skip("keadm method only")
    dep = client.AppsV1Api(api).read_namespaced_deployment("cloudcore", "kubeedge")
    assert dep.spec.template.spec.containers[0].image == "kubeedge/cloudcore:v1.13.1"
    assert dep.spec.template.spec.host_network
    cm = client.CoreV1Api(api).read_namespaced_config_map("cloudcore", "kubeedge")
    cfg = yaml.safe_load(cm.data["cloudcore.yaml"])
    assert cfg["modules"]["dynamicController"]["enable"] is True
    assert cfg["modules"]["cloudStream"]["enable"] is True
    # kubectl logs/exec: the chart's iptables manager DNATs the tunnel ports (inside the cloudcore pod)
    assert cfg["modules"]["iptablesManager"] == {"enable": True, "mode": "internal"}
    assert cfg["modules"]["cloudHub"]["advertiseAddress"] == advertised(host, addresses)
    client.CoreV1Api(api).read_namespaced_secret("sh.helm.release.v1.cloudcore.v1", "kubeedge")
    svc = client.CoreV1Api(api).read_namespaced_service("cloudcore", "kubeedge")
    assert sorted(p.port for p in svc.spec.ports) == [10000, 10001, 10002, 10003, 10004]


def test_keadm_method_installed_keadm_of_the_version(host):
    if method(host) != "keadm":
        pytest.skip("keadm method only")
    assert 'GitVersion:"v1.13.1"' in host.check_output("/usr/local/bin/keadm version")


def test_binary_method_service_and_config(host, addresses):
    if method(host) != "binary":
        pytest.skip("binary method only")
    svc = host.service("cloudcore")
    assert svc.is_running and svc.is_enabled
    f = host.file("/etc/kubeedge/config/cloudcore.yaml")
    assert f.user == "root" and f.mode == 0o600
    cfg = yaml.safe_load(f.content_string)
    hub = cfg["modules"]["cloudHub"]
    assert hub["advertiseAddress"] == advertised(host, addresses)
    assert hub["websocket"]["port"] == 10000 and hub["https"]["port"] == 10002
    assert hub["quic"]["port"] == 10001 and hub["nodeLimit"] == 1000
    assert cfg["modules"]["cloudStream"] == {
        "enable": True, "streamPort": 10003, "tunnelPort": 10004,
        "tlsStreamCAFile": "/etc/kubeedge/ca/streamCA.crt", "tlsStreamCertFile": "/etc/kubeedge/certs/stream.crt",
        "tlsStreamPrivateKeyFile": "/etc/kubeedge/certs/stream.key"}
    assert cfg["modules"]["iptablesManager"]["enable"] is False  # the role owns the DNAT rules
    assert cfg["modules"]["dynamicController"]["enable"] is True
    assert cfg["kubeAPIConfig"]["kubeConfig"] == "/root/.kube/config"
    assert host.file("/etc/kubeedge/config/.edge-cluster-cloudcore-version").content_string.strip() == "v1.13.1"


def test_binary_method_applied_the_crds(host, api):
    if method(host) != "binary":
        pytest.skip("binary method only")
    ext = client.ApiextensionsV1Api(api)
    names = {c.metadata.name for c in ext.list_custom_resource_definition().items}
    for crd in ("devices.devices.kubeedge.io", "devicemodels.devices.kubeedge.io",
                "objectsyncs.reliablesyncs.kubeedge.io", "clusterobjectsyncs.reliablesyncs.kubeedge.io",
                "rules.rules.kubeedge.io", "ruleendpoints.rules.kubeedge.io",
                "edgeapplications.apps.kubeedge.io", "nodegroups.apps.kubeedge.io",
                "nodeupgradejobs.operations.kubeedge.io"):
        assert crd in names


def test_binary_method_stream_certificate_and_dnat(host, api, addresses):
    if method(host) != "binary":
        pytest.skip("binary method only")
    address = advertise(host)
    # signed by the cluster CA the host has at kubeadm's path, for 127.0.0.1 and the advertise address
    assert host.run("openssl verify -CAfile /etc/kubernetes/pki/ca.crt /etc/kubeedge/certs/stream.crt").rc == 0
    pem = host.file("/etc/kubeedge/certs/stream.crt").content_string
    cert = x509.load_pem_x509_certificate(pem.encode())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(map(str, sans.get_values_for_type(x509.IPAddress))) == sorted(["127.0.0.1"] + addresses)
    assert host.file("/etc/kubeedge/certs/stream.key").mode == 0o600
    served = ssl.get_server_certificate((address, 10003))
    assert x509.load_pem_x509_certificate(served.encode()) == cert
    # DNAT of every CloudCore's recorded tunnel port (both hosts of this scenario) to its stream port
    cm = client.CoreV1Api(api).read_namespaced_config_map("tunnelport", "kubeedge")
    record = json.loads(cm.metadata.annotations["tunnelportrecord.kubeedge.io"])["ipTunnelPort"]
    assert address in record
    rules = host.check_output("iptables -t nat -S OUTPUT")
    for ip, port in record.items():
        assert "--dport %d -m comment --comment \"edge.cluster cloudcore stream\" -j DNAT --to-destination %s:10003" \
            % (port, ip) in rules, rules
