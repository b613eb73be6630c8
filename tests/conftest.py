"""Shared pytest fixtures: the real control plane and ansible runs."""

import base64
import json
import os
import re
import subprocess
import types
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
TESTBED = REPO / "tests" / "testbed"

# ---- lanes: which integration tests may run at the same time -----------------
# `make integration` runs one pytest per lane, the lanes side by side
# (tests/testbed/lanes.sh), then the lane "alone" by itself. A test file names
# its lane with `pytestmark = pytest.mark.lane("<name>")`; without one it runs in
# DEFAULT_LANE. Lanes exist because the tests share one kube-apiserver, one
# namespace kubeedge and one cloudcore double:
#   cloud  installs or removes a CloudCore in namespace kubeedge (keadm init,
#          the binary method, the lab), one after the other;
#   edge   joins edge hosts to the shared cloudcore double;
#   api    modules and roles on their own namespaces, Nodes and hosts;
#   alone  stops a shared service (the kube-apiserver) for a moment.
LANES = ("cloud", "edge", "api", "alone")
DEFAULT_LANE = "api"


def pytest_addoption(parser):
    parser.addoption("--lane", action="append", choices=LANES, default=[],
                     help="run only the tests of this lane (repeatable); see tests/conftest.py")


def pytest_configure(config):
    config.addinivalue_line("markers", "lane(name): the integration lane the test runs in (tests/conftest.py)")


def lane_of(item):
    marker = item.get_closest_marker("lane")
    lane = marker.args[0] if marker else DEFAULT_LANE
    if lane not in LANES:
        raise pytest.UsageError("%s: unknown lane %r (one of %s)" % (item.nodeid, lane, ", ".join(LANES)))
    return lane


def pytest_collection_modifyitems(config, items):
    wanted = config.getoption("--lane")
    if not wanted:
        return
    keep = [item for item in items if lane_of(item) in wanted]
    config.hook.pytest_deselected(items=[item for item in items if item not in keep])
    items[:] = keep


@pytest.fixture(scope="session")
def kubeconfig():
    """Start (or reuse) the real control plane; return the admin kubeconfig path."""
    out = subprocess.run(
        [str(TESTBED / "controlplane.sh"), "start"],
        check=True, stdout=subprocess.PIPE, text=True,
    ).stdout.strip().splitlines()[-1]
    os.environ["KUBECONFIG"] = out
    return out


@pytest.fixture(scope="session")
def api_client(kubeconfig):
    """A kubernetes ApiClient built by the collection's own client factory."""
    from ansible_collections.edge.cluster.plugins.module_utils.k8s_client import get_api_client
    return get_api_client(params={"kubeconfig": kubeconfig})


@pytest.fixture
def namespace(api_client, request):
    """A fresh namespace per test, deleted afterwards."""
    from kubernetes import client
    core = client.CoreV1Api(api_client)
    base = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower())[:40].strip("-")
    name = "t-%s-%s" % (base, os.urandom(3).hex())
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)


@pytest.fixture
def nodes(api_client):
    """make(labels, ready=False, internal_ip=None) creates a Node object (no kubelet behind it) and
    returns its name; node_exists(name) tells whether it is still there. Deleted at the end."""
    from kubernetes import client
    core = client.CoreV1Api(api_client)
    made = []

    def make(labels, ready=False, internal_ip=None):
        name = "test-node-%s" % os.urandom(3).hex()
        core.create_node({"metadata": {"name": name, "labels": labels}})
        if ready or internal_ip:
            status = {"conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                      "reason": "KubeletReady", "message": "test"}]}
            if internal_ip:
                status["addresses"] = [{"type": "InternalIP", "address": internal_ip}]
            core.patch_node_status(name, {"status": status})
        made.append(name)
        return name
    yield make
    for name in made:
        try:
            core.delete_node(name)
        except client.ApiException as exc:
            assert exc.status == 404


@pytest.fixture
def node_exists(api_client):
    from kubernetes import client

    def exists(name):
        try:
            client.CoreV1Api(api_client).read_node(name)
            return True
        except client.ApiException as exc:
            assert exc.status == 404
            return False
    return exists


def _supplied_tls(directory, address):
    """A CA and a server certificate for ``address``, as an operator supplies them to the cloudcore
    role (cloudcore_tls_*_src): the role variables pointing at the files."""
    d = Path(directory)

    def ssl_(*args):
        subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ssl_("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=supplied-ca",
         "-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt"))
    ssl_("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=cloudcore", "-keyout", str(d / "server.key"),
         "-out", str(d / "server.csr"))
    (d / "san.cnf").write_text("subjectAltName=IP:%s,IP:127.0.0.1\n" % address, encoding="utf-8")
    ssl_("x509", "-req", "-in", str(d / "server.csr"), "-CA", str(d / "ca.crt"), "-CAkey", str(d / "ca.key"),
         "-CAcreateserial", "-days", "30", "-extfile", str(d / "san.cnf"), "-out", str(d / "server.crt"))
    return dict(cloudcore_tls_ca_cert_src=str(d / "ca.crt"), cloudcore_tls_ca_key_src=str(d / "ca.key"),
                cloudcore_tls_cert_src=str(d / "server.crt"), cloudcore_tls_key_src=str(d / "server.key"))


def _key_material(*paths):
    """Stretches of the base64 body of PEM key files: none may appear in any output."""
    needles = []
    for path in paths:
        body = "".join(line for line in Path(path).read_text(encoding="utf-8").splitlines()
                       if not line.startswith("-----"))
        needles += [body[40:104], body[-80:-16]]
    return needles


def _cloudcore_server_secret(ips, dns=()):
    """Secret cloudcoresecret's data as a CloudCore that advertised ``ips`` (and ``dns``) leaves it:
    a self-signed EC certificate (DER, key in SEC1 DER) naming them."""
    import datetime
    import ipaddress
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "KubeEdge")])
    now = datetime.datetime.now(datetime.timezone.utc)
    sans = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips] + [x509.DNSName(d) for d in dns]
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False).sign(key, hashes.SHA256()))
    return {"cloudcoredata": cert.public_bytes(serialization.Encoding.DER),
            "cloudcorekeydata": key.private_bytes(serialization.Encoding.DER,
                                                  serialization.PrivateFormat.TraditionalOpenSSL,
                                                  serialization.NoEncryption())}


@pytest.fixture(scope="session")
def supplied_tls():
    """make(directory, address) -> cloudcore_tls_*_src variables; key_material(*paths) -> needles;
    server_secret(ips, dns=()) -> the data of a Secret cloudcoresecret naming those addresses."""
    return types.SimpleNamespace(make=_supplied_tls, key_material=_key_material, server_secret=_cloudcore_server_secret)


class AnsibleResult:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def __repr__(self):
        return "AnsibleResult(rc=%s)\n%s\n%s" % (self.rc, self.stdout[-4000:], self.stderr[-2000:])

    def changed_on(self, host):
        """The changed= count of ``host`` in the last PLAY RECAP."""
        recap = [line for line in self.stdout.splitlines() if line.startswith(host) and "changed=" in line][-1]
        return int(re.search(r"changed=(\d+)", recap).group(1))


def _run(cmd, env=None):
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env.setdefault("ANSIBLE_NOCOLOR", "1")
    full_env.setdefault("ANSIBLE_RETRY_FILES_ENABLED", "0")
    return AnsibleResult(subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False,
                                        text=True, env=full_env, cwd=str(REPO)))


@pytest.fixture
def run_module():
    """Run one module on localhost through ansible; return (rc, result dict).

    The JSON callback gives the module's real return value, so tests assert on
    data rather than on printed text.
    """
    def runner(module, args, check=False, diff=False, extra_env=None):
        cmd = ["ansible", "localhost", "-c", "local", "-m", module, "-a", json.dumps(args)]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        env = {"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
               "ANSIBLE_LOCALHOST_WARNING": "0", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0"}
        env.update(extra_env or {})
        res = _run(cmd, env)
        try:
            data = json.loads(res.stdout)
            result = data["plays"][0]["tasks"][0]["hosts"]["localhost"]
        except (ValueError, KeyError, IndexError):
            raise AssertionError("unparseable ansible output: %r" % res)
        return res.rc, result
    return runner


@pytest.fixture
def run_playbook():
    """Run a playbook; return AnsibleResult (rc, stdout, stderr)."""
    def runner(playbook, inventory="localhost,", extra_vars=None, check=False, env=None, verbosity=0):
        cmd = ["ansible-playbook", "-i", inventory, str(playbook)]
        if extra_vars:
            cmd += ["-e", json.dumps(extra_vars)]
        if check:
            cmd.append("--check")
        if verbosity:
            cmd.append("-" + "v" * verbosity)
        return _run(cmd, env)
    return runner


# ---------------------------------------------------------------------------
# Real systemd hosts (the Molecule images) for role tests outside Molecule.
SYSTEMD_RUN_ARGS = [
    "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", "--cap-add", "NET_RAW", "--cap-add", "SYS_PTRACE",
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--cgroupns", "host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
]


class SystemdHost:
    """A running systemd container reachable with the community.docker connection."""

    def __init__(self, name):
        self.name = name

    def sh(self, script, check=True):
        proc = subprocess.run(["docker", "exec", self.name, "sh", "-c", script],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)
        if check and proc.returncode != 0:
            raise AssertionError("%s: %s failed: %s" % (self.name, script, proc.stderr))
        return proc

    def changed_since_marker(self, roots=("/etc", "/usr/local", "/opt", "/var/lib/containerd", "/var/lib/docker")):
        """Files under roots modified after mark() was called."""
        out = self.sh("find %s -xdev -newer /run/edge-marker 2>/dev/null || true" % " ".join(roots)).stdout
        return sorted(line for line in out.splitlines() if line)

    def mark(self):
        self.sh("touch /run/edge-marker && sleep 1")


@pytest.fixture(scope="module")
def systemd_host(request):
    """One systemd container (bookworm) for the module's tests."""
    subprocess.run([str(TESTBED / "images.sh"), "bookworm"], check=True, stdout=subprocess.DEVNULL)
    name = "edge-pytest-%s" % os.urandom(3).hex()
    subprocess.run(["docker", "run", "-d", "--name", name, "--hostname", name] + SYSTEMD_RUN_ARGS
                   + ["edge-cluster/systemd-debian:bookworm", "/lib/systemd/systemd"],
                   check=True, stdout=subprocess.DEVNULL)
    host = SystemdHost(name)
    host.sh("for i in $(seq 1 60); do s=$(systemctl is-system-running 2>/dev/null); "
            "case $s in running|degraded) exit 0;; esac; sleep 1; done; exit 1")
    yield host
    subprocess.run(["docker", "rm", "-f", "-v", name], check=False, stdout=subprocess.DEVNULL)


# ---- secrets to look for in output and logs ----------------------------------
def _token_of(core):
    """The KubeEdge join token of kubeedge/tokensecret (core: a CoreV1Api)."""
    data = core.read_namespaced_secret("tokensecret", "kubeedge").data["tokendata"]
    return base64.b64decode(data).decode()


def _token_needles(token):
    """The whole token, its JWT, and the JWT's signature: none may appear anywhere."""
    jwt = token.split(".", 1)[1]
    return [token, jwt, jwt.rsplit(".", 1)[1]]


def _kubeconfig_needles(path):
    """Credentials of a kubeconfig: the base64 fields and the decoded key/token."""
    cfg = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    needles = []
    for user in cfg.get("users", []):
        u = user.get("user") or {}
        for field in ("client-key-data", "token", "password"):
            if u.get(field):
                needles.append(u[field])
        if u.get("client-key-data"):
            pem = base64.b64decode(u["client-key-data"]).decode()
            body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
            needles.append(body[20:84])  # a stretch of the key material itself
    assert needles, "the kubeconfig %s has no credentials to look for" % path
    return needles


@pytest.fixture(scope="session")
def secret_needles():
    """Helpers that list the secrets a run must never print: token_of(core),
    token_needles(token), kubeconfig_needles(path)."""
    return types.SimpleNamespace(token_of=_token_of, token_needles=_token_needles,
                                 kubeconfig_needles=_kubeconfig_needles)
