"""Test double of KubeEdge's `edgecore` (python3 standard library only).

As a service it reads edgecore.yaml, gets the CA and its certificate from the
cloud with the join token (like the real edge certificate manager), then
registers the node with the cloudcore double and sends heartbeats so that the
Node stays Ready. See tests/double/README.md.
"""

import ctypes
import datetime
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

VERSION = "@KUBEEDGE_VERSION@"
DEFAULT_CONFIG = "/etc/kubeedge/config/edgecore.yaml"
BOOTSTRAP_FILE = "/etc/kubeedge/bootstrap-edgecore.conf"


def klog(level, where, msg):
    now = datetime.datetime.now()
    stamp = (now.strftime("%m%d"), now.strftime("%H:%M:%S.%f"))
    sys.stderr.write("%s%s %s %7d %s] %s\n" % (level, stamp[0], stamp[1], os.getpid(), where, msg))
    sys.stderr.flush()


def fatal(where, msg):
    klog("F", where, msg)
    sys.exit(1)


# --------------------------------------------------------------------------
# A small YAML reader: block mappings, block sequences, scalars (plain,
# single- or double-quoted), empty flow collections, comments. That is the
# subset keadm (and the double) write into edgecore.yaml.
class YamlError(ValueError):
    pass


def _scalar(text):
    t = text.strip()
    if t == "" or t in ("~", "null", "Null", "NULL"):
        return None
    if t == "{}":
        return {}
    if t == "[]":
        return []
    if t.startswith('"'):
        try:
            return json.loads(t)
        except ValueError:
            raise YamlError("bad double-quoted scalar: %s" % t)
    if t.startswith("'"):
        if not t.endswith("'") or len(t) < 2:
            raise YamlError("bad single-quoted scalar: %s" % t)
        return t[1:-1].replace("''", "'")
    if t.startswith(("{", "[")):
        raise YamlError("flow collections are not supported by the edgecore double: %s" % t)
    low = t.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if re.match(r"^[-+]?\d+$", t):
        return int(t)
    if re.match(r"^[-+]?(\d+\.\d*|\.\d+)([eE][-+]?\d+)?$", t):
        return float(t)
    return t


def _strip_comment(line):
    out, quote = [], None
    for i, c in enumerate(line):
        if quote:
            if c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] in " \t"):
            break
        out.append(c)
    return "".join(out).rstrip()


def load_yaml(text):
    lines = []
    for raw in text.splitlines():
        if raw.strip() in ("---", "..."):
            continue
        if "\t" in raw[:len(raw) - len(raw.lstrip())]:
            raise YamlError("tabs are not allowed for indentation")
        line = _strip_comment(raw)
        if line.strip():
            lines.append((len(line) - len(line.lstrip(" ")), line.strip()))
    pos = [0]

    def parse_block(indent):
        if pos[0] >= len(lines):
            return None
        ind, content = lines[pos[0]]
        if content.startswith("- ") or content == "-":
            return parse_seq(ind)
        return parse_map(ind)

    def parse_seq(indent):
        out = []
        while pos[0] < len(lines):
            ind, content = lines[pos[0]]
            if ind != indent or not (content.startswith("- ") or content == "-"):
                if ind > indent:
                    raise YamlError("bad indentation near: %s" % content)
                break
            pos[0] += 1
            item = content[1:].strip()
            if item == "":
                out.append(parse_block(indent + 1))
            elif re.match(r"^[^\"'][^:]*:( |$)", item):
                raise YamlError("mappings inside sequences are not supported: %s" % item)
            else:
                out.append(_scalar(item))
        return out

    def parse_map(indent):
        out = {}
        while pos[0] < len(lines):
            ind, content = lines[pos[0]]
            if ind < indent:
                break
            if ind > indent:
                raise YamlError("bad indentation near: %s" % content)
            m = re.match(r'^("(?:[^"\\]|\\.)*"|\'[^\']*\'|[^:]+?)\s*:(?:\s+(.*))?$', content)
            if not m:
                raise YamlError("cannot parse line: %s" % content)
            key = _scalar(m.group(1))
            rest = m.group(2)
            pos[0] += 1
            if rest is None or rest == "":
                if pos[0] < len(lines) and (lines[pos[0]][0] > indent or
                                            (lines[pos[0]][0] == indent and lines[pos[0]][1].startswith("- "))):
                    nind = lines[pos[0]][0]
                    out[key] = parse_seq(nind) if lines[pos[0]][1].startswith("-") else parse_map(nind)
                else:
                    out[key] = None
            else:
                out[key] = _scalar(rest)
        return out

    doc = parse_block(0)
    if pos[0] != len(lines):
        raise YamlError("unexpected content: %s" % lines[pos[0]][1])
    return doc


def get(cfg, path, default=None):
    node = cfg
    for k in path.split("."):
        if not isinstance(node, dict) or k not in node:
            return default
        node = node[k]
    return node


# --------------------------------------------------------------------------
# certificates
def apply_certs(hub, node_name):
    """Fetch the CA (pinned by the token's hash) and an edge certificate."""
    token = hub.get("token") or ""
    if os.path.exists(BOOTSTRAP_FILE):
        token = open(BOOTSTRAP_FILE).read()
    server = hub.get("httpServer") or ""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(server + "/ca.crt", context=ctx, timeout=10) as r:
            ca_der = r.read()
    except Exception as exc:  # noqa: BLE001 - any transport error is fatal, like the real one
        fatal("certmanager.go:96", "Error: failed to get CA certificate, err: Get \"%s/ca.crt\": %s" % (server, exc))
    parts = token.split(".")
    if len(parts) != 4:
        fatal("certmanager.go:96", "Error: token credentials are in the wrong format")
    new_hash = hashlib.sha256(ca_der).hexdigest()
    if parts[0] != new_hash:
        fatal("certmanager.go:96", "Error: failed to validate CA certificate. tokenCAhash: %s, CAhash: %s"
              % (parts[0], new_hash))
    ca_pem = ssl.DER_cert_to_PEM_cert(ca_der)
    write_file(hub["tlsCaFile"], ca_pem.encode(), 0o644)

    jwt = ".".join(parts[1:])
    vctx = ssl.create_default_context(cadata=ca_pem)
    vctx.check_hostname = False
    key_pem, csr_der = make_csr()
    headers = {"Authorization": "Bearer " + jwt, "NodeName": node_name}
    if csr_der is None:
        headers["X-Edge-Double-Keygen"] = "true"
    req = urllib.request.Request(server + "/edge.crt", data=csr_der or b"", headers=headers, method="GET")
    try:
        with urllib.request.urlopen(req, context=vctx, timeout=10) as r:
            body = r.read()
    except urllib.error.HTTPError as exc:
        fatal("certmanager.go:96", "Error: failed to get edge certificate from the cloudcore, error: %s"
              % exc.read().decode(errors="replace"))
    except Exception as exc:  # noqa: BLE001
        fatal("certmanager.go:96", "Error: failed to get edge certificate from the cloudcore, error: %s" % exc)
    if csr_der is None:
        data = json.loads(body)
        key_pem, cert_pem = data["key"].encode(), data["cert"].encode()
    else:
        cert_pem = ssl.DER_cert_to_PEM_cert(body).encode()
    write_file(hub["tlsPrivateKeyFile"], key_pem, 0o600)
    write_file(hub["tlsCertFile"], cert_pem, 0o644)


def make_csr():
    """ECDSA P-256 key + DER CSR through the openssl CLI; (None, None) without openssl."""
    if not shutil.which("openssl"):
        return None, None
    d = tempfile.mkdtemp()
    try:
        subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", d + "/k.pem"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["openssl", "req", "-new", "-key", d + "/k.pem", "-outform", "DER", "-out", d + "/c.der",
                        "-subj", "/C=CN/ST=Zhejiang/L=Hangzhou/O=kubeEdge/CN=kubeedge.io"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return open(d + "/k.pem", "rb").read(), open(d + "/c.der", "rb").read()
    except (OSError, subprocess.CalledProcessError):
        return None, None
    finally:
        shutil.rmtree(d, ignore_errors=True)


def write_file(path, data, mode):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _plain(value):
    """One scalar as the real edgecore's YAML writer puts it: quoted only where a plain
    scalar would read back as something else."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if value == {}:
        return "{}"
    if value == []:
        return "[]"
    text = str(value)
    if text == "" or text != text.strip() or _scalar(text) != text or ": " in text or " #" in text \
            or text[0] in "-?:,[]{}#&*!|>'\"%@`":
        return json.dumps(text)
    return text


def dump_yaml(data, indent=0):
    """The lines of block YAML the real edgecore writes when it saves its configuration
    (sigs.k8s.io/yaml): keys sorted, two spaces per level, sequence items at their
    key's indentation, no comments."""
    pad = " " * indent
    lines = []
    for key in sorted(data):
        value = data[key]
        head = "%s%s:" % (pad, _plain(key))
        if isinstance(value, dict) and value:
            lines.append(head)
            lines.extend(dump_yaml(value, indent + 2))
        elif isinstance(value, list) and value:
            lines.append(head)
            for item in value:
                if isinstance(item, (dict, list)):
                    raise YamlError("nested collections in sequences are not supported by the edgecore double")
                lines.append("%s- %s" % (pad, _plain(item)))
        else:
            lines.append("%s %s" % (head, _plain(value)))
    return lines


def cleanup_token(config_file):
    """Once edgecore has its certificates it blanks edgeHub.token and writes its whole
    configuration back (the real one marshals its config struct and rewrites the file, keeping
    the file's mode): the file comes back in the writer's layout, comments gone."""
    cfg = load_yaml(open(config_file).read()) or {}
    hub = get(cfg, "modules.edgeHub")
    if not isinstance(hub, dict) or not hub.get("token"):
        return
    hub["token"] = ""
    with open(config_file, "w") as f:
        f.write("\n".join(dump_yaml(cfg)) + "\n")


def cert_ok(hub):
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_cert_chain(hub["tlsCertFile"], hub["tlsPrivateKeyFile"])
        return True
    except (OSError, ssl.SSLError, KeyError, TypeError):
        return False


# --------------------------------------------------------------------------
def local_ip(host, port):
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect((host, int(port)))
        ip = s.getsockname()[0]
        s.close()
        return ip
    except OSError:
        return "127.0.0.1"


def set_process_name(name):
    """Look like a process called `name`: keadm join/reset use `pidof edgecore`.

    pidof compares the basename of argv[0] (here "python3"), so argv[0] is
    rewritten in place (like setproctitle) besides the kernel's comm.
    """
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(15, ctypes.c_char_p(name.encode()), 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass
    try:
        stat = open("/proc/self/stat").read()
        fields = stat[stat.rindex(")") + 2:].split()
        arg_start, arg_end = int(fields[45]), int(fields[46])  # fields 48 and 49 of stat
        new = name.encode() + b"\0"
        if len(new) <= arg_end - arg_start:
            with open("/proc/self/mem", "r+b", buffering=0) as mem:
                mem.seek(arg_start)
                mem.write(new + b"\0" * (arg_end - arg_start - len(new)))
    except (OSError, ValueError, IndexError):
        pass


def edged_root(cfg):
    return get(cfg, "modules.edged.rootDirectory") or "/var/lib/edged"


def docker_cgroup_driver():
    """Docker's cgroup driver (`docker info`), or None when docker cannot say."""
    try:
        out = subprocess.run(["docker", "info", "--format", "{{.CgroupDriver}}"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def run(config_file):
    set_process_name("edgecore")
    if not os.path.exists(config_file):
        fatal("server.go:61", "[\n  config: Required value: config file %s not exist. For the configuration file "
              "format, please refer to --minconfig and --defaultconfig command\n]" % config_file)
    try:
        cfg = load_yaml(open(config_file).read())
    except (OSError, YamlError) as exc:
        fatal("server.go:61", "failed to read configfile %s: %s" % (config_file, exc))
    if not isinstance(cfg, dict) or cfg.get("kind") != "EdgeCore":
        fatal("server.go:61", "config file %s: kind is not EdgeCore" % config_file)
    hub = get(cfg, "modules.edgeHub") or {}
    edged = get(cfg, "modules.edged") or {}
    node_name = (edged.get("hostnameOverride") or socket.gethostname()).lower()
    quic = bool(get(hub, "quic.enable"))
    server = get(hub, "quic.server" if quic else "websocket.server") or ""
    errors = []
    if not re.match(r"^[^:]+:\d+$", server):
        errors.append("modules.edgeHub.%s.server: Invalid value: %r: must be host:port" %
                      ("quic" if quic else "websocket", server))
    for k in ("httpServer", "tlsCaFile", "tlsCertFile", "tlsPrivateKeyFile"):
        if not hub.get(k):
            errors.append("modules.edgeHub.%s: Required value" % k)
    if not re.match(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", node_name):
        errors.append("modules.edged.hostnameOverride: Invalid value: %r" % node_name)
    if errors:
        fatal("server.go:61", "[\n  %s\n]" % "\n  ".join(errors))
    klog("I", "server.go:102", "Version: %s" % VERSION)
    environment_check(cfg)
    # The real edgecore opens its sqlite database (database.dataSource) at
    # start; keadm upgrade backs it up and fails when it is missing.
    data_source = get(cfg, "database.dataSource") or "/var/lib/kubeedge/edgecore.db"
    try:
        os.makedirs(os.path.dirname(data_source) or "/", exist_ok=True)
        open(data_source, "ab").close()
    except OSError as exc:
        fatal("dbm.go:0", "failed to init database %s: %s" % (data_source, exc))
    # edged (kubelet) creates its root directory and the directories under it at
    # start, 0750 like the real v1.13.1 (tests/double/reference/v1.13.1.json)
    root = edged_root(cfg)
    for sub in ("", "pods", "plugins", "plugins_registry", "pod-resources"):
        path = os.path.join(root, sub) if sub else root
        os.makedirs(path, mode=0o750, exist_ok=True)
        os.chmod(path, 0o750)

    if not cert_ok(hub):
        apply_certs(hub, node_name)
        cleanup_token(config_file)
        klog("I", "certmanager.go:0", "edge certificate applied from %s" % hub["httpServer"])

    kubelet = edged.get("tailoredKubeletConfig") or {}
    endpoint = kubelet.get("containerRuntimeEndpoint") or edged.get("remoteRuntimeEndpoint") or \
        "unix:///run/containerd/containerd.sock"
    sock = endpoint[len("unix://"):] if endpoint.startswith("unix://") else endpoint
    if edged.get("containerRuntime") == "docker":
        # Up to v1.13 edged embeds dockershim: it serves the dockershim socket
        # itself and needs the docker daemon's socket.
        sock, endpoint = "/var/run/docker.sock", "unix:///var/run/docker.sock"
    if not os.path.exists(sock):
        fatal("edged.go:0", 'Failed to create runtime service: connect to %s: no such file or directory' % endpoint)
    cgroup_driver = kubelet.get("cgroupDriver") or edged.get("cgroupDriver") or "cgroupfs"
    if edged.get("containerRuntime") == "docker":
        # The embedded dockershim's kubelet (v1.13) compares its cgroup driver with
        # Docker's and stops at start when they differ.
        docker = docker_cgroup_driver()
        if docker and docker != cgroup_driver:
            fatal("server.go:0", 'failed to run Kubelet: misconfiguration: kubelet cgroup driver: "%s" is different '
                  'from docker cgroup driver: "%s"' % (cgroup_driver, docker))

    host, port = server.rsplit(":", 1)
    labels = {str(k): "" if v is None else str(v) for k, v in (edged.get("nodeLabels") or {}).items()}
    info = {
        "node": node_name,
        "labels": labels,
        "version": VERSION,
        "address": local_ip(host, port),
        "hostname": socket.gethostname(),
        "runtimeEndpoint": endpoint,
        "cgroupDriver": cgroup_driver,
    }
    ctx = ssl.create_default_context(cafile=hub["tlsCaFile"])
    ctx.check_hostname = False
    ctx.load_cert_chain(hub["tlsCertFile"], hub["tlsPrivateKeyFile"])
    interval = max(1, min(int(hub.get("heartbeat") or 15), 15))
    base = "https://%s:%s" % (host, port)
    registered = False
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        path = "/v1/heartbeat" if registered else "/v1/register"
        try:
            req = urllib.request.Request(base + path, data=json.dumps(info).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
            with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
                r.read()
            if not registered:
                klog("I", "edgehub.go:0", "node %s registered with cloudhub %s" % (node_name, server))
            registered = True
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace")
            klog("E", "edgehub.go:0", "cloudhub %s answered %s: %s" % (path, exc.code, body))
            registered = False
        except Exception as exc:  # noqa: BLE001 - keep retrying like edgehub does
            klog("E", "edgehub.go:0", "connect to cloudhub %s failed: %s" % (server, exc))
            registered = False
        time.sleep(interval)


def running_process_names():
    names = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open("/proc/%s/comm" % pid) as f:
                    names.add(f.read().strip())
            except OSError:
                pass
    return names


def environment_check(cfg):
    """Like the real edgecore at start: it exits (klog.Exit, code 1) while a process named
    kubelet runs, and up to v1.18 also kube-proxy; not when CHECK_EDGECORE_ENVIRONMENT=false
    or the metaServer is enabled (edge/cmd/edgecore/app/server.go of each tag)."""
    if os.environ.get("CHECK_EDGECORE_ENVIRONMENT") == "false" or get(cfg, "modules.metaManager.metaServer.enable"):
        return
    minor = int(VERSION.lstrip("v").split(".")[1])
    running = running_process_names()
    if "kubelet" in running:
        msg = ("kubelet should not running on edge node when running edgecore" if minor < 19
               else "kubelet should not be running on edge node when starting edgecore")
    elif "kube-proxy" in running and minor < 19:
        msg = "kube-proxy should not running on edge node when running edgecore"
    else:
        return
    klog("F", "server.go:113", "failed to check the running environment: %s" % msg)
    sys.exit(1)


def print_config(kind):
    text = ("# edgecore double (%s) --%s\napiVersion: edgecore.config.kubeedge.io/v1alpha2\nkind: EdgeCore\n"
            "database:\n  dataSource: /var/lib/kubeedge/edgecore.db\nmodules:\n  edgeHub:\n    enable: true\n"
            "    heartbeat: 15\n    httpServer: https://127.0.0.1:10002\n"
            "    tlsCaFile: /etc/kubeedge/ca/rootCA.crt\n    tlsCertFile: /etc/kubeedge/certs/server.crt\n"
            "    tlsPrivateKeyFile: /etc/kubeedge/certs/server.key\n    token: \"\"\n    websocket:\n"
            "      enable: true\n      server: 127.0.0.1:10000\n  edged:\n    enable: true\n"
            "    hostnameOverride: edge-node\n    nodeLabels: {}\n    tailoredKubeletConfig:\n"
            "      cgroupDriver: cgroupfs\n      containerRuntimeEndpoint: unix:///run/containerd/containerd.sock\n"
            % (VERSION, kind))
    sys.stdout.write(text)


def main(argv):
    config = DEFAULT_CONFIG
    i = 0
    while i < len(argv):
        a = argv[i]
        i += 1
        name, eq, val = a.partition("=")
        if name == "--version":
            # The real edgecore accepts --version without listing it, prints nothing and
            # goes on to run (tests/double/reference/: every recorded version; the later
            # tags' edgecore command registers no version flag either).
            continue
        if name in ("--minconfig", "--defaultconfig"):
            print_config(name[2:])
            return 0
        if name in ("-h", "--help"):
            print("Usage:\n  edgecore [flags]\n\nFlags:\n      --config string   The path to the configuration "
                  "file. (default \"%s\")\n      --defaultconfig\n      --minconfig\n  -h, --help" % DEFAULT_CONFIG)
            return 0
        if name == "--config":
            if eq:
                config = val
            elif i < len(argv):
                config = argv[i]
                i += 1
            else:
                sys.stderr.write("Error: flag needs an argument: --config\n")
                return 1
            continue
        if name.startswith("-"):
            sys.stderr.write("Error: unknown flag: %s\n" % name)
            return 1
    run(config)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
