"""Unit tests for module_utils/edge_host.py: edgecore.yaml with and without PyYAML, systemctl show,
keadm version, the runtimes' listings, /proc and the pod directories (tmp trees, no root needed)."""

import json
import os

import pytest

from ansible_collections.edge.cluster.plugins.module_utils import edge_host as eh

TOKEN = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.FAKE-unit-test-sig"

# What keadm join (v1.13+) writes, trimmed: v1alpha2 with the kubelet settings under tailoredKubeletConfig.
EDGECORE_V1ALPHA2 = """\
# keadm join wrote this
apiVersion: edgecore.config.kubeedge.io/v1alpha2
database:
  aliasName: default
  dataSource: /var/lib/kubeedge/edgecore.db
  driverName: sqlite3
kind: EdgeCore
modules:
  dbTest:
    enable: false
  edgeHub:
    enable: true
    heartbeat: 15
    httpServer: https://192.0.2.10:10002
    messageBurst: 60
    projectID: e632aba927ea4ac2b575ec1603d56f10
    quic:
      enable: false
      handshakeTimeout: 30
      server: 192.0.2.10:10001
    rotateCertificates: true
    tlsCaFile: /etc/kubeedge/ca/rootCA.crt
    token: %s
    websocket:
      enable: true
      handshakeTimeout: 30
      server: "192.0.2.10:10000"   # CloudHub
      writeDeadline: 15
  edged:
    enable: true
    hostnameOverride: edge-1
    maxContainerCount: -1
    nodeLabels: {}
    podSandboxImage: kubeedge/pause:3.6
    registerNodeNamespace: default
    rootDirectory: /var/lib/edged
    tailoredKubeletConfig:
      address: 127.0.0.1
      cgroupDriver: systemd
      clusterDNS:
      - 169.254.96.16
      clusterDomain: cluster.local
      containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
      enforceNodeAllocatable:
      - pods
      evictionHard:
        imagefs.available: 15%%
        memory.available: 100Mi
      failSwapOn: false
      readOnlyPort: 10350
  eventBus:
    enable: true
    mqttServerExternal: tcp://127.0.0.1:1883
  metaManager:
    metaServer:
      enable: false
      server: 127.0.0.1:10550
""" % TOKEN

# KubeEdge up to 1.12: v1alpha1, kubelet settings directly under edged.
EDGECORE_V1ALPHA1 = """\
apiVersion: edgecore.config.kubeedge.io/v1alpha1
kind: EdgeCore
modules:
  edged:
    cgroupDriver: cgroupfs
    clusterDNS: ""
    enable: true
    hostnameOverride: "edge-old"
    remoteImageEndpoint: unix:///var/run/dockershim.sock
    remoteRuntimeEndpoint: unix:///var/run/dockershim.sock
    rootDirectory: '/data/edged'
    runtimeType: docker
  edgeHub:
    quic:
      enable: false
      server: 127.0.0.1:10001
    token: '%s'
    websocket:
      enable: true
      server: 192.0.2.20:10000
""" % TOKEN

V1ALPHA2_EXPECTED = dict(node_name="edge-1", cgroup_driver="systemd",
                         runtime_endpoint="unix:///run/containerd/containerd.sock",
                         cloudcore_server="192.0.2.10:10000", quic_server="192.0.2.10:10001",
                         root_directory="/var/lib/edged", token_present=True, config_error="")
V1ALPHA1_EXPECTED = dict(node_name="edge-old", cgroup_driver="cgroupfs",
                         runtime_endpoint="unix:///var/run/dockershim.sock",
                         cloudcore_server="192.0.2.20:10000", quic_server="127.0.0.1:10001",
                         root_directory="/data/edged", token_present=True, config_error="")

BOTH = pytest.mark.parametrize("have_yaml", [True, False], ids=["pyyaml", "line-reader"])


# ---------------------------------------------------------------- edgecore.yaml

def test_pyyaml_is_installed_here():
    """Both readers are only compared if PyYAML really is there for the first one."""
    assert eh.HAS_YAML is True


@BOTH
@pytest.mark.parametrize("text, expected", [(EDGECORE_V1ALPHA2, V1ALPHA2_EXPECTED),
                                            (EDGECORE_V1ALPHA1, V1ALPHA1_EXPECTED)], ids=["v1alpha2", "v1alpha1"])
def test_edgecore_layouts(have_yaml, text, expected):
    info = eh.read_edgecore_config(text, have_yaml=have_yaml)
    assert info == expected
    assert TOKEN not in json.dumps(info)


@BOTH
def test_edgecore_bytes_with_bom(have_yaml):
    info = eh.read_edgecore_config(b"\xef\xbb\xbf" + EDGECORE_V1ALPHA2.encode(), have_yaml=have_yaml)
    assert info == V1ALPHA2_EXPECTED


@BOTH
def test_edgecore_without_the_keys_gives_defaults(have_yaml):
    info = eh.read_edgecore_config("apiVersion: edgecore.config.kubeedge.io/v1alpha2\nkind: EdgeCore\n"
                                   "modules:\n  edgeHub:\n    token: \"\"\n  edged: null\n", have_yaml=have_yaml)
    assert info == dict(eh.empty_edgecore_info(), root_directory="/var/lib/edged")
    assert info["token_present"] is False


@BOTH
@pytest.mark.parametrize("token_line", ["    token:", "    token: ''", "    token: null", "    token: ~",
                                        "    token: '  '"])
def test_empty_tokens_are_not_present(have_yaml, token_line):
    text = "modules:\n  edgeHub:\n%s\n    websocket:\n      server: 192.0.2.10:10000\n" % token_line
    info = eh.read_edgecore_config(text, have_yaml=have_yaml)
    assert info["token_present"] is False
    assert info["cloudcore_server"] == "192.0.2.10:10000"
    assert info["config_error"] == ""


MALFORMED = [
    ("bad indentation", "modules:\n    edgeHub:\n      token: %s\n   edged:\n" % TOKEN),
    ("tab", "modules:\n  edgeHub:\n\ttoken: %s\n" % TOKEN),
    ("unterminated quote", 'modules:\n  edgeHub:\n    token: "%s\n' % TOKEN),
    ("sequence for a mapping", "modules:\n  edgeHub:\n    token: %s\n  - edged\n" % TOKEN),
    ("text after a quote", "modules:\n  edgeHub:\n    token: '%s' x\n" % TOKEN),
]


@BOTH
@pytest.mark.parametrize("text", [t for dummy, t in MALFORMED], ids=[i for i, dummy in MALFORMED])
def test_malformed_yaml_gives_config_error_without_content(have_yaml, text):
    info = eh.read_edgecore_config(text, have_yaml=have_yaml, source="/etc/kubeedge/config/edgecore.yaml")
    assert info["config_error"].startswith("/etc/kubeedge/config/edgecore.yaml ")
    assert "line " in info["config_error"]
    assert TOKEN not in json.dumps(info)
    assert TOKEN[:20] not in info["config_error"] and "token" not in info["config_error"]
    assert info["token_present"] is False and info["node_name"] == ""


def test_pyyaml_error_names_line_and_column_only():
    info = eh.read_edgecore_config(MALFORMED[2][1], have_yaml=True, source="edgecore.yaml")
    assert info["config_error"] == "edgecore.yaml is not valid YAML (ScannerError at line 4, column 1)"


@BOTH
@pytest.mark.parametrize("text, error", [
    ("", "edgecore.yaml is empty"),
    ("# nothing but a comment\n", "edgecore.yaml is empty"),
    ("- a\n- b\n", None),
    ("just text\n", None),
])
def test_not_a_mapping(have_yaml, text, error):
    info = eh.read_edgecore_config(text, have_yaml=have_yaml)
    if error:
        assert info["config_error"] == error
    else:
        assert info["config_error"].startswith("edgecore.yaml ")
    assert info["root_directory"] == "/var/lib/edged"


def test_not_utf8():
    info = eh.read_edgecore_config(b"modules:\n  edged:\n    hostnameOverride: \xff\n", have_yaml=True)
    assert info["config_error"] == "edgecore.yaml is not UTF-8 text"


def test_line_reader_flow_style_needs_pyyaml_and_names_only_the_key():
    text = "modules:\n  edgeHub: {token: %s, websocket: {server: 192.0.2.10:10000}}\n  edged:\n" \
           "    hostnameOverride: edge-1\n" % TOKEN
    info = eh.read_edgecore_config(text, have_yaml=False)
    assert info["node_name"] == "edge-1"
    assert info["token_present"] is False
    assert "modules.edgeHub (flow collection)" in info["config_error"]
    assert "python3-yaml" in info["config_error"]
    assert TOKEN not in json.dumps(info)
    # PyYAML reads the same text
    info = eh.read_edgecore_config(text, have_yaml=True)
    assert info["token_present"] is True and info["cloudcore_server"] == "192.0.2.10:10000"
    assert info["config_error"] == ""


def test_line_reader_structure():
    text = (
        "%YAML 1.2\n"
        "---\n"
        "a:\n"
        "  b: 'it''s'    # comment\n"
        "  c: \"tab\\there \\u00e9\"\n"
        "  d: plain value # comment\n"
        "  e: x#not-a-comment\n"
        "  f: |\n"
        "    block: text\n"
        "      more\n"
        "  g: true\n"
        "  h:\n"
        "  i: >-\n"
        "    folded\n"
        "  j:\n"
        "    - name: x\n"
        "      value: y\n"
        "    - z\n"
        "  k: {}\n"
        "  l: [a,\n"
        "     b]\n"
        "  m: *alias\n"
        "  n: long plain\n"
        "    continued\n"
        "  \"q:k\": 1\n"
        "top: ~\n"
        "...\n"
        "ignored: after the end\n"
    )
    data = eh.parse_simple_yaml(text)
    a = data["a"]
    assert a["b"] == "it's"
    assert a["c"] == "tab\there \u00e9"
    assert a["d"] == "plain value"
    assert a["e"] == "x#not-a-comment"
    assert a["f"] == "" and a["i"] == ""
    assert a["g"] is True and a["h"] is None
    assert a["j"] == [] and a["k"] == {}
    assert isinstance(a["l"], eh.Unreadable) and isinstance(a["m"], eh.Unreadable)
    assert a["n"] == "long plain continued"
    assert a["q:k"] == "1"
    assert data["top"] is None
    assert "ignored" not in data
    assert set(a) == set("bcdefghijklmn") | {"q:k"}


@pytest.mark.parametrize("text, message", [
    ("a: 1\n---\nb: 2\n", "line 2: a second YAML document starts"),
    ("a: 1\n  b: 2\n", "line 2: it is indented under a key that already has a value"),
    ("a: 1\n  two words\n  b: 2\n", "line 3: it is indented under a key that already has a value"),
    ("a: 'q'\n  more\n", "line 2: not a \"key: value\" line"),
    ("a:\n  b: 1\n c: 2\n", "line 3: its indentation matches no enclosing mapping"),
    ("- a\n", "line 1: a sequence item where a mapping key was expected"),
    ("a: \"\\q\"\n", "line 1: a double-quoted string has an invalid escape"),
    ("a: 'x\n", "line 1: a single-quoted string does not end on its line"),
    ("{a: 1}\n", "line 1: not a \"key: value\" line"),
])
def test_line_reader_errors_name_the_line_only(text, message):
    with pytest.raises(eh.SimpleYamlError) as err:
        eh.parse_simple_yaml(text)
    assert str(err.value) == message


# ---------------------------------------------------------------- systemctl show

SYSTEMCTL_SHOW = """\
Id=edgecore.service
LoadState=loaded
ActiveState=active
SubState=running
UnitFileState=enabled
MainPID=4242
FragmentPath=/etc/systemd/system/edgecore.service

Id=cloudcore.service
LoadState=not-found
ActiveState=inactive
SubState=dead
UnitFileState=
MainPID=0
FragmentPath=

Id=containerd.service
LoadState=loaded
ActiveState=failed
SubState=failed
UnitFileState=enabled
MainPID=0
FragmentPath=/lib/systemd/system/containerd.service

Id=docker.socket
LoadState=loaded
ActiveState=active
SubState=listening
UnitFileState=enabled
MainPID=
FragmentPath=/lib/systemd/system/docker.socket
"""


def test_parse_systemctl_show_with_a_not_found_unit():
    units = eh.parse_systemctl_show(SYSTEMCTL_SHOW, ["edgecore", "cloudcore", "containerd", "docker.socket"])
    assert units["edgecore"] == dict(unit="edgecore.service", exists=True, load_state="loaded", active_state="active",
                                     sub_state="running", unit_file_state="enabled", main_pid=4242,
                                     fragment_path="/etc/systemd/system/edgecore.service")
    assert units["cloudcore"] == dict(unit="cloudcore.service", exists=False, load_state="not-found",
                                      active_state="inactive", sub_state="dead", unit_file_state="", main_pid=0,
                                      fragment_path="")
    assert units["containerd"]["exists"] is True and units["containerd"]["active_state"] == "failed"
    assert units["docker.socket"]["unit"] == "docker.socket" and units["docker.socket"]["main_pid"] == 0


def test_parse_systemctl_show_keys_by_position_not_id():
    """An alias reports the real unit's Id (ssh for sshd); the order is what counts."""
    text = "Id=ssh.service\nLoadState=loaded\nActiveState=active\n\n\n"
    assert eh.parse_systemctl_show(text, ["sshd"])["sshd"]["exists"] is True


def test_parse_systemctl_show_block_count_mismatch():
    with pytest.raises(ValueError, match="2 unit blocks for 3 units"):
        eh.parse_systemctl_show(SYSTEMCTL_SHOW.split("\nId=containerd", 1)[0], ["a", "b", "c"])


@pytest.mark.parametrize("name, unit, valid", [
    ("edgecore", "edgecore.service", True),
    ("docker.socket", "docker.socket", True),
    ("getty@tty1", "getty@tty1.service", True),
    ("var-lib-edged.mount", "var-lib-edged.mount", True),
    ("kube proxy", "kube proxy.service", False),
    ("", ".service", False),
    ("edge;rm", "edge;rm.service", False),
])
def test_unit_names(name, unit, valid):
    assert eh.unit_name(name) == unit
    assert eh.valid_unit_name(name) is valid


def test_absent_unit():
    assert eh.absent_unit("kubelet") == dict(unit="kubelet.service", exists=False, load_state="", active_state="",
                                             sub_state="", unit_file_state="", main_pid=0, fragment_path="")


# ---------------------------------------------------------------- keadm version

KEADM_1_13 = ('version: version.Info{Major:"1", Minor:"13", GitVersion:"v1.13.1", '
              'GitCommit:"8b0ea8f6a8b4a5c5d0e6b1d1c4b0e8c5d1b4e5a2", GitTreeState:"clean", '
              'BuildDate:"2023-06-12T07:43:52Z", GoVersion:"go1.19.4", Compiler:"gc", Platform:"linux/amd64"}\n')
KEADM_1_17 = ('version: version.Info{Major:"1", Minor:"17", GitVersion:"v1.17.0", '
              'GitCommit:"2d0fa4c0c1e3c9d7b5a1f0e8d6c4b2a0f9e7d5c3", GitTreeState:"clean", '
              'BuildDate:"2024-05-20T09:12:33Z", GoVersion:"go1.21.9", Compiler:"gc", Platform:"linux/arm64"}\n')


@pytest.mark.parametrize("text, version, semver", [
    (KEADM_1_13, "v1.13.1", "1.13.1"),
    (KEADM_1_17, "v1.17.0", "1.17.0"),
    ("I0101 00:00:00 warning on stderr\n" + KEADM_1_17, "v1.17.0", "1.17.0"),
    (KEADM_1_13.replace("v1.13.1", "v1.18.0-beta.0"), "v1.18.0-beta.0", "1.18.0-beta.0"),
    (KEADM_1_13.replace("v1.13.1", "v1.13.1-dirty+abc"), "v1.13.1-dirty+abc", "1.13.1-dirty+abc"),
    (KEADM_1_13.replace("v1.13.1", "v0.0.0-master+$Format:%H$"), "v0.0.0-master+$Format:%H$", ""),
    ("v1.15.2\n", "v1.15.2", "1.15.2"),
    ("", "", ""),
    ("Error: unknown command \"version\"\n", "", ""),
])
def test_parse_keadm_version(text, version, semver):
    assert eh.parse_keadm_version(text) == dict(version=version, semver=semver)


# ---------------------------------------------------------------- containers

@pytest.mark.parametrize("text, labels", [
    ("", {}),
    (None, {}),
    ("a=1", {"a": "1"}),
    ("io.kubernetes.pod.name=nginx,io.kubernetes.pod.namespace=default",
     {"io.kubernetes.pod.name": "nginx", "io.kubernetes.pod.namespace": "default"}),
    ("cmd=a=b==c,empty=", {"cmd": "a=b==c", "empty": ""}),
    ("list=a,b,c,next=1", {"list": "a,b,c", "next": "1"}),
    ("flag", {"flag": ""}),
])
def test_parse_docker_labels(text, labels):
    assert eh.parse_docker_labels(text) == labels


def test_parse_docker_ps():
    lines = [
        {"Command": "\"/pause\"", "ID": "8d2f" + "0" * 60, "Image": "kubeedge/pause:3.6",
         "Labels": "io.kubernetes.pod.uid=0b5a,annotation=x=y", "Names": "k8s_POD_nginx_default_0b5a_0,alias",
         "State": "running"},
        {"ID": "77aa" + "1" * 60, "Image": "busybox", "Labels": "", "Names": "plain"},
    ]
    text = "\n".join(json.dumps(line) for line in lines) + "\n\n"
    assert eh.parse_docker_ps(text) == [
        dict(id="8d2f" + "0" * 60, name="k8s_POD_nginx_default_0b5a_0", image="kubeedge/pause:3.6",
             labels={"io.kubernetes.pod.uid": "0b5a", "annotation": "x=y"}),
        dict(id="77aa" + "1" * 60, name="plain", image="busybox", labels={}),
    ]
    assert eh.parse_docker_ps("") == []


@pytest.mark.parametrize("text, message", [("{}\nnot json\n", "line 2 of the docker ps output is not JSON"),
                                           ("[1]\n", "line 1 of the docker ps output is not a JSON object")])
def test_parse_docker_ps_rejects(text, message):
    with pytest.raises(ValueError, match=message):
        eh.parse_docker_ps(text)


def test_parse_ctr():
    assert eh.parse_ctr_ids("abc\n\n def \n") == ["abc", "def"]
    info = json.dumps({"ID": "abc", "Image": "docker.io/kubeedge/pause:3.6",
                       "Labels": {"io.cri-containerd.kind": "sandbox", "n": 1}, "Runtime": {"Name": "runc"}})
    assert eh.parse_ctr_info(info, "abc") == dict(id="abc", image="docker.io/kubeedge/pause:3.6",
                                                  labels={"io.cri-containerd.kind": "sandbox", "n": "1"})
    assert eh.parse_ctr_info('{"Image": "x", "Labels": null}', "d") == dict(id="d", image="x", labels={})
    with pytest.raises(ValueError, match="ctr containers info abc did not print JSON"):
        eh.parse_ctr_info("ctr: container not found", "abc")
    with pytest.raises(ValueError, match="did not print a JSON object"):
        eh.parse_ctr_info("[]", "abc")


# ---------------------------------------------------------------- /proc and pods

def make_proc(root, processes):
    """A fake /proc: {pid: comm}; comm None makes a pid directory without comm (a process that just ended)."""
    for pid, comm in processes.items():
        d = root / str(pid)
        d.mkdir()
        if comm is not None:
            (d / "comm").write_bytes(comm.encode() + b"\n")
    (root / "self").mkdir()
    (root / "self" / "comm").write_text("python3\n")
    (root / "meminfo").write_text("MemTotal: 1 kB\n")
    return str(root)


def test_pids_by_name(tmp_path):
    proc = make_proc(tmp_path, {
        1: "systemd", 4242: "edgecore", 77: "edgecore", 900: "kubelet", 901: "kube-proxy",
        1000: "very-long-proce",     # the kernel's cut of very-long-process-name
        1001: "very-long-proc",      # shorter: no match
        555: None,                   # gone while reading
        12: "edgecore-helper",       # different name
    })
    pids = eh.pids_by_name(proc, ["edgecore", "cloudcore", "kube-proxy", "very-long-process-name", "very-long-process"])
    assert pids == {"edgecore": [77, 4242], "cloudcore": [], "kube-proxy": [901],
                    "very-long-process-name": [1000], "very-long-process": [1000]}


def test_pids_by_name_without_proc(tmp_path):
    assert eh.pids_by_name(str(tmp_path / "missing"), ["edgecore"]) == {"edgecore": []}
    assert eh.pids_by_name(str(tmp_path), []) == {}


def test_pod_uids(tmp_path):
    assert eh.pod_uids(str(tmp_path / "missing")) == []
    (tmp_path / "pods").mkdir()
    assert eh.pod_uids(str(tmp_path)) == []
    for uid in ("b-uid", "a-uid"):
        (tmp_path / "pods" / uid / "volumes").mkdir(parents=True)
    (tmp_path / "pods" / "stray-file").write_text("")
    assert eh.pod_uids(str(tmp_path)) == ["a-uid", "b-uid"]


def test_pod_uids_when_root_is_a_file(tmp_path):
    (tmp_path / "file").write_text("")
    assert eh.pod_uids(str(tmp_path / "file")) == []


# ---- preflight readings -------------------------------------------------------
def test_free_space_of_a_path_not_yet_there_is_measured_at_its_parent(tmp_path):
    checked, free = eh.free_space_mb(str(tmp_path / "not" / "yet"))
    assert checked == str(tmp_path)
    st = os.statvfs(str(tmp_path))
    assert free == st.f_bavail * st.f_frsize // (1024 * 1024)


PROC_LOCKS = """1: POSIX  ADVISORY  WRITE 812 08:01:1048601 0 EOF
1: -> POSIX  ADVISORY  WRITE 990 08:01:1048601 0 EOF
2: FLOCK  ADVISORY  WRITE 77 00:1a:42 0 EOF
3: OFDLCK ADVISORY  READ  -1 08:01:555 0 EOF
garbage line
"""


def test_parse_proc_locks_skips_waiters_and_garbage():
    entries = eh.parse_proc_locks(PROC_LOCKS)
    assert [(e["kind"], e["pid"], e["device"], e["inode"]) for e in entries] == [
        ("POSIX", 812, (8, 1), 1048601), ("FLOCK", 77, (0, 26), 42), ("OFDLCK", -1, (8, 1), 555)]


def test_lock_holders_of_a_file_held_with_fcntl(tmp_path):
    """A real lock taken by this process on a real file is found, with the process's name."""
    import fcntl
    lock = tmp_path / "lock-frontend"
    lock.write_text("", encoding="utf-8")
    with open(str(lock), "w") as handle:
        assert eh.lock_holders("/proc", str(lock)) == []
        fcntl.lockf(handle, fcntl.LOCK_EX)
        holders = eh.lock_holders("/proc", str(lock))
        with open("/proc/self/comm") as comm:
            me = comm.read().strip()
        assert holders == [{"pid": os.getpid(), "comm": me}]
    assert eh.lock_holders("/proc", str(tmp_path / "absent")) == []
