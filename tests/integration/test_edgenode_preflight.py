"""Bad input for the edgenode role: each case fails with a message that names
the bad value and the fix, before anything on the (real systemd) host changes."""

import base64
import hashlib
import hmac
import json
import os
import re
import socket
import subprocess
import tarfile
import threading
import time
from pathlib import Path

import pytest
import yaml

PLAYBOOK = Path(__file__).parent / "playbooks" / "edgenode.yml"
REPO = Path(__file__).resolve().parents[2]


def make_token(exp_offset=3600):
    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps({"exp": int(time.time()) + exp_offset}).encode())
    sig = b64(hmac.new(b"k", ("%s.%s" % (header, payload)).encode(), hashlib.sha256).digest())
    return "%s.%s.%s.%s" % ("ab" * 32, header, payload, sig)


def docker0_ip():
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", "docker0"],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    return out.split()[3].split("/")[0]


@pytest.fixture(scope="module")
def listeners():
    """Two TCP ports on the docker0 address standing in for cloudhub/certport reachability."""
    socks = []
    for dummy in range(2):
        s = socket.socket()
        s.bind((docker0_ip(), 0))
        s.listen(16)
        socks.append(s)
    stop = threading.Event()

    def accept(sock):
        sock.settimeout(0.5)
        while not stop.is_set():
            try:
                conn, dummy = sock.accept()
                conn.close()
            except OSError:
                pass
    threads = [threading.Thread(target=accept, args=(s,), daemon=True) for s in socks]
    for t in threads:
        t.start()
    yield docker0_ip(), socks[0].getsockname()[1], socks[1].getsockname()[1]
    stop.set()
    for s in socks:
        s.close()


@pytest.fixture
def good_vars(listeners):
    address, hub, cert = listeners
    return {
        # The test bed's Kubernetes 1.20 runs KubeEdge up to 1.18; its artifacts are v1.13.1's.
        "edgenode_kubeedge_version": "v1.13.1",
        "edgenode_cloudcore_address": address,
        "edgenode_cloudhub_port": hub,
        "edgenode_cert_port": cert,
        "edgenode_token": make_token(),
        "edgenode_node_name": "edge-good-1",
        "edgenode_verify": False,
        # kubeedge/cloudcoresecret of the shared test bed names other CloudCores: checked on its own below
        "edgenode_server_cert_check": False,
    }


def run_role(run_playbook, host, extra):
    return run_playbook(PLAYBOOK, inventory="%s," % host.name, extra_vars=extra,
                        env={"ANSIBLE_TRANSPORT": "community.docker.docker"})


CASES = [
    ("bad node name", {"edgenode_node_name": "Edge_Node_1"}, ["Edge_Node_1", "RFC 1123"]),
    ("node name too long", {"edgenode_node_name": "a" * 254}, ["not a valid Kubernetes node name"]),
    ("unsupported version", {"edgenode_kubeedge_version": "v1.9.0"}, ["v1.9.0", "not supported"]),
    ("version without v", {"edgenode_kubeedge_version": "1.13.1"}, ["'1.13.1'", "vX.Y.Z"]),
    ("docker without cri-dockerd", {"edgenode_container_runtime": "docker", "edgenode_kubeedge_version": "v1.14.2"},
     ["dockershim", "edgenode_cri_dockerd_endpoint"]),
    ("unknown runtime", {"edgenode_container_runtime": "podman"}, ["edgenode_container_runtime", "podman"]),
    ("bad cgroup driver", {"edgenode_cgroup_driver": "cgroupv3"}, ["edgenode_cgroup_driver", "cgroupv3"]),
    ("no cloud address", {"edgenode_cloudcore_address": ""}, ["edgenode_cloudcore_address"]),
    ("token without hash", {"edgenode_token": "abc.def.ghi"}, ["token is malformed", "64 hex"]),
    ("token short hash", {"edgenode_token": "ab" * 31 + "." + make_token().split(".", 1)[1]}, ["token is malformed"]),
    ("token two-part jwt", {"edgenode_token": "ab" * 32 + ".eyJh.eyJi"}, ["token is malformed"]),
    ("cloud unreachable", {"edgenode_cloudhub_port": 1}, ["not reachable", "port(s) 1."]),
    ("bad hub protocol", {"edgenode_hub_protocol": "http"}, ["edgenode_hub_protocol", "http"]),
    ("systemd cgroups with keadm 1.13.1 on containerd", {"edgenode_cgroup_driver": "systemd"},
     ["v1.13.1 cannot join a containerd host with the systemd cgroup driver", "edgenode_cgroup_driver=cgroupfs"]),
    ("less free space than the images need", {"edgenode_min_free_mb": 100000000},
     ["MiB free at", "(for /var/lib/containerd), less than edgenode_min_free_mb=100000000"]),
]


@pytest.mark.parametrize("case,override,needles", CASES, ids=[c[0] for c in CASES])
def test_bad_input_fails_before_any_change(run_playbook, systemd_host, good_vars, case, override, needles):
    extra = dict(good_vars, **override)
    systemd_host.mark()
    res = run_role(run_playbook, systemd_host, extra)
    assert res.rc != 0, res
    out = res.stdout + res.stderr
    for needle in needles:
        assert needle in out, "%s: %r not in output\n%s" % (case, needle, out[-3000:])
    assert systemd_host.changed_since_marker() == [], case
    if "token" in case:
        assert extra["edgenode_token"] not in out


def test_leftovers_of_an_earlier_join_are_refused(run_playbook, systemd_host, good_vars):
    systemd_host.sh("mkdir -p /etc/kubeedge/config && echo 'modules: {}' > /etc/kubeedge/config/edgecore.yaml")
    try:
        systemd_host.mark()
        res = run_role(run_playbook, systemd_host, good_vars)
        assert res.rc != 0, res
        assert "leftovers of an earlier KubeEdge join" in res.stdout
        assert "/etc/kubeedge" in res.stdout and "edgenode_join_force=true" in res.stdout
        assert systemd_host.changed_since_marker() == []
    finally:
        systemd_host.sh("rm -rf /etc/kubeedge")


def _fake_release(directory, version, arch="amd64", checksum=None):
    top = "keadm-%s-linux-%s" % (version, arch)
    src = directory / "src" / top / "keadm"
    src.mkdir(parents=True)
    (src / "keadm").write_text("#!/bin/sh\necho fake\n")
    archive = directory / ("%s.tar.gz" % top)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(directory / "src" / top, arcname=top)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    (directory / ("checksum_%s.tar.gz.txt" % top)).write_text((checksum or digest) + "\n")
    return archive


def test_wrong_artifact_checksum_installs_nothing(run_playbook, systemd_host, good_vars, tmp_path):
    _fake_release(tmp_path, "v1.13.1", checksum="0" * 64)
    extra = dict(good_vars, edgenode_keadm_install_method="artifacts", edgenode_artifacts_dir=str(tmp_path),
                 edgenode_manage_runtime=False, edgenode_firewall="none", edgenode_manage_nsswitch=False,
                 edgenode_ip_forward=False)
    systemd_host.mark()
    res = run_role(run_playbook, systemd_host, extra)
    assert res.rc != 0, res
    assert "does not match its checksum " + "0" * 64 in res.stdout
    assert "nothing was installed" in res.stdout
    assert systemd_host.sh("test -e /usr/local/bin/keadm", check=False).returncode != 0
    assert systemd_host.changed_since_marker() == []


def test_url_method_without_checksum_is_refused(run_playbook, systemd_host, good_vars):
    extra = dict(good_vars, edgenode_manage_runtime=False, edgenode_firewall="none", edgenode_manage_nsswitch=False,
                 edgenode_ip_forward=False)
    systemd_host.mark()
    res = run_role(run_playbook, systemd_host, extra)
    assert res.rc != 0, res
    assert "keadm_checksum" in res.stdout and "nothing is installed unchecked" in res.stdout
    assert systemd_host.changed_since_marker() == []


def test_empty_management_directory_is_not_a_leftover(run_playbook, systemd_host, good_vars):
    """A real `keadm reset` (<= v1.19) empties /etc/kubeedge and keeps it; keadm accepts that."""
    systemd_host.sh("mkdir -p /etc/kubeedge")
    try:
        # A download source on this machine that refuses: preflight must pass, and the
        # run stop at keadm's download, the first step after it.
        extra = dict(good_vars, edgenode_manage_runtime=False, edgenode_firewall="none",
                     edgenode_manage_nsswitch=False, edgenode_ip_forward=False,
                     edgenode_release_base_url="http://127.0.0.1:1", edgenode_keadm_checksum="release")
        res = run_role(run_playbook, systemd_host, extra)
        assert res.rc != 0, res
        assert "has leftovers of an earlier KubeEdge join" not in res.stdout
        assert "Keadm | Download the release archive" in res.stdout, res
        assert "127.0.0.1:1" in res.stdout.split("Keadm | Download the release archive", 1)[1], res
    finally:
        systemd_host.sh("rm -rf /etc/kubeedge")


def test_dpkg_lock_held_is_waited_for_then_named(run_playbook, systemd_host, good_vars):
    """unattended-upgrades holds dpkg's lock with fcntl, as this stand-in does: preflight waits
    edgenode_dpkg_lock_timeout seconds, then names the holder; nothing changes."""
    holder = systemd_host.sh(
        "nohup python3 -c \"import fcntl, time; f = open('/var/lib/dpkg/lock-frontend', 'w'); "
        "fcntl.lockf(f, fcntl.LOCK_EX); time.sleep(300)\" >/dev/null 2>&1 & echo $!").stdout.strip()
    try:
        systemd_host.sh("for i in $(seq 1 50); do grep -q ' %s ' /proc/locks && exit 0; sleep 0.1; done; exit 1"
                        % holder)
        systemd_host.mark()
        res = run_role(run_playbook, systemd_host, dict(good_vars, edgenode_dpkg_lock_timeout=3))
        assert res.rc != 0, res
        assert re.search(r"dpkg's lock on \S+ is still held after [3-9][.0-9]* s by python3 pid %s" % holder,
                         res.stdout), res.stdout[-3000:]
        assert "edgenode_dpkg_lock_timeout" in res.stdout
        assert systemd_host.changed_since_marker() == []
    finally:
        systemd_host.sh("kill %s" % holder, check=False)


@pytest.mark.parametrize("version,running,refused", [
    ("v1.13.1", ["kubelet"], ["kubelet"]),
    ("v1.13.1", ["kube-proxy"], ["kube-proxy"]),
    ("v1.13.1", ["kubelet", "kube-proxy"], ["kubelet", "kube-proxy"]),
    ("v1.19.2", ["kube-proxy"], []),  # edgecore checks only for kubelet from v1.19
])
def test_a_kubelet_or_kube_proxy_on_the_host_is_refused(run_playbook, systemd_host, good_vars, version, running,
                                                        refused):
    """edgecore exits at start beside them (the edgecore double does the same): preflight names them and
    their PIDs; nothing changes."""
    pids = [systemd_host.sh("cp /bin/sleep /usr/local/sbin/%s && (nohup /usr/local/sbin/%s 300 >/dev/null 2>&1 & "
                            "echo $!)" % (name, name)).stdout.strip() for name in running]
    try:
        systemd_host.mark()
        # Nothing to download from but a source on this machine that refuses: a run that passes
        # the preflight stops at keadm's download, the first step after it.
        res = run_role(run_playbook, systemd_host, dict(
            good_vars, edgenode_kubeedge_version=version, edgenode_manage_runtime=False, edgenode_firewall="none",
            edgenode_manage_nsswitch=False, edgenode_ip_forward=False, edgenode_release_base_url="http://127.0.0.1:1",
            edgenode_keadm_checksum="release"))
        if refused:
            assert res.rc != 0, res
            assert "%s running on %s (pid %s): edgecore %s exits at start" % (
                " and ".join(refused), systemd_host.name, ", ".join(pids), version) in " ".join(res.stdout.split()), \
                res.stdout[-3000:]
            assert systemd_host.changed_since_marker() == []
        else:
            assert "running on %s (pid" % systemd_host.name not in res.stdout, res.stdout[-3000:]
            assert "Keadm | Download the release archive" in res.stdout, res.stdout[-3000:]
    finally:
        systemd_host.sh("kill %s; rm -f %s" % (" ".join(pids), " ".join("/usr/local/sbin/" + n for n in running)),
                        check=False)


def test_clock_skew_is_refused(run_playbook, systemd_host, good_vars):
    """The host's clock runs 10 minutes behind (libfaketime for the modules): refused, nothing changes."""
    systemd_host.sh("test -e /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 || (apt-get update -qq && "
                    "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libfaketime >/dev/null)")
    systemd_host.mark()
    env = {"LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1", "FAKETIME": "-10m"}
    res = run_role(run_playbook, systemd_host, dict(good_vars, edgenode_test_environment=env))
    assert res.rc != 0, res
    assert re.search(r"The clock of \S+ is (59\d|6\d\d) s\s+behind the controller's \(at most\s+60 s, "
                     r"edgenode_max_clock_skew\)", res.stdout), res.stdout[-3000:]
    assert systemd_host.changed_since_marker() == []


# ---- the cluster side of the preflight: read once per play from the cloud host ----
def _labels(api_client, name):
    """The Node's labels (its resourceVersion moves with the node controller's own updates)."""
    from kubernetes import client
    return client.CoreV1Api(api_client).read_node(name).metadata.labels


def test_node_name_of_a_cloud_node_is_refused(run_playbook, systemd_host, good_vars, nodes, api_client):
    taken = nodes({"node-role.kubernetes.io/control-plane": ""})
    labels = _labels(api_client, taken)
    systemd_host.mark()
    res = run_role(run_playbook, systemd_host, dict(good_vars, edgenode_node_name=taken))
    assert res.rc != 0, res
    assert "Node %s already exists in the cluster and is not an edge node (labels:" % taken in res.stdout
    assert "node-role.kubernetes.io/control-plane" in res.stdout and "Set edgenode_node_name" in res.stdout
    assert systemd_host.changed_since_marker() == []
    assert _labels(api_client, taken) == labels


def test_node_name_connected_from_another_machine_is_refused(run_playbook, systemd_host, good_vars, nodes,
                                                             api_client):
    taken = nodes({"node-role.kubernetes.io/edge": ""}, ready=True, internal_ip="192.0.2.99")
    labels = _labels(api_client, taken)
    systemd_host.mark()
    res = run_role(run_playbook, systemd_host, dict(good_vars, edgenode_node_name=taken))
    assert res.rc != 0, res
    assert re.search(r"Edge Node %s is Ready with address 192\.0\.2\.99, which is not an address of" % taken,
                     res.stdout), res.stdout[-3000:]
    assert systemd_host.changed_since_marker() == []
    assert _labels(api_client, taken) == labels


def test_certificate_without_the_cloudcore_address_is_refused(run_playbook, systemd_host, good_vars, namespace,
                                                              api_client, tmp_path):
    """CloudCore's certificate names 192.0.2.10 only; the hosts would connect to another address."""
    from kubernetes import client
    key, crt = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=cloudcore",
                    "-addext", "subjectAltName=IP:192.0.2.10", "-keyout", str(key), "-out", str(crt)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    der = subprocess.run(["openssl", "x509", "-in", str(crt), "-outform", "DER"], check=True,
                         stdout=subprocess.PIPE).stdout
    client.CoreV1Api(api_client).create_namespaced_secret(namespace, {
        "metadata": {"name": "cloudcoresecret"}, "data": {"cloudcoredata": base64.b64encode(der).decode()}})
    systemd_host.mark()
    extra = dict(good_vars, edgenode_cloudcore_namespace=namespace, edgenode_server_cert_check=True)
    res = run_role(run_playbook, systemd_host, extra)
    assert res.rc != 0, res
    assert ("names 192.0.2.10 but not %s (edgenode_cloudcore_address)" % good_vars["edgenode_cloudcore_address"]
            in res.stdout), res.stdout[-3000:]
    assert "cloudcore_advertise_address" in res.stdout
    assert systemd_host.changed_since_marker() == []


def test_kubeconfig_of_another_cluster_is_refused(run_playbook, systemd_host, good_vars):
    systemd_host.mark()
    res = run_role(run_playbook, systemd_host,
                   dict(good_vars, edgenode_expected_cluster_uid="00000000-0000-0000-0000-000000000000"))
    assert res.rc != 0, res
    assert re.search(r"reaches the cluster whose kube-system namespace has UID [0-9a-f-]{36}, not "
                     r"00000000-0000-0000-0000-000000000000", res.stdout), res.stdout[-3000:]
    assert systemd_host.changed_since_marker() == []


def test_a_second_run_on_the_host_stops_before_any_change(run_playbook, systemd_host, good_vars, tmp_path):
    """Another controller's run holds the host's lock (written as run_lock writes it): refused, nothing
    changes, the lock stays; a lock of an ansible-playbook of this controller that is gone is taken over."""
    record = {"controller": "awx-node-2", "pid": 4711, "epoch": time.time() - 20, "since": "2026-12-02T04:00:00Z"}
    systemd_host.sh("mkdir -p /run/edge-cluster && printf '%%s' '%s' > /run/edge-cluster/edgenode.lock"
                    % json.dumps(record))
    _fake_release(tmp_path, "v1.13.1", checksum="0" * 64)
    offline = dict(good_vars, edgenode_keadm_install_method="artifacts", edgenode_artifacts_dir=str(tmp_path),
                   edgenode_manage_runtime=False, edgenode_firewall="none", edgenode_manage_nsswitch=False,
                   edgenode_ip_forward=False)
    try:
        systemd_host.mark()
        res = run_role(run_playbook, systemd_host, offline)
        assert res.rc != 0, res
        assert re.search(r"Another run, from awx-node-2 \(ansible-playbook pid\s+4711\), has been converging \S+ "
                         r"since\s+2026-12-02T04:00:00Z", res.stdout), res.stdout[-3000:]
        assert "edgenode_run_lock_force=true" in res.stdout
        assert systemd_host.changed_since_marker() == []
        assert json.loads(systemd_host.sh("cat /run/edge-cluster/edgenode.lock").stdout)["pid"] == 4711

        # The same lock from this controller's ansible-playbook that has exited: taken over; the run goes on
        # and stops at the next guard, a keadm archive (local artifacts) whose checksum does not match.
        record.update(controller=os.uname()[1], pid=2 ** 22 + 7)
        systemd_host.sh("printf '%%s' '%s' > /run/edge-cluster/edgenode.lock" % json.dumps(record))
        res = run_role(run_playbook, systemd_host, offline)
        assert res.rc != 0 and "Another run" not in res.stdout, res.stdout[-3000:]
        assert "does not match its checksum" in res.stdout
        assert "Take this host's run lock" in res.stdout
        # released at the end, even though the run failed
        assert systemd_host.sh("test -e /run/edge-cluster/edgenode.lock", check=False).returncode != 0
    finally:
        systemd_host.sh("rm -f /run/edge-cluster/edgenode.lock")


@pytest.mark.parametrize("address,host_port", [("2001:db8::10", "[2001:db8::10]:10000"),
                                               ("192.0.2.10", "192.0.2.10:10000"),
                                               ("cloud.example.org", "cloud.example.org:10000")])
def test_cloudcore_address_in_host_port_and_urls(run_playbook, tmp_path, address, host_port):
    """The role's own variables: an IPv6 CloudCore address is bracketed wherever host:port or a URL is built
    (keadm's --cloudcore-ipport, edgeHub's websocket server and httpServer), as keadm and edgecore split it."""
    roles = REPO / "roles" / "edgenode"
    play = tmp_path / "render.yml"
    play.write_text(yaml.safe_dump([{
        "hosts": "localhost", "gather_facts": False, "connection": "local",
        "vars_files": [str(roles / "defaults" / "main.yml"), str(roles / "vars" / "main.yml")],
        "tasks": [{"ansible.builtin.assert": {"that": [
            "edgenode_cloudcore_url_host ~ ':' ~ edgenode_cloudhub_port == expected",
            "(edgenode_join_flag_table | first).value == expected",
            "edgenode_join_flag_table[0].flag == '--cloudcore-ipport'",
        ], "quiet": True}}]}]), encoding="utf-8")
    res = run_playbook(play, extra_vars={"edgenode_cloudcore_address": address, "expected": host_port})
    assert res.rc == 0, res
