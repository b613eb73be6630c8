#!/usr/bin/env python3
"""Test double of KubeEdge's `cloudcore`, run on the test machine.

Needs the controller venv (`kubernetes`, `cryptography`). It keeps the same
Secrets as the real cloudcore in namespace kubeedge (casecret, cloudcoresecret,
tokensecret), serves the certificate endpoints on the https port (10002:
/ca.crt, /edge.crt) and a simplified cloudhub (HTTPS + JSON, client
certificates) on 10000 where edgecore doubles register and send heartbeats;
it turns those into Node objects whose Ready condition follows the
heartbeats. See tests/double/README.md.
"""

import argparse
import base64
import ctypes
import datetime
import hashlib
import hmac
import http.server
import json
import logging
import os
import signal
import socket
import socketserver
import ssl
import sys
import tempfile
import threading
import time

VERSION = os.environ.get("CLOUDCORE_DOUBLE_VERSION", "v1.13.1")
# CLOUDCORE_DOUBLE_NAMESPACE: test-only knob (the real cloudcore always uses kubeedge).
NAMESPACE = os.environ.get("CLOUDCORE_DOUBLE_NAMESPACE", "kubeedge")
# The Kubernetes version edgecore's embedded kubelet reports, by KubeEdge minor:
# status.nodeInfo.kubeletVersion is "<this>-kubeedge-<KubeEdge version>" (seen on a
# real v1.13.1 edge node; the other minors from the CurrentSupportK8sVersion
# constant of each tag's source).
KUBELET_VERSIONS = {13: "v1.23.15", 14: "v1.24.17", 15: "v1.26.15", 16: "v1.27.15", 17: "v1.28.11",
                    18: "v1.29.5", 19: "v1.29.5", 20: "v1.30.7", 21: "v1.30.7", 22: "v1.31.12", 23: "v1.32.10"}


def kubelet_version(kubeedge_version):
    """status.nodeInfo.kubeletVersion of an edgecore of kubeedge_version (e.g. v1.13.1)."""
    minor = int(kubeedge_version.lstrip("v").split(".")[1])
    return "%s-kubeedge-%s" % (KUBELET_VERSIONS[minor], kubeedge_version)


TOKEN_SECRET, TOKEN_KEY = "tokensecret", "tokendata"
CA_SECRET, CA_KEY, CA_KEY_KEY = "casecret", "cadata", "cakeydata"
CC_SECRET, CC_KEY, CC_KEY_KEY = "cloudcoresecret", "cloudcoredata", "cloudcorekeydata"

log = logging.getLogger("cloudcore-double")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_dec(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --------------------------------------------------------------------------
# crypto (cryptography package)
def _crypto():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    return x509, hashes, serialization, ec, ExtendedKeyUsageOID, NameOID


def new_ca():
    x509, hashes, serialization, ec, _, NameOID = _crypto()
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "KubeEdge")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=365 * 100))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, True, False, False, True, True, False, False), critical=True)
            .sign(key, hashes.SHA256()))
    key_der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.DER), key_der


def sign(ca_der, ca_key_der, public_key, cn, orgs, usages, ips=(), days=365):
    import ipaddress
    x509, hashes, serialization, ec, EKU, NameOID = _crypto()
    ca = x509.load_der_x509_certificate(ca_der)
    ca_key = serialization.load_der_private_key(ca_key_der, None)
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(x509.Name(attrs)).issuer_name(ca.subject)
         .public_key(public_key).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
         .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
         .add_extension(x509.ExtendedKeyUsage([{"server": EKU.SERVER_AUTH, "client": EKU.CLIENT_AUTH}[u]
                                               for u in usages]), critical=False))
    if ips:
        b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(i)) for i in ips]),
                            critical=False)
    return b.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def new_key():
    _, _, serialization, ec, _, _ = _crypto()
    key = ec.generate_private_key(ec.SECP256R1())
    return key, key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption())


def der_to_pem(der, kind):
    body = base64.encodebytes(der).decode().replace("\n", "")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (kind, "\n".join(lines), kind)


# --------------------------------------------------------------------------
# JWT HS256 (signed with the CA key DER, like the real cloudcore)
def make_jwt(secret, exp):
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = b64url(json.dumps({"exp": int(exp)}, separators=(",", ":")).encode())
    sig = hmac.new(secret, ("%s.%s" % (header, payload)).encode(), hashlib.sha256).digest()
    return "%s.%s.%s" % (header, payload, b64url(sig))


def verify_jwt(token, secret):
    """Return None when valid, else the HTTP status the real server answers (400/401)."""
    parts = token.split(".")
    if len(parts) != 3:
        return 400
    try:
        header = json.loads(b64url_dec(parts[0]))
        payload = json.loads(b64url_dec(parts[1]))
        sig = b64url_dec(parts[2])
    except (ValueError, TypeError):
        return 400
    if not isinstance(header, dict) or not str(header.get("alg", "")).startswith("HS"):
        return 400
    want = hmac.new(secret, ("%s.%s" % (parts[0], parts[1])).encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(want, sig):
        return 401
    if not isinstance(payload, dict) or ("exp" in payload and time.time() > float(payload["exp"])):
        return 400  # jwt-go reports an expired token as a validation error, not ErrSignatureInvalid
    return None


# --------------------------------------------------------------------------
class CloudCore:
    def __init__(self, args):
        from kubernetes import client, config
        self.args = args
        api = config.new_client_from_config(config_file=args.kubeconfig)
        self.core = client.CoreV1Api(api)
        self.client = client
        self.nodes = {}  # name -> last heartbeat (monotonic)
        self.lock = threading.Lock()
        self.state = args.state_dir
        os.makedirs(self.state, mode=0o700, exist_ok=True)

    # ---- secrets
    def _secret(self, name):
        from kubernetes.client.rest import ApiException
        try:
            s = self.core.read_namespaced_secret(name, NAMESPACE)
            return {k: base64.b64decode(v) for k, v in (s.data or {}).items()}
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _save_secret(self, name, data):
        from kubernetes.client.rest import ApiException
        body = self.client.V1Secret(metadata=self.client.V1ObjectMeta(name=name, namespace=NAMESPACE),
                                    type="Opaque",
                                    data={k: base64.b64encode(v).decode() for k, v in data.items()})
        try:
            self.core.create_namespaced_secret(NAMESPACE, body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            self.core.replace_namespaced_secret(name, NAMESPACE, body)

    def prepare(self):
        from kubernetes.client.rest import ApiException
        try:
            self.core.create_namespace(self.client.V1Namespace(metadata=self.client.V1ObjectMeta(name=NAMESPACE)))
        except ApiException as exc:
            if exc.status != 409:
                raise
        ca = self._secret(CA_SECRET)
        if ca and ca.get(CA_KEY) and ca.get(CA_KEY_KEY):
            self.ca_der, self.ca_key_der = ca[CA_KEY], ca[CA_KEY_KEY]
            log.info("reusing the CA from secret %s/%s", NAMESPACE, CA_SECRET)
        else:
            self.ca_der, self.ca_key_der = new_ca()
            self._save_secret(CA_SECRET, {CA_KEY: self.ca_der, CA_KEY_KEY: self.ca_key_der})
            log.info("created the CA in secret %s/%s", NAMESPACE, CA_SECRET)
        # Like the real cloudhub (PrepareAllCerts): a certificate already in Secret
        # cloudcoresecret is used as it is, whichever addresses it names; only without
        # one is a certificate signed for the advertise addresses and saved there.
        cc = self._secret(CC_SECRET)
        if cc and cc.get(CC_KEY) and cc.get(CC_KEY_KEY):
            self.cc_der, self.cc_key_der = cc[CC_KEY], cc[CC_KEY_KEY]
            log.info("reusing the server certificate from secret %s/%s", NAMESPACE, CC_SECRET)
        else:
            key, key_der = new_key()
            self.cc_der = sign(self.ca_der, self.ca_key_der, key.public_key(), "KubeEdge", ["KubeEdge"], ["server"],
                               ips=self.args.advertise_address, days=365 * 100)
            self.cc_key_der = key_der
            self._save_secret(CC_SECRET, {CC_KEY: self.cc_der, CC_KEY_KEY: self.cc_key_der})
            log.info("signed a server certificate for %s into secret %s/%s",
                     ", ".join(self.args.advertise_address), NAMESPACE, CC_SECRET)
        self.refresh_token()
        files = {"ca.crt": der_to_pem(self.ca_der, "CERTIFICATE"),
                 "server.crt": der_to_pem(self.cc_der, "CERTIFICATE"),
                 "server.key": der_to_pem(self.cc_key_der, "EC PRIVATE KEY")}
        for name, text in files.items():
            path = os.path.join(self.state, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text)

    def refresh_token(self):
        exp = time.time() + 3600 * self.args.token_refresh_hours * 2
        token = "%s.%s" % (hashlib.sha256(self.ca_der).hexdigest(), make_jwt(self.ca_key_der, exp))
        self._save_secret(TOKEN_SECRET, {TOKEN_KEY: token.encode()})
        path = os.path.join(self.state, "token")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token)
        log.info("Succeed to creating token")

    # ---- nodes
    def upsert_node(self, info, register):
        from kubernetes.client.rest import ApiException
        name = info["node"]
        labels = {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
            "node-role.kubernetes.io/edge": "", "node-role.kubernetes.io/agent": "",
        }
        labels.update(info.get("labels") or {})
        if register:
            body = {"metadata": {"name": name, "labels": labels,
                                 "annotations": {"kubeedge.io/edgecore-double": info.get("version", "")}}}
            try:
                self.core.create_node(body)
                log.info("created node %s", name)
            except ApiException as exc:
                if exc.status != 409:
                    raise
                self.core.patch_node(name, {"metadata": {"labels": labels}})
        self.set_ready(name, info, True)
        with self.lock:
            self.nodes[name] = (time.monotonic(), info)

    def set_ready(self, name, info, ready):
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if ready:
            cond = {"type": "Ready", "status": "True", "reason": "EdgeReady",
                    "message": "edge is posting ready status", "lastHeartbeatTime": now}
        else:
            cond = {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
                    "message": "Kubelet stopped posting node status.", "lastHeartbeatTime": now}
        node = self.core.read_node(name)
        old = [c for c in (node.status.conditions or []) if c.type == "Ready"]
        cond["lastTransitionTime"] = now if not old or old[0].status != cond["status"] else \
            old[0].last_transition_time.strftime("%Y-%m-%dT%H:%M:%SZ")
        status = {"conditions": [cond]}
        if ready:
            res = {"cpu": "2", "memory": "4Gi", "pods": "110"}
            status.update({
                "capacity": res, "allocatable": res,
                "addresses": [{"type": "InternalIP", "address": info.get("address", "")},
                              {"type": "Hostname", "address": info.get("hostname", name)}],
                "nodeInfo": {"kubeletVersion": kubelet_version(info.get("version", VERSION)),
                             "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64",
                             "containerRuntimeVersion": "remote://" + info.get("runtimeEndpoint", ""),
                             "osImage": "", "kernelVersion": "", "machineID": "", "systemUUID": "",
                             "bootID": ""},
            })
        self.core.patch_node_status(name, {"status": status})

    def monitor(self):
        while True:
            time.sleep(5)
            cutoff = time.monotonic() - self.args.node_grace_seconds
            with self.lock:
                stale = [(n, i) for n, (t, i) in self.nodes.items() if t < cutoff]
                for n, _ in stale:
                    del self.nodes[n]
            for n, info in stale:
                try:
                    log.info("node %s: no heartbeat for %ss, marking it NotReady", n, self.args.node_grace_seconds)
                    self.set_ready(n, info, False)
                except Exception:  # noqa: BLE001
                    log.exception("could not mark node %s NotReady", n)

    def token_loop(self):
        while True:
            time.sleep(3600 * self.args.token_refresh_hours)
            self.refresh_token()


# --------------------------------------------------------------------------
class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def make_handler(cc, kind):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            log.info("%s %s", kind, fmt % a)

        def reply(self, code, body, ctype="text/plain"):
            if isinstance(body, str):
                body = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def body(self):
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        # --- https (10002)
        def do_GET(self):
            data = self.body()
            if kind != "https":
                return self.reply(404, "not found")
            if self.path == "/ca.crt":
                return self.reply(200, cc.ca_der, "application/octet-stream")
            if self.path == "/edge.crt":
                auth = self.headers.get("Authorization") or ""
                parts = auth.split(" ")
                if len(parts) != 2:
                    return self.reply(401, "Invalid authorization token")
                status = verify_jwt(parts[1], cc.ca_key_der)
                if status:
                    log.info("failed to sign the certificate for edgenode: %s, invalid token",
                             self.headers.get("NodeName"))
                    return self.reply(status, "Invalid authorization token")
                return self.sign_edge(data)
            return self.reply(404, "404 page not found")

        def sign_edge(self, csr_der):
            from cryptography import x509
            usages = ["client"]
            if self.headers.get("X-Edge-Double-Keygen") and not csr_der:
                # simplified path for edges without openssl: the cloud makes the key
                key, key_der = new_key()
                cert = sign(cc.ca_der, cc.ca_key_der, key.public_key(), "kubeedge.io", ["kubeEdge"], usages)
                return self.reply(200, json.dumps({"cert": der_to_pem(cert, "CERTIFICATE"),
                                                   "key": der_to_pem(key_der, "EC PRIVATE KEY")}),
                                  "application/json")
            try:
                csr = x509.load_der_x509_csr(csr_der)
            except ValueError:
                log.info("fail to ParseCertificateRequest of edgenode: %s", self.headers.get("NodeName"))
                return self.reply(400, "")
            cn = csr.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
            orgs = [a.value for a in csr.subject.get_attributes_for_oid(x509.oid.NameOID.ORGANIZATION_NAME)]
            cert = sign(cc.ca_der, cc.ca_key_der, csr.public_key(), cn[0].value if cn else "kubeedge.io", orgs,
                        usages)
            return self.reply(200, cert, "application/octet-stream")

        # --- cloudhub (10000)
        def do_POST(self):
            data = self.body()
            if kind != "cloudhub" or self.path not in ("/v1/register", "/v1/heartbeat"):
                return self.reply(404, "not found")
            try:
                info = json.loads(data)
                name = info["node"]
                assert isinstance(name, str) and name
            except (ValueError, KeyError, AssertionError):
                return self.reply(400, "bad request")
            try:
                cc.upsert_node(info, register=self.path == "/v1/register" or name not in cc.nodes)
            except Exception as exc:  # noqa: BLE001
                log.exception("node %s", name)
                return self.reply(500, str(exc))
            return self.reply(200, json.dumps({"ok": True}), "application/json")

    return Handler


def serve(cc, kind, host, port):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(cc.state, "server.crt"), os.path.join(cc.state, "server.key"))
    if kind == "cloudhub":
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=os.path.join(cc.state, "ca.crt"))
    srv = Server((host, port), make_handler(cc, kind))
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, name=kind, daemon=True)
    t.start()
    log.info("%s listening on %s:%d", kind, host, port)
    return srv


def set_process_name(name):
    """Look like a process called `name` (comm and argv[0]): keadm init checks `pidof cloudcore`,
    `ss -p` shows the listener as cloudcore."""
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(15, ctypes.c_char_p(name.encode()), 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass
    try:
        stat = open("/proc/self/stat").read()
        fields = stat[stat.rindex(")") + 2:].split()
        arg_start, arg_end = int(fields[45]), int(fields[46])
        new = name.encode() + b"\0"
        if len(new) <= arg_end - arg_start:
            with open("/proc/self/mem", "r+b", buffering=0) as mem:
                mem.seek(arg_start)
                mem.write(new + b"\0" * (arg_end - arg_start - len(new)))
    except (OSError, ValueError, IndexError):
        pass


def read_config(path):
    """The parts of a real cloudcore.yaml (--config) the double uses.

    Returns a dict of argparse defaults: kubeconfig, advertise addresses, bind
    addresses and ports of websocket/https, and the cloudStream ports when enabled.
    """
    import yaml
    try:
        with open(path) as f:
            cfg = yaml.safe_load(f) or {}
    except OSError as exc:
        raise SystemExit("config: Required value: config file %s not exist: %s" % (path, exc))
    except yaml.YAMLError as exc:
        raise SystemExit("failed to unmarshal config file %s: %s" % (path, exc))
    mods = cfg.get("modules") or {}
    hub = mods.get("cloudHub") or {}
    ws = hub.get("websocket") or {}
    https = hub.get("https") or {}
    stream = mods.get("cloudStream") or {}
    out = {
        "kubeconfig": (cfg.get("kubeAPIConfig") or {}).get("kubeConfig") or None,
        "advertise_address": [str(a) for a in hub.get("advertiseAddress") or [] if a],
        "cloudhub_port": int(ws.get("port", 10000)),
        "https_port": int(https.get("port", 10002)),
        "hub_bind": ws.get("address") or "0.0.0.0",
        "https_bind": https.get("address") or "0.0.0.0",
        "stream_ports": [int(stream.get("streamPort", 10003)), int(stream.get("tunnelPort", 10004))]
        if stream.get("enable") else [],
        # Only when the file names them (the keadm double's pod config does not: the real chart mounts
        # its Secret with the stream certificates at the default paths).
        "stream_tls": {k: stream[k] for k in ("tlsStreamCAFile", "tlsStreamCertFile", "tlsStreamPrivateKeyFile")
                       if stream.get(k)} if stream.get("enable") else {},
    }
    if ws.get("enable") is False:
        out["cloudhub_port"] = 0
    return out


def serve_stream(host, port, tls):
    """cloudStream's stream server: TLS with stream.crt/stream.key; like the real one, a missing
    stream CA file or an unusable certificate ends cloudcore (klog.Exitf)."""
    ca = tls.get("tlsStreamCAFile", "/etc/kubeedge/ca/streamCA.crt")
    try:
        open(ca, "rb").close()
    except OSError as exc:
        log.error("Read tls stream ca file error %s", exc)
        raise SystemExit(1)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(tls.get("tlsStreamCertFile", "/etc/kubeedge/certs/stream.crt"),
                            tls.get("tlsStreamPrivateKeyFile", "/etc/kubeedge/certs/stream.key"))
    except (OSError, ssl.SSLError) as exc:
        log.error("Start stream server error %s", exc)
        raise SystemExit(1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(16)
    sock = ctx.wrap_socket(sock, server_side=True)

    def loop():
        while True:
            try:
                conn, _ = sock.accept()
                conn.close()
            except ssl.SSLError:
                continue
            except OSError:
                return
    threading.Thread(target=loop, name="stream-%d" % port, daemon=True).start()
    log.info("cloudstream stream server (TLS) listening on %s:%d", host, port)
    return sock


def local_ip():
    """util.GetLocalIP(hostname) of the real cloudcore: the address the host name resolves to."""
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def negotiate_tunnel_port(cc):
    """NegotiateTunnelPort of the real cloudcore: ConfigMap kubeedge/tunnelport records, in annotation
    tunnelportrecord.kubeedge.io, {"ipTunnelPort": {<local IP>: port}, "port": {"<port>": true}}; a new
    CloudCore takes the first free port above 10350."""
    from kubernetes.client.rest import ApiException
    key = "tunnelportrecord.kubeedge.io"
    ip = local_ip()
    try:
        cm = cc.core.read_namespaced_config_map("tunnelport", NAMESPACE)
    except ApiException as exc:
        if exc.status != 404:
            raise
        cm = None
    record = {"ipTunnelPort": {}, "port": {}}
    if cm is not None:
        record = json.loads((cm.metadata.annotations or {}).get(key) or "{}") or record
        record.setdefault("ipTunnelPort", {})
        record.setdefault("port", {})
    if ip in record["ipTunnelPort"]:
        return record["ipTunnelPort"][ip]
    port = 10350
    while True:
        port += 1
        if str(port) not in record["port"]:
            break
    record["ipTunnelPort"][ip] = port
    record["port"][str(port)] = True
    body = {"metadata": {"name": "tunnelport", "namespace": NAMESPACE,
                         "annotations": {key: json.dumps(record, separators=(",", ":"))}}}
    if cm is None:
        cc.core.create_namespaced_config_map(NAMESPACE, body)
    else:
        cc.core.patch_namespaced_config_map("tunnelport", NAMESPACE, body)
    log.info("negotiated tunnel port %d for %s", port, ip)
    return port


def serve_plain(host, port):
    """cloudStream's stream/tunnel ports: the double only accepts and closes connections."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(16)

    def loop():
        while True:
            try:
                conn, _ = sock.accept()
                conn.close()
            except OSError:
                return
    threading.Thread(target=loop, name="stream-%d" % port, daemon=True).start()
    log.info("cloudstream listening on %s:%d", host, port)
    return sock


def main(argv=None):
    p = argparse.ArgumentParser(prog="cloudcore", description="KubeEdge cloudcore test double")
    p.add_argument("--config", default=None,
                   help="a cloudcore.yaml (kubeAPIConfig.kubeConfig, cloudHub advertiseAddress/ports, cloudStream); "
                        "command-line flags win over it")
    p.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))
    p.add_argument("--advertise-address", action="append", default=None,
                   help="address(es) put in the server certificate; the first is also the bind address")
    p.add_argument("--bind-address", default=None)
    p.add_argument("--https-port", type=int, default=10002)
    p.add_argument("--cloudhub-port", type=int, default=10000)
    p.add_argument("--state-dir", default=os.path.join(tempfile.gettempdir(), "cloudcore-double"))
    p.add_argument("--node-grace-seconds", type=float, default=40)
    p.add_argument("--token-refresh-hours", type=float, default=12)
    p.add_argument("--version", action="store_true", help="print the version and exit (double only)")
    raw = argv if argv is not None else sys.argv[1:]
    args = p.parse_args(argv)
    if args.version:
        print("KubeEdge %s" % VERSION)
        return 0
    hub_host = https_host = None
    stream_ports = []
    stream_tls = {}
    if args.config:
        conf = read_config(args.config)
        given = {a.split("=")[0] for a in raw if a.startswith("--")}
        if "--kubeconfig" not in given and conf["kubeconfig"]:
            args.kubeconfig = conf["kubeconfig"]
        if "--advertise-address" not in given and conf["advertise_address"]:
            args.advertise_address = conf["advertise_address"]
        if "--cloudhub-port" not in given:
            args.cloudhub_port = conf["cloudhub_port"]
        if "--https-port" not in given:
            args.https_port = conf["https_port"]
        if "--bind-address" not in given:
            hub_host, https_host = conf["hub_bind"], conf["https_bind"]
        stream_ports = conf["stream_ports"]
        stream_tls = conf["stream_tls"]
        if "--state-dir" not in given:
            args.state_dir = "/var/lib/kubeedge/cloudcore-double"
    if not args.kubeconfig:
        p.error("--kubeconfig (or KUBECONFIG) is required")
    args.advertise_address = args.advertise_address or ["127.0.0.1"]
    host = args.bind_address or args.advertise_address[0]
    set_process_name("cloudcore")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    cc = CloudCore(args)
    cc.prepare()
    if args.config:
        negotiate_tunnel_port(cc)
    serve(cc, "https", https_host or host, args.https_port)
    if args.cloudhub_port:
        serve(cc, "cloudhub", hub_host or host, args.cloudhub_port)
    if stream_ports and stream_tls:
        serve_stream("0.0.0.0", stream_ports[0], stream_tls)
        serve_plain("0.0.0.0", stream_ports[1])
    else:
        for port in stream_ports:
            serve_plain(hub_host or host, port)
    threading.Thread(target=cc.monitor, daemon=True).start()
    threading.Thread(target=cc.token_loop, daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log.info("cloudcore double %s ready", VERSION)
    while not stop.wait(1):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
