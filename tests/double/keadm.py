#!/usr/bin/env python3
"""Test double of KubeEdge's `keadm` (edge side: join, reset, version).

Python 3 standard library only: it runs inside the edge test containers.
The KubeEdge version it impersonates is baked in by tests/double/package.sh
(the placeholder below is replaced). See tests/double/README.md for what it
reproduces and what it does not. No KubeEdge source code is used here: flags,
paths, file formats and messages were observed on the real binaries.
"""

import datetime
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

VERSION = "@KUBEEDGE_VERSION@"

KUBEEDGE_PATH = "/etc/kubeedge/"
CONFIG_FILE = "/etc/kubeedge/config/edgecore.yaml"
BOOTSTRAP_FILE = "/etc/kubeedge/bootstrap-edgecore.conf"
LOG_PATH = "/var/log/kubeedge/"
SOCKET_PATH = "/var/lib/kubeedge/"
EDGED_ROOT = "/var/lib/edged"
EDGECORE_BIN = "/usr/local/bin/edgecore"
SERVICE_FILE = "/etc/systemd/system/edgecore.service"
DEFAULT_ENDPOINT = "unix:///run/containerd/containerd.sock"
MOSQUITTO_IMAGE = "eclipse-mosquitto:1.6.15"
PAUSE_IMAGE = "kubeedge/pause:3.6"
INSTALL_IMAGE = "kubeedge/installation-package"

# Fake build metadata printed by `keadm version` (format of the real output).
GIT_COMMIT = "0000000000000000000000000000000000000000"
BUILD_DATE = "2024-01-01T00:00:00Z"


class KeadmError(Exception):
    """An error the real keadm reports as `Error: <text>` (exit 1)."""


# --------------------------------------------------------------------------
# version helpers
def version_tuple(v=None):
    v = (v or VERSION).lstrip("v")
    m = re.match(r"^(\d+)\.(\d+)\.(\d+)", v)
    if not m:
        return (0, 0, 0)
    return tuple(int(x) for x in m.groups())


def minor():
    return version_tuple()[1]


def broken_before(fixed):
    """True when this version is older than the fix of its minor line (fixed: {minor: patch});
    minors not in the table have the fix."""
    dummy, mnr, patch = version_tuple()
    return mnr in fixed and patch < fixed[mnr]


# The pod sandbox keadm join runs on containerd (CRI) to copy edgecore out of the
# installation-package image: it needs a CNI configuration until 1.13.5, 1.14.5 and
# 1.15.2, and breaks with the systemd cgroup driver until 1.13.3 and 1.14.3 (the
# edgenode role writes a bridge conflist and refuses systemd there).
SANDBOX_NEEDS_CNI = {13: 5, 14: 5, 15: 2}
SANDBOX_SYSTEMD_BROKEN = {13: 3, 14: 3}
CNI_CONF_DIR = "/etc/cni/net.d"
NODE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def join_sandbox_check(runtime, cgroupdriver):
    """Fail like the real join's copy sandbox does on the affected versions (containerd only)."""
    if runtime.kind == "docker":
        return
    if broken_before(SANDBOX_NEEDS_CNI):
        confs = [f for f in (os.listdir(CNI_CONF_DIR) if os.path.isdir(CNI_CONF_DIR) else [])
                 if f.endswith((".conf", ".conflist", ".json"))]
        if not confs:
            raise KeadmError("copy resources failed: rpc error: code = Unknown desc = failed to setup network for "
                             "sandbox: cni plugin not initialized (no network config found in %s)" % CNI_CONF_DIR)
    if cgroupdriver == "systemd" and broken_before(SANDBOX_SYSTEMD_BROKEN):
        raise KeadmError("copy resources failed: rpc error: code = Unknown desc = failed to create containerd "
                         "task: OCI runtime create failed: expected cgroupsPath to be of format "
                         "\"slice:prefix:name\" for systemd cgroups")


# --------------------------------------------------------------------------
# flag tables: name -> (shorthand, kind, default). kind: string|bool|strings|stringArray
_JOIN_BASE = {
    "certPath": ("", "string", "/etc/kubeedge/certs"),
    "certport": ("s", "string", ""),
    "cgroupdriver": ("", "string", "cgroupfs"),
    "cloudcore-ipport": ("e", "string", ""),
    "edgenode-name": ("i", "string", ""),
    "image-repository": ("", "string", ""),
    "kubeedge-version": ("", "string", ""),
    "labels": ("l", "strings", []),
    "remote-runtime-endpoint": ("p", "string", DEFAULT_ENDPOINT),
    "tarballpath": ("", "string", ""),
    "token": ("t", "string", ""),
}


def join_flags(mnr=None):
    """The flags `keadm join` accepts in KubeEdge 1.<mnr> (hidden ones included)."""
    mnr = minor() if mnr is None else mnr
    flags = dict(_JOIN_BASE)
    if mnr <= 15:
        flags["runtimetype"] = ("r", "string", "remote")
        flags["with-mqtt"] = ("", "bool", True)
    else:
        flags["hub-protocol"] = ("", "string", "websocket")
        if mnr <= 20:
            # still accepted, but deprecated and hidden from --help
            flags["with-mqtt"] = ("", "bool", False)
    if mnr >= 18:
        flags["set"] = ("", "stringArray", [])
    if mnr >= 20:
        flags["pre-run"] = ("", "string", "")
        flags["post-run"] = ("", "string", "")
    return flags


def deprecated_flags(mnr=None):
    mnr = minor() if mnr is None else mnr
    if 16 <= mnr <= 20:
        return {"with-mqtt": "The mqtt broker is alreay managed by the DaemonSet in the cloud"}
    return {}


def reset_flags(mnr=None, sub=None):
    mnr = minor() if mnr is None else mnr
    flags = {"force": ("", "bool", False),
             "remote-runtime-endpoint": ("", "string", "")}
    if sub != "edge":
        flags["kube-config"] = ("", "string", "/root/.kube/config")
    if mnr <= 15:
        flags["runtimetype"] = ("", "string", "remote")
    if sub == "edge" and mnr >= 20:
        flags["pre-run"] = ("", "string", "")
        flags["post-run"] = ("", "string", "")
    return flags


def global_flags(mnr=None):
    mnr = minor() if mnr is None else mnr
    return {"v": ("v", "string", "")} if mnr >= 21 else {}


# --------------------------------------------------------------------------
# output helpers
def klog(level, where, msg):
    now = datetime.datetime.now()
    sys.stderr.write("%s%s %s %7d %s] %s\n" % (level, now.strftime("%m%d"), now.strftime("%H:%M:%S.%f"),
                                              os.getpid(), where, msg))
    sys.stderr.flush()


class Step:
    def __init__(self):
        self.n = 0

    def printf(self, msg, where="join.go:0"):
        self.n += 1
        klog("I", where, "%d. %s" % (self.n, msg))


def fail(msg, usage=None):
    """Print an error the way keadm's cobra root does and exit 1."""
    sys.stderr.write("Error: %s\n" % msg)
    if usage:
        sys.stderr.write(usage)
    sys.stderr.flush()
    if minor() <= 20:
        sys.stdout.write("execute keadm command failed:  %s\n" % msg)
        sys.stdout.flush()
    sys.exit(1)


# --------------------------------------------------------------------------
# pflag-like parser
class FlagError(Exception):
    pass


def parse_bool(name, value):
    v = value.lower()
    if v in ("1", "t", "true"):
        return True
    if v in ("0", "f", "false"):
        return False
    raise FlagError('invalid argument "%s" for "--%s" flag: strconv.ParseBool: parsing "%s": invalid syntax'
                    % (value, name, value))


def parse_flags(args, table):
    """Parse args like spf13/pflag. Returns (values, positionals, help_requested)."""
    values = {k: (list(d) if isinstance(d, list) else d) for k, (_, _, d) in table.items()}
    seen = set()
    shorts = {s: k for k, (s, _, _) in table.items() if s}
    pos, help_req = [], False
    i = 0

    def assign(name, value):
        kind = table[name][1]
        if kind == "bool":
            values[name] = parse_bool(name, value)
        elif kind == "strings":
            items = [x for x in value.split(",")] if value else []
            values[name] = (values[name] if name in seen else []) + items
        elif kind == "stringArray":
            values[name] = (values[name] if name in seen else []) + [value]
        else:
            values[name] = value
        seen.add(name)
        if name in deprecated_flags():
            sys.stderr.write("Flag --%s has been deprecated, %s\n" % (name, deprecated_flags()[name]))

    while i < len(args):
        a = args[i]
        i += 1
        if a == "--":
            pos.extend(args[i:])
            break
        if a.startswith("--") and len(a) > 2:
            name, eq, val = a[2:].partition("=")
            if name == "help":
                help_req = True
                continue
            if name not in table:
                raise FlagError("unknown flag: --%s" % name)
            if eq:
                assign(name, val)
            elif table[name][1] == "bool":
                assign(name, "true")
            elif i < len(args):
                assign(name, args[i])
                i += 1
            else:
                raise FlagError("flag needs an argument: --%s" % name)
        elif a.startswith("-") and len(a) > 1:
            rest = a[1:]
            while rest:
                c, rest = rest[0], rest[1:]
                if c == "h":
                    help_req = True
                    continue
                if c not in shorts:
                    raise FlagError("unknown shorthand flag: '%s' in -%s" % (c, a[1:]))
                name = shorts[c]
                if rest.startswith("="):
                    assign(name, rest[1:])
                    rest = ""
                elif table[name][1] == "bool":
                    assign(name, "true")
                elif rest:
                    assign(name, rest)
                    rest = ""
                elif i < len(args):
                    assign(name, args[i])
                    i += 1
                else:
                    raise FlagError("flag needs an argument: '%s' in -%s" % (c, c))
        else:
            pos.append(a)
    return values, pos, help_req, seen


def usage_text(cmd, table, commands=()):
    """Help like cobra's: usage, the subcommands (name, description) when there are any, the flags."""
    lines = ["Usage:", "  keadm %s [flags]" % cmd]
    if commands:
        lines += ["  keadm %s [command]" % cmd, "", "Available Commands:"]
        lines += ["  %-11s %s" % (name, text) for name, text in commands]
    lines += ["", "Flags:"]
    for name in sorted(table, key=str.lower):
        if name in deprecated_flags() or name == "v":
            continue
        s, kind, d = table[name]
        head = ("  -%s, --%s" % (s, name)) if s else ("      --%s" % name)
        if kind != "bool":
            head += " " + kind
        # pflag prints no zero default; a string's default is quoted
        if kind == "string" and d:
            default = ' (default "%s")' % d
        elif kind == "bool":
            default = " (default true)" if d is True else ""
        else:
            default = " (default %s)" % d if d not in ("", None, [], 0) else ""
        lines.append("%-42s (keadm double)%s" % (head, default))
    lines.append("  -h, --help                               help for %s" % cmd.split()[-1])
    return "\n".join(lines) + "\n\n"


# --------------------------------------------------------------------------
# commands: version
def cmd_version(args):
    table = {"output": ("o", "string", "")}
    table.update(global_flags())
    try:
        vals, _, help_req, _ = parse_flags(args, table)
    except FlagError as exc:
        fail(str(exc), usage_text("version", table))
    if help_req:
        sys.stdout.write(usage_text("version", table))
        return 0
    major, mnr, _ = version_tuple()
    info = dict(major=str(major), minor=str(mnr), gitVersion=VERSION, gitCommit=GIT_COMMIT,
                gitTreeState="clean", buildDate=BUILD_DATE, goVersion="go1.19.8" if mnr <= 15 else "go1.22.10",
                compiler="gc", platform="linux/amd64")
    out = vals["output"]
    if out == "":
        sys.stdout.write('version: version.Info{Major:"%s", Minor:"%s", GitVersion:"%s", GitCommit:"%s", '
                         'GitTreeState:"%s", BuildDate:"%s", GoVersion:"%s", Compiler:"%s", Platform:"%s"}\n'
                         % (info["major"], info["minor"], info["gitVersion"], info["gitCommit"],
                            info["gitTreeState"], info["buildDate"], info["goVersion"], info["compiler"],
                            info["platform"]))
    elif out == "short":
        sys.stdout.write("%s\n" % VERSION)
    elif out == "json":
        sys.stdout.write(json.dumps(info, indent=2))
    elif out == "yaml":
        for k in sorted(info):
            v = info[k]
            if k in ("major", "minor", "buildDate"):
                v = '"%s"' % v
            sys.stdout.write("%s: %s\n" % (k, v))
    else:
        sys.stderr.write("invalid output format: %s\n" % out)
        return 1
    return 0


# --------------------------------------------------------------------------
# container runtime access (ctr for containerd, docker CLI for docker)
def normalize_ref(ref):
    name = ref
    first = name.split("/", 1)[0]
    if "/" not in name or not ("." in first or ":" in first or first == "localhost"):
        if "/" not in name:
            name = "library/" + name
        name = "docker.io/" + name
    if ":" not in name.rsplit("/", 1)[-1] and "@" not in name:
        name += ":latest"
    return name


def endpoint_socket(endpoint):
    return endpoint[len("unix://"):] if endpoint.startswith("unix://") else endpoint


def pull_error(ref):
    full = normalize_ref(ref)
    host, _, rest = full.partition("/")
    path, _, tag = rest.rpartition(":")
    registry = "registry-1.docker.io" if host == "docker.io" else host
    msg = ('failed to pull and unpack image "%s": failed to resolve reference "%s": failed to do request: '
           'Head "https://%s/v2/%s/manifests/%s": dial tcp: lookup %s: no such host'
           % (full, full, registry, path, tag, registry))
    if minor() <= 16:
        msg = "rpc error: code = Unknown desc = " + msg
    if minor() >= 23:
        msg = "failed to pull image %s, err: %s" % (ref, msg)
    return msg


class Runtime:
    def __init__(self, kind, endpoint):
        self.kind = kind  # "containerd" or "docker"
        self.endpoint = endpoint
        self.socket = endpoint_socket(endpoint)

    def _ctr(self, *args, **kw):
        return subprocess.run(["ctr", "--address", self.socket, "-n", "k8s.io"] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)

    def has_image(self, ref):
        if self.kind == "docker":
            r = subprocess.run(["docker", "image", "inspect", ref], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
            return r.returncode == 0
        r = self._ctr("images", "ls", "-q")
        if r.returncode != 0:
            raise KeadmError("unable to list images: %s" % r.stderr.decode(errors="replace").strip())
        return normalize_ref(ref) in r.stdout.decode().split()

    def pull_images(self, images):
        for ref in images:
            if minor() < 23:
                print("Pulling %s ..." % ref, flush=True)
            if not self.has_image(ref):
                klog("E", "remote_image.go:0", '"PullImage from image service failed" err="%s" image="%s"'
                     % (pull_error(ref).replace('"', '\\"'), ref))
                raise KeadmError("pull Images failed: %s" % pull_error(ref))
            if self.kind != "docker" and minor() < 23:
                print("Successfully pulled %s" % ref, flush=True)

    def copy_edgecore(self, ref, dest):
        """Copy /usr/local/bin/edgecore out of the installation-package image."""
        tmp = tempfile.mkdtemp(prefix="keadm-double-")
        try:
            if self.kind == "docker":
                cid = subprocess.run(["docker", "create", ref, "/bin/sh"], check=True, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE).stdout.decode().strip()
                try:
                    subprocess.run(["docker", "cp", "%s:%s" % (cid, EDGECORE_BIN), os.path.join(tmp, "edgecore")],
                                   check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                finally:
                    subprocess.run(["docker", "rm", "-f", cid], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                data = open(os.path.join(tmp, "edgecore"), "rb").read()
            else:
                archive = os.path.join(tmp, "image.tar")
                r = self._ctr("images", "export", archive, normalize_ref(ref))
                if r.returncode != 0:
                    raise KeadmError("copy resources failed: %s" % r.stderr.decode(errors="replace").strip())
                data = extract_from_oci(archive, EDGECORE_BIN.lstrip("/"))
            if data is None:
                raise KeadmError("copy resources failed: %s not found in image %s" % (EDGECORE_BIN, ref))
            with open(dest + ".tmp", "wb") as f:
                f.write(data)
            os.chmod(dest + ".tmp", 0o755)
            os.replace(dest + ".tmp", dest)
        except subprocess.CalledProcessError as exc:
            raise KeadmError("copy resources failed: %s" % (exc.stderr or b"").decode(errors="replace").strip())
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def extract_from_oci(archive, member):
    """Return the content of `member` from the top-most layer of an exported image."""
    with tarfile.open(archive) as outer:
        names = outer.getnames()

        def blob(path):
            return outer.extractfile(path).read()

        layers = []
        if "manifest.json" in names:  # docker-archive layout
            manifest = json.loads(blob("manifest.json"))[0]
            layers = manifest["Layers"]
        else:
            index = json.loads(blob("index.json"))
            desc = index["manifests"][0]
            doc = json.loads(blob("blobs/" + desc["digest"].replace(":", "/")))
            if "manifests" in doc:  # an index: take linux/amd64 or the first
                pick = [m for m in doc["manifests"] if m.get("platform", {}).get("architecture") == "amd64"]
                doc = json.loads(blob("blobs/" + (pick or doc["manifests"])[0]["digest"].replace(":", "/")))
            layers = ["blobs/" + l["digest"].replace(":", "/") for l in doc["layers"]]
        found = None
        for layer in layers:
            raw = blob(layer)
            with tarfile.open(fileobj=io.BytesIO(raw)) as lt:  # handles gzip or plain
                for m in lt.getmembers():
                    if m.name.lstrip("./") == member and m.isfile():
                        found = lt.extractfile(m).read()
        return found


def select_runtime(endpoint, runtimetype):
    if minor() <= 15 and runtimetype not in ("remote", "docker"):
        raise KeadmError("unsupport CRI runtime: %s" % runtimetype)
    if runtimetype == "docker":
        if not shutil.which("docker"):
            raise KeadmError("init docker client failed: docker CLI not found")
        return Runtime("docker", endpoint)
    sock = endpoint_socket(endpoint)
    if not os.path.exists(sock):
        raise KeadmError('unable to determine image API version: rpc error: code = Unavailable desc = connection '
                         'error: desc = "transport: Error while dialing dial unix %s: connect: no such file or '
                         'directory"' % sock)
    if "docker" in os.path.basename(sock):  # cri-dockerd: images live in docker
        return Runtime("docker", endpoint)
    return Runtime("containerd", endpoint)


def edge_images(opts):
    """The images join needs, in the order the double pulls them."""
    repo = opts["image-repository"]
    ver = opts["kubeedge-version"]

    def cur(ref, with_version):
        if with_version:
            ref = ref.split(":", 1)[0] + ":" + ver
        if repo:
            parts = ref.split("/", 1)
            ref = repo + "/" + (parts[1] if len(parts) == 2 else parts[0])
        return ref

    images = [cur(INSTALL_IMAGE + ":latest", True)]
    if minor() <= 15:
        # the real 1.13-1.15 join pulls mosquitto even with --with-mqtt=false
        images += [cur(MOSQUITTO_IMAGE, False), cur(PAUSE_IMAGE, False)]
    elif opts.get("with-mqtt"):
        images.append(cur(MOSQUITTO_IMAGE, False))
    return images


# --------------------------------------------------------------------------
# edgecore.yaml
def labels_map(labels):
    out = {}
    for item in labels:
        k, eq, v = item.partition("=")
        if k == "":
            continue
        out[k] = v if eq else ""
    return out


def edgecore_config(opts, node_name):
    host, port = split_host_port(opts["cloudcore-ipport"])
    certport = opts["certport"] or "10002"
    mnr = minor()
    endpoint = opts["remote-runtime-endpoint"]
    quic = opts.get("hub-protocol") == "quic"
    cert_dir = "/etc/kubeedge/certs"
    kubelet = {
        "address": "127.0.0.1",
        "cgroupDriver": opts["cgroupdriver"],
        "cgroupsPerQOS": True,
        "clusterDomain": "cluster.local",
        "containerLogMaxFiles": 5,
        "containerLogMaxSize": "10Mi",
        "contentType": "application/json",
        "enforceNodeAllocatable": ["pods"],
        "evictionHard": {"imagefs.available": "15%", "memory.available": "100Mi",
                         "nodefs.available": "10%", "nodefs.inodesFree": "5%"},
        "failSwapOn": False,
        "maxPods": 110,
        "nodeLeaseDurationSeconds": 40,
        "nodeStatusUpdateFrequency": "10s",
        "readOnlyPort": 10350,
        "registerNode": True,
        "resolvConf": "/etc/resolv.conf",
    }
    edged = {
        "enable": True,
        "hostnameOverride": node_name,
        "maxContainerCount": -1,
        "maxPerPodContainerCount": 1,
        "nodeLabels": labels_map(opts["labels"]) if opts["labels"] else {},
        "podSandboxImage": "kubeedge/pause:3.6",
        "registerNode": True,
        "registerNodeNamespace": "default",
        "registerSchedulable": True,
        "rootDirectory": EDGED_ROOT,
        "tailoredKubeletConfig": kubelet,
    }
    if mnr <= 15:
        edged.update({"cniBinDir": "/opt/cni/bin", "cniCacheDir": "/var/lib/cni/cache",
                      "cniConfDir": "/etc/cni/net.d", "containerRuntime": opts.get("runtimetype", "remote"),
                      "remoteImageEndpoint": endpoint, "remoteRuntimeEndpoint": endpoint})
    else:
        kubelet["containerRuntimeEndpoint"] = endpoint
        kubelet["imageServiceEndpoint"] = endpoint
    cfg = {
        "apiVersion": "edgecore.config.kubeedge.io/v1alpha2",
        "database": {"aliasName": "default", "dataSource": "/var/lib/kubeedge/edgecore.db",
                     "driverName": "sqlite3"},
        "kind": "EdgeCore",
        "modules": {
            "dbTest": {"enable": False},
            "deviceTwin": {"enable": True},
            "edgeHub": {
                "enable": True,
                "heartbeat": 15,
                "httpServer": "https://%s" % join_host_port(host, certport),
                "messageBurst": 60,
                "messageQPS": 30,
                "projectID": "e632aba927ea4ac2b575ec1603d56f10",
                "quic": {"enable": quic, "handshakeTimeout": 30, "readDeadline": 15,
                         "server": opts["cloudcore-ipport"] if quic else
                         (join_host_port(host, "10001") if mnr >= 16 else ":10001"),
                         "writeDeadline": 15},
                "rotateCertificates": True,
                "tlsCaFile": "/etc/kubeedge/ca/rootCA.crt",
                "tlsCertFile": cert_dir + "/server.crt",
                "tlsPrivateKeyFile": cert_dir + "/server.key",
                "token": opts["token"],
                "websocket": {"enable": not quic, "handshakeTimeout": 30, "readDeadline": 15,
                              "server": join_host_port(host, "10000") if quic else opts["cloudcore-ipport"],
                              "writeDeadline": 15},
            },
            "edgeStream": {"enable": False, "handshakeTimeout": 30, "readDeadline": 15,
                           "server": join_host_port(host, "10004"),
                           "tlsTunnelCAFile": "/etc/kubeedge/ca/rootCA.crt",
                           "tlsTunnelCertFile": cert_dir + "/server.crt",
                           "tlsTunnelPrivateKeyFile": cert_dir + "/server.key",
                           "writeDeadline": 15},
            "edged": edged,
            "eventBus": {"enable": True, "mqttMode": 2, "mqttQOS": 0, "mqttRetain": False,
                         "mqttServerExternal": "tcp://127.0.0.1:1883",
                         "mqttServerInternal": "tcp://127.0.0.1:1884", "mqttSessionQueueSize": 100},
            "metaManager": {"contextSendGroup": "hub", "contextSendModule": "websocket", "enable": True,
                            "metaServer": {"enable": False, "server": "127.0.0.1:10550"},
                            "remoteQueryTimeout": 60},
            "serviceBus": {"enable": False, "port": 9060, "server": "127.0.0.1", "timeout": 60},
        },
    }
    if mnr >= 22:
        cfg["edgeCoreVersion"] = VERSION
    for item in opts.get("set") or []:
        apply_set(cfg, item)
    return cfg


def apply_set(cfg, item):
    """--set modules.edged.foo=bar (dotted path into the config)."""
    for part in item.split(","):
        path, eq, value = part.partition("=")
        if not eq:
            raise KeadmError("invalid --set value: %s" % part)
        node = cfg
        keys = path.split(".")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        low = value.lower()
        node[keys[-1]] = True if low == "true" else False if low == "false" else \
            int(value) if re.match(r"^-?\d+$", value) else value


def yaml_scalar(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    s = str(v)
    if s == "" or re.match(r"^[-?:,\[\]{}#&*!|>'\"%@`]|^(true|false|null|yes|no|on|off|~)$|^[-+]?[0-9.]+$|: | #",
                           s, re.I) or s != s.strip():
        return json.dumps(s)
    return s


def to_yaml(obj, indent=0):
    """Serialise dicts/lists/scalars as block YAML (keys sorted, like sigs.k8s.io/yaml)."""
    pad = "  " * indent
    out = []
    for k in sorted(obj):
        v = obj[k]
        if isinstance(v, dict):
            if v:
                out.append("%s%s:" % (pad, yaml_scalar(k)))
                out.append(to_yaml(v, indent + 1))
            else:
                out.append("%s%s: {}" % (pad, yaml_scalar(k)))
        elif isinstance(v, list):
            if v:
                out.append("%s%s:" % (pad, yaml_scalar(k)))
                out.extend("%s- %s" % (pad, yaml_scalar(x)) for x in v)
            else:
                out.append("%s%s: []" % (pad, yaml_scalar(k)))
        else:
            out.append("%s%s: %s" % (pad, yaml_scalar(k), yaml_scalar(v)))
    return "\n".join(out)


def split_host_port(ipport):
    m = re.match(r"^\[([^\]]*)\]:(\d*)$", ipport) or re.match(r"^([^:]*):(\d*)$", ipport)
    if not m:
        if ":" not in ipport:
            raise KeadmError("get current host and port failed: address %s: missing port in address" % ipport)
        raise KeadmError("get current host and port failed: address %s: too many colons in address" % ipport)
    return m.group(1), m.group(2)


def join_host_port(host, port):
    return ("[%s]:%s" % (host, port)) if ":" in host else ("%s:%s" % (host, port))


# --------------------------------------------------------------------------
# system helpers
def pidof(name):
    return subprocess.run(["pidof", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def has_systemd():
    return os.path.isdir("/run/systemd/system")


def sh(cmd):
    r = subprocess.run(["/bin/sh", "-c", cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise KeadmError("failed to exec '/bin/sh -c %s', err: %s, exit status %d"
                         % (cmd, r.stdout.decode(errors="replace").strip(), r.returncode))
    return r.stdout.decode(errors="replace")


def service_unit(with_mqtt):
    mnr = minor()
    if mnr <= 19:
        return ("[Unit]\nDescription=edgecore.service\n\n[Service]\nType=simple\nExecStart=%s\nRestart=always\n"
                "RestartSec=10\nEnvironment=DEPLOY_MQTT_CONTAINER=%s\n\n[Install]\nWantedBy=multi-user.target\n"
                % (EDGECORE_BIN, "true" if with_mqtt else "false"))
    env = '"DEPLOY_MQTT_CONTAINER=%s"' % ("true" if with_mqtt else "false") if mnr == 20 else ""
    return ("[Unit]\nDescription=edgecore.service\n\n[Service]\nType=simple\nExecStart=%s\nRestart=always\n"
            "RestartSec=10\nEnvironment=%s\nKillMode=process\n\n[Install]\nWantedBy=multi-user.target\n"
            % (EDGECORE_BIN, env))


def run_script(path):
    r = subprocess.run(["/bin/sh", path])
    if r.returncode != 0:
        raise KeadmError("failed to run script %s: exit status %d" % (path, r.returncode))


# --------------------------------------------------------------------------
# join
def cmd_join(args):
    table = join_flags()
    table.update(global_flags())
    try:
        opts, _, help_req, seen = parse_flags(args, table)
    except FlagError as exc:
        fail(str(exc))  # join sets SilenceUsage: no usage text
    if help_req:
        sys.stdout.write('\n"keadm join" command bootstraps KubeEdge\'s worker node (test double of %s).\n\n'
                         % VERSION + usage_text("join", table))
        return 0
    step = Step()
    try:
        if opts.get("pre-run"):
            step.printf("Executing pre-run script: %s\n" % opts["pre-run"])
            run_script(opts["pre-run"])
        step.printf("Check KubeEdge edgecore process status", "command.go:0")
        if pidof("edgecore"):
            raise KeadmError("EdgeCore is already running on this node, please run reset to clean up first")
        step.printf("Check if the management directory is clean", "command.go:0")
        if os.path.isdir(KUBEEDGE_PATH) and os.listdir(KUBEEDGE_PATH):
            raise KeadmError("the management directory %s is not clean, please remove it first" % KUBEEDGE_PATH)
        if "cloudcore-ipport" not in seen:
            raise KeadmError('required flag(s) "cloudcore-ipport" not set')
        if not opts["kubeedge-version"]:
            klog("W", "common.go:0", "could not fetch a KubeEdge version from the internet: offline (keadm double)")
            klog("W", "common.go:0", "falling back to the local client version: %s" % VERSION)
            opts["kubeedge-version"] = VERSION
        elif not opts["kubeedge-version"].startswith("v"):
            opts["kubeedge-version"] = "v" + opts["kubeedge-version"]
        join(opts, step)
    except KeadmError as exc:
        msg = str(exc)
        if not msg.startswith(("EdgeCore is already", "the management directory", "required flag",
                               "failed to run script")):
            msg = "edge node join failed: %s" % msg
        fail(msg)
    return 0


def join(opts, step):
    mnr = minor()
    with_mqtt = bool(opts.get("with-mqtt"))
    node_name = opts["edgenode-name"] or os.uname().nodename.lower()
    step.printf("Create the necessary directories")
    for d in (KUBEEDGE_PATH, KUBEEDGE_PATH + "config", LOG_PATH, SOCKET_PATH):
        os.makedirs(d, exist_ok=True)

    runtime = select_runtime(opts["remote-runtime-endpoint"], opts.get("runtimetype", "remote"))
    images = edge_images(opts)
    step.printf("Pull Images")
    runtime.pull_images(images)
    step.printf("Copy resources from the image to the management directory")
    join_sandbox_check(runtime, opts["cgroupdriver"])
    runtime.copy_edgecore(images[0], EDGECORE_BIN)
    if with_mqtt:
        step.printf("Start the default mqtt service")
        d = os.path.join(SOCKET_PATH, "mqtt", "config")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "mosquitto.conf"), "w") as f:
            f.write("persistence true\npersistence_location /mosquitto/data\n"
                    "log_dest file /mosquitto/log/mosquitto.log\n")

    step.printf("Generate systemd service file")
    with open(SERVICE_FILE, "w") as f:
        f.write(service_unit(with_mqtt))
    os.chmod(SERVICE_FILE, 0o777 & ~current_umask())

    with open(BOOTSTRAP_FILE, "w") as f:
        f.write(opts["token"])
    try:
        step.printf("Generate EdgeCore default configuration")
        if opts["cgroupdriver"] not in ("cgroupfs", "systemd"):
            raise KeadmError("create edge config file failed: unsupported CGroupDriver: %s" % opts["cgroupdriver"])
        if mnr >= 16 and opts.get("hub-protocol") not in ("websocket", "quic"):
            raise KeadmError("create edge config file failed: unsupported hub of protocol: %s"
                             % opts.get("hub-protocol"))
        # the real join validates the configuration before writing it: edged's node
        # name must be a Kubernetes node name (a lowercase RFC 1123 subdomain)
        if len(node_name) > 253 or not NODE_NAME.match(node_name):
            raise KeadmError('create edge config file failed: HostnameOverride: Invalid value: "%s": not a '
                             'lowercase RFC 1123 subdomain (keadm double)' % node_name)
        cfg = edgecore_config(opts, node_name)
        with open(CONFIG_FILE, "w") as f:
            f.write(to_yaml(cfg) + "\n")

        step.printf("Run EdgeCore daemon")
        if has_systemd():
            # like the real one: through sudo (fails where sudo is missing)
            out = sh("sudo systemctl daemon-reload && sudo systemctl enable edgecore && "
                     "sudo systemctl start edgecore")
            klog("I", "join.go:0", out.strip())
            klog("I", "join.go:0", "KubeEdge edgecore is running, For logs visit: journalctl -u edgecore.service -xe")
        else:
            logf = os.path.join(LOG_PATH, "edgecore.log")
            subprocess.Popen([EDGECORE_BIN], stdout=open(logf, "ab"), stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
            klog("I", "join.go:0", "KubeEdge edgecore is running, For logs visit: %s" % logf)

        # wait until edgecore got its CA and certificate from the cloud
        hub = cfg["modules"]["edgeHub"]
        timeout = float(os.environ.get("KEADM_DOUBLE_JOIN_TIMEOUT", "300"))
        deadline = time.time() + timeout
        while not all(os.path.exists(hub[k]) for k in ("tlsCaFile", "tlsCertFile", "tlsPrivateKeyFile")):
            if time.time() > deadline:
                raise KeadmError("timed out waiting for the condition")
            time.sleep(1)
        if mnr >= 17:
            step.printf("Install Complete!")
    finally:
        try:
            os.remove(BOOTSTRAP_FILE)
        except OSError:
            pass
    if opts.get("post-run"):
        step.printf("Executing post-run script: %s\n" % opts["post-run"])
        run_script(opts["post-run"])


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --------------------------------------------------------------------------
# reset
RESET_COMMANDS = (("cloud", "Remove CloudCore from this cluster (double)"),
                  ("edge", "Remove EdgeCore from this host (double)"))


def cmd_reset(args):
    mnr = minor()
    sub = None
    if args and args[0] in ("edge", "cloud") and mnr >= 17:
        sub, args = args[0], args[1:]
    table = reset_flags(sub=sub)
    if sub == "cloud":
        table = {"force": ("", "bool", False), "kube-config": ("", "string", DEFAULT_KUBECONFIG)}
    table.update(global_flags())
    name = "reset" + (" " + sub if sub else "")
    try:
        opts, _, help_req, _ = parse_flags(args, table)
    except FlagError as exc:
        fail(str(exc), usage_text(name, table))
    if help_req:
        # from 1.17 `reset` lists `reset cloud` and `reset edge` (and still resets by itself)
        commands = RESET_COMMANDS if sub is None and mnr >= 17 else ()
        sys.stdout.write(usage_text(name, table, commands))
        return 0
    if sub == "cloud":
        return reset_cloud(opts, sub)
    if sub is None and mnr >= 23:
        print("WARNING: 'keadm reset' is no longer supported after version v1.22.\n"
              "You must use the third-level command 'keadm reset cloud' or 'keadm reset edge'.")
    if sub == "edge" and mnr >= 20:
        return reset_edge_v120(opts)
    if sub is None and cloud_running(opts["kube-config"]):
        return reset_cloud(opts, sub)
    if not pidof("edgecore"):
        if sub == "edge":
            print("None of EdgeCore components are running in this host, exit")
        else:
            print("None of KubeEdge components are running in this host, exit")
        return 0
    confirm_reset(opts)
    if opts.get("pre-run"):
        run_script(opts["pre-run"])
    # 1. stop edgecore (<=1.20: and remove its unit, only when it is an enabled unit;
    #    1.21+ top-level reset: stop and disable only, the unit file stays)
    enabled = has_systemd() and subprocess.run(
        ["/bin/sh", "-c", "systemctl list-unit-files | grep enabled | grep edgecore"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    if enabled:
        rm = " && rm %s" % SERVICE_FILE if os.path.exists(SERVICE_FILE) and mnr <= 20 else ""
        try:
            sh("systemctl stop edgecore.service && systemctl disable edgecore.service%s && systemctl daemon-reload"
               % rm)
        except KeadmError as exc:
            fail("TearDown failed, err:%s" % exc)
    else:
        subprocess.run(["pkill", "-x", "edgecore"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print("edgecore is stopped")
    if sub is None and mnr >= 17 and not os.path.exists(opts["kube-config"]):
        # the real top-level reset of 1.17+ also runs the cloud teardown, which
        # needs a kubeconfig: it fails here and skips the cleanup below
        fail("TearDown failed, err:fail to clean kubeedge namespace, err:failed to create KubeClient, error: get "
             "kube config failed with error: stat %s: no such file or directory" % opts["kube-config"],
             usage_text(name, table))
    # 2. remove the Kubernetes containers (kubeadm helper, needs crictl)
    if not shutil.which("crictl"):
        if mnr <= 16:
            print("Failed to remove containers: exit status 1")
        else:
            print("Failed to remove containers: crictl is required by the container runtime: executable file "
                  "not found in $PATH")
    # 3. up to 1.19 the directories are emptied and kept (kubeadm CleanDir);
    #    1.20+ removes them (stopping at the first missing one, like the real)
    dirs = [KUBEEDGE_PATH, LOG_PATH, SOCKET_PATH, EDGED_ROOT]
    if mnr <= 19:
        for d in dirs + ["/var/lib/dockershim", "/var/run/kubernetes", "/var/lib/cni"]:
            clean_dir(d)
    else:
        remove_dirs(dirs + ["/var/lib/kubelet"])
    if opts.get("post-run"):
        run_script(opts["post-run"])
    return 0


def confirm_reset(opts):
    if not opts["force"]:
        print("[reset] WARNING: Changes made to this host by 'keadm init' or 'keadm join' will be reverted.")
        sys.stdout.write("[reset] Are you sure you want to proceed? [y/N]: ")
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() != "y":
            fail("aborted reset operation")


def clean_dir(path):
    """kubeadm's CleanDir: remove what is inside, keep the directory (nothing when missing)."""
    if not os.path.isdir(path):
        return
    for entry in os.listdir(path):
        full = os.path.join(path, entry)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full, ignore_errors=True)
        else:
            try:
                os.remove(full)
            except OSError:
                pass


def remove_dirs(dirs):
    """1.20+ CleanDirectories: RemoveAll each, but return at the first one that does not exist."""
    for d in dirs:
        if not os.path.exists(d):
            return
        shutil.rmtree(d, ignore_errors=True)


def reset_edge_v120(opts):
    """`keadm reset edge` of 1.20+: no "is anything running" check, always idempotent, rc 0."""
    step = Step()
    if opts.get("pre-run"):
        step.printf("executing pre-run script: %s" % opts["pre-run"], "reset_others.go:0")
        run_script(opts["pre-run"])
    confirm_reset(opts)
    step.printf("clean up static pods", "reset_others.go:83")
    if not os.path.exists(CONFIG_FILE):
        klog("W", "reset_others.go:86", "failed to parse edgecore configuration, skip cleaning up static pods, err: "
             "failed to read configfile %s, err: open %s: no such file or directory" % (CONFIG_FILE, CONFIG_FILE))
    step.printf("kill edgecore and remove edgecore service", "reset_others.go:98")
    if has_systemd() and os.path.exists(SERVICE_FILE):
        subprocess.run(["systemctl", "stop", "edgecore.service"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        subprocess.run(["systemctl", "disable", "edgecore.service"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        os.remove(SERVICE_FILE)
        subprocess.run(["systemctl", "daemon-reload"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elif has_systemd():
        klog("W", "reset_others.go:161", "failed to remove edgecore service, err: remove %s: no such file or "
             "directory" % SERVICE_FILE)
    step.printf("clean up containers managed by KubeEdge", "reset_others.go:102")
    if not shutil.which("crictl"):
        klog("W", "reset_others.go:104", "failed to clean up containers, err: crictl is required by the container "
             "runtime: executable file not found in $PATH")
    step.printf("clean up dirs created by KubeEdge", "reset_others.go:106")
    remove_dirs([KUBEEDGE_PATH, LOG_PATH, SOCKET_PATH, EDGED_ROOT, "/var/lib/kubelet"])
    if opts.get("post-run"):
        step.printf("executing post-run script: %s" % opts["post-run"], "reset_others.go:0")
        try:
            run_script(opts["post-run"])
        except KeadmError as exc:
            klog("W", "reset_others.go:0", str(exc))
    klog("I", "reset_others.go:122", "reset edge node successfully!")
    return 0


# --------------------------------------------------------------------------
# upgrade (edge): `keadm upgrade` up to 1.15, `keadm upgrade [edge]` 1.16-1.20,
# `keadm upgrade edge` 1.21+
UPGRADE_PATH = "/etc/kubeedge/upgrade/"
BACKUP_PATH = "/etc/kubeedge/backup/"
IDEMPOTENCY_RECORD = "/etc/kubeedge/idempotency_record"
UPGRADE_REPORT = "/etc/kubeedge/upgrade_report.json"
# `--toVersion` defaults printed by the real --help (keadm's DefaultKubeEdgeVersion)
UPGRADE_DEFAULT_TO = {13: "v1.12.0", 14: "v1.14.0", 15: "v1.14.0", 16: "v1.15.1", 17: "v1.15.1", 18: "v1.15.1",
                      19: "v1.18.0", 20: "v1.20.0", 21: "v1.21.0", 22: "v1.22.0", 23: "v1.23.0"}


def upgrade_flags(mnr=None):
    mnr = minor() if mnr is None else mnr
    to = UPGRADE_DEFAULT_TO.get(mnr, VERSION)
    config = ("", "string", CONFIG_FILE)
    if mnr >= 21:
        return {"config": config, "force": ("", "bool", False),
                "image": ("", "string", "kubeedge/installation-package"), "image-digest": ("", "string", ""),
                "pre-run": ("", "string", ""), "post-run": ("", "string", ""), "toVersion": ("", "string", to)}
    flags = {"config": config, "fromVersion": ("", "string", ""), "historyID": ("", "string", ""),
             "image": ("", "string", ""), "toVersion": ("", "string", to), "upgradeID": ("", "string", "")}
    if mnr >= 16:
        flags["disable-backup"] = ("", "bool", False)
        flags["type"] = ("", "string", "upgrade")
    if mnr >= 20:
        flags["pre-run"] = ("", "string", "")
        flags["post-run"] = ("", "string", "")
    return flags


def copy_file(src, dst):
    """Go's copy helper of keadm upgrade: regular files only, keeps the mode."""
    st = os.stat(src)
    if not os.path.isfile(src):
        raise KeadmError("%s is not a regular file" % src)
    with open(src, "rb") as f:
        data = f.read()
    fd = os.open(dst, os.O_RDWR | os.O_CREAT | os.O_TRUNC, st.st_mode & 0o7777)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def go_stat_error(path):
    return "stat %s: no such file or directory" % path


def upgrade_runtime(cfg):
    tailored = cfg.get("modules.edged.tailoredKubeletConfig.containerRuntimeEndpoint") or ""
    if minor() >= 21:
        endpoint = tailored
    else:
        endpoint = cfg.get("modules.edged.remoteRuntimeEndpoint") or tailored
    if not endpoint:
        raise KeadmError('unable to determine image API version: rpc error: code = Unavailable desc = connection '
                         'error: desc = "transport: Error while dialing dial unix: missing address"')
    runtimetype = cfg.get("modules.edged.containerRuntime", "remote") if minor() <= 15 else "remote"
    return select_runtime(endpoint, runtimetype)


def kill_edgecore_for_upgrade():
    """KillKubeEdgeBinary: stop the service (<=1.20: disable and remove its unit too) or pkill."""
    running = has_systemd() and subprocess.run(["systemctl", "is-active", "--quiet", "edgecore"]).returncode == 0
    if running:
        if minor() <= 20:
            rm = " && sudo rm %s" % SERVICE_FILE if os.path.exists(SERVICE_FILE) else ""
            sh("sudo systemctl stop edgecore.service && sudo systemctl disable edgecore.service %s && "
               "sudo systemctl daemon-reload" % rm)
        else:
            sh("sudo systemctl stop edgecore.service && sudo systemctl disable edgecore.service")
    else:
        subprocess.run(["pkill", "edgecore"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if minor() >= 21:
        print("edgecore is stopped")


def start_edgecore():
    if has_systemd():
        out = sh("sudo systemctl daemon-reload && sudo systemctl enable edgecore && sudo systemctl start edgecore")
        klog("I", "join.go:0", out.strip())
    else:
        logf = os.path.join(LOG_PATH, "edgecore.log")
        subprocess.Popen([EDGECORE_BIN], stdout=open(logf, "ab"), stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)


def upgrade_unit(config_path):
    """The unit upgrade writes up to 1.20: ExecStart with --config, mqtt off."""
    unit = service_unit(False).replace("ExecStart=%s\n" % EDGECORE_BIN,
                                       "ExecStart=%s --config %s\n" % (EDGECORE_BIN, config_path))
    with open(SERVICE_FILE, "w") as f:
        f.write(unit)
    os.chmod(SERVICE_FILE, 0o777 & ~current_umask())


UPGRADE_COMMANDS = (("cloud", "Upgrade the cloud components"),
                    ("edge", "Upgrade EdgeCore on this host (double)"))


def cmd_upgrade(args):
    mnr = minor()
    sub = None
    if args and args[0] in ("edge", "cloud") and mnr >= 16:
        sub, args = args[0], args[1:]
    if sub == "cloud":
        return cmd_upgrade_cloud(args)
    if mnr >= 21 and sub is None:
        # the 1.21+ `upgrade` has no RunE: it prints its help
        sys.stdout.write("Upgrade components of the cloud or the edge\n\nUsage:\n  keadm upgrade [command]\n\n"
                         "Available Commands:\n" + "".join("  %-11s %s\n" % c for c in UPGRADE_COMMANDS))
        return 0
    table = upgrade_flags()
    table.update(global_flags())
    name = "upgrade" + (" " + sub if sub else "")
    try:
        opts, _, help_req, _ = parse_flags(args, table)
    except FlagError as exc:
        fail(str(exc), usage_text(name, table))
    if help_req:
        # 1.16-1.20: `upgrade` itself upgrades the edge and also lists its subcommands
        commands = UPGRADE_COMMANDS if sub is None and mnr >= 16 else ()
        sys.stdout.write(usage_text(name, table, commands))
        return 0
    if mnr >= 21:
        return upgrade_v121(opts)
    return upgrade_v113(opts)


def read_edgecore_config(path):
    try:
        text = open(path).read()
    except OSError as exc:
        raise KeadmError("failed to read config file %s: open %s: %s" % (path, path, exc.strerror.lower()))
    return yaml_paths(text)


def upgrade_v113(opts):
    """keadm upgrade of 1.13-1.20 (edge/upgrade.go): backup, pull, copy, restart."""
    try:
        cfg = read_edgecore_config(opts["config"])
    except KeadmError as exc:
        fail(str(exc), None)
    frm, to, image = opts["fromVersion"], opts["toVersion"], opts["image"]
    try:
        if os.path.exists(IDEMPOTENCY_RECORD):
            raise KeadmError("last upgrade not finished, not allowed upgrade again")
        os.makedirs(os.path.dirname(IDEMPOTENCY_RECORD), mode=0o750, exist_ok=True)
        open(IDEMPOTENCY_RECORD, "w").close()
        try:
            if opts.get("pre-run"):
                run_script(opts["pre-run"])
            klog("I", "upgrade.go:0", "upgrade preprocess start")
            try:
                if not opts.get("disable-backup"):
                    backup = os.path.join(BACKUP_PATH, frm)
                    os.makedirs(backup, mode=0o750, exist_ok=True)
                    data_source = cfg.get("database.dataSource") or "/var/lib/kubeedge/edgecore.db"
                    for src, dst, what in ((data_source, "edgecore.db", "failed to backup db"),
                                           (opts["config"], "edgecore.yaml", "failed to back config"),
                                           (EDGECORE_BIN, "edgecore", "failed to backup edgecore")):
                        if not os.path.exists(src):
                            raise KeadmError("%s: %s" % (what, go_stat_error(src)))
                        copy_file(src, os.path.join(backup, dst))
                klog("I", "upgrade.go:0", "Begin to download version %s edgecore" % to)
                runtime = upgrade_runtime(cfg)
                if not image:
                    raise KeadmError("pull image failed: %s" % pull_error(""))
                runtime.pull_images([image])
                upath = os.path.join(UPGRADE_PATH, to)
                os.makedirs(upath, exist_ok=True)
                runtime.copy_edgecore(image, os.path.join(upath, "edgecore"))
            except KeadmError as exc:
                raise KeadmError("upgrade pre process failed: %s" % exc)
            klog("I", "upgrade.go:0", "upgrade process start")
            try:
                kill_edgecore_for_upgrade()
                copy_file(os.path.join(UPGRADE_PATH, to, "edgecore"), EDGECORE_BIN)
                if has_systemd():
                    upgrade_unit(opts["config"])
                start_edgecore()
            except (KeadmError, OSError) as exc:
                raise KeadmError("upgrade process failed: %s" % exc)
        finally:
            klog("E", "upgrade.go:0", "failed to report upgrade result to cloud: the keadm double does not "
                 "report upgrade results")
            try:
                os.remove(IDEMPOTENCY_RECORD)
            except OSError:
                pass
    except KeadmError as exc:
        fail(str(exc))
    return 0


def upgrade_v121(opts):
    """keadm upgrade edge of 1.21+ (upgrade.go + common.go): no backup, image:toVersion."""
    print("WARNING: The upgrade command no longer automatically execute backup. \n"
          "If backup is required, please interrupt the current upgrade command and execute the backup command "
          "'keadm backup edge'.")
    if not opts["force"]:
        sys.stdout.write("Are you sure you want to proceed? [y/N]: ")
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() != "y":
            klog("I", "upgrade.go:0", "aborted upgrade operation")
            return 0
    if os.path.exists(IDEMPOTENCY_RECORD):
        fail("the mutually exclusive command is being executed")
    to = opts["toVersion"]
    err = None
    current = "unknown"
    try:
        os.makedirs(os.path.dirname(IDEMPOTENCY_RECORD), exist_ok=True)
        open(IDEMPOTENCY_RECORD, "w").close()
        try:
            cfg = read_edgecore_config(opts["config"])
        except KeadmError as exc:
            raise KeadmError("failed to parse the edgecore config file %s, err: %s" % (opts["config"], exc))
        current = cfg.get("edgeCoreVersion") or current
        klog("W", "edgecore.go:40", "failed to get node, uses default version: %s (keadm double: no metaserver)"
             % cfg.get("edgeCoreVersion", ""))
        if opts.get("pre-run"):
            print("Executing pre-run script: %s" % opts["pre-run"])
            run_script(opts["pre-run"])
        klog("I", "upgrade.go:0", "Begin to download %s of edgecore" % to)
        image = "%s:%s" % (opts["image"], to)
        upath = os.path.join(UPGRADE_PATH, to)
        try:
            runtime = upgrade_runtime(cfg)
            if not runtime.has_image(image):
                raise KeadmError("failed to pull image %s, err: %s" % (image, pull_error(image)))
            os.makedirs(upath, exist_ok=True)
            runtime.copy_edgecore(image, os.path.join(upath, "edgecore"))
        except KeadmError as exc:
            raise KeadmError("failed to get edgecore binary, err: %s" % exc)
        try:
            klog("I", "upgrade.go:0", "Upgrade process start ...")
            try:
                kill_edgecore_for_upgrade()
            except KeadmError as exc:
                raise KeadmError("failed to stop edgecore, err: %s" % exc)
            copy_file(os.path.join(upath, "edgecore"), EDGECORE_BIN)
            try:
                start_edgecore()
            except KeadmError as exc:
                raise KeadmError("failed to start edgecore, err: %s" % exc)
            klog("I", "upgrade.go:0", "Upgrade process successful")
        finally:
            shutil.rmtree(upath, ignore_errors=True)
        if opts.get("post-run"):
            print("Executing post-run script: %s" % opts["post-run"])
            try:
                run_script(opts["post-run"])
            except KeadmError as exc:
                print("Execute post-run script: %s failed: %s" % (opts["post-run"], exc))
    except KeadmError as exc:
        err = str(exc)
    finally:
        report = {"eventType": "upgrade", "success": err is None, "fromVersion": current, "toVersion": to}
        if err:
            report["errorMessage"] = err
        try:
            with open(UPGRADE_REPORT, "w") as f:
                f.write(json.dumps(report, separators=(",", ":")))
        except OSError as exc:
            klog("E", "upgrade.go:0", "failed to report upgrade result: %s" % exc)
        try:
            os.remove(IDEMPOTENCY_RECORD)
        except OSError:
            pass
    if err:
        fail(err)
    return 0


def yaml_paths(text):
    """Scalars of a block-YAML file (what keadm join and the roles write) by dotted path."""
    out, stack = {}, []
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith(("#", "- ")) or raw.strip() == "-":
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        m = re.match(r'^("[^"]*"|\'[^\']*\'|[^:]+):(?:\s+(.*))?$', raw.strip())
        if not m:
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, m.group(1).strip("\"'")))
        if m.group(2) not in (None, ""):
            out[".".join(k for _, k in stack)] = scalar(m.group(2))
    return out


def scalar(v):
    v = v.strip()
    if v.startswith('"') and v.endswith('"') and len(v) > 1:
        return json.loads(v)
    if v.startswith("'") and v.endswith("'") and len(v) > 1:
        return v[1:-1].replace("''", "'")
    if v in ("true", "false"):
        return v == "true"
    if re.match(r"^-?\d+$", v):
        return int(v)
    return v


# --------------------------------------------------------------------------
# cloud side: init, gettoken, reset cloud
#
# Needs the `kubernetes` (and `yaml`) Python packages on the cloud host
# (Debian: python3-kubernetes); the edge side above stays stdlib-only.
# `keadm init` of KubeEdge >= 1.11 installs the cloudcore Helm chart; the double
# creates the chart's objects itself and records a Helm release Secret. With no
# kubelet in the test bed, it then runs the cloudcore double on this host as the
# Deployment's hostNetwork pod would (transient systemd unit cloudcore-keadm).
# KEADM_DOUBLE_NAMESPACE: test-only knob so that tests of the double do not touch the
# shared kubeedge namespace (the real keadm always uses kubeedge).
CLOUD_NS = os.environ.get("KEADM_DOUBLE_NAMESPACE", "kubeedge")
RELEASE = "cloudcore"
RELEASE_SECRET_PREFIX = "sh.helm.release.v1.cloudcore.v"
CLOUDCORE_DOUBLE = os.environ.get("KEADM_DOUBLE_CLOUDCORE", "/usr/local/lib/keadm-double/cloudcore.py")
CLOUD_STATE = "/var/lib/keadm-double/cloudcore"
CLOUD_UNIT = "cloudcore-keadm"
DEFAULT_KUBECONFIG = "/root/.kube/config"
CHART_LABELS = {"k8s-app": "kubeedge", "kubeedge": "cloudcore"}
# Cluster-scoped objects (ClusterRole/Binding) are named cloudcore like the chart's;
# under the test-only namespace knob they get a suffix so tests do not collide.
CLUSTER_NAME = "cloudcore" if CLOUD_NS == "kubeedge" else "cloudcore-" + CLOUD_NS


def init_flags(mnr=None):
    mnr = minor() if mnr is None else mnr
    flags = {
        "advertise-address": ("", "string", ""),
        "dry-run": ("d", "bool", False),
        "external-helm-root": ("", "string", ""),
        "files": ("f", "string", ""),
        "force": ("", "bool", False),
        "kube-config": ("", "string", DEFAULT_KUBECONFIG),
        "kubeedge-version": ("", "string", ""),
        "manifests": ("", "string", ""),
        "profile": ("", "string", ""),
        "set": ("", "stringArray", []),
    }
    if mnr >= 17:
        flags["image-repository"] = ("", "string", "")
    return flags


def chart_values(version):
    """The cloudcore chart's default values the double uses (tag = version)."""
    return {
        "appVersion": version.lstrip("v"),
        "cloudCore": {
            "replicaCount": 1, "hostNetWork": True,
            "image": {"repository": "kubeedge/cloudcore", "tag": version, "pullPolicy": "IfNotPresent"},
            "labels": dict(CHART_LABELS),
            "modules": {
                "cloudHub": {"advertiseAddress": [""], "dnsNames": [""], "nodeLimit": 1000,
                             "websocket": {"enable": True},
                             "quic": {"enable": False, "maxIncomingStreams": 10000},
                             "https": {"enable": True}},
                "cloudStream": {"enable": True},
                "dynamicController": {"enable": False},
                "router": {"enable": False},
            },
            "service": {"enable": True, "type": "NodePort", "cloudhubNodePort": 30000, "cloudhubQuicNodePort": 30001,
                        "cloudhubHttpsNodePort": 30002, "cloudstreamNodePort": 30003, "tunnelNodePort": 30004},
        },
        "iptablesManager": {"enable": True, "mode": "internal"},
    }


def typed(value):
    """helm strvals typing of a --set value."""
    if value in ("true", "false"):
        return value == "true"
    if value == "null":
        return None
    if re.match(r"^-?(0|[1-9][0-9]*)$", value):
        return int(value)
    return value


def split_set(text):
    """Split `a=1,b[0]=x\\,y` on unescaped commas (helm --set)."""
    items, cur, esc = [], "", False
    for ch in text:
        if esc:
            cur += ch
            esc = False
        elif ch == "\\":
            esc = True
        elif ch == ",":
            items.append(cur)
            cur = ""
        else:
            cur += ch
    items.append(cur)
    return [i for i in items if i]


def apply_helm_set(values, item):
    key, eq, raw = item.partition("=")
    if not eq:
        raise KeadmError("failed parsing --set data: key \"%s\" has no value" % key)
    parts = []
    for seg in key.split("."):
        m = re.match(r"^([^\[]+)((\[\d+\])*)$", seg)
        if not m:
            raise KeadmError("failed parsing --set data: key \"%s\" is not valid" % key)
        parts.append(m.group(1))
        parts.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2) or ""))
    cur = values
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        nxt = None if last else ([] if isinstance(parts[i + 1], int) else {})
        if isinstance(part, int):
            while len(cur) <= part:
                cur.append(None)
            if last:
                cur[part] = typed(raw)
            else:
                if not isinstance(cur[part], type(nxt)):
                    cur[part] = nxt
                cur = cur[part]
        else:
            if last:
                cur[part] = typed(raw)
            else:
                if not isinstance(cur.get(part), type(nxt)):
                    cur[part] = nxt
                cur = cur[part]


def cloudcore_yaml(values):
    """cloudcore.yaml of the chart's ConfigMap (same keys and fixed ports as the chart)."""
    cc = values["cloudCore"]["modules"]
    hub = cc["cloudHub"]
    cfg = {
        "apiVersion": "cloudcore.config.kubeedge.io/v1alpha2",
        "kind": "CloudCore",
        "kubeAPIConfig": {"kubeConfig": "", "master": ""},
        "modules": {
            "cloudHub": {
                "advertiseAddress": [a for a in hub.get("advertiseAddress") or [] if a is not None],
                "dnsNames": [a for a in hub.get("dnsNames") or [] if a is not None],
                "nodeLimit": hub.get("nodeLimit"),
                "tlsCAFile": "/etc/kubeedge/ca/rootCA.crt",
                "tlsCertFile": "/etc/kubeedge/certs/edge.crt",
                "tlsPrivateKeyFile": "/etc/kubeedge/certs/edge.key",
                "unixsocket": {"address": "unix:///var/lib/kubeedge/kubeedge.sock", "enable": True},
                "websocket": {"address": "0.0.0.0", "enable": hub["websocket"]["enable"], "port": 10000},
                "quic": {"address": "0.0.0.0", "enable": hub["quic"]["enable"],
                         "maxIncomingStreams": hub["quic"]["maxIncomingStreams"], "port": 10001},
                "https": {"address": "0.0.0.0", "enable": hub["https"]["enable"], "port": 10002},
            },
            "cloudStream": {"enable": cc["cloudStream"]["enable"], "streamPort": 10003, "tunnelPort": 10004},
            "dynamicController": {"enable": cc["dynamicController"]["enable"]},
            "router": {"enable": cc["router"]["enable"]},
            "iptablesManager": {"enable": values["iptablesManager"]["enable"],
                                "mode": values["iptablesManager"]["mode"]},
        },
    }
    import yaml
    return yaml.safe_dump(cfg, sort_keys=False, default_flow_style=False)


def kube(kubeconfig, wrap=""):
    """A kubernetes ApiClient for --kube-config, with keadm's error texts."""
    from kubernetes import client, config
    if not os.path.exists(kubeconfig):
        raise KeadmError("%sfailed to build config, err: stat %s: no such file or directory" % (wrap, kubeconfig))
    try:
        api = config.new_client_from_config(config_file=kubeconfig)
    except Exception as exc:  # noqa: BLE001 - any loader error is keadm's "failed to build config"
        raise KeadmError("%sfailed to build config, err: %s" % (wrap, exc))
    return api, client


def go_dial_error(url, exc):
    """Connection errors in the words of Go's net/http (what keadm prints)."""
    text = str(exc)
    hostport = re.sub(r"^https?://", "", url).split("/")[0]
    if "Connection refused" in text:
        return "dial tcp %s: connect: connection refused" % hostport
    if "timed out" in text:
        return "dial tcp %s: i/o timeout" % hostport
    if "No route to host" in text:
        return "dial tcp %s: connect: no route to host" % hostport
    return str(getattr(exc, "reason", exc))


def k8s_version(api, client, wrap=""):
    try:
        info = client.VersionApi(api).get_code(_request_timeout=32)
    except Exception as exc:  # noqa: BLE001
        host = api.configuration.host
        reason = go_dial_error(host, exc)
        raise KeadmError("%sfailed to get the version of K8s master, please check whether K8s was successfully "
                         "installed, err: Get \"%s/version?timeout=32s\": %s" % (wrap, host, reason))
    mnr = int(re.match(r"\d*", info.minor).group(0) or 0)
    if mnr < 11:
        raise KeadmError("%syour minor version of K8s is lower than 11, please reinstall newer version" % wrap)
    return info.git_version


def helm_meta(name, namespace=None, labels=None, annotations=None):
    meta = {"name": name,
            "labels": dict(labels or {}, **{"app.kubernetes.io/managed-by": "Helm"}),
            "annotations": dict(annotations or {}, **{"meta.helm.sh/release-name": RELEASE,
                                                      "meta.helm.sh/release-namespace": CLOUD_NS})}
    if namespace:
        meta["namespace"] = namespace
    return meta


def stream_certs():
    """stream.crt/stream.key/streamCA.crt of the chart's Secret (helm genCA/genSignedCert)."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID
    except ImportError:
        return {}
    now = datetime.datetime.now(datetime.timezone.utc)

    def build(cn, key, issuer, issuer_key, ca):
        b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
             .issuer_name(issuer).public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=36500))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        return b.sign(issuer_key, hashes.SHA256())
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cloudcore")])
    ca = build("cloudcore", ca_key, ca_name, ca_key, True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    crt = build("cloudcore", key, ca_name, ca_key, False)
    pem = serialization.Encoding.PEM
    return {"streamCA.crt": ca.public_bytes(pem),
            "stream.crt": crt.public_bytes(pem),
            "stream.key": key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL,
                                            serialization.NoEncryption())}


def b64(data):
    import base64
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


def chart_objects(values, image):
    """The objects the cloudcore chart renders (ServiceAccount, RBAC, ConfigMap, Secret, Service, Deployment)."""
    labels = values["cloudCore"]["labels"]
    svc = values["cloudCore"]["service"]
    ports = [("cloudhub", 10000, "cloudhubNodePort"), ("cloudhub-quic", 10001, "cloudhubQuicNodePort"),
             ("cloudhub-https", 10002, "cloudhubHttpsNodePort"), ("cloudstream", 10003, "cloudstreamNodePort"),
             ("tunnelport", 10004, "tunnelNodePort")]
    objs = [
        ("ServiceAccount", {"apiVersion": "v1", "kind": "ServiceAccount",
                            "metadata": helm_meta("cloudcore", CLOUD_NS, labels)}),
        ("ClusterRole", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                         "metadata": helm_meta(CLUSTER_NAME, None, labels),
                         "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
        ("ClusterRoleBinding", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                                "metadata": helm_meta(CLUSTER_NAME, None, labels),
                                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                            "name": CLUSTER_NAME},
                                "subjects": [{"kind": "ServiceAccount", "name": "cloudcore",
                                              "namespace": CLOUD_NS}]}),
        ("ConfigMap", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": helm_meta("cloudcore", CLOUD_NS, labels),
                       "data": {"cloudcore.yaml": cloudcore_yaml(values)}}),
        ("Secret", {"apiVersion": "v1", "kind": "Secret", "metadata": helm_meta("cloudcore", CLOUD_NS, labels),
                    "data": {k: b64(v) for k, v in stream_certs().items()}}),
    ]
    if svc.get("enable"):
        objs.append(("Service", {
            "apiVersion": "v1", "kind": "Service", "metadata": helm_meta("cloudcore", CLOUD_NS, labels),
            "spec": {"type": svc.get("type", "NodePort"), "selector": labels,
                     "ports": [dict({"name": n, "port": p, "targetPort": p, "protocol": "TCP"},
                                    **({"nodePort": int(svc[k])} if svc.get("type", "NodePort") == "NodePort" else {}))
                               for n, p, k in ports]}}))
    objs.append(("Deployment", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": helm_meta("cloudcore", CLOUD_NS, labels),
        "spec": {
            "replicas": values["cloudCore"]["replicaCount"],
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "hostNetwork": bool(values["cloudCore"]["hostNetWork"]),
                    "dnsPolicy": "ClusterFirstWithHostNet", "restartPolicy": "Always",
                    "serviceAccount": "cloudcore", "serviceAccountName": "cloudcore",
                    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchExpressions": [
                            {"key": "node-role.kubernetes.io/edge", "operator": "DoesNotExist"}]}]}}},
                    "containers": [{
                        "name": "cloudcore", "image": image,
                        "imagePullPolicy": values["cloudCore"]["image"]["pullPolicy"],
                        "ports": [{"containerPort": p, "name": n, "protocol": "TCP"} for n, p, _ in ports],
                        "securityContext": {"privileged": True},
                        "volumeMounts": [{"name": "conf", "mountPath": "/etc/kubeedge/config"},
                                         {"name": "certs", "mountPath": "/etc/kubeedge"},
                                         {"name": "sock", "mountPath": "/var/lib/kubeedge"}],
                    }],
                    "volumes": [{"name": "conf", "configMap": {"name": "cloudcore"}},
                                {"name": "certs", "secret": {"secretName": "cloudcore"}},
                                {"name": "sock", "hostPath": {"path": "/var/lib/kubeedge",
                                                              "type": "DirectoryOrCreate"}}],
                },
            },
        }}))
    return objs


def create_or_replace(api, client, kind, body):
    from kubernetes.client.rest import ApiException
    core, apps, rbac = client.CoreV1Api(api), client.AppsV1Api(api), client.RbacAuthorizationV1Api(api)
    name, ns = body["metadata"]["name"], body["metadata"].get("namespace")
    ops = {
        "ServiceAccount": (core.create_namespaced_service_account, core.replace_namespaced_service_account),
        "ConfigMap": (core.create_namespaced_config_map, core.replace_namespaced_config_map),
        "Secret": (core.create_namespaced_secret, core.replace_namespaced_secret),
        "Service": (core.create_namespaced_service, core.patch_namespaced_service),
        "Deployment": (apps.create_namespaced_deployment, apps.replace_namespaced_deployment),
        "ClusterRole": (rbac.create_cluster_role, rbac.replace_cluster_role),
        "ClusterRoleBinding": (rbac.create_cluster_role_binding, rbac.replace_cluster_role_binding),
    }
    create, replace = ops[kind]
    if kind == "Service":
        # helm upgrades a Service by patching it (its clusterIP and nodePorts stay allocated): a create
        # would first fail validation on the taken nodePorts (422), not with AlreadyExists.
        try:
            current = core.read_namespaced_service(name, ns)
        except ApiException as exc:
            if exc.status != 404:
                raise KeadmError("failed to install release %s: %s %s: %s" % (RELEASE, kind, name, exc.reason))
            current = None
        if current is not None:
            if (current.metadata.annotations or {}).get("meta.helm.sh/release-name") != RELEASE:
                raise KeadmError("rendered manifests contain a resource that already exists. Unable to continue "
                                 "with install: Service \"%s\" in namespace \"%s\" exists and cannot be imported "
                                 "into the current release" % (name, ns))
            replace(name, ns, body)
            return
    try:
        if ns:
            create(ns, body)
        else:
            create(body)
    except ApiException as exc:
        if exc.status != 409:
            raise KeadmError("failed to install release %s: %s %s: %s" % (RELEASE, kind, name, exc.reason))
        annotations = {}
        try:
            read = {"ClusterRole": rbac.read_cluster_role, "ClusterRoleBinding": rbac.read_cluster_role_binding}
            current = read[kind](name) if kind in read else None
            annotations = (current.metadata.annotations or {}) if current else {}
        except ApiException:
            pass
        if replace is None or (not ns and annotations.get("meta.helm.sh/release-name") != RELEASE):
            raise KeadmError("rendered manifests contain a resource that already exists. Unable to continue with "
                             "install: %s \"%s\" in namespace \"%s\" exists and cannot be imported into the current "
                             "release" % (kind, name, ns or ""))
        if ns:
            replace(name, ns, body)
        else:
            replace(name, body)


def release_secret(values, version, objs, revision=1):
    import gzip
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    rel = {"name": RELEASE, "namespace": CLOUD_NS, "version": revision,
           "info": {"first_deployed": now, "last_deployed": now, "status": "deployed",
                    "description": "Install complete" if revision == 1 else "Upgrade complete"},
           "chart": {"metadata": {"name": "cloudcore", "version": version.lstrip("v"),
                                  "appVersion": version.lstrip("v")}},
           "config": values, "manifest": "\n---\n".join(json.dumps(o) for _, o in objs)}
    data = b64(b64(gzip.compress(json.dumps(rel).encode())))
    return {"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
            "metadata": {"name": RELEASE_SECRET_PREFIX + str(revision), "namespace": CLOUD_NS,
                         "labels": {"name": RELEASE, "owner": "helm", "status": "deployed",
                                    "version": str(revision)}},
            "data": {"release": data}}


def release_revisions(core):
    """{revision: Secret} of the cloudcore Helm release (helm's storage: one Secret per revision)."""
    from kubernetes.client.rest import ApiException
    try:
        items = core.list_namespaced_secret(CLOUD_NS, label_selector="owner=helm,name=" + RELEASE).items
    except ApiException as exc:
        if exc.status == 404:
            return {}
        raise KeadmError("failed to list the releases of %s: %s" % (RELEASE, exc.reason))
    return {int((s.metadata.labels or {}).get("version", "0")): s for s in items}


def deploy_release(api, client, values, version, image, revisions):
    """Install (no revision yet) or upgrade the release as helm would: render the chart's objects, apply
    them, store a new revision and mark the previous one superseded. The chart's Secret `cloudcore` is a
    pre-install hook in the real chart: an upgrade leaves it as it is."""
    core = client.CoreV1Api(api)
    objs = chart_objects(values, image)
    upgrade = bool(revisions)
    for kind, body in objs:
        if upgrade and kind == "Secret":
            continue
        create_or_replace(api, client, kind, body)
    revision = max(revisions) + 1 if revisions else 1
    core.create_namespaced_secret(CLOUD_NS, release_secret(values, version, objs, revision))
    for number, secret in revisions.items():
        if (secret.metadata.labels or {}).get("status") == "deployed":
            core.patch_namespaced_secret(secret.metadata.name, CLOUD_NS,
                                         {"metadata": {"labels": {"status": "superseded"}}})
    os.makedirs(CLOUD_STATE, mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(CLOUD_STATE, "cloudcore.yaml"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(cloudcore_yaml(values))
    return revision


def print_chart_details(revision, title="CLOUDCORE"):
    print("%s started" % title)
    print("=========CHART DETAILS=======")
    print("NAME: %s" % RELEASE)
    print("LAST DEPLOYED: %s" % datetime.datetime.now().strftime("%a %b %e %H:%M:%S %Y"))
    print("NAMESPACE: %s" % CLOUD_NS)
    print("STATUS: deployed")
    print("REVISION: %d" % revision)


def chart_sets(opts):
    sets = []
    for i, addr in enumerate(a for a in opts["advertise-address"].split(",") if a):
        sets.append("cloudCore.modules.cloudHub.advertiseAddress[%d]=%s" % (i, addr))
    for item in opts["set"]:
        sets.extend(split_set(item))
    return sets


def chart_image(values, opts):
    repo = opts.get("image-repository") or ""
    if repo:
        return "%s/cloudcore:%s" % (repo.rstrip("/"), values["cloudCore"]["image"]["tag"])
    return "%s:%s" % (values["cloudCore"]["image"]["repository"], values["cloudCore"]["image"]["tag"])


def run_cloudcore_pod(kubeconfig, version):
    """Start the cloudcore double as the Deployment's hostNetwork pod would run: True when started, None
    when no cloudcore double is installed here (nothing to run), False when its unit did not start."""
    if not os.path.exists(CLOUDCORE_DOUBLE):
        return None
    os.makedirs(CLOUD_STATE, mode=0o700, exist_ok=True)
    argv = [sys.executable, CLOUDCORE_DOUBLE, "--config", os.path.join(CLOUD_STATE, "cloudcore.yaml"),
            "--kubeconfig", kubeconfig, "--state-dir", CLOUD_STATE]
    if has_systemd():
        subprocess.run(["systemctl", "stop", CLOUD_UNIT], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["systemctl", "reset-failed", CLOUD_UNIT], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        # A unit file of that name (a test kept the transient unit to start it again) would make
        # systemd-run refuse the name: the "pod" is the transient unit, nothing else.
        runtime_unit = "/run/systemd/system/%s.service" % CLOUD_UNIT
        if os.path.exists(runtime_unit):
            os.remove(runtime_unit)
            subprocess.run(["systemctl", "daemon-reload"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started = subprocess.run(["systemd-run", "--unit=" + CLOUD_UNIT, "--description=cloudcore pod (keadm double)",
                                  "--property=Restart=always", "--property=RestartSec=2",
                                  "--setenv=CLOUDCORE_DOUBLE_VERSION=" + version,
                                  "--setenv=CLOUDCORE_DOUBLE_NAMESPACE=" + CLOUD_NS] + argv,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
        if started.returncode != 0:
            # the real pod would start: say loudly that the double could not stand in for it
            sys.stderr.write("keadm double: the cloudcore pod unit did not start: %s\n" % started.stderr.strip())
            return False
    else:
        env = dict(os.environ, CLOUDCORE_DOUBLE_VERSION=version, CLOUDCORE_DOUBLE_NAMESPACE=CLOUD_NS)
        with open(os.path.join(CLOUD_STATE, "cloudcore.log"), "ab") as logf:
            subprocess.Popen(argv, stdout=logf, stderr=logf, stdin=subprocess.DEVNULL, env=env,
                             start_new_session=True)
    return True


def stop_cloudcore_pod():
    if has_systemd():
        subprocess.run(["systemctl", "stop", CLOUD_UNIT], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["systemctl", "reset-failed", CLOUD_UNIT], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    subprocess.run(["pkill", "-x", "cloudcore"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def parse_command(name, table, args):
    """Flags of `keadm <name>` (its table plus the global ones); None after printing the help."""
    table.update(global_flags())
    try:
        opts, dummy_pos, help_req, dummy_seen = parse_flags(args, table)
    except FlagError as exc:
        fail(str(exc), usage_text(name, table))
    if help_req:
        sys.stdout.write(usage_text(name, table))
        return None
    return opts


def print_manifests(values, image):
    """--dry-run: the rendered objects as YAML documents."""
    import yaml
    for dummy, obj in chart_objects(values, image):
        sys.stdout.write("---\n" + yaml.safe_dump(obj, sort_keys=False))


def cmd_init(args):
    mnr = minor()
    opts = parse_command("init", init_flags(), args)
    if opts is None:
        return 0
    wrap = "failed to verify k8s component installed, err: " if mnr >= 17 else ""
    try:
        # --force skips the "already running" check, as the real one does
        if not opts["force"] and not opts["external-helm-root"] and pidof("cloudcore"):
            raise KeadmError("CloudCore is already running on this node, please run reset to clean up first")
        api, client = kube(opts["kube-config"], wrap)
        k8s_version(api, client, wrap)
        print("Kubernetes version verification passed, KubeEdge installation will start...")
        version = opts["kubeedge-version"] or VERSION
        profile = opts["profile"] or "version=" + VERSION
        key, _, pval = profile.partition("=")
        if key not in ("version", "iptablesMgrMode") and not (mnr >= 17 and key.endswith(".yaml")):
            raise KeadmError("invalid profile key %s, err: profile %s not in version,iptablesMgrMode" % (key, key))
        if key == "version" and pval:
            if not pval.startswith("v"):
                raise KeadmError("can not handle profile %s" % profile)
            version = pval
        values = chart_values(version)
        if key == "iptablesMgrMode":
            if pval not in ("internal", "external"):
                raise KeadmError("can not handle profile %s" % profile)
            values["iptablesManager"]["mode"] = pval
        for item in chart_sets(opts):
            apply_helm_set(values, item)
        image = chart_image(values, opts)
        if opts["dry-run"]:
            print_manifests(values, image)
            return 0
        from kubernetes.client.rest import ApiException
        core = client.CoreV1Api(api)
        try:
            core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": CLOUD_NS}})
        except ApiException as exc:
            if exc.status != 409:
                raise KeadmError("failed to install release %s: create: namespaces \"%s\": %s"
                                 % (RELEASE, CLOUD_NS, exc.reason))
            ns = core.read_namespace(CLOUD_NS)
            if ns.status.phase == "Terminating":
                raise KeadmError("failed to install release %s: create: namespaces \"%s\" is being terminated"
                                 % (RELEASE, CLOUD_NS))
        revisions = release_revisions(core)
        # An existing release: up to 1.16 keadm init's installer runs a helm upgrade of it (seen with the
        # real v1.14.5 over a v1.13.1 release: REVISION 2); from 1.17 init refuses and names `keadm upgrade`.
        if revisions and mnr >= 17:
            raise KeadmError("the cloudcore release already exists, and you can upgrade the cloudcore using the "
                             "`keadm upgrade`")
        revision = deploy_release(api, client, values, version, image, revisions)
    except KeadmError as exc:
        fail(str(exc))
    if run_cloudcore_pod(opts["kube-config"], values["cloudCore"]["image"]["tag"]) is False:
        return 1
    print_chart_details(revision)
    return 0


def upgrade_cloud_flags():
    flags = {
        "advertise-address": ("", "string", ""),
        "dry-run": ("d", "bool", False),
        "external-helm-root": ("", "string", ""),
        "force": ("", "bool", False),
        "kube-config": ("", "string", DEFAULT_KUBECONFIG),
        "kubeedge-version": ("", "string", ""),
        "print-final-values": ("", "bool", False),
        "profile": ("", "string", ""),
        "reuse-values": ("", "bool", False),
        "set": ("", "stringArray", []),
        "values": ("", "stringArray", []),
    }
    if minor() >= 17:
        flags["image-repository"] = ("", "string", "")
    return flags


def cmd_upgrade_cloud(args):
    """`keadm upgrade cloud` (1.16+): helm upgrade of the existing cloudcore release to --kubeedge-version,
    whose image tags it sets; the Secrets CloudCore made (CA, certificate, token) are not the chart's and stay."""
    opts = parse_command("upgrade cloud", upgrade_cloud_flags(), args)
    if opts is None:
        return 0
    try:
        version = opts["kubeedge-version"]
        if not version:
            # the real one asks kubeedge.io for the latest release: the double never goes online
            raise KeadmError("failed to get version with err:keadm double: --kubeedge-version is required "
                             "(the real keadm would look up the latest release online)")
        api, client = kube(opts["kube-config"], "failed to verify k8s component installed, err: ")
        k8s_version(api, client, "failed to verify k8s component installed, err: ")
        print("Kubernetes version verification passed, KubeEdge upgradation will start...")
        core = client.CoreV1Api(api)
        revisions = release_revisions(core)
        if not revisions:
            raise KeadmError("the cloudcore release not found, and you can init the cloudcore using the `keadm init`")
        values = chart_values(version)
        for item in chart_sets(opts):
            apply_helm_set(values, item)
        image = chart_image(values, opts)
        if opts["dry-run"]:
            print_manifests(values, image)
            return 0
        try:
            previous = (core.read_namespaced_config_map("cloudcore", CLOUD_NS).data or {}).get("cloudcore.yaml", "")
        except Exception:  # noqa: BLE001 - the real one fails here too, with its own words
            raise KeadmError("failed to get cloudcore history config, err: configmaps \"cloudcore\" not found")
        revision = deploy_release(api, client, values, version, image, revisions)
    except KeadmError as exc:
        fail(str(exc))
    if run_cloudcore_pod(opts["kube-config"], values["cloudCore"]["image"]["tag"]) is False:
        return 1
    print_chart_details(revision)
    print("This is cloudcore configuration of the previous version.")
    print("If you want to revert configuration items, please manually modify the configmap 'cloudcore' ")
    print("and restart the cloudcore:")
    sys.stdout.write(previous)
    return 0


def cmd_gettoken(args):
    table = {"kube-config": ("", "string", DEFAULT_KUBECONFIG)}
    table.update(global_flags())
    try:
        opts, _, help_req, _ = parse_flags(args, table)
    except FlagError as exc:
        fail(str(exc), usage_text("gettoken", table))
    if help_req:
        sys.stdout.write(usage_text("gettoken", table))
        return 0
    path = opts["kube-config"]
    if not os.path.exists(path):
        msg = "get kube config failed with error: stat %s: no such file or directory" % path
        print("failed to get token, err is %s" % msg)
        fail(msg, usage_text("gettoken", table))
    from kubernetes.client.rest import ApiException
    api, client = kube(path)
    try:
        secret = client.CoreV1Api(api).read_namespaced_secret("tokensecret", CLOUD_NS)
    except ApiException as exc:
        msg = "secrets \"tokensecret\" not found" if exc.status == 404 else str(exc.reason)
        print("failed to get token, err is %s" % msg)
        fail(msg, usage_text("gettoken", table))
    except Exception as exc:  # noqa: BLE001 - connection errors
        msg = "Get \"%s/api/v1/namespaces/%s/secrets/tokensecret\": %s" % (
            api.configuration.host, CLOUD_NS, go_dial_error(api.configuration.host, exc))
        print("failed to get token, err is %s" % msg)
        fail(msg, usage_text("gettoken", table))
    import base64
    print(base64.b64decode((secret.data or {}).get("tokendata", "")).decode())
    return 0


def cloud_running(kubeconfig):
    """Real keadm: any pod in namespace kubeedge. No kubelet here: the Deployment counts too."""
    if not os.path.exists(kubeconfig):
        klog("W", "common.go:159", "failed to check cloudcore is running: failed to create KubeClient, error: get kube "
             "config failed with error: stat %s: no such file or directory" % kubeconfig)
        return False
    try:
        api, client = kube(kubeconfig)
        core = client.CoreV1Api(api)
        if core.list_namespaced_pod(CLOUD_NS).items:
            return True
        return bool(client.AppsV1Api(api).list_namespaced_deployment(CLOUD_NS).items)
    except Exception as exc:  # noqa: BLE001 - keadm only warns
        klog("W", "common.go:159", "failed to check cloudcore is running: failed to query pods, error: %s"
             % getattr(exc, "reason", exc))
        return False


def reset_cloud(opts, sub):
    if sub == "cloud" and not cloud_running(opts["kube-config"]):
        if sub == "cloud":
            print("None of CloudCore components are running in this host, exit")
        else:
            print("None of KubeEdge components are running in this host, exit")
        return 0
    if not opts["force"]:
        print("[reset] WARNING: Changes made to this host by 'keadm init' or 'keadm join' will be reverted.")
        sys.stdout.write("[reset] Are you sure you want to proceed? [y/N]: ")
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() != "y":
            fail("aborted reset operation")
    from kubernetes.client.rest import ApiException
    api, client = kube(opts["kube-config"])
    try:
        client.CoreV1Api(api).delete_namespace(CLOUD_NS)
    except ApiException as exc:
        if exc.status != 404:
            fail("TearDown failed, err:fail to clean kubeedge namespace, err:%s" % exc.reason)
    stop_cloudcore_pod()
    for d in (KUBEEDGE_PATH, CLOUD_STATE):
        shutil.rmtree(d, ignore_errors=True)
    return 0


# --------------------------------------------------------------------------
def main(argv):
    if VERSION.startswith("@"):
        sys.stderr.write("keadm double: no version baked in (use tests/double/package.sh)\n")
        return 2
    if not argv or argv[0] in ("-h", "--help", "help"):
        sys.stdout.write("keadm (KubeEdge %s test double)\n\nUsage:\n  keadm [command]\n\nAvailable Commands:\n"
                         "  gettoken    To get token for edge nodes to join the cluster\n"
                         "  init        Bootstraps cloud component\n"
                         "  join        Bootstraps edge component\n  reset       Teardowns KubeEdge\n"
                         "  upgrade     Upgrade components of the cloud or the edge\n"
                         "  version     Print the version of keadm\n" % VERSION)
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd == "join":
        return cmd_join(rest)
    if cmd == "reset":
        return cmd_reset(rest)
    if cmd == "upgrade":
        return cmd_upgrade(rest)
    if cmd == "version":
        return cmd_version(rest)
    if cmd == "init":
        return cmd_init(rest)
    if cmd == "gettoken":
        return cmd_gettoken(rest)
    if cmd.startswith("-"):
        fail("unknown flag: %s" % cmd.split("=")[0])
    sys.stderr.write("Error: unknown command \"%s\" for \"keadm\"\nRun 'keadm --help' for usage.\n" % cmd)
    if minor() <= 20:
        sys.stdout.write("execute keadm command failed:  unknown command \"%s\" for \"keadm\"\n" % cmd)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
