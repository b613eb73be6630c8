"""Tests of the KubeEdge test doubles (tests/double/) themselves.

The doubles stand in for keadm/edgecore/cloudcore in CI; these tests pin them
to what the real binaries do (flags, messages, files, Node registration).
"""

import base64
import hashlib
import importlib.util
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.lane("edge")

REPO = Path(__file__).resolve().parents[2]
DOUBLE = REPO / "tests" / "double"
TESTBED = REPO / "tests" / "testbed"

VERSIONS = ["v1.13.1", "v1.14.5", "v1.15.4", "v1.16.6", "v1.17.5", "v1.18.3", "v1.19.2",
            "v1.20.0", "v1.21.2", "v1.22.2", "v1.23.1"]

V113 = {"certPath", "certport", "cgroupdriver", "cloudcore-ipport", "edgenode-name", "image-repository",
        "kubeedge-version", "labels", "remote-runtime-endpoint", "runtimetype", "tarballpath", "token",
        "with-mqtt"}


def expected_join_flags(version):
    """The join flags of the real keadm (visible and hidden), per minor version."""
    minor = int(version.split(".")[1])
    flags = set(V113)
    if minor >= 16:
        flags -= {"runtimetype"}
        flags |= {"hub-protocol"}
    if minor >= 18:
        flags |= {"set"}
    if minor >= 20:
        flags |= {"pre-run", "post-run"}
    if minor >= 21:
        flags -= {"with-mqtt"}
    return flags


ALL_FLAGS = sorted(set().union(*(expected_join_flags(v) for v in VERSIONS)) | {"kube-config", "force"})


def packaged(tmp_path_factory, name, version):
    """The double as package.sh bakes it: the version placeholder replaced."""
    d = tmp_path_factory.getbasetemp() / ("%s-%s" % (name, version))
    d.mkdir(exist_ok=True)
    path = d / name
    if not path.exists():
        path.write_text((DOUBLE / ("%s.py" % name)).read_text().replace("@KUBEEDGE_VERSION@", version))
        path.chmod(0o755)
    return path


@pytest.fixture(scope="session")
def keadm_of(tmp_path_factory):
    return lambda version: packaged(tmp_path_factory, "keadm", version)


def run(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=kw.pop("timeout", 60), check=False, **kw)


def flag_accepted(keadm, flag, sub=("join",)):
    """Side-effect free: an unknown flag placed after `flag` stops parsing before anything runs."""
    value = "false" if flag in ("with-mqtt", "force") else "x"
    r = run([keadm] + list(sub) + ["--%s=%s" % (flag, value), "--zz-not-a-flag"])
    assert r.returncode == 1, r
    if "Error: unknown flag: --zz-not-a-flag" in r.stderr:
        return True
    assert "Error: unknown flag: --%s" % flag in r.stderr, r.stderr
    return False


# --------------------------------------------------------------------------
# flag tables, errors, version output
@pytest.mark.parametrize("version", VERSIONS)
def test_join_accepts_exactly_the_real_flags(keadm_of, version):
    keadm = keadm_of(version)
    accepted = {f for f in ALL_FLAGS if flag_accepted(keadm, f)}
    assert accepted == expected_join_flags(version)


def test_v1_13_join_flags_are_exactly_the_documented_ones(keadm_of):
    keadm = keadm_of("v1.13.1")
    assert {f for f in ALL_FLAGS if flag_accepted(keadm, f)} == V113
    # shorthands of the real one
    for short in "seiplrt":
        r = run([keadm, "join", "-%s" % short, "x", "--zz-not-a-flag"])
        assert "Error: unknown flag: --zz-not-a-flag" in r.stderr, (short, r.stderr)


@pytest.mark.parametrize("version", VERSIONS)
def test_unknown_flag_is_reported_like_cobra(keadm_of, version):
    r = run([keadm_of(version), "join", "--bogus-flag"])
    assert r.returncode == 1
    assert r.stderr == "Error: unknown flag: --bogus-flag\n"
    minor = int(version.split(".")[1])
    assert r.stdout == ("execute keadm command failed:  unknown flag: --bogus-flag\n" if minor <= 20 else "")


@pytest.mark.parametrize("version", ["v1.13.1", "v1.16.6", "v1.23.1"])
def test_flag_needs_an_argument(keadm_of, version):
    r = run([keadm_of(version), "join", "--labels"])
    assert r.returncode == 1
    assert r.stderr == "Error: flag needs an argument: --labels\n"


@pytest.mark.parametrize("version", ["v1.13.1", "v1.17.5", "v1.21.2", "v1.23.1"])
def test_version_output_formats(keadm_of, version):
    keadm = keadm_of(version)
    major, minor, dummy = version.lstrip("v").split(".")
    r = run([keadm, "version"])
    assert r.returncode == 0
    assert re.fullmatch(r'version: version\.Info\{Major:"%s", Minor:"%s", GitVersion:"%s", GitCommit:"[0-9a-f]{40}", '
                        r'GitTreeState:"clean", BuildDate:"[0-9T:-]+Z", GoVersion:"go[0-9.]+", Compiler:"gc", '
                        r'Platform:"linux/amd64"\}\n' % (major, minor, re.escape(version)), r.stdout)
    assert run([keadm, "version", "-o", "short"]).stdout == version + "\n"
    data = json.loads(run([keadm, "version", "-o", "json"]).stdout)
    assert data["gitVersion"] == version and data["minor"] == minor
    bad = run([keadm, "version", "-o", "xml"])
    assert bad.returncode == 1 and bad.stderr == "invalid output format: xml\n"


def test_reset_forms(keadm_of, tmp_path):
    # v1.17+ has `reset edge`; before, extra args are ignored; both accept --force
    assert flag_accepted(keadm_of("v1.13.1"), "force", sub=("reset",))
    assert flag_accepted(keadm_of("v1.13.1"), "runtimetype", sub=("reset",))
    assert not flag_accepted(keadm_of("v1.17.5"), "runtimetype", sub=("reset",))
    assert flag_accepted(keadm_of("v1.17.5"), "force", sub=("reset", "edge"))
    assert not flag_accepted(keadm_of("v1.17.5"), "kube-config", sub=("reset", "edge"))
    r = run([keadm_of("v1.17.5"), "reset", "--bogus-flag"])
    assert r.returncode == 1 and r.stderr.startswith("Error: unknown flag: --bogus-flag\nUsage:\n  keadm reset")


@pytest.mark.parametrize("version", ["v1.13.1", "v1.17.5", "v1.23.1"])
def test_upgrade_without_config_fails_before_changing_anything(keadm_of, version, tmp_path):
    minor = int(version.split(".")[1])
    sub = ["upgrade", "edge"] if minor >= 16 else ["upgrade"]
    cfg = tmp_path / "missing.yaml"
    extra = ["--force"] if minor >= 21 else []
    r = run([keadm_of(version)] + sub + ["--config=%s" % cfg, "--toVersion=v9.9.9"] + extra, timeout=30)
    assert r.returncode == 1
    if minor >= 21:
        assert "failed to parse the edgecore config file %s" % cfg in r.stderr
    else:
        assert r.stderr.startswith("Error: failed to read config file %s: open %s: no such file or directory"
                                   % (cfg, cfg))
    assert not (tmp_path / "backup").exists()


def test_upgrade_help_forms(keadm_of):
    # 1.21+: `keadm upgrade` alone only prints its help (no RunE), like the real one
    r = run([keadm_of("v1.21.2"), "upgrade"])
    assert r.returncode == 0 and "Available Commands:\n  cloud " in r.stdout and "\n  edge " in r.stdout


# --------------------------------------------------------------------------
# the cloud side
@pytest.fixture(scope="session")
def cloudcore_double(kubeconfig):
    subprocess.run([str(TESTBED / "cloudcore-double.sh"), "start"], check=True)
    out = subprocess.run([str(TESTBED / "cloudcore-double.sh"), "env"], check=True, stdout=subprocess.PIPE,
                         text=True).stdout
    env = dict(re.findall(r"^export (\w+)=(.*)$", out, re.M))
    return env


def _secret(api_client, name, namespace="kubeedge"):
    from kubernetes import client
    s = client.CoreV1Api(api_client).read_namespaced_secret(name, namespace)
    return {k: base64.b64decode(v) for k, v in s.data.items()}


def test_cloudcore_secrets_match_the_real_format(cloudcore_double, api_client):
    from ansible_collections.edge.cluster.plugins.module_utils import kubeedge
    from kubernetes import client
    raw = client.CoreV1Api(api_client).read_namespaced_secret("tokensecret", "kubeedge").data["tokendata"]
    info = kubeedge.parse_token(kubeedge.decode_token_data(raw))
    ca = _secret(api_client, "casecret")
    assert set(ca) == {"cadata", "cakeydata"}
    assert info["ca_hash"] == hashlib.sha256(ca["cadata"]).hexdigest()
    assert info["header"]["alg"] == "HS256" and not info["expired"]
    assert info["exp"] > time.time() + 20 * 3600
    assert set(_secret(api_client, "cloudcoresecret")) == {"cloudcoredata", "cloudcorekeydata"}
    # /ca.crt serves the CA in DER, the one the token pins
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    url = "https://%s:%s" % (cloudcore_double["CLOUDCORE_ADDRESS"], cloudcore_double["CLOUDCORE_CERTPORT"])
    assert urllib.request.urlopen(url + "/ca.crt", context=ctx).read() == ca["cadata"]
    req = urllib.request.Request(url + "/edge.crt", headers={"Authorization": "Bearer a.b.c"})
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req, context=ctx)
    assert exc.value.code in (400, 401) and exc.value.read() == b"Invalid authorization token"


def _free_port():
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _served_certificate(kubeconfig, namespace, tmp_path):
    """Start a cloudcore double on 127.0.0.1 in `namespace`; return the SANs of the certificate
    its https port serves, then stop it."""
    from cryptography import x509
    port = _free_port()
    proc = subprocess.Popen([sys.executable, str(DOUBLE / "cloudcore.py"), "--kubeconfig", kubeconfig,
                             "--advertise-address", "127.0.0.1", "--https-port", str(port),
                             "--cloudhub-port", str(_free_port()), "--state-dir", str(tmp_path / "state")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, CLOUDCORE_DOUBLE_NAMESPACE=namespace))
    try:
        for dummy in range(60):
            try:
                pem = ssl.get_server_certificate(("127.0.0.1", port))
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read()
                time.sleep(0.5)
        else:
            raise AssertionError("the cloudcore double did not serve on %d" % port)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    sans = x509.load_pem_x509_certificate(pem.encode()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    return sorted(str(ip) for ip in sans.get_values_for_type(x509.IPAddress))


def test_cloudcore_reuses_the_server_certificate_secret_like_the_real(kubeconfig, api_client, namespace, tmp_path,
                                                                      supplied_tls):
    """The real cloudhub serves the certificate of Secret cloudcoresecret when there is one, even
    for other addresses (so the cloudcore role must delete it to get a new one); without it, it
    signs one for its advertise addresses and saves it there."""
    from kubernetes import client
    assert _served_certificate(kubeconfig, namespace, tmp_path / "a") == ["127.0.0.1"]
    first = _secret(api_client, "cloudcoresecret", namespace)
    # another CloudCore's certificate, for another address, in the Secret
    core = client.CoreV1Api(api_client)
    core.delete_namespaced_secret("cloudcoresecret", namespace)
    assert _served_certificate(kubeconfig, namespace, tmp_path / "b") == ["127.0.0.1"]
    other = _secret(api_client, "cloudcoresecret", namespace)
    assert other["cloudcoredata"] != first["cloudcoredata"]  # signed anew: there was none
    core.patch_namespaced_secret("cloudcoresecret", namespace, {"data": {
        k: base64.b64encode(v).decode() for k, v in supplied_tls.server_secret(["192.0.2.99"]).items()}})
    assert _served_certificate(kubeconfig, namespace, tmp_path / "c") == ["192.0.2.99"]


def _edge_config(tmp_path, cloudcore, token, version="v1.13.1"):
    host = cloudcore["CLOUDCORE_ADDRESS"]
    cfg = tmp_path / "edgecore.yaml"
    cfg.write_text(
        "apiVersion: edgecore.config.kubeedge.io/v1alpha2\nkind: EdgeCore\nmodules:\n  edgeHub:\n"
        "    heartbeat: 15\n    httpServer: https://%s:%s\n    tlsCaFile: %s/ca/rootCA.crt\n"
        "    tlsCertFile: %s/certs/server.crt\n    tlsPrivateKeyFile: %s/certs/server.key\n"
        "    token: %s\n    websocket:\n      enable: true\n      server: %s\n  edged:\n"
        "    hostnameOverride: never-registered\n    nodeLabels: {}\n"
        % (host, cloudcore["CLOUDCORE_CERTPORT"], tmp_path, tmp_path, tmp_path, json.dumps(token),
           cloudcore["CLOUDCORE_IPPORT"]))
    return cfg


@pytest.mark.parametrize("token, message", [
    ("bogus-token", "Error: token credentials are in the wrong format"),
    ("aaaa.b.c.d", "Error: failed to validate CA certificate. tokenCAhash: aaaa, CAhash: "),
])
def test_edgecore_token_validation_messages(cloudcore_double, tmp_path_factory, tmp_path, token, message):
    edgecore = packaged(tmp_path_factory, "edgecore", "v1.13.1")
    r = run([sys.executable, edgecore, "--config", _edge_config(tmp_path, cloudcore_double, token)], timeout=30)
    assert r.returncode == 1
    assert message in r.stderr
    assert not (tmp_path / "certs").exists()


def test_edgecore_with_dockershim_needs_docker_s_cgroup_driver(cloudcore_double, tmp_path_factory, tmp_path):
    """Like v1.13's embedded dockershim kubelet: edgecore stops at start when its cgroup driver differs
    from the one this machine's real Docker Engine reports (the edgenode role sets Docker's to match)."""
    docker = subprocess.run(["docker", "info", "--format", "{{.CgroupDriver}}"], stdout=subprocess.PIPE, text=True,
                            check=True).stdout.strip()
    other = "systemd" if docker == "cgroupfs" else "cgroupfs"
    edgecore = packaged(tmp_path_factory, "edgecore", "v1.13.1")
    token = Path(cloudcore_double["CLOUDCORE_TOKEN_FILE"]).read_text().strip()
    cfg = _edge_config(tmp_path, cloudcore_double, token)
    cfg.write_text(cfg.read_text() + "    containerRuntime: docker\n    cgroupDriver: %s\n    rootDirectory: %s\n"
                   "database:\n  dataSource: %s\n" % (other, tmp_path / "edged", tmp_path / "edgecore.db"))
    r = run([sys.executable, edgecore, "--config", cfg], timeout=60)
    assert r.returncode == 1
    assert 'misconfiguration: kubelet cgroup driver: "%s" is different from docker cgroup driver: "%s"' \
        % (other, docker) in r.stderr, r.stderr


def test_edgecore_bad_config_exits_non_zero(tmp_path_factory, tmp_path):
    edgecore = packaged(tmp_path_factory, "edgecore", "v1.13.1")
    r = run([sys.executable, edgecore, "--config", tmp_path / "missing.yaml"])
    assert r.returncode == 1 and "config file %s not exist" % (tmp_path / "missing.yaml") in r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: EdgeCore\nmodules:\n  edgeHub:\n    websocket:\n      server: nope\n")
    r = run([sys.executable, edgecore, "--config", bad])
    assert r.returncode == 1 and "modules.edgeHub.websocket.server: Invalid value" in r.stderr
    # Like the real 1.13.1: --version is accepted, prints nothing, and edgecore runs (here: no config).
    r = run([sys.executable, edgecore, "--version", "--config", tmp_path / "missing.yaml"])
    assert r.returncode == 1 and r.stdout == "" and "config file %s not exist" % (tmp_path / "missing.yaml") in r.stderr


@pytest.mark.parametrize("version,process,refused", [
    ("v1.13.1", "kubelet", "kubelet should not running on edge node when running edgecore"),
    ("v1.13.1", "kube-proxy", "kube-proxy should not running on edge node when running edgecore"),
    ("v1.23.1", "kubelet", "kubelet should not be running on edge node when starting edgecore"),
    ("v1.23.1", "kube-proxy", None),  # the kube-proxy check is gone from v1.19
])
def test_edgecore_refuses_to_start_beside_kubelet_or_kube_proxy(cloudcore_double, tmp_path_factory, tmp_path,
                                                                version, process, refused):
    """Like the real edgecore: a process of that name on the host ends it at start (exit 1)
    before it touches its certificates; CHECK_EDGECORE_ENVIRONMENT=false skips the check."""
    edgecore = packaged(tmp_path_factory, "edgecore", version)
    fake = tmp_path / "bin" / process
    fake.parent.mkdir()
    shutil.copy("/bin/sleep", str(fake))
    proc = subprocess.Popen([str(fake), "120"])
    try:
        config = _edge_config(tmp_path, cloudcore_double, "bogus-token")
        r = run([sys.executable, edgecore, "--config", config], timeout=30)
        assert r.returncode == 1
        if refused:
            assert "failed to check the running environment: " + refused in r.stderr, r.stderr
        else:
            assert "running environment" not in r.stderr and "token credentials are in the wrong format" in r.stderr
        r = subprocess.run([sys.executable, edgecore, "--config", str(config)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30, check=False,
                           env=dict(os.environ, CHECK_EDGECORE_ENVIRONMENT="false"))
        assert r.returncode == 1 and "running environment" not in r.stderr, r.stderr
        assert "token credentials are in the wrong format" in r.stderr
        assert not (tmp_path / "certs").exists()
    finally:
        proc.kill()
        proc.wait()


# --------------------------------------------------------------------------
# end to end: keadm join in a real systemd container
@pytest.fixture(scope="session")
def artifacts():
    out = subprocess.run([str(DOUBLE / "package.sh"), "v1.13.1"], check=True, stdout=subprocess.PIPE,
                         text=True).stdout.strip().splitlines()[-1]
    return Path(out) / "v1.13.1"


def _docker(*args, check=True, timeout=300):
    r = subprocess.run(["docker"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, check=False)
    if check and r.returncode != 0:
        raise AssertionError("docker %s failed: %s%s" % (" ".join(args), r.stdout, r.stderr))
    return r


@pytest.fixture
def edge_container(request):
    image = os.environ.get("EDGE_DOUBLE_TEST_IMAGE", "edge-cluster/systemd-debian:bookworm")
    if _docker("image", "inspect", image, check=False).returncode != 0:
        subprocess.run([str(TESTBED / "images.sh"), image.rsplit(":", 1)[1]], check=True)
    name = "edge-double-%s" % os.urandom(3).hex()
    # the molecule `edge-node` profile (molecule/shared/vars/platforms.yml)
    _docker("run", "-d", "--name", name, "--hostname", name, "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
            "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined", "--cgroupns", "host",
            "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "-v", "/var/lib/containerd", "-v", "/var/lib/docker",
            "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp", "--device", "/dev/kmsg:/dev/kmsg",
            "--stop-signal", "SIGRTMIN+3", image, "/lib/systemd/systemd")
    yield name
    _docker("rm", "-f", "-v", name, check=False)


def _recorder():
    spec = importlib.util.spec_from_file_location("edge_reference_record", DOUBLE / "reference" / "record.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _exec(name, cmd, check=True, timeout=300):
    return _docker("exec", name, "sh", "-c", cmd, check=check, timeout=timeout)


def test_join_registers_a_ready_node_and_reset_cleans_up(cloudcore_double, api_client, artifacts, edge_container,
                                                         keadm_of):
    from kubernetes import client
    name = edge_container
    packaged_keadm_v123 = keadm_of("v1.23.1")
    _exec(name, "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                "--no-install-recommends containerd >/dev/null && systemctl is-active containerd", timeout=600)
    _exec(name, "mkdir -p /root/art")
    for f in ("installation-package-v1.13.1.tar", "pause-3.6.tar", "eclipse-mosquitto-1.6.15.tar",
              "keadm-v1.13.1-linux-amd64.tar.gz"):
        _docker("cp", str(artifacts / f), "%s:/root/art/%s" % (name, f))
    token = Path(cloudcore_double["CLOUDCORE_TOKEN_FILE"]).read_text().strip()
    join = ("keadm join --cloudcore-ipport=%s --edgenode-name=%s --kubeedge-version=v1.13.1 "
            "--labels=env=test,tier=edge --token=%s" % (cloudcore_double["CLOUDCORE_IPPORT"], name, token))

    # images missing: fails like a pull without registry, and leaves the directories behind
    _exec(name, "cd /root/art && tar xzf keadm-v1.13.1-linux-amd64.tar.gz && "
                "install -m 0755 keadm-v1.13.1-linux-amd64/keadm/keadm /usr/local/bin/keadm")
    r = _exec(name, join, check=False)
    assert r.returncode == 1
    assert 'pull Images failed: rpc error: code = Unknown desc = failed to pull and unpack image ' \
           '"docker.io/kubeedge/installation-package:v1.13.1"' in r.stderr
    assert _exec(name, "ls /etc/kubeedge").stdout.split() == ["config"]
    r = _exec(name, join, check=False)  # /etc/kubeedge is no longer empty
    assert r.returncode == 1 and r.stderr.endswith(
        "Error: the management directory /etc/kubeedge/ is not clean, please remove it first\n")
    _exec(name, "rm -rf /etc/kubeedge")

    _exec(name, "cd /root/art && for f in *.tar; do ctr -n k8s.io images import $f; done")
    # like the real v1.13.1 on containerd: the copy sandbox fails without a CNI config, and with
    # the systemd cgroup driver (the edgenode role writes a conflist and refuses systemd there)
    _exec(name, "rm -rf /etc/cni/net.d")
    r = _exec(name, join, check=False)
    assert r.returncode == 1 and "failed to setup network for sandbox: cni plugin not initialized" in r.stderr, \
        r.stderr
    _exec(name, "rm -rf /etc/kubeedge && mkdir -p /etc/cni/net.d && echo '{}' > /etc/cni/net.d/10-test.conflist")
    r = _exec(name, join + " --cgroupdriver=systemd", check=False)
    assert r.returncode == 1 and "expected cgroupsPath to be of format" in r.stderr, r.stderr
    _exec(name, "rm -rf /etc/kubeedge")
    # the configuration is validated before it is written: a node name that is no Kubernetes name
    r = _exec(name, join.replace("--edgenode-name=%s" % name, "--edgenode-name=Edge_1"), check=False)
    assert r.returncode == 1 and 'HostnameOverride: Invalid value: "Edge_1"' in r.stderr, r.stderr
    assert _exec(name, "test -e /etc/kubeedge/config/edgecore.yaml", check=False).returncode == 1
    _exec(name, "rm -rf /etc/kubeedge")
    started = time.time()
    r = _exec(name, join, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Successfully pulled kubeedge/installation-package:v1.13.1" in r.stdout
    core = client.CoreV1Api(api_client)
    node = None
    while time.time() - started < 60:
        try:
            node = core.read_node(name)
            if any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or []):
                break
        except client.ApiException:
            pass
        time.sleep(2)
    else:
        raise AssertionError("node %s not Ready within 60 s: %s" % (name, node))
    labels = node.metadata.labels
    assert labels["node-role.kubernetes.io/edge"] == "" and labels["env"] == "test" and labels["tier"] == "edge"

    # the files, modes and directories the real keadm v1.13.1 join left (reference data)
    recorder = _recorder()
    reference = json.loads((DOUBLE / "reference" / "v1.13.1.json").read_text(encoding="utf-8"))["keadm"]
    assert "join_leaves" in reference and "reset_leaves" in reference, "record them: record.py probe / files"
    assert recorder.parse_probe(_exec(name, recorder.probe_script()).stdout) == reference["join_leaves"]
    unit = _exec(name, "cat /etc/systemd/system/edgecore.service").stdout
    # keadm v1.13.1's unit: no KillMode (process from v1.13.3 on)
    assert "ExecStart=/usr/local/bin/edgecore" in unit and "KillMode" not in unit, unit
    cfg = _exec(name, "cat /etc/kubeedge/config/edgecore.yaml").stdout
    assert "hostnameOverride: %s" % name in cfg and "server: %s" % cloudcore_double["CLOUDCORE_IPPORT"] in cfg
    assert re.search(r'^    token: ""$', cfg, re.M), "edgecore blanks the token once it has its certificate"
    assert _exec(name, "systemctl is-active edgecore && systemctl is-enabled edgecore").returncode == 0

    r = _exec(name, join, check=False)
    assert r.returncode == 1 and r.stderr.endswith(
        "Error: EdgeCore is already running on this node, please run reset to clean up first\n")

    r = _exec(name, "keadm reset --force")
    assert "edgecore is stopped" in r.stdout
    # like the real v1.13.1 (reference data): which paths stay, with which modes, emptied or not
    assert recorder.parse_probe(_exec(name, recorder.probe_script()).stdout) == reference["reset_leaves"]
    kept = sorted(p for p, e in reference["reset_leaves"].items() if e and e.get("empty"))
    assert _exec(name, "pidof edgecore", check=False).returncode == 1
    r = _exec(name, "keadm reset --force")
    assert r.stdout == "None of KubeEdge components are running in this host, exit\n"
    assert sorted(_exec(name, "find %s 2>/dev/null" % " ".join(kept), check=False).stdout.split()) == sorted(kept)

    # 1.20+ `keadm reset edge` always runs and removes the directories themselves
    _docker("cp", str(packaged_keadm_v123), "%s:/usr/local/bin/keadm-v1.23.1" % name)
    r = _exec(name, "keadm-v1.23.1 reset edge --force")
    assert "4. clean up dirs created by KubeEdge" in r.stderr and "reset edge node successfully!" in r.stderr
    assert _exec(name, "find %s 2>/dev/null" % " ".join(kept), check=False).stdout == ""
    core.delete_node(name)
