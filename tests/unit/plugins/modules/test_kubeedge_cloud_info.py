"""Unit tests for edge.cluster.kubeedge_cloud_info (fake API objects, real certificates)."""

import base64
import datetime
import ipaddress
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kubernetes.client import (
    V1ConfigMap,
    V1Namespace,
    V1NodeAddress,
    V1Container,
    V1Deployment,
    V1DeploymentSpec,
    V1DeploymentStatus,
    V1LabelSelector,
    V1Node,
    V1NodeCondition,
    V1NodeList,
    V1NodeStatus,
    V1NodeSystemInfo,
    V1ObjectMeta,
    V1PodSpec,
    V1PodTemplateSpec,
    V1Secret,
    VersionInfo,
)
from kubernetes.client.rest import ApiException

from ansible_collections.edge.cluster.plugins.modules import kubeedge_cloud_info as mod

PARAMS = dict(namespace="kubeedge", name="cloudcore", version=True, cloudcore=True, server_certificate=True, token_secret=True,
              edge_nodes=False, edge_node_label="node-role.kubernetes.io/edge", other_nodes=False, cluster_uid=False,
              release=False)


def make_cert(ips=("192.0.2.10",), dns=("cloudcore.example.org",)):
    """A self-signed certificate as CloudCore stores it: base64 of the DER."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "KubeEdge")])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1)))
    names = [x509.IPAddress(ipaddress.ip_address(i)) for i in ips] + [x509.DNSName(d) for d in dns]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def deployment(image="kubeedge/cloudcore:v1.13.1", name="cloudcore", ready=1):
    spec = V1PodSpec(containers=[V1Container(name="sidecar", image="busybox:1"), V1Container(name=name, image=image)])
    return V1Deployment(spec=V1DeploymentSpec(selector=V1LabelSelector(), template=V1PodTemplateSpec(spec=spec)),
                        status=V1DeploymentStatus(ready_replicas=ready))


class FakeApis(object):
    """Version, apps and core APIs over dicts of objects; an object may be an ApiException to raise."""

    def __init__(self, objects=None, version=None, nodes=None):
        self.objects = objects or {}
        self.nodes = nodes or []
        self.version = version or VersionInfo(major="1", minor="23+", git_version="v1.23.4", build_date="",
                                              compiler="", git_commit="", git_tree_state="", go_version="",
                                              platform="")
        self.calls = []

    def _read(self, kind):
        def read(name, namespace):
            self.calls.append((kind, namespace, name))
            obj = self.objects.get((kind, name))
            if obj is None:
                raise ApiException(status=404, reason="Not Found")
            if isinstance(obj, Exception):
                raise obj
            return obj
        return read

    def get_code(self):
        self.calls.append(("version",))
        if isinstance(self.version, Exception):
            raise self.version
        return self.version

    def list_node(self, label_selector=None):
        self.calls.append(("Nodes", label_selector))
        if isinstance(self.nodes, Exception):
            raise self.nodes
        if label_selector.startswith("!"):
            return V1NodeList(items=[n for n in self.nodes if label_selector[1:] not in (n.metadata.labels or {})])
        return V1NodeList(items=[n for n in self.nodes if label_selector in (n.metadata.labels or {})])

    def read_namespace(self, name):
        self.calls.append(("Namespace", name))
        return V1Namespace(metadata=V1ObjectMeta(name=name, uid="uid-of-" + name))

    @property
    def read_namespaced_deployment(self):
        return self._read("Deployment")

    @property
    def read_namespaced_config_map(self):
        return self._read("ConfigMap")

    @property
    def read_namespaced_secret(self):
        return self._read("Secret")


def run(objects=None, params=None, **kw):
    apis = FakeApis(objects, **kw)
    reader = mod.CloudInfoReader(apis, apis, apis, dict(PARAMS, **(params or {})))
    return reader.run(), apis.calls


def test_empty_cluster_reports_everything_absent_in_five_reads():
    result, calls = run()
    assert result["kubernetes"] == dict(git_version="v1.23.4", major="1", minor="23")
    assert result["deployment"] == dict(exists=False)
    assert result["config"] == ""
    assert result["server_certificate"]["exists"] is False
    assert result["token_secret"] == dict(exists=False)
    assert result["changed"] is False
    assert len(calls) == 5


def test_keadm_cloudcore_is_described_without_secret_data():
    cert = make_cert(ips=("192.0.2.10", "2001:db8::1"))
    objects = {
        ("Deployment", "cloudcore"): deployment(),
        ("ConfigMap", "cloudcore"): V1ConfigMap(data={"cloudcore.yaml": "kind: CloudCore\n"}),
        ("Secret", "cloudcoresecret"): V1Secret(data={"cloudcoredata": cert, "cloudcorekeydata": "c2VjcmV0"}),
        ("Secret", "tokensecret"): V1Secret(data={"tokendata": "dG9rZW4="}),
    }
    result, dummy = run(objects)
    assert result["deployment"] == dict(exists=True, image="kubeedge/cloudcore:v1.13.1", version="v1.13.1",
                                        ready_replicas=1)
    assert result["config"] == "kind: CloudCore\n"
    assert result["server_certificate"] == dict(exists=True, readable=True, ip_addresses=["192.0.2.10", "2001:db8::1"],
                                                dns_names=["cloudcore.example.org"])
    assert result["token_secret"] == dict(exists=True)
    text = repr(result)
    for secret in (cert, "c2VjcmV0", "dG9rZW4="):
        assert secret not in text


@pytest.mark.parametrize("image, version", [
    ("registry.example.org:5000/kubeedge/cloudcore:v1.15.0", "v1.15.0"),
    ("registry.example.org:5000/kubeedge/cloudcore", ""),
    ("cloudcore", ""),
])
def test_version_is_the_image_tag_not_a_registry_port(image, version):
    result, dummy = run({("Deployment", "cloudcore"): deployment(image=image)})
    assert result["deployment"]["version"] == version


def test_first_container_when_none_is_named_cloudcore():
    result, dummy = run({("Deployment", "cloudcore"): deployment(name="other")})
    assert result["deployment"]["image"] == "busybox:1"


def test_optional_reads_can_be_left_out():
    result, calls = run(params=dict(server_certificate=False, token_secret=False))
    assert "server_certificate" not in result and "token_secret" not in result
    assert len(calls) == 3


def test_token_secret_without_tokendata_does_not_count():
    result, dummy = run({("Secret", "tokensecret"): V1Secret(data={"other": "eA=="})})
    assert result["token_secret"] == dict(exists=False)


def test_forbidden_read_fails_at_stage_read_naming_the_object_and_the_fix():
    forbidden = ApiException(status=403, reason="Forbidden")
    with pytest.raises(mod.CloudInfoError) as err:
        run({("Deployment", "cloudcore"): forbidden})
    assert err.value.stage == "read"
    assert "Deployment kubeedge/cloudcore" in str(err.value) and "admin kubeconfig" in str(err.value)


def test_unreachable_api_fails_at_stage_version():
    with pytest.raises(mod.CloudInfoError) as err:
        run(version=ConnectionRefusedError(111, "Connection refused"))
    assert err.value.stage == "version"
    assert "Cannot reach the Kubernetes API" in str(err.value)


def test_certificate_without_names():
    info = mod.certificate_names(make_cert(ips=(), dns=()))
    assert info == dict(exists=True, readable=True, ip_addresses=[], dns_names=[])


@pytest.mark.parametrize("data", ["not base64!", base64.b64encode(b"not a certificate").decode(), ""])
def test_unreadable_certificate_is_reported_not_raised(data):
    info = mod.certificate_names(data)
    assert info["readable"] is False and info["exists"] is True
    assert "cloudcoresecret" in info["error"]


def openssl(argv, data=None):
    proc = subprocess.run(argv, input=data, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def test_openssl_fallback_reads_the_same_names():
    cert = make_cert(ips=("192.0.2.10", "2001:db8::7"), dns=("a.example.org", "b.example.org"))
    assert (mod.certificate_names(cert, run_command=openssl, use_cryptography=False)
            == mod.certificate_names(cert))


def test_openssl_fallback_reports_a_bad_certificate():
    info = mod.certificate_names(base64.b64encode(b"junk").decode(), run_command=openssl, use_cryptography=False)
    assert info["readable"] is False and "openssl x509 failed" in info["error"]


def test_neither_cryptography_nor_openssl():
    info = mod.certificate_names(make_cert(), run_command=None, use_cryptography=False)
    assert info["readable"] is False and "openssl" in info["error"]


def node(name, kubelet="v1.23.15-kubeedge-v1.13.1", ready="True", edge=True):
    info = V1NodeSystemInfo(kubelet_version=kubelet, architecture="", boot_id="", container_runtime_version="",
                            kernel_version="", kube_proxy_version="", machine_id="", operating_system="",
                            os_image="", system_uuid="")
    labels = {"node-role.kubernetes.io/edge": ""} if edge else {"node-role.kubernetes.io/master": ""}
    conditions = [V1NodeCondition(type="MemoryPressure", status="False"), V1NodeCondition(type="Ready", status=ready)]
    return V1Node(metadata=V1ObjectMeta(name=name, labels=labels),
                  status=V1NodeStatus(node_info=info, conditions=conditions))


def test_edge_nodes_in_one_request_with_version_and_readiness():
    nodes = [node("edge-b", ready="False"), node("edge-a"), node("master", edge=False),
             node("edge-c", kubelet="v1.23.15")]
    result, calls = run(params=dict(version=False, cloudcore=False, server_certificate=False, token_secret=False,
                                    edge_nodes=True), nodes=nodes)
    assert [n["name"] for n in result["edge_nodes"]] == ["edge-a", "edge-b", "edge-c"]
    assert [n["ready"] for n in result["edge_nodes"]] == [True, False, True]
    assert [n["kubeedge_version"] for n in result["edge_nodes"]] == ["v1.13.1", "v1.13.1", ""]
    assert result["edge_nodes"][0]["labels"] == {"node-role.kubernetes.io/edge": ""}
    assert "deployment" not in result and "config" not in result and "kubernetes" not in result
    assert calls == [("Nodes", "node-role.kubernetes.io/edge")]


def test_other_nodes_internal_ips_and_cluster_uid():
    nodes = [node("edge-a"), node("control-plane", edge=False)]
    nodes[0].status.addresses = [V1NodeAddress(type="Hostname", address="edge-a"),
                                 V1NodeAddress(type="InternalIP", address="192.0.2.21")]
    result, calls = run(params=dict(version=False, cloudcore=False, server_certificate=False, token_secret=False,
                                    edge_nodes=True, other_nodes=True, cluster_uid=True), nodes=nodes)
    assert result["edge_nodes"][0]["internal_ips"] == ["192.0.2.21"]
    assert result["other_nodes"] == [{"name": "control-plane", "labels": {"node-role.kubernetes.io/master": ""}}]
    assert result["cluster_uid"] == "uid-of-kube-system"
    assert calls == [("Nodes", "node-role.kubernetes.io/edge"), ("Nodes", "!node-role.kubernetes.io/edge"),
                     ("Namespace", "kube-system")]


def test_node_list_forbidden_fails_at_stage_read():
    with pytest.raises(mod.CloudInfoError) as err:
        run(params=dict(edge_nodes=True), nodes=ApiException(status=403, reason="Forbidden"))
    assert err.value.stage == "read" and "node-role.kubernetes.io/edge" in str(err.value)


def test_release_of_a_keadm_cloudcore_comes_from_its_deployment_without_more_reads():
    objects = {("Deployment", "cloudcore"): deployment(image="kubeedge/cloudcore:v1.14.5"),
               ("ConfigMap", "cloudcore"): V1ConfigMap(data={"cloudcore.yaml": "modules:\n  cloudHub:\n"
                                                                               "    advertiseAddress: [192.0.2.10]\n"})}
    result, calls = run(objects, params=dict(release=True))
    assert result["release"] == dict(version="v1.14.5", advertise_addresses=["192.0.2.10"], source="deployment",
                                     hosts={})
    assert len(calls) == 5  # the Deployment and ConfigMap read once for both results


def test_release_of_a_binary_cloudcore_comes_from_the_record():
    record = V1ConfigMap(data={"version.cloud-1": "v1.14.5", "version.cloud-2": "v1.13.1",
                               "addresses.cloud-1": "192.0.2.10", "addresses.cloud-2": "192.0.2.11"})
    result, calls = run({("ConfigMap", "edge-cluster-cloudcore"): record},
                        params=dict(release=True, cloudcore=False, version=False, server_certificate=False,
                                    token_secret=False))
    assert result["release"]["version"] == "v1.13.1"
    assert result["release"]["source"] == "record"
    assert result["release"]["advertise_addresses"] == ["192.0.2.10", "192.0.2.11"]
    assert ("ConfigMap", "kubeedge", "edge-cluster-cloudcore") in calls


def test_release_unknown_without_deployment_or_record():
    result, dummy = run(params=dict(release=True))
    assert result["release"] == dict(version="", advertise_addresses=[], source="", hosts={}, host_addresses={})
    assert "release" not in run()[0]
