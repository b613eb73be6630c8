"""The cloudcore role's binary method on a real systemd host against the real
kube-apiserver: install, idempotence, a version change refused and then done
with cloudcore_reinit, the firewall (ufw) opening CloudCore's ports (QUIC on
UDP too), kubectl logs/exec (stream certificate signed by the test bed's
cluster CA, cloudStream settings, DNAT of the negotiated tunnel port) and the
check of the server certificate Secret against the advertise address."""

import base64
import ipaddress
import json
import os
import re
import ssl
import subprocess
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.lane("cloud")

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS_SH = REPO / "molecule" / "cloudcore" / "artifacts.sh"
PLAYBOOK = Path(__file__).parent / "playbooks" / "cloudcore.yml"


@pytest.fixture(scope="module")
def cloud_host(systemd_host, kubeconfig):
    systemd_host.sh("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                    "--no-install-recommends python3-kubernetes python3-yaml python3-cryptography ufw >/dev/null")
    systemd_host.sh("mkdir -p /root/.kube && chmod 700 /root/.kube")
    subprocess.run(["docker", "cp", kubeconfig, "%s:/root/.kube/config" % systemd_host.name], check=True)
    return systemd_host


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    root = tmp_path_factory.mktemp("cloudcore-artifacts")
    subprocess.run([str(ARTIFACTS_SH), str(root), str(REPO / "tests" / "double"), "v1.13.1 v1.17.5"], check=True)
    return root


@pytest.fixture
def playbook():
    return PLAYBOOK


# The cluster CA of the test bed's kube-apiserver (controlplane.sh), on the controller.
CLUSTER_PKI = Path(os.environ.get("EDGE_CLUSTER_RUN", "/var/cache/edge-cluster/run")) / "controlplane" / "pki"


def converge(run_playbook, playbook, host, artifacts, version="v1.13.1", check=False, verbosity=0, env=None, **extra):
    # Other tests' cloudcore doubles share Secret kubeedge/cloudcoresecret: a first install here rotates it.
    ev = dict(cloudcore_method="binary", cloudcore_kubeedge_version=version, cloudcore_install_method="artifacts",
              cloudcore_artifacts_dir=str(artifacts / version), cloudcore_wait_timeout=60,
              cloudcore_stream_ca_cert_src=str(CLUSTER_PKI / "ca.crt"), cloudcore_stream_ca_key_src=str(CLUSTER_PKI / "ca.key"),
              cloudcore_stream_ca_remote_src=False, cloudcore_server_cert_check="rotate")
    ev.update(extra)
    return run_playbook(playbook, inventory="%s," % host.name, extra_vars=ev, check=check, verbosity=verbosity,
                        env=dict({"ANSIBLE_TRANSPORT": "community.docker.docker"}, **(env or {})))


def failures(res):
    return "\n".join(line[:1500] for line in res.stdout.splitlines() if "fatal:" in line or '"msg"' in line)


def changed(res, host):
    return res.changed_on(host.name)


def main_pid(host):
    return host.sh("systemctl show -p MainPID --value cloudcore").stdout.strip()


def test_install_with_ufw_active_then_idempotent(run_playbook, playbook, cloud_host, artifacts):
    host = cloud_host
    host.sh("ufw allow 22/tcp >/dev/null && ufw --force enable >/dev/null")
    res = converge(run_playbook, playbook, host, artifacts)
    assert res.rc == 0, failures(res)
    assert changed(res, host) > 0
    assert host.sh("systemctl is-active cloudcore && systemctl is-enabled cloudcore").returncode == 0
    status = host.sh("ufw status").stdout
    for rule in ("22/tcp", "10000/tcp", "10001/tcp", "10002/tcp", "10003/tcp", "10004/tcp"):
        assert re.search(r"^%s\s+ALLOW" % re.escape(rule), status, re.M), status
    assert "10001/udp" not in status  # QUIC is off
    again = converge(run_playbook, playbook, host, artifacts)
    assert again.rc == 0, again
    assert changed(again, host) == 0, again


def host_ip(host):
    return host.sh("hostname -I").stdout.split()[0]


def test_stream_certificate_signed_by_the_cluster_ca(cloud_host):
    host = cloud_host
    ip = host_ip(host)
    pem = host.sh("cat /etc/kubeedge/certs/stream.crt").stdout
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import padding
    cert = x509.load_pem_x509_certificate(pem.encode())
    ca = x509.load_pem_x509_certificate((CLUSTER_PKI / "ca.crt").read_bytes())
    assert cert.issuer == ca.subject
    # raises InvalidSignature unless the cluster CA key signed it
    ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(map(str, sans.get_values_for_type(x509.IPAddress))) == sorted(["127.0.0.1", ip])
    assert host.sh("cat /etc/kubeedge/ca/streamCA.crt").stdout.strip() == (CLUSTER_PKI / "ca.crt").read_text().strip()
    assert host.sh("stat -c %a /etc/kubeedge/certs/stream.key").stdout.strip() == "600"
    cfg = yaml.safe_load(host.sh("cat /etc/kubeedge/config/cloudcore.yaml").stdout)
    stream = cfg["modules"]["cloudStream"]
    assert stream == {"enable": True, "streamPort": 10003, "tunnelPort": 10004,
                      "tlsStreamCAFile": "/etc/kubeedge/ca/streamCA.crt",
                      "tlsStreamCertFile": "/etc/kubeedge/certs/stream.crt",
                      "tlsStreamPrivateKeyFile": "/etc/kubeedge/certs/stream.key"}
    # kube-apiserver's side: the stream port serves that certificate over TLS
    served = ssl.get_server_certificate((ip, 10003))
    assert x509.load_pem_x509_certificate(served.encode()) == cert


def test_tunnel_port_dnat_to_the_stream_port(cloud_host, api_client):
    from kubernetes import client
    host = cloud_host
    ip = host_ip(host)
    cm = client.CoreV1Api(api_client).read_namespaced_config_map("tunnelport", "kubeedge")
    record = json.loads(cm.metadata.annotations["tunnelportrecord.kubeedge.io"])
    port = record["ipTunnelPort"][ip]
    assert port > 10350
    rules = host.sh("iptables -t nat -S OUTPUT").stdout
    want = re.compile(r"-A OUTPUT -p tcp -m tcp --dport %d .*-j DNAT --to-destination %s:10003"
                      % (port, re.escape(ip)))
    assert any(want.search(line) for line in rules.splitlines()), rules
    # the rule works: a connection to any address on the tunnel port lands on the stream server
    out = host.sh("python3 -c \"import socket,ssl; c=ssl.create_default_context(); c.check_hostname=False; "
                  "c.verify_mode=ssl.CERT_NONE; s=c.wrap_socket(socket.create_connection(('192.0.2.7', %d), 5)); "
                  "print(s.version())\"" % port)
    assert out.returncode == 0 and out.stdout.startswith("TLS"), out


def test_quic_opens_udp_in_ufw(run_playbook, playbook, cloud_host, artifacts):
    host = cloud_host
    res = converge(run_playbook, playbook, host, artifacts, cloudcore_quic=True)
    assert res.rc == 0, failures(res)
    status = host.sh("ufw status").stdout
    assert re.search(r"^10001/udp\s+ALLOW", status, re.M), status
    assert re.search(r"^10001/tcp\s+ALLOW", status, re.M), status
    # That QUIC converges (a second run changes nothing) is the last step of the next test.


def foreign_server_secret(api_client, supplied_tls, ip):
    """Replace kubeedge/cloudcoresecret with a certificate for another address (what a CloudCore that
    advertised `ip` before leaves behind)."""
    from kubernetes import client
    data = supplied_tls.server_secret([ip])
    client.CoreV1Api(api_client).patch_namespaced_secret("cloudcoresecret", "kubeedge", {"data": {
        k: base64.b64encode(v).decode() for k, v in data.items()}})


def test_server_secret_without_the_advertise_address(run_playbook, playbook, cloud_host, artifacts, api_client,
                                                     supplied_tls):
    host = cloud_host
    ip = host_ip(host)
    foreign_server_secret(api_client, supplied_tls, "192.0.2.99")
    pid = main_pid(host)
    host.mark()
    refused = converge(run_playbook, playbook, host, artifacts, cloudcore_quic=True, cloudcore_server_cert_check="fail")
    assert refused.rc != 0
    assert "holds a CloudCore server certificate for 192.0.2.99, without the advertise address(es) %s" % ip \
        in refused.stdout, failures(refused)
    assert "kubectl -n kubeedge delete secret cloudcoresecret" in refused.stdout
    assert host.changed_since_marker() == [] and main_pid(host) == pid

    rotated = converge(run_playbook, playbook, host, artifacts, cloudcore_quic=True, cloudcore_server_cert_check="rotate")
    assert rotated.rc == 0, failures(rotated)
    assert main_pid(host) != pid  # restarted: it signed a new certificate
    from cryptography import x509
    served = x509.load_pem_x509_certificate(ssl.get_server_certificate((ip, 10002)).encode())
    sans = served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address(ip) in sans.get_values_for_type(x509.IPAddress)
    again = converge(run_playbook, playbook, host, artifacts, cloudcore_quic=True, cloudcore_server_cert_check="fail")
    assert again.rc == 0 and changed(again, host) == 0, again


def test_other_version_refused_then_reinit(run_playbook, playbook, cloud_host, artifacts):
    host = cloud_host
    pid = main_pid(host)
    host.mark()
    refused = converge(run_playbook, playbook, host, artifacts, version="v1.17.5")
    assert refused.rc != 0
    assert "runs the binary CloudCore v1.13.1, the request is v1.17.5" in refused.stdout
    assert "cloudcore_reinit=true" in refused.stdout
    assert host.changed_since_marker() == []
    assert main_pid(host) == pid

    done = converge(run_playbook, playbook, host, artifacts, version="v1.17.5", cloudcore_reinit=True)
    assert done.rc == 0, done
    assert host.sh("cat /etc/kubeedge/config/.edge-cluster-cloudcore-version").stdout.strip() == "v1.17.5"
    assert '"v1.17.5"' in host.sh("grep CLOUDCORE_DOUBLE_VERSION /usr/local/bin/cloudcore").stdout
    assert main_pid(host) != pid  # restarted with the new binary
    # A second v1.17.5 run changing nothing: the CRD test below ends with it.


def test_supplied_keys_never_reach_check_diff_or_verbose_output(run_playbook, playbook, cloud_host, artifacts,
                                                                tmp_path, supplied_tls):
    """--check --diff and a real --diff -vvv run with supplied TLS files and the cluster CA from the
    controller print no PRIVATE KEY and no key material; the keys land owner-only."""
    host = cloud_host
    address = host.sh("hostname -I").stdout.split()[0]
    tls = supplied_tls.make(tmp_path, address)
    needles = supplied_tls.key_material(tls["cloudcore_tls_ca_key_src"], tls["cloudcore_tls_key_src"],
                                        CLUSTER_PKI / "ca.key")
    host.mark()
    # the previous test left CloudCore v1.17.5
    extra = dict(tls, cloudcore_reinit=True)
    checked = converge(run_playbook, playbook, host, artifacts, version="v1.17.5", check=True, verbosity=3,
                       env={"ANSIBLE_DIFF_ALWAYS": "1"}, **extra)
    assert checked.rc == 0, failures(checked)
    assert "--- before" in checked.stdout or "+++ after" in checked.stdout, "not a diff run"
    assert host.changed_since_marker() == [], "check mode changed the host"
    for out in (checked.stdout, checked.stderr):
        assert "PRIVATE KEY" not in out
        assert [n[:12] for n in needles if n in out] == []

    done = converge(run_playbook, playbook, host, artifacts, version="v1.17.5", env={"ANSIBLE_DIFF_ALWAYS": "1"},
                    **extra)
    assert done.rc == 0, failures(done)
    assert "PRIVATE KEY" not in done.stdout and [n for n in needles if n in done.stdout] == []
    for path in ("/etc/kubeedge/ca/rootCA.key", "/etc/kubeedge/certs/server.key", "/etc/kubeedge/certs/stream.key"):
        assert host.sh("stat -c %%a %s" % path).stdout.strip() == "600", path
    # the cluster CA key from the controller went through stdin: no copy of it anywhere on the host
    ca_body = supplied_tls.key_material(CLUSTER_PKI / "ca.key")[0]
    assert host.sh("grep -rlsF '%s' /etc /tmp /var/tmp /root 2>/dev/null || true" % ca_body).stdout.strip() == ""


def test_a_crd_another_install_owns_gets_no_label_of_ours(run_playbook, playbook, cloud_host, artifacts, api_client):
    """A KubeEdge CRD in the cluster without our label (keadm init's chart, another install) is updated,
    never labelled app.kubernetes.io/managed-by=edge.cluster: the reset role, which deletes CRDs by that
    label, leaves it; the CRDs the role created keep the label."""
    from kubernetes import client
    ext = client.ApiextensionsV1Api(api_client)
    foreign, ours = "rules.rules.kubeedge.io", "objectsyncs.reliablesyncs.kubeedge.io"
    label = "app.kubernetes.io/managed-by"
    ext.patch_custom_resource_definition(foreign, {"metadata": {"labels": {label: None}}})
    # "ours" must be one the role creates: an earlier keadm init in the shared cluster (the lab,
    # the new-controller journey) may have created it without our label.
    try:
        ext.delete_custom_resource_definition(ours)
    except client.ApiException as exc:
        assert exc.status == 404, exc
    for dummy in range(60):
        try:
            ext.read_custom_resource_definition(ours)
        except client.ApiException as exc:
            assert exc.status == 404, exc
            break
        time.sleep(1)
    try:
        res = converge(run_playbook, playbook, cloud_host, artifacts, version="v1.17.5", cloudcore_reinit=True)
        assert res.rc == 0, failures(res)
        assert label not in (ext.read_custom_resource_definition(foreign).metadata.labels or {})
        assert (ext.read_custom_resource_definition(ours).metadata.labels or {}).get(label) == "edge.cluster"
        again = converge(run_playbook, playbook, cloud_host, artifacts, version="v1.17.5", cloudcore_reinit=True)
        assert again.rc == 0 and changed(again, cloud_host) == 0, failures(again)
    finally:
        ext.patch_custom_resource_definition(foreign, {"metadata": {"labels": {label: "edge.cluster"}}})


def test_reset_uninstalls_the_binary_cloudcore_its_crds_and_a_namespace(run_playbook, cloud_host, api_client):
    """Last in this file: the reset role's cloud side removes what the binary method installed (service,
    files, the CRDs with our label, not others) and the namespace it is asked to delete; a second run
    changes nothing."""
    from kubernetes import client
    host = cloud_host
    ext, core = client.ApiextensionsV1Api(api_client), client.CoreV1Api(api_client)
    label = "app.kubernetes.io/managed-by=edge.cluster"
    ours = [c.metadata.name for c in ext.list_custom_resource_definition(label_selector=label).items]
    assert ours, "the binary method labels the CRDs it applies"
    foreign = "rules.rules.kubeedge.io"
    ext.patch_custom_resource_definition(foreign, {"metadata": {"labels": {"app.kubernetes.io/managed-by": None}}})
    ns = "t-reset-cloud-%s" % os.urandom(3).hex()
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    # the version record of two binary CloudCores: this host's keys go, the other host's stay
    record = {"version.%s" % host.name: "v1.13.1", "addresses.%s" % host.name: "192.0.2.76",
              "version.other-cloud": "v1.13.1", "addresses.other-cloud": "192.0.2.77"}
    core.create_namespaced_config_map(ns, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="edge-cluster-cloudcore"), data=record))
    extra = dict(reset_cloud_confirm=False, reset_cloudcore_uninstall=True, reset_cloudcore_method="binary",
                 reset_delete_namespace=True, reset_cloudcore_namespace=ns, reset_kubeconfig="/root/.kube/config")
    playbook = Path(__file__).parent / "playbooks" / "reset_cloud_host.yml"
    env = {"ANSIBLE_TRANSPORT": "community.docker.docker"}
    try:
        keep_ns = dict(extra, reset_delete_namespace=False)
        first = run_playbook(playbook, inventory="%s," % host.name, extra_vars=keep_ns, env=env)
        assert first.rc == 0, failures(first)
        left_record = core.read_namespaced_config_map("edge-cluster-cloudcore", ns).data
        assert left_record == {"version.other-cloud": "v1.13.1", "addresses.other-cloud": "192.0.2.77"}
        res = run_playbook(playbook, inventory="%s," % host.name, extra_vars=extra, env=env)
        assert res.rc == 0, failures(res)
        assert host.sh("systemctl is-active cloudcore", check=False).stdout.strip() != "active"
        left = host.sh("ls -d /etc/systemd/system/cloudcore.service /usr/local/bin/cloudcore /etc/kubeedge "
                       "/var/lib/kubeedge 2>/dev/null", check=False).stdout.split()
        assert left == [], left
        assert host.sh("pgrep -x cloudcore", check=False).returncode != 0
        assert [c.metadata.name for c in ext.list_custom_resource_definition(label_selector=label).items] == []
        assert ext.read_custom_resource_definition(foreign).metadata.name == foreign  # not ours: kept
        with pytest.raises(client.ApiException) as gone:
            core.read_namespace(ns)
        assert gone.value.status == 404
        again = run_playbook(playbook, inventory="%s," % host.name, extra_vars=extra, env=env)
        assert again.rc == 0 and changed(again, host) == 0, failures(again)
    finally:
        ext.patch_custom_resource_definition(foreign, {"metadata": {"labels": {"app.kubernetes.io/managed-by":
                                                                               "edge.cluster"}}})
