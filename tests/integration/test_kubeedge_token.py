"""edge.cluster.kubeedge_token against the real kube-apiserver of the test bed.

Each test writes the Secret CloudCore would write (``tokensecret``, key
``tokendata``, value ``<sha256 hex>.<HS256 JWT>``) into a fresh namespace and
runs the module through the ``ansible`` CLI.
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import subprocess
import threading
import time
from collections import namedtuple
from pathlib import Path

import pytest
from kubernetes import client

MODULE = "edge.cluster.kubeedge_token"
REPO = Path(__file__).resolve().parents[2]

# One ansible run: exit code, the module result, stdout + stderr, seconds taken.
Run = namedtuple("Run", "rc result output elapsed")


def b64url(data):
    if not isinstance(data, bytes):
        data = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_token(exp, payload=None):
    """Build a token the way CloudCore does: sha256(CA DER) hex, a dot, an HS256 JWT."""
    ca_hash = hashlib.sha256(os.urandom(32)).hexdigest()
    signing_input = "%s.%s" % (b64url({"alg": "HS256", "typ": "JWT"}),
                               b64url({"exp": exp} if payload is None else payload))
    sig = hmac.new(os.urandom(32), signing_input.encode(), hashlib.sha256).digest()
    return "%s.%s.%s" % (ca_hash, signing_input, b64url(sig))


def iso(exp):
    return datetime.datetime.fromtimestamp(exp, tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def core(api_client):
    return client.CoreV1Api(api_client)


@pytest.fixture
def put_secret(core):
    """Create a Secret with raw bytes per data key (the client base64-encodes them)."""
    def put(namespace, data, name="tokensecret"):
        encoded = dict((k, base64.b64encode(v.encode() if isinstance(v, str) else v).decode())
                       for k, v in data.items())
        core.create_namespaced_secret(namespace, client.V1Secret(
            metadata=client.V1ObjectMeta(name=name, namespace=namespace), data=encoded))
    return put


@pytest.fixture
def run_raw(kubeconfig):
    """Run the module like conftest's run_module, also keeping stdout/stderr and the duration."""
    def runner(args, check=False):
        cmd = ["ansible", "localhost", "-c", "local", "-m", MODULE, "-a", json.dumps(args)]
        if check:
            cmd.append("--check")
        env = dict(os.environ)
        env.update({"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
                    "ANSIBLE_LOCALHOST_WARNING": "0", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
                    "ANSIBLE_NOCOLOR": "1"})
        start = time.monotonic()
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env, cwd=str(REPO), check=False)
        elapsed = time.monotonic() - start
        try:
            result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
        except (ValueError, KeyError, IndexError):
            raise AssertionError("unparseable ansible output:\n%s\n%s" % (proc.stdout[-4000:], proc.stderr[-2000:]))
        return Run(proc.returncode, result, proc.stdout + proc.stderr, elapsed)
    return runner


def assert_no_token(output, token):
    """Neither the token nor its JWT (the secret part) may show up in a failure."""
    assert token not in output
    assert token.split(".", 1)[1] not in output
    for part in token.split(".")[2:]:
        assert part not in output


def test_reads_token(run_module, kubeconfig, namespace, put_secret):
    exp = int(time.time()) + 12 * 3600
    token = make_token(exp)
    put_secret(namespace, {"tokendata": token})

    rc, result = run_module(MODULE, {"kubeconfig": kubeconfig, "namespace": namespace})
    assert rc == 0, result
    assert result["changed"] is False
    assert result["token"] == token
    assert result["ca_hash"] == token.split(".")[0] and len(result["ca_hash"]) == 64
    assert result["expires_at"] == iso(exp)
    assert result["expired"] is False

    rc, checked = run_module(MODULE, {"kubeconfig": kubeconfig, "namespace": namespace}, check=True)
    assert rc == 0, checked
    for key in ("changed", "token", "ca_hash", "expires_at", "expired"):
        assert checked[key] == result[key]


def test_custom_secret_name_and_kubeconfig_from_environment(run_module, namespace, put_secret):
    # The kubeconfig fixture (through api_client) exported KUBECONFIG: no connection option needed.
    exp = int(time.time()) + 600
    token = make_token(exp)
    put_secret(namespace, {"tokendata": token}, name="edge-join")
    rc, result = run_module(MODULE, {"namespace": namespace, "secret_name": "edge-join", "wait": False})
    assert rc == 0, result
    assert result["token"] == token and result["expires_at"] == iso(exp)


def test_missing_secret_without_wait(run_raw, kubeconfig, namespace):
    run = run_raw({"kubeconfig": kubeconfig, "namespace": namespace, "wait": False})
    assert run.rc != 0 and run.result["failed"] is True
    assert "is CloudCore running in namespace %s?" % namespace in run.result["msg"]
    assert "tokensecret" in run.result["msg"]
    assert "waiting" not in run.result["msg"]


def test_missing_secret_waits_for_the_timeout(run_raw, kubeconfig, namespace):
    baseline_run = run_raw({"kubeconfig": kubeconfig, "namespace": namespace, "wait": False})
    assert baseline_run.rc != 0
    run = run_raw({"kubeconfig": kubeconfig, "namespace": namespace,
                   "wait_timeout": 3, "wait_sleep": 1})
    assert run.rc != 0
    assert "is CloudCore running in namespace %s?" % namespace in run.result["msg"]
    assert "after waiting 3 s" in run.result["msg"]
    assert run.elapsed >= 3
    assert run.elapsed - baseline_run.elapsed == pytest.approx(3, abs=2.5), (run.elapsed, baseline_run.elapsed)


def test_missing_namespace(run_raw, kubeconfig):
    run = run_raw({"kubeconfig": kubeconfig, "namespace": "no-such-ns-%s" % os.urandom(3).hex(),
                   "wait": False})
    assert run.rc != 0
    assert "is CloudCore running in namespace no-such-ns-" in run.result["msg"]


def test_secret_created_while_waiting(run_module, kubeconfig, namespace, put_secret):
    exp = int(time.time()) + 3600
    token = make_token(exp)
    delay = 3
    errors = []

    def create_later():
        time.sleep(delay)
        try:
            put_secret(namespace, {"tokendata": token})
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    worker = threading.Thread(target=create_later)
    start = time.monotonic()
    worker.start()
    try:
        rc, result = run_module(MODULE, {"kubeconfig": kubeconfig, "namespace": namespace,
                                         "wait_timeout": 60, "wait_sleep": 1})
    finally:
        worker.join()
    elapsed = time.monotonic() - start
    assert not errors
    assert rc == 0, result
    assert result["token"] == token and result["expires_at"] == iso(exp)
    assert delay <= elapsed < 30


def test_missing_key(run_raw, kubeconfig, namespace, put_secret):
    put_secret(namespace, {"token": make_token(int(time.time()) + 600)})
    run = run_raw({"kubeconfig": kubeconfig, "namespace": namespace})
    assert run.rc != 0
    assert "has no data key tokendata (keys: token)" in run.result["msg"]


def test_data_not_text(run_raw, kubeconfig, namespace, put_secret):
    # The API stores Secret data as bytes and always returns valid base64, so the
    # "base64 -d" step of the shell recipe can only go wrong as bytes that are no text.
    put_secret(namespace, {"tokendata": b"\xff\xfe\x00\x81 binary"})
    run = run_raw({"kubeconfig": kubeconfig, "namespace": namespace})
    assert run.rc != 0
    assert "Data key tokendata of Secret %s/tokensecret is unusable" % namespace in run.result["msg"]
    assert "does not decode to text" in run.result["msg"]


BAD_FORMATS = [
    ("no CA hash", lambda t: t.split(".", 1)[1], "3 dot-separated parts, expected 4"),
    ("short CA hash", lambda t: t[1:], "63 characters, expected 64 hex"),
    ("non-hex CA hash", lambda t: "z" + t[1:], "not hexadecimal"),
    ("2-part JWT", lambda t: t.rsplit(".", 1)[0], "3 dot-separated parts"),
    ("payload not base64url", lambda t: ".".join(t.split(".")[:2] + ["%%%"] + t.split(".")[3:]),
     "payload is not base64url"),
    ("base64 twice", lambda t: base64.b64encode(t.encode()).decode(), "1 dot-separated parts"),
]


def test_bad_format(run_raw, kubeconfig, namespace, put_secret):
    # One namespace, one Secret per case (conftest's namespace fixture cannot
    # name a namespace after a parametrized test id).
    for i, (case, mangle, expected) in enumerate(BAD_FORMATS):
        bad = mangle(make_token(int(time.time()) + 600))
        put_secret(namespace, {"tokendata": bad}, name="bad-%d" % i)
        run = run_raw({"kubeconfig": kubeconfig, "namespace": namespace,
                       "secret_name": "bad-%d" % i})
        assert run.rc != 0, case
        assert "is not a KubeEdge join token" in run.result["msg"], (case, run.result["msg"])
        assert expected in run.result["msg"], (case, run.result["msg"])
        assert bad not in run.output, case


def test_payload_without_exp(run_raw, kubeconfig, namespace, put_secret):
    token = make_token(None, payload={"iat": int(time.time())})
    put_secret(namespace, {"tokendata": token})
    run = run_raw({"kubeconfig": kubeconfig, "namespace": namespace})
    assert run.rc != 0
    assert 'no "exp" claim' in run.result["msg"]
    assert_no_token(run.output, token)


def test_expired_token(run_raw, kubeconfig, namespace, put_secret):
    exp = int(time.time()) - 60
    token = make_token(exp)
    put_secret(namespace, {"tokendata": token})

    run = run_raw({"kubeconfig": kubeconfig, "namespace": namespace})
    assert run.rc != 0
    assert "expired at %s" % iso(exp) in run.result["msg"]
    assert "allow_expired" in run.result["msg"]
    assert_no_token(run.output, token)

    run = run_raw({"kubeconfig": kubeconfig, "namespace": namespace, "allow_expired": True})
    assert run.rc == 0, run.result
    assert run.result["expired"] is True
    assert run.result["token"] == token
    assert run.result["expires_at"] == iso(exp)


def test_forbidden_context(run_raw, kubeconfig, namespace, put_secret):
    token = make_token(int(time.time()) + 600)
    put_secret(namespace, {"tokendata": token})
    run = run_raw({"kubeconfig": kubeconfig, "context": "edge-test-nobody",
                   "namespace": namespace, "wait_timeout": 60})
    assert run.rc != 0
    assert "Secret %s/tokensecret" % namespace in run.result["msg"]
    assert "RBAC" in run.result["msg"]
    assert run.elapsed < 30  # a 403 is not waited on
    assert_no_token(run.output, token)
