"""The cloud side of the keadm double (init, gettoken, reset cloud) and the
cloudcore double's --config mode, run for real on a systemd container against
the test kube-apiserver (the flags are compared with the real keadm's in
tests/unit/test_double_reference.py).

Every test that touches the cluster uses its own namespace through the
double's test-only knob KEADM_DOUBLE_NAMESPACE, so the shared namespace
kubeedge (used by other scenarios) is never touched.
"""

import base64
import ipaddress
import os
import re
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from ansible_collections.edge.cluster.plugins.module_utils.kubeedge import parse_token

pytestmark = pytest.mark.lane("cloud")

REPO = Path(__file__).resolve().parents[2]
DOUBLE = REPO / "tests" / "double"
VERSIONS = ["v1.13.1", "v1.17.5", "v1.23.1"]


def baked(version, tmp_path):
    path = tmp_path / ("keadm-%s" % version)
    path.write_text((DOUBLE / "keadm.py").read_text(encoding="utf-8").replace("@KUBEEDGE_VERSION@", version))
    path.chmod(0o755)
    return path


def run(argv, env=None, **kw):
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=full, check=False, **kw)


# ---------------------------------------------------------------------------
# Flags and messages (no cluster, no container)
def test_init_unknown_flag(tmp_path):
    r = run([baked("v1.13.1", tmp_path), "init", "--bogus"])
    assert r.returncode == 1
    assert r.stderr.startswith("Error: unknown flag: --bogus\nUsage:\n  keadm init")
    assert r.stdout == "execute keadm command failed:  unknown flag: --bogus\n"


# ---------------------------------------------------------------------------
# Real runs on a systemd cloud host
@pytest.fixture(scope="module")
def cloud(systemd_host, kubeconfig, tmp_path_factory):
    """A cloud host: the doubles' Python needs, the admin kubeconfig, keadm v1.13.1 and v1.17.5."""
    h = systemd_host
    h.sh("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
         "python3-kubernetes python3-yaml python3-cryptography >/dev/null")
    h.sh("mkdir -p /root/.kube /usr/local/lib/keadm-double && chmod 700 /root/.kube")
    tmp = tmp_path_factory.mktemp("keadm-cloud")
    for version, dest in (("v1.13.1", "/usr/local/bin/keadm"), ("v1.17.5", "/usr/local/bin/keadm117")):
        subprocess.run(["docker", "cp", str(baked(version, tmp)), "%s:%s" % (h.name, dest)], check=True)
    subprocess.run(["docker", "cp", str(DOUBLE / "cloudcore.py"),
                    "%s:/usr/local/lib/keadm-double/cloudcore.py" % h.name], check=True)
    subprocess.run(["docker", "cp", kubeconfig, "%s:/root/.kube/config" % h.name], check=True)
    cfg = yaml.safe_load(Path(kubeconfig).read_text(encoding="utf-8"))
    down = dict(cfg, clusters=[{"name": c["name"], "cluster": dict(c["cluster"], server="https://127.0.0.1:6443")}
                               for c in cfg["clusters"]])
    subprocess.run(["docker", "exec", "-i", h.name, "sh", "-c", "cat > /root/.kube/down"],
                   input=yaml.safe_dump(down), text=True, check=True)
    h.ip = h.sh("hostname -I").stdout.split()[0]
    return h


def dexec(host, cmd, ns=None):
    env = ["-e", "KEADM_DOUBLE_NAMESPACE=%s" % ns] if ns else []
    return subprocess.run(["docker", "exec"] + env + [host.name, "sh", "-c", cmd], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, check=False)


@pytest.mark.parametrize("version,keadm", [("v1.13.1", "keadm"), ("v1.17.5", "keadm117")])
def test_init_without_kubeconfig_prints_the_real_error(cloud, version, keadm):
    r = dexec(cloud, "%s init --kube-config=/root/.kube/config.absent" % keadm)
    assert r.returncode == 1
    wrap = "failed to verify k8s component installed, err: " if version == "v1.17.5" else ""
    msg = "%sfailed to build config, err: stat /root/.kube/config.absent: no such file or directory" % wrap
    assert r.stderr.startswith("Error: %s\n" % msg)
    assert "execute keadm command failed:  %s\n" % msg in r.stdout


@pytest.mark.parametrize("version,keadm", [("v1.13.1", "keadm"), ("v1.17.5", "keadm117")])
def test_init_with_apiserver_down_prints_the_real_error(cloud, version, keadm):
    r = dexec(cloud, "%s init --kube-config=/root/.kube/down" % keadm)
    assert r.returncode == 1
    last = r.stdout.splitlines()[-1]
    assert last.startswith("execute keadm command failed:  ") and "127.0.0.1:6443" in last, r.stdout
    assert "dial tcp 127.0.0.1:6443: connect: connection refused" in r.stderr


def test_gettoken_without_kubeconfig(cloud):
    r = dexec(cloud, "keadm gettoken --kube-config /root/.kube/config.absent")
    assert r.returncode == 1
    assert r.stdout.startswith("failed to get token, err is get kube config failed with error: stat "
                               "/root/.kube/config.absent: no such file or directory\n")


@pytest.fixture
def test_ns(api_client, request):
    """A namespace name for the double; removed (with the suffixed RBAC objects) afterwards."""
    from kubernetes import client
    name = "kd-%s" % os.urandom(3).hex()
    yield name
    core, rbac = client.CoreV1Api(api_client), client.RbacAuthorizationV1Api(api_client)
    for call in (lambda: core.delete_namespace(name),
                 lambda: rbac.delete_cluster_role("cloudcore-" + name),
                 lambda: rbac.delete_cluster_role_binding("cloudcore-" + name)):
        try:
            call()
        except client.exceptions.ApiException:
            pass


def wait_port(host, port, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection((host, port), timeout=2):
                return True
        except OSError:
            time.sleep(0.5)
    return False


def test_init_installs_the_chart_objects_and_runs_cloudcore(cloud, api_client, test_ns):
    from kubernetes import client
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    r = dexec(cloud, "keadm init --advertise-address=%s --profile version=v1.13.1 --kube-config=/root/.kube/config "
                     "--set cloudCore.modules.dynamicController.enable=true --set cloudCore.service.type=ClusterIP"
              % cloud.ip, ns=test_ns)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:3] == ["Kubernetes version verification passed, KubeEdge installation will start...",
                         "CLOUDCORE started", "=========CHART DETAILS======="]
    assert lines[3] == "NAME: cloudcore" and lines[4].startswith("LAST DEPLOYED: ")
    assert lines[5:] == ["NAMESPACE: %s" % test_ns, "STATUS: deployed", "REVISION: 1"]

    dep = apps.read_namespaced_deployment("cloudcore", test_ns)
    assert dep.spec.template.spec.containers[0].image == "kubeedge/cloudcore:v1.13.1"
    assert dep.spec.template.spec.host_network is True
    cfg = yaml.safe_load(core.read_namespaced_config_map("cloudcore", test_ns).data["cloudcore.yaml"])
    hub = cfg["modules"]["cloudHub"]
    assert hub["advertiseAddress"] == [cloud.ip]
    assert (hub["websocket"]["port"], hub["quic"]["port"], hub["https"]["port"]) == (10000, 10001, 10002)
    assert cfg["modules"]["dynamicController"] == {"enable": True}
    assert cfg["modules"]["cloudStream"] == {"enable": True, "streamPort": 10003, "tunnelPort": 10004}
    svc = core.read_namespaced_service("cloudcore", test_ns)
    assert sorted(p.port for p in svc.spec.ports) == [10000, 10001, 10002, 10003, 10004]
    core.read_namespaced_service_account("cloudcore", test_ns)
    stream = core.read_namespaced_secret("cloudcore", test_ns)
    assert set(stream.data) == {"stream.crt", "stream.key", "streamCA.crt"}
    rel = core.read_namespaced_secret("sh.helm.release.v1.cloudcore.v1", test_ns)
    assert rel.type == "helm.sh/release.v1"
    assert rel.metadata.labels == {"name": "cloudcore", "owner": "helm", "status": "deployed", "version": "1"}

    # the "pod": the cloudcore double with the ConfigMap's cloudcore.yaml, on the host network
    assert dexec(cloud, "systemctl is-active cloudcore-keadm").stdout.strip() == "active"
    for port in (10000, 10002, 10003, 10004):
        assert wait_port(cloud.ip, port), port
    deadline = time.time() + 30
    while True:
        try:
            secret = core.read_namespaced_secret("tokensecret", test_ns)
            break
        except client.exceptions.ApiException:
            assert time.time() < deadline, "no tokensecret"
            time.sleep(1)
    token = base64.b64decode(secret.data["tokendata"]).decode()
    assert not parse_token(token)["expired"]

    # gettoken prints the Secret's token
    g = dexec(cloud, "keadm gettoken --kube-config /root/.kube/config", ns=test_ns)
    assert g.returncode == 0 and g.stdout == token + "\n"

    # a second init: CloudCore runs here
    again = dexec(cloud, "keadm init --kube-config=/root/.kube/config", ns=test_ns)
    assert again.returncode == 1
    assert again.stderr.startswith("Error: CloudCore is already running on this node, please run reset to clean up "
                                   "first\n")
    # --force skips that check; up to 1.16 init then upgrades the existing release, as the real v1.14.5
    # did over a v1.13.1 one (REVISION 2); the token stays
    forced = dexec(cloud, "keadm init --force --advertise-address=%s --profile version=v1.13.1 "
                          "--kube-config=/root/.kube/config --set cloudCore.service.type=ClusterIP" % cloud.ip,
                   ns=test_ns)
    assert forced.returncode == 0, forced.stderr
    assert forced.stdout.splitlines()[-1] == "REVISION: 2"
    releases = {s.metadata.name: s.metadata.labels["status"]
                for s in core.list_namespaced_secret(test_ns, label_selector="owner=helm").items}
    assert releases == {"sh.helm.release.v1.cloudcore.v1": "superseded", "sh.helm.release.v1.cloudcore.v2": "deployed"}
    assert core.read_namespaced_secret("tokensecret", test_ns).data["tokendata"] == secret.data["tokendata"]
    assert wait_port(cloud.ip, 10000)

    # keadm reset (v1.13: no `cloud` subcommand) deletes the namespace and stops CloudCore
    reset = dexec(cloud, "keadm reset --force --kube-config=/root/.kube/config", ns=test_ns)
    assert reset.returncode == 0, reset.stderr
    assert dexec(cloud, "systemctl is-active cloudcore-keadm").stdout.strip() != "active"
    assert dexec(cloud, "pidof cloudcore").returncode != 0
    ns = core.read_namespace(test_ns)
    assert ns.metadata.deletion_timestamp is not None


def test_reset_cloud_with_nothing_installed(cloud, test_ns):
    r = dexec(cloud, "keadm117 reset cloud --force --kube-config=/root/.kube/config", ns=test_ns)
    assert r.returncode == 0
    assert r.stdout == "None of CloudCore components are running in this host, exit\n"


def test_v117_init_image_repository_and_reset_cloud(cloud, api_client, test_ns):
    from kubernetes import client
    apps = client.AppsV1Api(api_client)
    r = dexec(cloud, "keadm117 init --advertise-address=%s --kube-config=/root/.kube/config "
                     "--image-repository=registry.example:5000/kubeedge --set cloudCore.service.enable=false"
              % cloud.ip, ns=test_ns)
    assert r.returncode == 0, r.stderr
    dep = apps.read_namespaced_deployment("cloudcore", test_ns)
    assert dep.spec.template.spec.containers[0].image == "registry.example:5000/kubeedge/cloudcore:v1.17.5"
    assert wait_port(cloud.ip, 10000)
    # from 1.17 init refuses an existing release, as the real v1.17.5 does; `upgrade cloud` upgrades it
    again = dexec(cloud, "keadm117 init --force --kube-config=/root/.kube/config", ns=test_ns)
    assert again.returncode == 1
    assert "the cloudcore release already exists, and you can upgrade the cloudcore using the `keadm upgrade`" \
        in again.stderr
    up = dexec(cloud, "keadm117 upgrade cloud --kubeedge-version=v1.17.5 --advertise-address=%s "
                      "--kube-config=/root/.kube/config --image-repository=registry.example:5000/kubeedge "
                      "--set cloudCore.service.enable=false" % cloud.ip, ns=test_ns)
    assert up.returncode == 0, up.stderr
    assert "REVISION: 2" in up.stdout and "This is cloudcore configuration of the previous version." in up.stdout
    assert wait_port(cloud.ip, 10000)
    reset = dexec(cloud, "keadm117 reset cloud --force --kube-config=/root/.kube/config", ns=test_ns)
    assert reset.returncode == 0, reset.stderr
    assert dexec(cloud, "pidof cloudcore").returncode != 0


@pytest.mark.parametrize("version,keadm", [("v1.13.1", "keadm"), ("v1.17.5", "keadm117")])
def test_reset_role_uninstalls_a_keadm_cloudcore(cloud, api_client, test_ns, run_playbook, version, keadm):
    """The reset role's cloud side with reset_cloudcore_method=keadm: without keadm it stops and changes
    nothing; with it, `keadm reset` (v1.13) or `keadm reset cloud` (v1.17) stops CloudCore and removes its
    namespace and /etc/kubeedge; a second run changes nothing. The double's namespace knob goes through a
    wrapper, since the role runs keadm as it is."""
    from kubernetes import client
    core = client.CoreV1Api(api_client)
    r = dexec(cloud, "%s init --advertise-address=%s --kube-config=/root/.kube/config" % (keadm, cloud.ip),
              ns=test_ns)
    assert r.returncode == 0, r.stderr
    assert wait_port(cloud.ip, 10000)
    wrapper = "/usr/local/bin/keadm-%s" % test_ns
    cloud.sh("printf '#!/bin/sh\\nKEADM_DOUBLE_NAMESPACE=%s exec /usr/local/bin/%s \"$@\"\\n' > %s && chmod 755 %s"
             % (test_ns, keadm, wrapper, wrapper))
    playbook = Path(__file__).parent / "playbooks" / "reset_cloud_host.yml"
    extra = dict(reset_cloud_confirm=False, reset_cloudcore_uninstall=True, reset_cloudcore_method="keadm",
                 reset_keadm_bin=wrapper, reset_cloudcore_kubeconfig="/root/.kube/config",
                 reset_kubeconfig="/root/.kube/config", reset_delete_namespace=True,
                 reset_cloudcore_namespace=test_ns)
    env = {"ANSIBLE_TRANSPORT": "community.docker.docker"}

    missing = run_playbook(playbook, inventory="%s," % cloud.name, env=env,
                           extra_vars=dict(extra, reset_keadm_bin="/usr/local/bin/no-keadm"))
    assert missing.rc != 0
    assert "needs keadm at /usr/local/bin/no-keadm" in re.sub(r"\s+", " ", missing.stdout), missing.stdout[-3000:]
    assert core.read_namespace(test_ns).metadata.deletion_timestamp is None
    assert dexec(cloud, "pidof cloudcore").returncode == 0

    res = run_playbook(playbook, inventory="%s," % cloud.name, extra_vars=extra, env=env)
    assert res.rc == 0, res.stdout[-3000:]
    assert dexec(cloud, "systemctl is-active cloudcore-keadm").stdout.strip() != "active"
    assert dexec(cloud, "pidof cloudcore").returncode != 0
    assert dexec(cloud, "test -e /etc/kubeedge").returncode != 0
    with pytest.raises(client.exceptions.ApiException) as gone:
        core.read_namespace(test_ns)
    assert gone.value.status == 404

    again = run_playbook(playbook, inventory="%s," % cloud.name, extra_vars=extra, env=env)
    assert again.rc == 0 and again.changed_on(cloud.name) == 0, again.stdout[-3000:]


def test_cloudcore_double_reads_a_cloudcore_yaml(cloud, test_ns):
    """--config: kubeConfig, advertiseAddress and ports come from the file (binary install)."""
    conf = {
        "apiVersion": "cloudcore.config.kubeedge.io/v1alpha1", "kind": "CloudCore",
        "kubeAPIConfig": {"kubeConfig": "/root/.kube/config"},
        "modules": {"cloudHub": {"advertiseAddress": [cloud.ip],
                                 "websocket": {"address": "0.0.0.0", "enable": True, "port": 11000},
                                 "https": {"address": "0.0.0.0", "enable": True, "port": 11002}},
                    "cloudStream": {"enable": False}},
    }
    subprocess.run(["docker", "exec", "-i", cloud.name, "sh", "-c", "cat > /root/cc-test.yaml"],
                   input=yaml.safe_dump(conf), text=True, check=True)
    cloud.sh("systemd-run --unit=cc-config-test --setenv=CLOUDCORE_DOUBLE_NAMESPACE=%s "
             "python3 /usr/local/lib/keadm-double/cloudcore.py --config /root/cc-test.yaml" % test_ns)
    try:
        assert wait_port(cloud.ip, 11000) and wait_port(cloud.ip, 11002)
        listeners = cloud.sh("ss -Htlnp").stdout
        assert '"cloudcore"' in [line for line in listeners.splitlines() if ":11000 " in line][0]
        assert ":10003 " not in listeners  # cloudStream disabled
        from cryptography import x509
        pem = ssl.get_server_certificate((cloud.ip, 11002))
        sans = x509.load_pem_x509_certificate(pem.encode()).extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value
        assert ipaddress.ip_address(cloud.ip) in sans.get_values_for_type(x509.IPAddress)
    finally:
        cloud.sh("systemctl stop cc-config-test", check=False)
