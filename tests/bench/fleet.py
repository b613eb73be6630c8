"""Edge host containers and edge.yml runs, shared by the fleet and idempotence benchmarks.

Hosts are the test bed's systemd image with the `edge-node` profile of
molecule/shared/vars/platforms.yml (every capability but SYS_RESOURCE,
/dev/kmsg, volumes for the runtimes' state). The Debian packages the role
installs (containerd, runc, containernetworking-plugins, iptables) are baked
into a derived image (rebuilt when its apt lists are older than the role's
cache_valid_time), so a join measures the role and the cluster, not the Debian
mirror's bandwidth. Everything else (keadm download and checksum, image
import, containerd configuration, join, verification) runs for real.
"""

import json
import os
import re
import resource
import subprocess
import time

import yaml

import audit

BASE_IMAGE = "edge-cluster/systemd-debian:bookworm"
BENCH_IMAGE = "edge-cluster-bench/edgenode:bookworm"
PACKAGES = ["containerd", "runc", "containernetworking-plugins", "iptables"]
IMAGE_MAX_AGE_S = 50 * 60  # edgenode's apt task: cache_valid_time 3600
RUN_ARGS = [
    "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--cgroupns", "host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "-v", "/var/lib/containerd", "-v", "/var/lib/docker",
    "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
    "--device", "/dev/kmsg:/dev/kmsg", "--stop-signal", "SIGRTMIN+3",
]
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)"
                   r"(?:\s+skipped=(\d+))?(?:\s+rescued=(\d+))?(?:\s+ignored=(\d+))?", re.M)
IMAGE_ARCHIVES = [
    {"archive": "installation-package-v1.13.1.tar", "image": "docker.io/kubeedge/installation-package:v1.13.1"},
    {"archive": "pause-3.6.tar", "image": "registry.k8s.io/pause:3.6"},
    {"archive": "eclipse-mosquitto-1.6.15.tar", "image": "docker.io/library/eclipse-mosquitto:1.6.15"},
]


def docker(*args, check=True, capture=True):
    proc = subprocess.run(["docker"] + list(args), stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError("docker %s failed: %s" % (" ".join(args[:3]), proc.stderr.strip()))
    return proc


def first_failure(text):
    """The message of the first failed host task in a playbook log, or None."""
    m = re.search(r'^fatal: \[([^\]]+)\]: FAILED! => .*?"msg": "((?:[^"\\]|\\.)*)"', text, re.M)
    return "%s: %s" % (m.group(1), m.group(2)) if m else None


def parse_recap(text):
    """{host: {'ok': n, 'changed': n, 'unreachable': n, 'failed': n, ...}} from a PLAY RECAP."""
    out = {}
    for m in RECAP.finditer(text):
        keys = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")
        out[m.group(1)] = {k: int(v) for k, v in zip(keys, m.groups()[1:]) if v is not None}
    return out


class Fleet(object):
    def __init__(self, ctx):
        self.ctx = ctx
        self.containers = []
        self.forks = int(os.environ.get("BENCH_FORKS", "20"))
        self.strategy = os.environ.get("BENCH_STRATEGY", "linear")
        self.env = {k: os.environ[k] for k in ("EDGE_CLOUDCORE_ADDRESS", "EDGE_ARTIFACTS_DIR", "EDGE_ARTIFACTS_URL")
                    if k in os.environ}
        missing = {"EDGE_CLOUDCORE_ADDRESS", "EDGE_ARTIFACTS_DIR", "EDGE_ARTIFACTS_URL"} - set(self.env)
        if missing:
            raise RuntimeError("%s not set: run the benchmarks through tests/bench/run.sh, which starts the "
                               "cloudcore double and the artifacts server" % ", ".join(sorted(missing)))

    # ---- image and containers ------------------------------------------------
    def ensure_image(self):
        proc = docker("image", "inspect", "-f", "{{.Created}}", BENCH_IMAGE, check=False)
        if proc.returncode == 0:
            created = proc.stdout.strip()[:19]
            age = time.time() - time.mktime(time.strptime(created, "%Y-%m-%dT%H:%M:%S")) + time.timezone
            if age < IMAGE_MAX_AGE_S:
                return BENCH_IMAGE
        self.ctx.log("fleet: building %s (%s preinstalled)" % (BENCH_IMAGE, ", ".join(PACKAGES)))
        name = "%s-imagebuild" % self.ctx.prefix
        docker("rm", "-f", name, check=False)
        docker("run", "--name", name, BASE_IMAGE, "sh", "-c",
               "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
               "--no-install-recommends %s >/dev/null"
               % " ".join(PACKAGES))
        docker("commit", "--change", 'CMD ["/lib/systemd/systemd"]', name, BENCH_IMAGE)
        docker("rm", "-f", name, check=False)
        return BENCH_IMAGE

    def start(self, names):
        image = self.ensure_image()
        for name in names:
            docker("run", "-d", "--name", name, "--hostname", name, "--label", "owner=edge-cluster-bench",
                   *(RUN_ARGS + [image, "/lib/systemd/systemd"]))
            self.containers.append(name)
        for name in names:
            state = docker("inspect", "-f", "{{.State.Running}} {{.State.ExitCode}}", name).stdout.split()
            if state and state[0] != "true":
                with open("/proc/sys/fs/inotify/max_user_instances") as handle:
                    limit = handle.read().strip()
                raise RuntimeError(
                    "edge host container %s exited at boot (code %s): with many systemd containers on one "
                    "machine this is usually the inotify limit (fs.inotify.max_user_instances=%s, shared by "
                    "every container's systemd and containerd). Raise it (sysctl -w "
                    "fs.inotify.max_user_instances=1024) or use fewer hosts (BENCH_FLEET_SIZES)."
                    % (name, state[1] if len(state) > 1 else "?", limit))
            docker("exec", name, "sh", "-c",
                   "for i in $(seq 1 120); do s=$(systemctl is-system-running 2>/dev/null); "
                   "case $s in running|degraded) break;; esac; sleep 1; done; "
                   "mount -o remount,rw /proc/sys; "
                   # A host with containerd installed runs it, and its CRI plugin has created
                   # /etc/cni/net.d; under load that lags the boot (the role needs the directory).
                   "for i in $(seq 1 120); do [ -d /etc/cni/net.d ] && break; sleep 1; done")

    def remove(self, names=None):
        names = list(self.containers if names is None else names)
        if names:
            docker("rm", "-f", "-v", *names, check=False)
        self.containers = [c for c in self.containers if c not in names]

    # ---- playbook runs -------------------------------------------------------
    def inventory(self, names, kubeconfig, path):
        art_dir, url = self.env["EDGE_ARTIFACTS_DIR"], self.env["EDGE_ARTIFACTS_URL"]
        inv = {"all": {"children": {"edge": {"hosts": {n: {} for n in names}, "vars": {
            "ansible_connection": "community.docker.docker",
            "edgenode_kubeedge_version": "v1.13.1",
            "edgenode_cloudcore_address": self.env["EDGE_CLOUDCORE_ADDRESS"],
            # the test bed's CloudCores share kubeedge/cloudcoresecret
            "edgenode_server_cert_check": False,
            "edgenode_cloud_host": "localhost",
            "edgenode_labels": {"bench.edge.cluster/run": self.ctx.prefix},
            "edgenode_container_runtime": "containerd",
            "edgenode_keadm_install_method": "url",
            "edgenode_keadm_checksum": "sha512:%s/v1.13.1/checksum_keadm-v1.13.1-linux-amd64.tar.gz.txt" % url,
            "edgenode_release_base_url": url,
            "edgenode_artifacts_dir": "%s/v1.13.1" % art_dir,
            "edgenode_image_archives": IMAGE_ARCHIVES,
            "edgenode_containerd_restrict_oom_score_adj": True,
            "edgenode_verify_timeout": 120,
        }}}, "hosts": {"localhost": {"ansible_connection": "local",
                                     "ansible_python_interpreter": self.ctx.python}},
            # all: the token play runs on localhost, outside the edge group.
            "vars": {"edgenode_kubeconfig": kubeconfig}}}
        with open(path, "w") as handle:
            yaml.safe_dump(inv, handle)
        return path

    def run_playbook(self, playbook, inventory, user, label, node_names, kubeconfig):
        """One timed ansible-playbook run with its audit window.

        KUBECONFIG is the measured identity too, so a task that omits the kubeconfig
        option is still counted as the role's."""
        log_path = os.path.join(self.ctx.workdir, "%s.log" % label)
        env = dict(os.environ, ANSIBLE_FORKS=str(self.forks), ANSIBLE_STRATEGY=self.strategy,
                   ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", KUBECONFIG=kubeconfig,
                   ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks", PROFILE_TASKS_TASK_OUTPUT_LIMIT="15")
        cmd = [self.ctx.ansible_playbook, "-i", inventory, os.path.join(self.ctx.collection, playbook)]
        window = audit.Window(self.ctx.audit_log).open()
        load = tuple(round(x, 2) for x in os.getloadavg())
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.monotonic()
        with open(log_path, "w") as log:
            proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.ctx.collection,
                                  check=False)
        wall = time.monotonic() - start
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        window.close()
        with open(log_path) as log:
            text = log.read()
        recap = parse_recap(text)
        events = window.events()
        role = audit.by_user(events, user)
        token_gets = [e for e in role if audit.is_resource(e, "secrets", "kubeedge", "tokensecret", "get")]
        double = [e for e in audit.by_user(events, self.ctx.admin_user)
                  if audit.is_resource(e, "nodes") and audit.names_any(e, node_names)]
        hosts = {h: r for h, r in recap.items() if h in node_names}
        with open(log_path) as log:
            slowest = re.findall(r"^(.+?) -+ (\d+\.\d+)s$", log.read(), re.M)
        return {
            "wall_s": wall, "rc": proc.returncode, "load": load, "log": log_path,
            # controller-side CPU (ansible-playbook and its forks); the hosts' work runs in containers
            "controller_cpu_s": (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime),
            "hosts": len(node_names),
            "hosts_ok": sum(1 for r in hosts.values() if r.get("failed", 1) == 0 and r.get("unreachable", 1) == 0),
            "changed": sum(r.get("changed", 0) for r in recap.values()),
            "changed_by_host": {h: r.get("changed", 0) for h, r in recap.items()},
            "role_requests": len(role), "role_breakdown": audit.breakdown(role),
            "token_gets": len(token_gets),
            "double_requests": len(double), "double_breakdown": audit.breakdown(double),
            "slowest_tasks": [(t.strip(), float(s)) for t, s in slowest][:15],
            "tasks": len(re.findall(r"^TASK ", text, re.M)),
            "failure": first_failure(text),
        }

    def nodes_ready(self, names):
        ready = 0
        for name in names:
            try:
                node = self.ctx.bench.core.read_node(name)
            except Exception:  # pylint: disable=broad-except  # missing counts as not ready
                continue
            conds = {c.type: c.status for c in (node.status.conditions or [])}
            ready += conds.get("Ready") == "True"
        return ready


def dump(obj):
    return json.dumps(obj, sort_keys=True)


PROFILE_STAMP = re.compile(r"^\w+ (\d+ \w+ \d{4})\s+(\d\d:\d\d:\d\d) \+0000 \([^)]*\)\s+(\d+):(\d\d):(\d\d\.\d+) \*+\s*$",
                           re.M)


def recover_run(log_path, node_names, user, admin_user, audit_log=audit.AUDIT_LOG):
    """Rebuild a fleet run's result from its playbook log and the audit log.

    For a run whose benchmark process was stopped before it saved its results:
    the wall time is profile_tasks' elapsed time at its last line (the playbook
    start to its TASKS RECAP), the audit window is that span."""
    import datetime  # pylint: disable=import-outside-toplevel
    with open(log_path) as handle:
        text = handle.read()
    stamps = PROFILE_STAMP.findall(text)
    if not stamps or "PLAY RECAP" not in text:
        raise RuntimeError("%s: the run did not finish (no PLAY RECAP or time stamps)" % log_path)
    day, clock, h, m, sec = stamps[-1]
    end = datetime.datetime.strptime("%s %s" % (day, clock), "%d %B %Y %H:%M:%S").replace(
        tzinfo=datetime.timezone.utc) + datetime.timedelta(seconds=1)
    wall = int(h) * 3600 + int(m) * 60 + float(sec)
    start = end - datetime.timedelta(seconds=wall + 3)
    window = audit.Window(audit_log)
    window.start, window.end = start, end
    window._inode, window._offset = os.stat(audit_log).st_ino, 0  # pylint: disable=protected-access
    events = window.events()
    role = audit.by_user(events, user)
    double = [e for e in audit.by_user(events, admin_user)
              if audit.is_resource(e, "nodes") and audit.names_any(e, node_names)]
    recap = parse_recap(text)
    hosts = {h: r for h, r in recap.items() if h in node_names}
    return {
        "wall_s": wall, "rc": 0 if hosts and all(r.get("failed", 1) == 0 for r in hosts.values()) else 2,
        "load": None, "log": log_path, "recovered": True, "hosts": len(node_names),
        "hosts_ok": sum(1 for r in hosts.values() if r.get("failed", 1) == 0 and r.get("unreachable", 1) == 0),
        "changed": sum(r.get("changed", 0) for r in recap.values()),
        "role_requests": len(role), "role_breakdown": audit.breakdown(role),
        "token_gets": len([e for e in role if audit.is_resource(e, "secrets", "kubeedge", "tokensecret", "get")]),
        "double_requests": len(double), "double_breakdown": audit.breakdown(double),
        "slowest_tasks": [(t.strip(), float(s)) for t, s in re.findall(r"^(.+?) -+ (\d+\.\d+)s$", text, re.M)][:15],
        "failure": first_failure(text),
    }
