"""Fixtures of the reliability suite: the cloud side behind TCP forwarders we
control, real systemd edge hosts (``edge-rel-*``) and a streaming playbook runner.

The cloudcore double and the kube-apiserver of the test bed are shared with
other tests, so they are never stopped here: "CloudCore down" and
"kube-apiserver restarted" are faults of forwarders that sit between the
play/edge hosts and the shared services (closing the listening port and
aborting every open connection, which is what a client sees when the
process restarts). test_faults.py also restarts the real kube-apiserver
process once (controlplane.sh restart-apiserver, a few seconds; etcd keeps the
data): that test is in the lane "alone" (tests/conftest.py), which runs when no
other test does.
"""

import asyncio
import importlib.util
import json
import os
import signal
import subprocess
import threading
import time
import types
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
TESTBED = REPO / "tests" / "testbed"
EDGE_PLAYBOOK = REPO / "playbooks" / "edge.yml"
KUBEEDGE_VERSION = "v1.13.1"  # the smallest version of the test double
PREFIX = "edge-rel-"


def _base_conftest():
    """tests/conftest.py (its container settings), loaded by path: pytest imports
    conftests with --import-mode=importlib, so it is not importable by name."""
    spec = importlib.util.spec_from_file_location("_edge_rel_base_conftest", REPO / "tests" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_BASE = _base_conftest()
SYSTEMD_RUN_ARGS = _BASE.SYSTEMD_RUN_ARGS
SystemdHost = _BASE.SystemdHost
# An edge node runs a container runtime (molecule/shared/vars/platforms.yml,
# profile edge-node): every capability but SYS_RESOURCE, /dev/kmsg, real
# volumes for the runtimes' state, and systemd's own stop signal.
EDGE_NODE_RUN_ARGS = [
    "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--cgroupns", "host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "-v", "/var/lib/containerd", "-v", "/var/lib/docker",
    "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
    "--device", "/dev/kmsg:/dev/kmsg", "--stop-signal", "SIGRTMIN+3",
]


def docker0_ip():
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", "docker0"],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    return out.split()[3].split("/")[0]


# ---------------------------------------------------------------------------
# A TCP forwarder whose "service" can be taken down and brought back.
class Forwarder:
    """listen_host:port -> target_host:target_port, in a background asyncio loop.

    down() closes the listening socket and aborts every forwarded connection
    (clients get "connection refused" / a reset, as when the service restarts);
    up() listens again on the same port.
    """

    def __init__(self, listen_host, target_host, target_port):
        self.listen_host = listen_host
        self.target = (target_host, target_port)
        self.port = None
        self.connections = 0
        self._server = None
        self._writers = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    async def _pipe(self, reader, writer):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            try:
                writer.close()
            except (ConnectionError, OSError, RuntimeError):
                pass

    async def _handle(self, client_reader, client_writer):
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        self.connections += 1
        pair = (client_writer, up_writer)
        self._writers.update(pair)
        try:
            await asyncio.gather(self._pipe(client_reader, up_writer), self._pipe(up_reader, client_writer))
        finally:
            self._writers.difference_update(pair)

    async def _up(self):
        self._server = await asyncio.start_server(self._handle, self.listen_host, self.port or 0,
                                                  reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _down(self):
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def up(self):
        if self._server is None:
            self._call(self._up())
        return self

    def down(self):
        self._call(self._down())
        return self

    @property
    def is_up(self):
        return self._server is not None

    def close(self):
        self.down()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


# ---------------------------------------------------------------------------
def cloudcore_double_env(attempts=3):
    """Start (or reuse) the shared cloudcore double and read its settings; other
    test runs may stop it in between (their teardown), so try again."""
    for attempt in range(attempts):
        subprocess.run([str(TESTBED / "cloudcore-double.sh"), "start"], check=True, stdout=subprocess.DEVNULL)
        proc = subprocess.run([str(TESTBED / "cloudcore-double.sh"), "env"], stdout=subprocess.PIPE, text=True,
                              check=attempt == attempts - 1)
        if proc.returncode == 0:
            return proc.stdout
        time.sleep(2)
    return ""


class EdgeLab:
    """The cloud side as the edge hosts and the play see it in these tests."""

    def __init__(self, kubeconfig, workdir):
        self.admin_kubeconfig = kubeconfig
        self.workdir = workdir
        (workdir / "artifacts").mkdir()
        self.art_root = subprocess.run([str(REPO / "tests" / "double" / "package.sh"), KUBEEDGE_VERSION],
                                       check=True, stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()[-1]
        # A private copy, taken under package.sh's lock: other tests may rebuild
        # the shared artifacts (when the doubles change) while ours run.
        self.art_dir = str(workdir / "artifacts" / KUBEEDGE_VERSION)
        subprocess.run(["flock", "%s/.lock" % self.art_root, "cp", "-a", "%s/%s" % (self.art_root, KUBEEDGE_VERSION),
                        self.art_dir], check=True)
        self.art_url = subprocess.run([str(TESTBED / "artifacts-server.sh"), "start"], check=True,
                                      stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()[-1]
        env = cloudcore_double_env()
        cc = dict(line.replace("export ", "", 1).split("=", 1) for line in env.splitlines() if "=" in line)
        self.cloud_address = cc["CLOUDCORE_ADDRESS"]
        hub_port = int(cc["CLOUDCORE_IPPORT"].rsplit(":", 1)[1])
        cert_port = int(cc["CLOUDCORE_CERTPORT"])
        # CloudCore's certificate names the address, not the port: forwarders on
        # the same address keep TLS valid.
        self.hub = Forwarder(self.cloud_address, self.cloud_address, hub_port).up()
        self.certs = Forwarder(self.cloud_address, self.cloud_address, cert_port).up()
        cfg = yaml.safe_load(Path(kubeconfig).read_text(encoding="utf-8"))
        server = cfg["clusters"][0]["cluster"]["server"]
        api_host, api_port = server.split("://", 1)[1].rsplit(":", 1)
        self.api = Forwarder(api_host, api_host, int(api_port)).up()
        for cluster in cfg["clusters"]:
            cluster["cluster"]["server"] = "https://%s:%d" % (api_host, self.api.port)
        self.kubeconfig = str(workdir / "proxied.kubeconfig")
        fd = os.open(self.kubeconfig, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            yaml.safe_dump(cfg, out)

    def cloud_down(self):
        self.hub.down()
        self.certs.down()

    def cloud_up(self):
        self.hub.up()
        self.certs.up()

    def image_archives(self):
        return [{"archive": "installation-package-%s.tar" % KUBEEDGE_VERSION,
                 "image": "docker.io/kubeedge/installation-package:%s" % KUBEEDGE_VERSION},
                {"archive": "pause-3.6.tar", "image": "registry.k8s.io/pause:3.6"},
                {"archive": "eclipse-mosquitto-1.6.15.tar", "image": "docker.io/library/eclipse-mosquitto:1.6.15"}]

    def edge_vars(self, **extra):
        """Group vars of a keadm join (containerd, offline artifacts) through the forwarders."""
        data = {
            "edgenode_kubeedge_version": KUBEEDGE_VERSION,
            "edgenode_cloudcore_address": self.cloud_address,
            # The test bed's cluster is shared by several CloudCores: kubeedge/cloudcoresecret names
            # whichever started last, not necessarily the one these hosts join (test_edgenode_preflight
            # checks the certificate on its own).
            "edgenode_server_cert_check": False,
            "edgenode_cloudhub_port": self.hub.port,
            "edgenode_cert_port": self.certs.port,
            "edgenode_cloud_host": "localhost",
            "edgenode_kubeconfig": self.kubeconfig,
            "edgenode_keadm_install_method": "artifacts",
            "edgenode_artifacts_dir": self.art_dir,
            "edgenode_image_archives": self.image_archives(),
            "edgenode_containerd_restrict_oom_score_adj": True,
            "edgenode_firewall": "none",
            "edgenode_preflight_connect_timeout": 3,
            "edgenode_verify_timeout": 90,
            "edgenode_labels": {"edge.cluster/test": "reliability"},
        }
        data.update(extra)
        return data

    def close(self):
        for fwd in (self.hub, self.certs, self.api):
            fwd.close()


@pytest.fixture(scope="session")
def edge_lab(kubeconfig, tmp_path_factory):
    lab = EdgeLab(kubeconfig, tmp_path_factory.mktemp("edge-rel"))
    yield lab
    lab.close()


# ---------------------------------------------------------------------------
class EdgeHosts:
    """Real systemd containers named edge-rel-<tag>-<n>; their Nodes are deleted at the end."""

    def __init__(self, api_client):
        self.api_client = api_client
        self.tag = os.urandom(3).hex()
        self.hosts = []

    def start(self, count, image="bookworm"):
        subprocess.run([str(TESTBED / "images.sh"), image], check=True, stdout=subprocess.DEVNULL)
        new = []
        for dummy in range(count):
            name = "%s%s-%d" % (PREFIX, self.tag, len(self.hosts) + 1)
            subprocess.run(["docker", "run", "-d", "--name", name, "--hostname", name] + EDGE_NODE_RUN_ARGS
                           + ["edge-cluster/systemd-debian:%s" % image, "/lib/systemd/systemd"],
                           check=True, stdout=subprocess.DEVNULL)
            host = SystemdHost(name)
            self.hosts.append(host)
            new.append(host)
        for host in new:
            wait_systemd(host)
        return new

    def cleanup(self):
        from kubernetes import client
        core = client.CoreV1Api(self.api_client)
        for host in self.hosts:
            subprocess.run(["docker", "rm", "-f", "-v", host.name], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                core.delete_node(host.name)
            except client.ApiException:
                pass


def wait_systemd(host, timeout=240):
    """Wait for systemd, then make /proc/sys writable like molecule/shared/prepare.yml
    does (docker mounts it read-only; a real host has it read-write). Again after
    every docker start/restart."""
    host.sh("for i in $(seq 1 %d); do s=$(systemctl is-system-running 2>/dev/null); "
            "case $s in running|degraded) break;; esac; sleep 1; done; "
            "s=$(systemctl is-system-running 2>/dev/null); "
            "case $s in running|degraded) ;; *) echo \"systemd is $s after %d s\" >&2; exit 1;; esac; "
            "findmnt -no OPTIONS /proc/sys | grep -q '^ro' && mount -o remount,rw /proc/sys; true" % (timeout, timeout))


@pytest.fixture(scope="module")
def edge_hosts(api_client):
    pool = EdgeHosts(api_client)
    yield pool
    pool.cleanup()


# ---------------------------------------------------------------------------
class PlayRun:
    def __init__(self, rc, output, seconds):
        self.rc = rc
        self.output = output
        self.seconds = seconds

    def recap(self):
        """{host: {ok: n, changed: n, unreachable: n, failed: n, ...}} from PLAY RECAP."""
        stats = {}
        lines = self.output.split("PLAY RECAP", 1)[-1].splitlines()
        for line in lines[1:]:
            if ":" not in line or "=" not in line:
                continue
            host, rest = line.split(":", 1)
            stats[host.strip()] = dict((k, int(v)) for k, v in (p.split("=") for p in rest.split()))
        return stats

    def summary(self):
        """The joined/failed lists the last play of edge.yml prints."""
        marker = '"msg": {'
        idx = self.output.rfind("Edge | Report joined and failed nodes")
        assert idx >= 0, "no summary in the output:\n%s" % self.output[-3000:]
        start = self.output.index(marker, idx) + len(marker) - 1
        depth = 0
        for pos in range(start, len(self.output)):
            depth += {"{": 1, "}": -1}.get(self.output[pos], 0)
            if depth == 0:
                return json.loads(self.output[start:pos + 1])
        raise AssertionError("unterminated summary")

    def __repr__(self):
        errors = [ln for ln in self.output.splitlines() if ln.startswith(("fatal:", "[ERROR]", "failed:"))]
        return "PlayRun(rc=%s, %.0f s)\n%s\n...\n%s" % (self.rc, self.seconds, "\n".join(errors)[-6000:],
                                                        self.output[-2500:])


def write_inventory(path, hosts, group_vars, host_vars=None):
    inv = {"all": {"children": {"edge": {
        "hosts": dict((h.name, dict((host_vars or {}).get(h.name, {}))) for h in hosts),
        "vars": group_vars}}}}
    path.write_text(yaml.safe_dump(inv), encoding="utf-8")
    return path


def play(inventory, playbook=EDGE_PLAYBOOK, extra_vars=None, verbosity=0, on_line=None, limit=None,
         env=None, timeout=900, interrupt_on=None, interrupt_after=0.5):
    """ansible-playbook with the docker connection; on_line(line) sees the output as it comes.

    interrupt_on: when a line contains this text, SIGINT goes to the whole run interrupt_after
    seconds later, as Ctrl-C in the operator's terminal sends it (ansible-playbook, its workers and
    their connections: the run has a process group of its own)."""
    cmd = ["ansible-playbook", "-i", str(inventory), str(playbook)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    if limit:
        cmd += ["--limit", limit]
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    full_env = dict(os.environ, ANSIBLE_TRANSPORT="community.docker.docker", ANSIBLE_NOCOLOR="1",
                    ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_FORCE_COLOR="0", PYTHONUNBUFFERED="1")
    full_env.update(env or {})
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=full_env,
                            cwd=str(REPO), bufsize=1, start_new_session=interrupt_on is not None)
    lines = []
    interrupted = False
    for line in proc.stdout:
        lines.append(line)
        if on_line is not None:
            on_line(line)
        if interrupt_on is not None and not interrupted and interrupt_on in line:
            interrupted = True
            threading.Timer(interrupt_after, os.killpg, (proc.pid, signal.SIGINT)).start()
        if time.monotonic() - start > timeout:
            proc.kill()
            break
    proc.wait()
    if os.environ.get("EDGE_REL_LOG_DIR"):  # debugging aid: keep every run's output
        log = Path(os.environ["EDGE_REL_LOG_DIR"]) / ("%s-%s.log" % (Path(str(inventory)).stem, int(time.time())))
        log.write_text("".join(lines), encoding="utf-8")
    return PlayRun(proc.returncode, "".join(lines), time.monotonic() - start)


def node_ready(core, name):
    """None when Node `name` does not exist, else whether its Ready condition is True."""
    from kubernetes import client
    try:
        node = core.read_node(name)
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])


@pytest.fixture(scope="session")
def rel():
    """The helpers above for the test modules (conftest is not importable by name)."""
    return types.SimpleNamespace(play=play, write_inventory=write_inventory, wait_systemd=wait_systemd,
                                 node_ready=node_ready,
                                 Forwarder=Forwarder, docker0_ip=docker0_ip, SystemdHost=SystemdHost,
                                 SYSTEMD_RUN_ARGS=SYSTEMD_RUN_ARGS, KUBEEDGE_VERSION=KUBEEDGE_VERSION,
                                 REPO=REPO, TESTBED=TESTBED)
