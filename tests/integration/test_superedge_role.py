"""The superedge role's cloud side against the real kube-apiserver of the test bed.

The test bed is not kubeadm-built: molecule/superedge/kubeadm_marks.py creates
what kubeadm leaves in a cluster (kubeadm-config, kube-proxy ConfigMaps, a
kube-controller-manager Pod mirroring the REAL controller-manager's argv) and
removes it afterwards, with what the edgeadm double's addon left. The package
is the edgeadm double (tests/double/package-edgeadm.sh). Every test uses its
own token purpose. Tests of this module must not run in parallel with the
superedge Molecule scenario (both own edge-system).
"""

import base64
import importlib.util
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = Path(__file__).parent / "playbooks" / "superedge_cloud.yml"
RUN = Path(os.environ.get("EDGE_CLUSTER_RUN", "/var/cache/edge-cluster/run"))
PKI = RUN / "controlplane" / "pki"
_spec = importlib.util.spec_from_file_location("kubeadm_marks", REPO / "molecule" / "superedge" / "kubeadm_marks.py")
marks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(marks)


STAGING = "/tmp/edge-cluster-superedge-pytest"


@pytest.fixture(scope="module")
def artifacts():
    shutil.rmtree(STAGING, ignore_errors=True)   # no unpack of an earlier double
    out = subprocess.run([str(REPO / "tests" / "double" / "package-edgeadm.sh"), "v0.9.0"], check=True,
                         stdout=subprocess.PIPE, text=True).stdout.splitlines()[-1]
    return Path(out) / "v0.9.0" / "amd64"


@pytest.fixture
def core(api_client):
    return client.CoreV1Api(api_client)


@pytest.fixture
def cluster(api_client, core):
    """Factory for the kubeadm marks; undone (with the addon's leftovers) after the test."""
    states = []
    if exists(core.read_namespaced_config_map, "edge-info", "edge-system"):
        pytest.skip("edge-system/edge-info exists: the superedge Molecule scenario (or a run of it) owns the addon")

    def make(**kwargs):
        state = marks.setup(api_client, **kwargs)
        states.append(state)
        return state
    yield make
    for state in states:
        marks.teardown(api_client, state)


@pytest.fixture
def purpose(core):
    name = "superedge-test-%s" % os.urandom(3).hex()
    yield name
    for secret in core.list_namespaced_secret("kube-system", label_selector="edge.cluster/purpose=%s" % name).items:
        core.delete_namespaced_secret(secret.metadata.name, "kube-system")


def exists(read, *args):
    try:
        read(*args)
        return True
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise


def tokens(core, purpose):
    return sorted(s.metadata.name for s in core.list_namespaced_secret(
        "kube-system", label_selector="edge.cluster/purpose=%s" % purpose).items)


def snapshot(core, purpose):
    """What the role may change in the cluster."""
    info = None
    if exists(core.read_namespaced_config_map, "cluster-info", "kube-public"):
        info = core.read_namespaced_config_map("cluster-info", "kube-public").metadata.resource_version
    return {"edge-system": exists(core.read_namespace, "edge-system"), "cluster-info": info,
            "tokens": tokens(core, purpose)}


def converge(run_playbook, artifacts, purpose, check=False, **extra):
    ev = dict(superedge_version="v0.9.0", superedge_package_method="artifacts", superedge_artifacts_dir=str(artifacts),
              superedge_kubeconfig=os.environ["KUBECONFIG"], superedge_ca_cert=str(PKI / "ca.crt"),
              superedge_ca_key=str(PKI / "ca.key"), superedge_master_public_addr="%s:6443" % bind_ip(),
              superedge_token_purpose=purpose, superedge_staging_dir=STAGING,
              superedge_signing_timeout=30)
    ev.update(extra)
    return run_playbook(PLAYBOOK, extra_vars=ev, check=check)


def bind_ip():
    return (RUN / "controlplane" / "bind_ip").read_text().strip()


def changed(result):
    m = re.search(r"localhost\s*:\s*ok=\d+\s+changed=(\d+)", result.stdout)
    assert m, result.stdout[-2000:]
    return int(m.group(1))


def assert_failed_unchanged(result, before, core, purpose, *messages):
    assert result.rc != 0, result.stdout[-3000:]
    text = re.sub(r"\s+", " ", result.stdout)
    for msg in messages:
        assert msg in text, result.stdout[-3000:]
    assert "Nothing was changed" in text
    assert snapshot(core, purpose) == before


def test_preflight_refuses_a_cluster_not_built_by_kubeadm(cluster, core, run_playbook, artifacts, purpose):
    if exists(core.read_namespaced_config_map, "kubeadm-config", "kube-system"):
        pytest.skip("kube-system/kubeadm-config exists (made by another test)")
    cluster(kubeadm=False)
    before = snapshot(core, purpose)
    result = converge(run_playbook, artifacts, purpose)
    assert_failed_unchanged(result, before, core, purpose, "does not look kubeadm- or kind-built",
                            "no ConfigMap kube-system/kubeadm-config",
                            "no ConfigMap kube-system/kube-proxy with a kubeconfig.conf key")


def test_preflight_refuses_controller_manager_without_token_controllers(cluster, core, run_playbook, artifacts, purpose):
    cluster(controllers="*,-ttl")
    before = snapshot(core, purpose)
    result = converge(run_playbook, artifacts, purpose)
    assert_failed_unchanged(result, before, core, purpose,
                            "kube-controller-manager Pod kube-controller-manager-superedge-test runs "
                            "--controllers=*,-ttl, without bootstrapsigner and tokencleaner",
                            "--controllers=*,bootstrapsigner,tokencleaner")


def test_preflight_without_controller_manager_pod_and_its_skip_variable(cluster, core, run_playbook, artifacts,
                                                                        purpose):
    cluster(kcm=False)
    before = snapshot(core, purpose)
    result = converge(run_playbook, artifacts, purpose)
    assert_failed_unchanged(result, before, core, purpose, "No kube-controller-manager Pod in kube-system",
                            "superedge_preflight_controllers=false")
    # Skipped on purpose: the preflight passes and check mode predicts the addon without doing it.
    result = converge(run_playbook, artifacts, purpose, check=True, superedge_preflight_controllers=False)
    assert result.rc == 0, result.stdout[-3000:]
    assert "Addon | Run edgeadm addon edge-apps" in result.stdout
    assert snapshot(core, purpose) == before


def test_addon_once_token_reused_check_mode_and_detach(cluster, api_client, core, run_playbook, artifacts, purpose):
    cluster()   # kubeadm marks + the real controller-manager's flags (bootstrapsigner, tokencleaner)
    before = snapshot(core, purpose)
    apps = client.AppsV1Api(api_client)

    # Check mode first: predicts changes, changes nothing.
    result = converge(run_playbook, artifacts, purpose, check=True)
    assert result.rc == 0, result.stdout[-3000:]
    assert changed(result) > 0
    assert snapshot(core, purpose) == before

    result = converge(run_playbook, artifacts, purpose)
    assert result.rc == 0, result.stdout[-3000:]
    assert changed(result) > 0
    info = core.read_namespaced_config_map("edge-info", "edge-system").data
    assert info["kube-api-cluster-ip"] == core.read_namespaced_service("kubernetes", "default").spec.cluster_ip
    assert sorted(d.metadata.name for d in apps.list_namespaced_deployment("edge-system").items) == \
        ["application-grid-controller", "edge-health-admission", "tunnel-cloud"]
    kc = core.read_namespaced_config_map("cluster-info", "kube-public").data
    assert "server: https://%s:6443" % bind_ip() in kc["kubeconfig"]
    first = tokens(core, purpose)
    assert len(first) == 1
    # The REAL bootstrapsigner controller signed cluster-info with the token (the role waited for it).
    assert "jws-kubeconfig-%s" % first[0].replace("bootstrap-token-", "") in kc
    # The token is never printed.
    secret = core.read_namespaced_secret(first[0], "kube-system")
    assert base64.b64decode(secret.data["token-secret"]).decode() not in result.stdout

    # Second run: addon not repeated (a second real addon would fail), token reused.
    rv = core.read_namespaced_config_map("edge-info", "edge-system").metadata.resource_version
    result = converge(run_playbook, artifacts, purpose)
    assert result.rc == 0, result.stdout[-3000:]
    assert changed(result) == 0, result.stdout[-3000:]
    assert tokens(core, purpose) == first
    assert core.read_namespaced_config_map("edge-info", "edge-system").metadata.resource_version == rv

    # Detach refuses while a Node carries the edge label, then removes the edge apps and our tokens.
    node = "superedge-test-%s" % os.urandom(3).hex()
    core.create_node(client.V1Node(metadata=client.V1ObjectMeta(name=node, labels={
        "superedge.io/node-edge": "enable"})))
    try:
        result = converge(run_playbook, artifacts, purpose, superedge_test_entry="detach")
        assert result.rc != 0
        assert "Nodes %s still carry superedge.io/node-edge=enable" % node in re.sub(r"\s+", " ", result.stdout)
        assert exists(core.read_namespaced_config_map, "edge-info", "edge-system")
    finally:
        core.delete_node(node)
    # The reset role's cloud side detaches through the same entry point (reset_superedge_detach).
    by_reset = dict(superedge_test_entry="reset", reset_superedge_detach=True, reset_cloud_confirm=False,
                    reset_kubeconfig=os.environ["KUBECONFIG"])
    result = converge(run_playbook, artifacts, purpose, **by_reset)
    assert result.rc == 0, result.stdout[-3000:]
    assert "Detach | Run edgeadm detach edge-apps" in result.stdout
    assert not exists(core.read_namespaced_config_map, "edge-info", "edge-system")
    assert apps.list_namespaced_deployment("edge-system").items == []
    assert tokens(core, purpose) == []
    result = converge(run_playbook, artifacts, purpose, **by_reset)
    assert result.rc == 0 and changed(result) == 0, result.stdout[-3000:]


# ---------------------------------------------------------------------------
# The edgeadm double's command line (errors raised before it touches the machine).
@pytest.fixture(scope="module")
def edgeadm(artifacts, tmp_path_factory):
    root = tmp_path_factory.mktemp("edgeadm")
    with tarfile.open(artifacts / "edgeadm-linux-amd64-v0.9.0-k8s-1.22.6.tgz") as tar:
        tar.extractall(root)
    top = root / "edgeadm-linux-amd64-v0.9.0-k8s-1.22.6"
    return top / "edgeadm", top / "kube-linux-amd64-v1.22.6.tar.gz", root / "worker"


def edgeadm_run(edgeadm, *args):
    return subprocess.run([str(edgeadm[0])] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          stdin=subprocess.DEVNULL, check=False)


def test_double_version_and_cobra_errors(edgeadm):
    out = edgeadm_run(edgeadm, "version")
    assert out.returncode == 0 and '"gitVersion": "v0.9.0"' in out.stdout
    out = edgeadm_run(edgeadm, "join", "--no-such-flag")
    assert out.returncode == 1 and out.stderr.startswith("Error: unknown flag: --no-such-flag")
    out = edgeadm_run(edgeadm, "addon", "edge-apps", "--ca.crt=/x")
    assert out.returncode == 1 and "unknown flag: --ca.crt" in out.stderr
    out = edgeadm_run(edgeadm, "frobnicate")
    assert out.returncode == 1 and 'unknown command "frobnicate" for "edgeadm"' in out.stderr


def test_double_join_validation(edgeadm):
    base = ["join", "192.0.2.1:6443", "--install-pkg-path=%s" % edgeadm[1], "--worker-path=%s" % edgeadm[2]]
    out = edgeadm_run(edgeadm, *(base + ["--runtime=cri-o"]))
    assert "Container runtime support 'docker' and 'containerd', not cri-o" in out.stderr
    out = edgeadm_run(edgeadm, *(base + ["--token=abc"]))
    assert 'the bootstrap token "abc" was not of the form' in out.stderr
    out = edgeadm_run(edgeadm, *(base + ["--token=abcdef.0123456789abcdef"]))
    assert "using token-based discovery without caCertHashes can be unsafe" in out.stderr
    out = edgeadm_run(edgeadm, "join", "192.0.2.1:6443", "--install-pkg-path=/nonexistent.tgz",
                      "--worker-path=%s" % edgeadm[2])
    assert out.returncode == 1 and "Unzip package: /nonexistent.tgz" in out.stderr


def test_double_addon_errors_are_red_with_exit_code_zero(edgeadm, tmp_path):
    # Like the real edgeadm (util.OutPutMessage): the role must not trust the exit code.
    out = edgeadm_run(edgeadm, "addon", "edge-apps", "--kubeconfig=%s" % (tmp_path / "missing"))
    assert out.returncode == 0
    assert out.stdout.startswith("\x1b[1;31;40m") and "no such file or directory" in out.stdout
