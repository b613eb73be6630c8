"""Unit tests for edge.cluster.kubeedge_edge_info: main() end to end on tmp paths, a fake /proc and
fake commands (AnsibleModule.run_command and get_bin_path monkeypatched; no root, no systemd)."""

import json
import os

import pytest
from ansible.module_utils import basic

from ansible_collections.edge.cluster.plugins.module_utils import edge_host as eh
from ansible_collections.edge.cluster.plugins.modules import kubeedge_edge_info as mod

from ansible.module_utils.testing import patch_module_args  # ansible-core 2.19 (requirements.txt)

TOKEN = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210.eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjJ9.FAKE-main-test"

EDGECORE = """\
apiVersion: edgecore.config.kubeedge.io/v1alpha2
kind: EdgeCore
modules:
  edgeHub:
    enable: true
    httpServer: https://192.0.2.10:10002
    quic:
      enable: false
      server: 192.0.2.10:10001
    token: {token}
    websocket:
      enable: true
      server: 192.0.2.10:10000
  edged:
    enable: true
    hostnameOverride: edge-1
    nodeLabels: {{}}
    rootDirectory: {root}
    tailoredKubeletConfig:
      cgroupDriver: systemd
      clusterDNS:
      - 169.254.96.16
      containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
"""

UNITS = ["edgecore", "cloudcore", "kubelet", "containerd", "docker"]
SYSTEMCTL = "\n".join([
    "Id=edgecore.service\nLoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled\n"
    "MainPID=4242\nFragmentPath=/etc/systemd/system/edgecore.service\n",
    "Id=cloudcore.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nUnitFileState=\nMainPID=0\n"
    "FragmentPath=\n",
    "Id=kubelet.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nUnitFileState=\nMainPID=0\n"
    "FragmentPath=\n",
    "Id=containerd.service\nLoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled\n"
    "MainPID=311\nFragmentPath=/lib/systemd/system/containerd.service\n",
    "Id=docker.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nUnitFileState=\nMainPID=0\n"
    "FragmentPath=\n",
])
KEADM_VERSION = ('version: version.Info{Major:"1", Minor:"13", GitVersion:"v1.13.1", GitCommit:"0123abcd", '
                 'GitTreeState:"clean", BuildDate:"2023-06-12T07:43:52Z", GoVersion:"go1.19.4", Compiler:"gc", '
                 'Platform:"linux/amd64"}\n')
CTR_INFO = {
    "sandbox1": {"ID": "sandbox1", "Image": "docker.io/kubeedge/pause:3.6",
                 "Labels": {"io.cri-containerd.kind": "sandbox", "io.kubernetes.pod.uid": "pod-a"}},
    "app1": {"ID": "app1", "Image": "docker.io/library/nginx:1.25", "Labels": None},
}
DOCKER_PS = json.dumps({"ID": "d" * 64, "Names": "k8s_POD_web_default_pod-b_0", "Image": "kubeedge/pause:3.6",
                        "Labels": "io.kubernetes.pod.uid=pod-b,a=b=c"}) + "\n"


class Host(object):
    """The host as the module sees it: tmp files, a fake /proc, and the commands it may run."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.etc = tmp_path / "etc"
        self.etc.mkdir()
        self.edged_root = tmp_path / "edged"
        (self.edged_root / "pods" / "pod-b").mkdir(parents=True)
        (self.edged_root / "pods" / "pod-a").mkdir()
        self.config = self.etc / "edgecore.yaml"
        self.config.write_text(EDGECORE.format(token=TOKEN, root=self.edged_root))
        self.config.chmod(0o600)
        bindir = tmp_path / "bin"
        bindir.mkdir()
        self.keadm = bindir / "keadm"
        self.keadm.write_text("#!/bin/sh\n")
        self.keadm.chmod(0o755)
        self.edgecore = bindir / "edgecore"
        self.containerd_sock = tmp_path / "containerd.sock"
        self.containerd_sock.write_text("")
        self.docker_sock = tmp_path / "docker.sock"
        self.docker_sock.write_text("")
        self.proc = tmp_path / "proc"
        for pid, comm in ((1, "systemd"), (4242, "edgecore"), (311, "containerd"), (5000, "kube-proxy")):
            (self.proc / str(pid)).mkdir(parents=True)
            (self.proc / str(pid) / "comm").write_text(comm + "\n")
        self.bins = {"systemctl": "/bin/systemctl", "ctr": "/usr/bin/ctr", "docker": "/usr/bin/docker"}
        self.outputs = {}
        self.calls = []

    def args(self, **kw):
        args = dict(edgecore_config=str(self.config), cloudcore_config=str(self.etc / "cloudcore.yaml"),
                    binaries=dict(keadm=str(self.keadm), edgecore=str(self.edgecore)),
                    containerd_socket=str(self.containerd_sock), docker_socket=str(self.docker_sock))
        args.update(kw)
        return args

    def respond(self, argv):
        """(rc, out, err) for a command line; self.outputs can override by the command's words."""
        words = [os.path.basename(argv[0])] + list(argv[1:])
        for key, answer in self.outputs.items():
            if all(k in words for k in key):
                return answer
        if words[0] == "systemctl":
            return 0, SYSTEMCTL, ""
        if words[0] == "keadm":
            return 0, KEADM_VERSION, ""
        if words[0] == "ctr" and "ls" in words:
            return 0, "sandbox1\napp1\n", ""
        if words[0] == "ctr" and "info" in words:
            return 0, json.dumps(CTR_INFO[words[-1]]), ""
        if words[0] == "docker":
            return 0, DOCKER_PS, ""
        raise AssertionError("unexpected command %r" % (argv,))


@pytest.fixture
def host(tmp_path, monkeypatch):
    h = Host(tmp_path)

    def run_command(self, args, **kwargs):
        assert isinstance(args, list), "commands run as argv lists, never through a shell"
        h.calls.append(args)
        return h.respond(args)

    def get_bin_path(self, arg, required=False, opt_dirs=None):
        return h.bins.get(arg)

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", get_bin_path)
    monkeypatch.setattr(mod, "PROC_ROOT", str(h.proc))
    return h


def run_main(args, capsys):
    """Run main() with these module args; return (exit code, result dict, raw stdout)."""
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            mod.main()
    out = capsys.readouterr().out
    return exc.value.code, json.loads(out), out


@pytest.mark.parametrize("have_yaml", [True, False], ids=["pyyaml", "line-reader"])
def test_main_reads_everything_and_never_the_token(host, capsys, monkeypatch, have_yaml):
    monkeypatch.setattr(eh, "HAS_YAML", have_yaml)
    (host.tmp / "link").symlink_to(host.tmp / "nowhere")
    paths = [str(host.etc), str(host.tmp / "link"), str(host.tmp / "absent")]
    rc, result, out = run_main(host.args(paths=paths, containers=True), capsys)
    assert rc == 0, result
    assert result["changed"] is False
    assert result["edgecore"] == dict(
        config_exists=True, config_mode="0600", config_uid=os.getuid(), node_name="edge-1", cgroup_driver="systemd",
        runtime_endpoint="unix:///run/containerd/containerd.sock", cloudcore_server="192.0.2.10:10000",
        quic_server="192.0.2.10:10001", root_directory=str(host.edged_root), token_present=True, config_error="",
        pod_uids=["pod-a", "pod-b"], pods_error="")
    assert result["cloudcore"] == dict(config_exists=False)
    assert list(result["units"]) == UNITS
    assert result["units"]["edgecore"] == dict(unit="edgecore.service", exists=True, load_state="loaded",
                                               active_state="active", sub_state="running", unit_file_state="enabled",
                                               main_pid=4242, fragment_path="/etc/systemd/system/edgecore.service")
    assert result["units"]["docker"]["exists"] is False and result["units"]["docker"]["load_state"] == "not-found"
    assert result["systemd_error"] == ""
    assert result["processes"] == {"edgecore": [4242], "cloudcore": [], "kubelet": [], "kube-proxy": [5000]}
    assert result["binaries"] == {"keadm": {"path": str(host.keadm), "exists": True},
                                  "edgecore": {"path": str(host.edgecore), "exists": False}}
    assert result["keadm"] == dict(version="v1.13.1", semver="1.13.1", error="")
    assert result["paths"] == {paths[0]: True, paths[1]: True, paths[2]: False}
    assert result["runtimes"] == dict(containerd_socket=True, docker_socket=True)
    assert result["containers"] == dict(
        containerd=[dict(id="sandbox1", image="docker.io/kubeedge/pause:3.6",
                         labels={"io.cri-containerd.kind": "sandbox", "io.kubernetes.pod.uid": "pod-a"}),
                    dict(id="app1", image="docker.io/library/nginx:1.25", labels={})],
        containerd_error="",
        docker=[dict(id="d" * 64, name="k8s_POD_web_default_pod-b_0", image="kubeedge/pause:3.6",
                     labels={"io.kubernetes.pod.uid": "pod-b", "a": "b=c"})],
        docker_error="")
    # the token is nowhere: not in the result, not in what the module printed
    assert TOKEN not in json.dumps(result)
    assert TOKEN not in out and TOKEN.split(".", 1)[1] not in out
    # one systemctl call for all units, the exact commands for the rest
    sock = str(host.containerd_sock)
    assert host.calls == [
        ["/bin/systemctl", "show", "--property=Id,LoadState,ActiveState,SubState,UnitFileState,MainPID,FragmentPath",
         "edgecore.service", "cloudcore.service", "kubelet.service", "containerd.service", "docker.service"],
        [str(host.keadm), "version"],
        ["/usr/bin/ctr", "--address", sock, "-n", "k8s.io", "containers", "ls", "-q"],
        ["/usr/bin/ctr", "--address", sock, "-n", "k8s.io", "containers", "info", "sandbox1"],
        ["/usr/bin/ctr", "--address", sock, "-n", "k8s.io", "containers", "info", "app1"],
        ["/usr/bin/docker", "--host", "unix://" + str(host.docker_sock), "ps", "-a", "--no-trunc",
         "--format", "{{json .}}"],
    ]


def test_check_mode_returns_the_same(host, capsys):
    dummy, normal, dummy2 = run_main(host.args(), capsys)
    dummy, checked, dummy2 = run_main(dict(host.args(), _ansible_check_mode=True), capsys)
    assert checked["clock"]["now"] >= normal["clock"]["now"]
    checked["clock"], normal["clock"] = {}, {}
    assert checked == normal
    assert normal["containers"] == {}


def test_clock_free_space_and_locks(host, capsys, tmp_path, monkeypatch):
    import fcntl
    import time
    monkeypatch.setattr(mod, "PROC_ROOT", "/proc")  # the lock below is a real one
    lock = tmp_path / "lock-frontend"
    lock.write_text("", encoding="utf-8")
    with open(str(lock), "w") as handle:
        fcntl.lockf(handle, fcntl.LOCK_EX)
        rc, result, dummy = run_main(dict(host.args(), reference_time=time.time() - 300,
                                          free_space=[str(tmp_path / "later")], lock_files=[str(lock)]), capsys)
    assert rc == 0, result
    assert 299 <= result["clock"]["skew_seconds"] < 310
    assert result["free_space"][str(tmp_path / "later")]["checked"] == str(tmp_path)
    assert result["free_space"][str(tmp_path / "later")]["free_mb"] > 0
    assert [h["pid"] for h in result["locks"][str(lock)]] == [os.getpid()]
    assert result["lock_waited"] == 0
    rc, result, dummy = run_main(host.args(), capsys)
    assert result["clock"]["skew_seconds"] is None and result["locks"] == {} and result["free_space"] == {}


def test_defaults_on_a_bare_host(host, capsys):
    """No edgecore.yaml, no systemctl, no binaries, no runtimes, no processes."""
    host.bins = {}
    host.config.unlink()
    (host.proc / "4242" / "comm").unlink()
    args = host.args(binaries=dict(keadm=str(host.tmp / "missing" / "keadm")), containers=True,
                     containerd_socket=str(host.tmp / "no.sock"), docker_socket=str(host.tmp / "no2.sock"))
    rc, result, dummy = run_main(args, capsys)
    assert rc == 0
    edgecore = result["edgecore"]
    assert edgecore["config_exists"] is False and edgecore["config_mode"] == "" and edgecore["config_uid"] is None
    assert edgecore["root_directory"] == "/var/lib/edged" and edgecore["token_present"] is False
    assert edgecore["config_error"] == "" and isinstance(edgecore["pod_uids"], list)
    assert result["systemd_error"] == "systemctl is not installed: this host does not run systemd"
    assert [u["exists"] for u in result["units"].values()] == [False] * 5
    assert result["units"]["kubelet"]["unit"] == "kubelet.service"
    assert result["processes"]["edgecore"] == []
    assert result["keadm"] == dict(version="", semver="", error="")
    assert result["runtimes"] == dict(containerd_socket=False, docker_socket=False)
    assert result["containers"] == dict(containerd=[], containerd_error="", docker=[], docker_error="")
    assert host.calls == []


def test_documented_defaults_are_used(host, capsys):
    args = host.args()
    del args["binaries"]
    rc, result, dummy = run_main(args, capsys)
    assert sorted(result["binaries"]) == ["cloudcore", "edgeadm", "edgecore", "keadm"]
    assert result["binaries"]["keadm"]["path"] == "/usr/local/bin/keadm"
    assert sorted(result["processes"]) == ["cloudcore", "edgecore", "kube-proxy", "kubelet"]


def test_systemctl_failure_is_reported_not_raised(host, capsys):
    host.outputs[("systemctl",)] = (1, "", "System has not been booted with systemd as init system (PID 1).")
    rc, result, dummy = run_main(host.args(), capsys)
    assert rc == 0
    assert result["systemd_error"].startswith("systemctl show failed (rc 1): System has not been booted")
    assert all(u["exists"] is False for u in result["units"].values())


def test_systemctl_output_that_cannot_be_attributed(host, capsys):
    host.outputs[("systemctl",)] = (0, "Id=edgecore.service\nLoadState=loaded\n", "")
    rc, result, dummy = run_main(host.args(), capsys)
    assert result["systemd_error"] == "systemctl show printed 1 unit blocks for 5 units"
    assert result["units"]["edgecore"]["exists"] is False


def test_units_are_asked_once_each_and_none_means_no_call(host, capsys):
    host.outputs[("systemctl",)] = (0, "Id=edgecore.service\nLoadState=loaded\n", "")
    rc, result, dummy = run_main(host.args(units=["edgecore", "edgecore"]), capsys)
    assert result["units"]["edgecore"]["exists"] is True
    assert host.calls[0][3:] == ["edgecore.service"]
    host.calls[:] = []
    rc, result, dummy = run_main(host.args(units=[], keadm_version=False), capsys)
    assert result["units"] == {} and result["systemd_error"] == "" and host.calls == []


def test_failing_keadm_is_an_error_text_not_a_failure(host, capsys):
    host.outputs[("keadm", "version")] = (2, "", "E" * 1000)
    rc, result, dummy = run_main(host.args(), capsys)
    assert rc == 0
    assert result["keadm"]["version"] == "" and result["keadm"]["semver"] == ""
    assert result["keadm"]["error"] == "%s version failed (rc 2): %s" % (host.keadm, "E" * 300)


def test_keadm_that_cannot_be_executed(host, capsys, monkeypatch):
    def run_command(self, args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    rc, result, dummy = run_main(host.args(units=[]), capsys)
    assert rc == 0
    assert result["keadm"]["error"] == "%s version failed (rc 127): cannot run %s: Permission denied" % (
        host.keadm, host.keadm)


def test_keadm_without_a_version(host, capsys):
    host.outputs[("keadm", "version")] = (0, "something else\n", "")
    rc, result, dummy = run_main(host.args(), capsys)
    assert result["keadm"]["error"] == "%s version printed no GitVersion" % host.keadm


def test_keadm_version_false_runs_nothing(host, capsys):
    rc, result, dummy = run_main(host.args(keadm_version=False, units=[]), capsys)
    assert result["keadm"] == dict(version="", semver="", error="") and host.calls == []


def test_runtime_errors_are_reported(host, capsys):
    host.outputs[("ctr", "info", "app1")] = (1, "", "ctr: container \"app1\" in namespace \"k8s.io\": not found")
    host.outputs[("ctr", "info", "sandbox1")] = (1, "", "ctr: permission denied")
    host.outputs[("docker",)] = (1, "", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock.")
    rc, result, dummy = run_main(host.args(containers=True), capsys)
    assert rc == 0
    containers = result["containers"]
    assert containers["containerd"] == []
    assert containers["containerd_error"] == "ctr containers info sandbox1 failed (rc 1): ctr: permission denied"
    assert containers["docker"] == []
    assert containers["docker_error"].startswith("docker ps failed (rc 1): Cannot connect to the Docker daemon")


def test_ctr_ls_failure_and_bad_docker_output(host, capsys):
    host.outputs[("ctr", "ls")] = (1, "", "ctr: failed to dial")
    host.outputs[("docker",)] = (0, "not json\n", "")
    rc, result, dummy = run_main(host.args(containers=True), capsys)
    assert result["containers"]["containerd_error"] == "ctr containers ls failed (rc 1): ctr: failed to dial"
    assert result["containers"]["docker_error"] == "line 1 of the docker ps output is not JSON"


def test_malformed_config_gives_config_error_without_content(host, capsys):
    host.config.write_text("modules:\n  edgeHub:\n    token: \"%s\n  edged: [\n" % TOKEN)
    rc, result, out = run_main(host.args(), capsys)
    assert rc == 0
    assert result["edgecore"]["config_exists"] is True
    assert result["edgecore"]["config_error"].startswith("%s is not valid YAML (" % host.config)
    assert result["edgecore"]["token_present"] is False
    assert TOKEN not in out


def test_config_that_is_not_a_regular_file(host, capsys):
    host.config.unlink()
    os.mkfifo(str(host.config))
    rc, result, dummy = run_main(host.args(), capsys)
    assert rc == 0
    assert result["edgecore"]["config_exists"] is True
    assert result["edgecore"]["config_error"] == "%s is not a regular file" % host.config


def test_config_too_large(host, capsys, monkeypatch):
    monkeypatch.setattr(mod, "MAX_CONFIG_SIZE", 10)
    rc, result, dummy = run_main(host.args(), capsys)
    assert result["edgecore"]["config_error"] == (
        "%s is larger than 10 bytes, too large for an edgecore configuration" % host.config)


def test_unlistable_pods_directory_warns(host, capsys, monkeypatch):
    def pod_uids(root):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(mod, "pod_uids", pod_uids)
    rc, result, dummy = run_main(host.args(), capsys)
    assert rc == 0 and result["edgecore"]["pod_uids"] == []
    assert result["edgecore"]["pods_error"] == \
        "cannot list the pod directories under %s: Permission denied" % host.edged_root


@pytest.mark.parametrize("option, expected", [
    ("edgecore_config", "edgecore_config {} is a directory; give the path of the file itself, "
                        "e.g. /etc/kubeedge/config/edgecore.yaml"),
    ("cloudcore_config", "cloudcore_config {} is a directory; give the path of the file itself, "
                         "e.g. /etc/kubeedge/config/cloudcore.yaml"),
])
def test_config_option_that_is_a_directory_fails(host, capsys, option, expected):
    rc, result, dummy = run_main(host.args(**{option: str(host.etc)}), capsys)
    assert rc == 1 and result["failed"] is True
    assert result["msg"] == expected.format(host.etc)


@pytest.mark.parametrize("args, msg", [
    (dict(units=["edgecore", "kube proxy"]), "units: 'kube proxy' is not a valid systemd unit name"),
    (dict(units=["a b", "c;d"]), "units: 'a b', 'c;d' are not valid systemd unit names"),
    (dict(processes=["edgecore", ""]), "processes: an empty process name matches nothing; remove it"),
    (dict(binaries=dict(keadm="")), "binaries: the path of keadm must be a non-empty string"),
    (dict(containers=True, containerd_namespace=""), "containerd_namespace must not be empty"),
])
def test_bad_options_fail_with_a_fix(host, capsys, args, msg):
    rc, result, dummy = run_main(host.args(**args), capsys)
    assert rc == 1 and result["failed"] is True
    assert msg in result["msg"]
    assert host.calls == []


def test_argument_spec_defaults():
    spec = mod.argument_spec()
    assert spec["edgecore_config"]["default"] == "/etc/kubeedge/config/edgecore.yaml"
    assert spec["units"]["default"] == UNITS
    assert spec["binaries"]["default"] == mod.DEFAULT_BINARIES
    assert spec["binaries"]["default"] is not mod.DEFAULT_BINARIES
    assert spec["containers"]["default"] is False and spec["keadm_version"]["default"] is True


def test_lock_wait_returns_once_the_lock_is_free(host, capsys, tmp_path, monkeypatch):
    """Held for the first two polls, then released: the module waits and reports no holder."""
    lock = str(tmp_path / "lock")
    polls = []

    def holders(proc_root, path):
        polls.append(path)
        return [{"pid": 9, "comm": "unattended-upgr"}] if len(polls) <= 2 else []
    monkeypatch.setattr(mod, "lock_holders", holders)
    monkeypatch.setattr(mod.time, "sleep", lambda seconds: None)
    rc, result, dummy = run_main(dict(host.args(), lock_files=[lock], lock_wait=30), capsys)
    assert rc == 0 and result["locks"] == {lock: []} and len(polls) == 3


def test_lock_wait_gives_up_and_names_the_holder(host, capsys, tmp_path, monkeypatch):
    lock = str(tmp_path / "lock")
    clock = [1000.0]
    monkeypatch.setattr(mod, "lock_holders", lambda proc_root, path: [{"pid": 9, "comm": "unattended-upgr"}])
    monkeypatch.setattr(mod.time, "time", lambda: clock[0])
    monkeypatch.setattr(mod.time, "sleep", lambda seconds: clock.__setitem__(0, clock[0] + seconds))
    rc, result, dummy = run_main(dict(host.args(), lock_files=[lock], lock_wait=5), capsys)
    assert result["locks"] == {lock: [{"pid": 9, "comm": "unattended-upgr"}]}
    assert result["lock_waited"] == 5
