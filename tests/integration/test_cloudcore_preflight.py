"""Bad input for the cloudcore role against a real systemd host and the real
kube-apiserver: each case fails in preflight with a message that names the bad
value and the fix, and leaves the host and the cluster as they were."""

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.lane("cloud")

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS_SH = REPO / "molecule" / "cloudcore" / "artifacts.sh"
PLAYBOOK = Path(__file__).parent / "playbooks" / "cloudcore.yml"


@pytest.fixture(scope="module")
def cloud_host(systemd_host, kubeconfig):
    """The systemd host with python3-kubernetes and the admin kubeconfig (as a cloud host has)."""
    systemd_host.sh("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                    "--no-install-recommends python3-kubernetes >/dev/null")
    systemd_host.sh("mkdir -p /root/.kube && chmod 700 /root/.kube")
    subprocess.run(["docker", "cp", kubeconfig, "%s:/root/.kube/config" % systemd_host.name], check=True)
    cfg = yaml.safe_load(Path(kubeconfig).read_text(encoding="utf-8"))
    variants = {
        "unreachable": dict(cfg, clusters=[{"name": c["name"], "cluster": dict(c["cluster"], server="https://172.17.0.1:1")}
                                           for c in cfg["clusters"]]),
        "nobody": dict(cfg, **{"current-context": "edge-test-nobody"}),
        "nocontext": dict(cfg, **{"current-context": "no-such-context"}),
    }
    for name, data in variants.items():
        subprocess.run(["docker", "exec", "-i", systemd_host.name, "sh", "-c", "cat > /root/.kube/%s" % name],
                       input=yaml.safe_dump(data), text=True, check=True)
    ip = systemd_host.sh("hostname -I").stdout.split()[0]
    return systemd_host, ip


@pytest.fixture
def playbook():
    return PLAYBOOK


def cluster_state(api_client):
    """Names of what the role or keadm init would create (namespaced objects of kubeedge, CRDs)."""
    from kubernetes import client
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    ext = client.ApiextensionsV1Api(api_client)
    try:
        deps = sorted(d.metadata.name for d in apps.list_namespaced_deployment("kubeedge").items)
        cms = sorted(c.metadata.name for c in core.list_namespaced_config_map("kubeedge").items)
    except client.exceptions.ApiException:
        deps, cms = [], []
    crds = sorted(c.metadata.name for c in ext.list_custom_resource_definition().items)
    return deps, cms, crds


def run_role(run_playbook, playbook, host, extra, tags=None, check=False):
    env = {"ANSIBLE_TRANSPORT": "community.docker.docker"}
    if tags:
        env["ANSIBLE_RUN_TAGS"] = tags
    return run_playbook(playbook, inventory="%s," % host.name, extra_vars=extra, env=env, check=check)


# Earlier tests leave kubeedge/cloudcoresecret signed for their own hosts; the certificate check
# has its own test (test_cloudcore_binary.py), so it is off for these preflight cases.
# The release's checksum file verifies downloads (only checked here: these cases stop in preflight).
BASE = {"cloudcore_kubeedge_version": "v1.13.1", "cloudcore_firewall": "none", "cloudcore_wait_timeout": 10,
        "cloudcore_server_cert_check": "ignore", "cloudcore_keadm_checksum": "release",
        "cloudcore_release_checksum": "release"}

CASES = [
    ("unsupported method", {"cloudcore_method": "helm"}, ["cloudcore_method", "keadm, binary", "helm"]),
    ("version without v", {"cloudcore_kubeedge_version": "1.13.1"}, ["'1.13.1'", "vX.Y.Z"]),
    ("unsupported version", {"cloudcore_kubeedge_version": "v1.9.0"}, ["'v1.9.0' is not supported"]),
    ("kubernetes too old for the version", {"cloudcore_kubeedge_version": "v1.20.0"},
     ["Kubernetes v1.20.2 is outside the compatibility range of KubeEdge v1.20.0", "1.25 to 1.30", "1.13"]),
    ("advertise address not on the host", {"cloudcore_advertise_address": ["192.0.2.10"]},
     ["192.0.2.10", "not addresses of", "cloudcore_public_addresses", "SANs"]),
    ("advertise address not an IP", {"cloudcore_advertise_address": ["cloud.example.org"]},
     ["must list IP addresses", "cloud.example.org", "cloudcore_dns_names"]),
    ("keadm with other ports", {"cloudcore_https_port": 11002}, ["always uses ports", "https=11002", "cloudcore_method=binary"]),
    ("half of the TLS files", {"cloudcore_method": "binary", "cloudcore_tls_ca_cert_src": "/tmp/ca.crt"},
     ["all four", "cloudcore_tls_ca_cert_src"]),
    ("missing kubeconfig", {"cloudcore_kubeconfig": "/root/.kube/absent"}, ["/root/.kube/absent does not exist"]),
    ("unreachable apiserver", {"cloudcore_kubeconfig": "/root/.kube/unreachable"},
     ["cluster is not reachable", "/root/.kube/unreachable"]),
    ("context without rights", {"cloudcore_kubeconfig": "/root/.kube/nobody"},
     ["cannot read Deployments in namespace kubeedge", "admin"]),
    ("context that does not exist", {"cloudcore_kubeconfig": "/root/.kube/nocontext"},
     ["cluster is not reachable", "no-such-context"]),
]


@pytest.mark.parametrize("case,override,needles", CASES, ids=[c[0] for c in CASES])
def test_bad_input_fails_before_any_change(run_playbook, playbook, cloud_host, api_client, case, override, needles):
    host, dummy = cloud_host
    before = cluster_state(api_client)
    host.mark()
    res = run_role(run_playbook, playbook, host, dict(BASE, **override))
    assert res.rc != 0, res
    out = res.stdout + res.stderr
    for needle in needles:
        assert needle in out, "%s: %r not in output\n%s" % (case, needle, out[-3000:])
    assert host.changed_since_marker() == [], case
    assert cluster_state(api_client) == before, case
    token = yaml.safe_load(Path(os.environ["KUBECONFIG"]).read_text(encoding="utf-8"))["users"][0]["user"].get("token")
    if token:
        assert token not in out, "%s: the kubeconfig token was printed" % case


def test_port_taken_by_another_program(run_playbook, playbook, cloud_host, api_client):
    host, dummy = cloud_host
    host.sh("systemd-run --unit=port-blocker python3 -m http.server 10002 && sleep 1")
    try:
        before = cluster_state(api_client)
        host.mark()
        res = run_role(run_playbook, playbook, host, BASE)
        assert res.rc != 0, res
        assert "Port(s) 10002 (python3 pid" in res.stdout and "in use by another program" in res.stdout, res
        assert host.changed_since_marker() == []
        assert cluster_state(api_client) == before
    finally:
        host.sh("systemctl stop port-blocker", check=False)


def test_declared_public_address_passes_preflight(run_playbook, playbook, cloud_host, api_client):
    host, ip = cloud_host
    extra = dict(BASE, cloudcore_advertise_address=[ip, "203.0.113.7"], cloudcore_public_addresses=["203.0.113.7"])
    host.mark()
    res = run_role(run_playbook, playbook, host, extra, tags="cloudcore_preflight")
    assert res.rc == 0, res
    assert host.changed_since_marker() == []


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    root = tmp_path_factory.mktemp("cloudcore-artifacts")
    subprocess.run([str(ARTIFACTS_SH), str(root), str(REPO / "tests" / "double"), "v1.13.1"], check=True)
    return root / "v1.13.1"


@pytest.mark.parametrize("method", ["keadm", "binary"])
def test_check_mode_predicts_changes_and_changes_nothing(run_playbook, playbook, cloud_host, api_client, artifacts,
                                                         method):
    host, dummy = cloud_host
    extra = dict(BASE, cloudcore_method=method, cloudcore_install_method="artifacts",
                 cloudcore_artifacts_dir=str(artifacts))
    if method == "binary":
        # The stream certificate is signed by the cluster CA, here the test bed's, from the controller.
        pki = Path(os.environ.get("EDGE_CLUSTER_RUN", "/var/cache/edge-cluster/run")) / "controlplane" / "pki"
        extra.update(cloudcore_stream_ca_cert_src=str(pki / "ca.crt"), cloudcore_stream_ca_key_src=str(pki / "ca.key"),
                     cloudcore_stream_ca_remote_src=False)
    before = cluster_state(api_client)
    host.mark()
    res = run_role(run_playbook, playbook, host, extra, check=True)
    assert res.rc == 0, "\n".join(line for line in res.stdout.splitlines() if "fatal" in line or "msg" in line)
    recap = [line for line in res.stdout.splitlines() if line.startswith(host.name) and "changed=" in line]
    assert recap and "changed=0" not in recap[-1], res
    assert host.changed_since_marker() == []
    assert cluster_state(api_client) == before


def test_site_check_diff_with_supplied_keys_prints_no_secret(cloud_host, api_client, artifacts, tmp_path,
                                                             secret_needles, kubeconfig, supplied_tls):
    """The whole job as an operator previews it: `playbooks/site.yml --check --diff -vvv` with the binary
    method, supplied TLS files and the cluster CA from the controller prints no key, no token and no
    kubeconfig credential, and changes neither the host nor the cluster."""
    from kubernetes import client
    host, ip = cloud_host
    pki = Path(os.environ.get("EDGE_CLUSTER_RUN", "/var/cache/edge-cluster/run")) / "controlplane" / "pki"
    tls = supplied_tls.make(tmp_path, ip)
    needles = secret_needles.kubeconfig_needles(kubeconfig)
    needles += supplied_tls.key_material(tls["cloudcore_tls_ca_key_src"], tls["cloudcore_tls_key_src"], pki / "ca.key")
    try:
        needles += secret_needles.token_needles(secret_needles.token_of(client.CoreV1Api(api_client)))
    except client.ApiException as exc:
        assert exc.status == 404  # no CloudCore made a token in this cluster yet
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"cloud": {"hosts": {host.name: {
        "ansible_connection": "community.docker.docker", "ansible_python_interpreter": "/usr/bin/python3"}}}}}}),
        encoding="utf-8")
    extra = dict(BASE, cloudcore_method="binary", cloudcore_install_method="artifacts",
                 cloudcore_artifacts_dir=str(artifacts), cloudcore_stream_ca_cert_src=str(pki / "ca.crt"),
                 cloudcore_stream_ca_key_src=str(pki / "ca.key"), cloudcore_stream_ca_remote_src=False, **tls)
    before = cluster_state(api_client)
    host.mark()
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    proc = subprocess.run(["ansible-playbook", "-i", str(inventory), str(REPO / "playbooks" / "site.yml"),
                           "--check", "--diff", "-vvv", "-e", json.dumps(extra)], cwd=str(REPO), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False, timeout=900)
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:]
    assert "TASK [edge.cluster.cloudcore : Binary | Install the supplied CA and server keys]" in out
    assert "+++ after" in out, "not a diff run"
    assert "PRIVATE KEY" not in out
    assert [n[:12] for n in needles if n in out] == []
    assert host.changed_since_marker() == []
    assert cluster_state(api_client) == before
