"""Unit tests for edge.cluster.bootstrap_token and module_utils.bootstrap_token (no cluster)."""

import base64
import hashlib
import re
import subprocess

import pytest
import yaml
from kubernetes.client import V1ConfigMap, V1ObjectMeta, V1Secret, V1SecretList
from kubernetes.client.rest import ApiException

from ansible_collections.edge.cluster.plugins.module_utils import bootstrap_token as bt
from ansible_collections.edge.cluster.plugins.modules import bootstrap_token as mod

NOW = 1767225600  # 2026-01-01T00:00:00Z
H = 3600
GROUP = bt.DEFAULT_GROUP
BOTH = ["authentication", "signing"]


# ------------------------------------------------------------------ durations

@pytest.mark.parametrize("text, seconds", [
    ("0", 0), (0, 0), ("24h", 86400), ("90m", 5400), ("1h30m", 5400), ("3600", 3600), ("45s", 45),
    ("2d", 172800), ("1.5h", 5400), (" 10M ", 600), ("1d2h3m4s", 93784), ("0h", 0), ("0.5s", 0),
])
def test_parse_duration(text, seconds):
    assert bt.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", None, "-1h", "h", "1x", "1h 30m", "1hh", "24hours", "P1D", "1.h", ".5h",
                                  "1h-", "abc", "1w", "1e3s", "-5"])
def test_parse_duration_rejects(text):
    with pytest.raises(bt.BootstrapTokenError) as err:
        bt.parse_duration(text, "ttl")
    msg = str(err.value)
    assert msg.startswith("ttl: ") and "24h" in msg and "90m" in msg


@pytest.mark.parametrize("seconds, text", [(0, "0s"), (59, "59s"), (5400, "1h30m"), (93784, "1d2h3m4s")])
def test_format_duration(seconds, text):
    assert bt.format_duration(seconds) == text


@pytest.mark.parametrize("text, epoch", [
    ("2026-01-01T00:00:00Z", NOW),
    ("2026-01-01T01:00:00+01:00", NOW),
    ("2025-12-31T19:30:00-04:30", NOW),
    ("2026-01-01T00:00:00.123456789Z", NOW),
    ("2026-01-01t00:00:00z", NOW),
])
def test_parse_rfc3339(text, epoch):
    assert bt.parse_rfc3339(text) == epoch


@pytest.mark.parametrize("text", ["2026-01-01", "2026-01-01T00:00:00", "tomorrow", "", None, 1767225600])
def test_parse_rfc3339_rejects(text):
    with pytest.raises(bt.BootstrapTokenError):
        bt.parse_rfc3339(text)


def test_format_rfc3339_round_trip():
    assert bt.format_rfc3339(NOW + 86400) == "2026-01-02T00:00:00Z"
    assert bt.parse_rfc3339(bt.format_rfc3339(NOW + 12345)) == NOW + 12345


# --------------------------------------------------------------------- tokens

def test_generate_token_format_and_randomness():
    seen = set()
    for dummy in range(200):
        token_id, token_secret = bt.generate_token()
        assert re.match(r"^[a-z0-9]{6}$", token_id)
        assert re.match(r"^[a-z0-9]{16}$", token_secret)
        # The same format the kube-apiserver checks: ^([a-z0-9]{6})\.([a-z0-9]{16})$
        assert re.match(r"^([a-z0-9]{6})\.([a-z0-9]{16})$", "%s.%s" % (token_id, token_secret))
        seen.add(token_secret)
    assert len(seen) == 200


def test_generate_token_uses_secrets_module(monkeypatch):
    calls = []

    def choice(seq):
        calls.append(seq)
        return "q"
    monkeypatch.setattr(bt.secrets, "choice", choice)
    assert bt.generate_token(choice=bt.secrets.choice) == ("qqqqqq", "q" * 16)
    assert len(calls) == 22 and set(calls) == {bt.TOKEN_ALPHABET}


def test_secret_string_data_matches_kubeadm():
    data = bt.secret_string_data("abcdef", "0123456789abcdef", NOW + 86400, ["authentication", "signing"],
                                 [GROUP], "desc")
    assert data == {
        "token-id": "abcdef",
        "token-secret": "0123456789abcdef",
        "expiration": "2026-01-02T00:00:00Z",
        "usage-bootstrap-authentication": "true",
        "usage-bootstrap-signing": "true",
        "auth-extra-groups": GROUP,
        "description": "desc",
    }
    never = bt.secret_string_data("abcdef", "0123456789abcdef", None, ["signing"], [], "")
    assert never == {"token-id": "abcdef", "token-secret": "0123456789abcdef", "usage-bootstrap-signing": "true"}
    assert bt.decode_data(bt.encode_data(data)) == data


@pytest.mark.parametrize("purpose, ok", [
    ("join", True), ("edge-site-42", True), ("a", True), ("A.b_c", True), ("x" * 63, True),
    ("x" * 64, False), ("-join", False), ("join-", False), ("join site", False), ("", False), ("a/b", False),
])
def test_validate_purpose(purpose, ok):
    if ok:
        bt.validate_purpose(purpose)
    else:
        with pytest.raises(bt.BootstrapTokenError, match="label value"):
            bt.validate_purpose(purpose)


@pytest.mark.parametrize("group, ok", [
    (GROUP, True), ("system:bootstrappers:edge", True), ("system:bootstrappers:edge-1:x", True),
    ("system:bootstrappers:", False), ("system:masters", False), ("system:bootstrappers:Edge", False),
    ("system:bootstrappers:edge-", False), ("", False),
])
def test_validate_groups(group, ok):
    if ok:
        bt.validate_groups([group])
    else:
        with pytest.raises(bt.BootstrapTokenError, match="bootstrap group"):
            bt.validate_groups([group])


# ---------------------------------------------------------- reuse decisions

def existing(name="bootstrap-token-abcdef", token_id="abcdef", token_secret="0123456789abcdef",
             expires=NOW + 20 * H, usages=("authentication", "signing"), groups=(GROUP,), deleting=False, **extra):
    data = {"token-id": token_id, "token-secret": token_secret}
    if expires is not None:
        data["expiration"] = expires if isinstance(expires, str) else bt.format_rfc3339(expires)
    for usage in usages:
        data["usage-bootstrap-%s" % usage] = "true"
    if groups:
        data["auth-extra-groups"] = ",".join(groups)
    data.update(extra)
    return bt.describe_existing(name, data, deleting=deleting)


# (description, existing token, ttl, min_remaining, usages, groups, expected problem or None = reuse)
REUSE_TABLE = [
    ("fresh token", existing(), 24 * H, H, BOTH, [GROUP], None),
    ("usages order does not matter", existing(usages=("signing", "authentication")), 24 * H, H,
     ["signing", "authentication"], [GROUP], None),
    ("exactly min_remaining left", existing(expires=NOW + H), 24 * H, H, BOTH, [GROUP], None),
    ("just under min_remaining", existing(expires=NOW + H - 1), 24 * H, H, BOTH, [GROUP],
     "expires in less than min_remaining"),
    ("min_remaining 0 takes any unexpired", existing(expires=NOW + 1), 24 * H, 0, BOTH, [GROUP], None),
    ("expired", existing(expires=NOW - 1), 24 * H, 0, BOTH, [GROUP], "expired"),
    ("expires exactly now", existing(expires=NOW), 24 * H, 0, BOTH, [GROUP], "expired"),
    ("longer than ttl", existing(expires=NOW + 25 * H), 24 * H, H, BOTH, [GROUP], "expires later than ttl allows"),
    ("exactly ttl", existing(expires=NOW + 24 * H), 24 * H, H, BOTH, [GROUP], None),
    ("offset timestamp", existing(expires="2026-01-01T22:00:00+02:00"), 24 * H, H, BOTH, [GROUP], None),
    ("never expires, ttl 0", existing(expires=None), 0, H, BOTH, [GROUP], None),
    ("never expires, ttl 24h", existing(expires=None), 24 * H, H, BOTH, [GROUP],
     "never expires, but ttl asks for an expiring token"),
    ("expires, ttl 0", existing(), 0, H, BOTH, [GROUP], "expires, but ttl=0 asks for a token that never expires"),
    ("missing usage", existing(usages=("signing",)), 24 * H, H, BOTH, [GROUP], "different usages"),
    ("extra usage", existing(), 24 * H, H, ["signing"], [GROUP], "different usages"),
    ("usage not 'true'", existing(usages=("signing",), **{"usage-bootstrap-authentication": "false"}),
     24 * H, H, BOTH, [GROUP], "different usages"),
    ("different groups", existing(groups=("system:bootstrappers:other",)), 24 * H, H, BOTH, [GROUP],
     "different groups"),
    ("no groups asked", existing(groups=()), 24 * H, H, BOTH, [], None),
    ("groups order", existing(groups=("system:bootstrappers:b", "system:bootstrappers:a")), 24 * H, H, BOTH,
     ["system:bootstrappers:a", "system:bootstrappers:b"], None),
    ("bad token-id", existing(token_id="ABCDEF", name="bootstrap-token-ABCDEF"), 24 * H, H, BOTH, [GROUP],
     "malformed token-id"),
    ("id/name mismatch", existing(name="bootstrap-token-zzzzzz"), 24 * H, H, BOTH, [GROUP],
     "token-id does not match the Secret name"),
    ("short secret", existing(token_secret="0123"), 24 * H, H, BOTH, [GROUP], "malformed token-secret"),
    ("undecodable secret", existing(token_secret=None), 24 * H, H, BOTH, [GROUP], "malformed token-secret"),
    ("bad expiration", existing(expires="soon"), 24 * H, H, BOTH, [GROUP], "unreadable expiration"),
    ("empty expiration", existing(expires=""), 24 * H, H, BOTH, [GROUP], "unreadable expiration"),
    ("being deleted", existing(deleting=True), 24 * H, H, BOTH, [GROUP], "being deleted"),
]


@pytest.mark.parametrize("desc, candidate, ttl, min_remaining, usages, groups, problem", REUSE_TABLE,
                         ids=[row[0] for row in REUSE_TABLE])
def test_reuse_table(desc, candidate, ttl, min_remaining, usages, groups, problem):
    assert bt.reuse_problem(candidate, NOW, ttl, min_remaining, usages, groups) == problem
    picked = bt.pick_reusable([candidate], NOW, ttl, min_remaining, usages, groups)
    assert (picked is None) == (problem is not None)


def test_pick_reusable_prefers_longest_lived():
    short = existing(name="bootstrap-token-aaaaaa", token_id="aaaaaa", expires=NOW + 2 * H)
    long_ = existing(name="bootstrap-token-bbbbbb", token_id="bbbbbb", expires=NOW + 10 * H)
    bad = existing(name="bootstrap-token-cccccc", token_id="cccccc", expires=NOW + 23 * H, usages=("signing",))
    tie = existing(name="bootstrap-token-000000", token_id="000000", expires=NOW + 10 * H)
    assert bt.pick_reusable([short, long_, bad], NOW, 24 * H, H, BOTH, [GROUP])["name"] == long_["name"]
    assert bt.pick_reusable([long_, tie], NOW, 24 * H, H, BOTH, [GROUP])["name"] == tie["name"]
    assert bt.pick_reusable([bad], NOW, 24 * H, H, BOTH, [GROUP]) is None
    assert bt.pick_reusable([], NOW, 24 * H, H, BOTH, [GROUP]) is None


# -------------------------------------------------------------------- CA hash

def openssl(*args, **kwargs):
    return subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, **kwargs).stdout


def openssl_pin(cert_path):
    """The runbook pipeline: openssl x509 -pubkey | openssl pkey -pubin -outform der | sha256sum."""
    pub = openssl("x509", "-pubkey", "-noout", "-in", str(cert_path))
    der = openssl("pkey", "-pubin", "-outform", "der", input=pub)
    return "sha256:" + hashlib.sha256(der).hexdigest()


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """CA certificates made by the openssl CLI: RSA (v3), EC P-256 (v3), Ed25519, and an RSA v1 certificate."""
    d = tmp_path_factory.mktemp("ca")
    out = {}
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=unit-rsa-ca",
            "-keyout", str(d / "rsa.key"), "-out", str(d / "rsa.crt"))
    out["rsa"] = d / "rsa.crt"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-subj", "/CN=unit-ec-ca", "-keyout", str(d / "ec.key"), "-out", str(d / "ec.crt"))
    out["ec"] = d / "ec.crt"
    openssl("req", "-x509", "-newkey", "ed25519", "-nodes", "-days", "2", "-subj", "/CN=unit-ed25519-ca",
            "-keyout", str(d / "ed.key"), "-out", str(d / "ed.crt"))
    out["ed25519"] = d / "ed.crt"
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=unit-v1", "-keyout", str(d / "v1.key"),
            "-out", str(d / "v1.csr"))
    openssl("x509", "-req", "-in", str(d / "v1.csr"), "-signkey", str(d / "v1.key"), "-days", "2",
            "-out", str(d / "v1.crt"))
    out["v1"] = d / "v1.crt"
    return out


@pytest.mark.parametrize("kind", ["rsa", "ec", "ed25519", "v1"])
@pytest.mark.parametrize("use_cryptography", [True, False], ids=["cryptography", "der-walk"])
def test_ca_hash_matches_openssl(certs, kind, use_cryptography):
    pem = certs[kind].read_bytes()
    assert bt.ca_cert_hashes(pem, use_cryptography=use_cryptography) == [openssl_pin(certs[kind])]


def test_v1_certificate_has_no_version_field(certs):
    from cryptography import x509
    assert x509.load_pem_x509_certificate(certs["v1"].read_bytes()).version == x509.Version.v1
    assert x509.load_pem_x509_certificate(certs["rsa"].read_bytes()).version == x509.Version.v3


@pytest.mark.parametrize("kind", ["rsa", "ec", "v1"])
def test_der_walk_returns_raw_spki_bytes(certs, kind):
    der = openssl("x509", "-in", str(certs[kind]), "-outform", "der")
    pub = openssl("x509", "-pubkey", "-noout", "-in", str(certs[kind]))
    assert bt.spki_from_der_pure(der) == openssl("pkey", "-pubin", "-outform", "der", input=pub)
    assert bt.spki_from_der_pure(der) == bt.spki_from_der_cryptography(der)


def test_ca_hash_default_path_follows_library_presence(certs, monkeypatch):
    pem = certs["rsa"].read_bytes()
    expected = [openssl_pin(certs["rsa"])]
    for has in (True, False):
        monkeypatch.setattr(bt, "HAS_CRYPTOGRAPHY", has)
        if not has:
            monkeypatch.setattr(bt, "spki_from_der_cryptography", None)  # would fail if called
        assert bt.ca_cert_hashes(pem) == expected


def test_ca_hash_bundle_der_and_text(certs):
    bundle = certs["rsa"].read_bytes() + b"\n" + certs["ec"].read_bytes() + certs["rsa"].read_bytes()
    expected = [openssl_pin(certs["rsa"]), openssl_pin(certs["ec"])]
    for use in (True, False):
        assert bt.ca_cert_hashes(bundle, use_cryptography=use) == expected  # duplicates dropped, order kept
        assert bt.ca_cert_hashes(bundle.decode(), use_cryptography=use) == expected
        der = openssl("x509", "-in", str(certs["ec"]), "-outform", "der")
        assert bt.ca_cert_hashes(der, use_cryptography=use) == [openssl_pin(certs["ec"])]


@pytest.mark.parametrize("use_cryptography", [True, False], ids=["cryptography", "der-walk"])
@pytest.mark.parametrize("data", [
    b"", b"hello", b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    b"\x30\x03\x02\x01\x01", b"\x30\x82\xff\xff\x30", b"\x30\x80\x00\x00", b"\x30\x02\x30\x00",
    b"\x30\x05\x30\x03\x02\x01\x01",
])
def test_ca_hash_rejects_garbage(data, use_cryptography):
    with pytest.raises(bt.BootstrapTokenError):
        bt.ca_cert_hashes(data, use_cryptography=use_cryptography)


def test_der_walk_rejects_truncated_certificate(certs):
    der = openssl("x509", "-in", str(certs["rsa"]), "-outform", "der")
    for cut in (1, 10, 100, len(der) - 1):
        with pytest.raises(bt.BootstrapTokenError):
            bt.spki_from_der_pure(der[:cut])
    with pytest.raises(bt.BootstrapTokenError):
        bt.spki_from_der_pure(der + b"\x00")


def test_ca_from_kubeconfig_yaml(certs):
    pem = certs["rsa"].read_bytes()
    kc = yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "clusters": [
        {"name": "", "cluster": {"server": "https://x:6443",
                                 "certificate-authority-data": base64.b64encode(pem).decode()}}]})
    assert bt.ca_from_kubeconfig_yaml(kc) == pem
    for bad in ("", "[]", "clusters: 3", "clusters: [{cluster: {server: x}}]", ": : :", "clusters: [7]"):
        assert bt.ca_from_kubeconfig_yaml(bad) is None


# ------------------------------------------------- the module, fake CoreV1Api

def api_exc(status, message="nope"):
    exc = ApiException(status=status, reason="Reason%d" % status)
    exc.body = '{"message": "%s"}' % message
    return exc


class FakeCore:
    """Just enough of CoreV1Api: Secrets and ConfigMaps in dicts."""

    def __init__(self, configmaps=None, secrets=None):
        self.configmaps = dict(configmaps or {})  # (ns, name) -> data dict or ApiException
        self.secrets = dict(secrets or {})  # name -> V1Secret
        self.calls = []
        self.create_failures = []

    def read_namespaced_config_map(self, name, namespace):
        self.calls.append(("read_cm", namespace, name))
        value = self.configmaps.get((namespace, name))
        if value is None:
            raise api_exc(404)
        if isinstance(value, Exception):
            raise value
        return V1ConfigMap(data=value)

    def list_namespaced_secret(self, namespace, label_selector=None, field_selector=None):
        self.calls.append(("list", namespace, label_selector, field_selector))
        wanted = dict(kv.split("=", 1) for kv in label_selector.split(","))
        items = [s for s in self.secrets.values()
                 if all((s.metadata.labels or {}).get(k) == v for k, v in wanted.items())]
        return V1SecretList(items=items)

    def create_namespaced_secret(self, namespace, body):
        self.calls.append(("create", namespace, body.metadata.name))
        if self.create_failures:
            raise self.create_failures.pop(0)
        assert namespace == "kube-system"
        self.secrets[body.metadata.name] = body
        return body

    def delete_namespaced_secret(self, name, namespace):
        self.calls.append(("delete", namespace, name))
        if name not in self.secrets:
            raise api_exc(404)
        del self.secrets[name]


def params(**kw):
    p = dict(state="present", purpose="join", ttl="24h", min_remaining="1h", usages=["signing", "authentication"],
             groups=[GROUP], description="test token", ca_cert_path=None)
    p.update(kw)
    return p


def our_secret(token_id, token_secret="0123456789abcdef", expires=NOW + 20 * H, purpose="join", usages=tuple(BOTH),
               groups=(GROUP,)):
    data = bt.secret_string_data(token_id, token_secret, expires, list(usages), list(groups), "x")
    return V1Secret(type=bt.SECRET_TYPE, data=bt.encode_data(data), metadata=V1ObjectMeta(
        name="bootstrap-token-" + token_id, namespace="kube-system",
        labels={bt.MANAGED_BY_LABEL: bt.MANAGED_BY_VALUE, bt.PURPOSE_LABEL: purpose}))


def manager(core, check_mode=False, connection_ca=None, **kw):
    warnings = []
    m = mod.BootstrapTokenManager(core, params(**kw), check_mode=check_mode, now=lambda: NOW,
                                  connection_ca=connection_ca, warn=warnings.append)
    m.warnings = warnings
    return m


@pytest.fixture
def ca(certs):
    return {"pem": certs["rsa"].read_bytes().decode(), "hash": openssl_pin(certs["rsa"]), "path": certs["rsa"],
            "ec_pem": certs["ec"].read_bytes().decode(), "ec_hash": openssl_pin(certs["ec"]), "ec_path": certs["ec"]}


def cluster_info(pem):
    return {"kubeconfig": yaml.safe_dump({"clusters": [{"name": "", "cluster": {
        "server": "https://x:6443", "certificate-authority-data": base64.b64encode(pem.encode()).decode()}}]})}


def test_present_creates_kubeadm_secret(ca):
    core = FakeCore({("kube-system", "kube-root-ca.crt"): {"ca.crt": ca["pem"]}})
    result = manager(core).run()
    assert result["changed"] is True and result["created"] is True
    token_id, token_secret = result["token"].split(".")
    assert result["token_id"] == token_id and result["secret_name"] == "bootstrap-token-" + token_id
    assert result["expires_at"] == "2026-01-02T00:00:00Z"
    assert result["ca_cert_hashes"] == [ca["hash"]] and result["ca_source"] == "kube-root-ca.crt"
    secret = core.secrets["bootstrap-token-" + token_id]
    assert secret.type == "bootstrap.kubernetes.io/token"
    assert secret.metadata.namespace == "kube-system"
    assert secret.metadata.labels == {"edge.cluster/managed-by": "bootstrap_token", "edge.cluster/purpose": "join"}
    assert bt.decode_data(secret.data) == {
        "token-id": token_id, "token-secret": token_secret, "expiration": "2026-01-02T00:00:00Z",
        "usage-bootstrap-signing": "true", "usage-bootstrap-authentication": "true",
        "auth-extra-groups": GROUP, "description": "test token"}
    assert core.calls[-1] == ("create", "kube-system", secret.metadata.name)
    list_call = [c for c in core.calls if c[0] == "list"][0]
    assert list_call == ("list", "kube-system", "edge.cluster/managed-by=bootstrap_token,edge.cluster/purpose=join",
                         "type=bootstrap.kubernetes.io/token")


def test_present_ttl_zero_never_expires(ca):
    core = FakeCore({("kube-system", "kube-root-ca.crt"): {"ca.crt": ca["pem"]}})
    result = manager(core, ttl="0").run()
    assert result["created"] is True and result["expires_at"] is None
    assert "expiration" not in bt.decode_data(core.secrets[result["secret_name"]].data)
    again = manager(core, ttl="0").run()
    assert again["changed"] is False and again["token"] == result["token"]


def test_present_reuses_and_ignores_other_purposes(ca):
    core = FakeCore({("kube-system", "kube-root-ca.crt"): {"ca.crt": ca["pem"]}}, {
        "bootstrap-token-aaaaaa": our_secret("aaaaaa", "aaaaaaaaaaaaaaaa", expires=NOW + 5 * H),
        "bootstrap-token-bbbbbb": our_secret("bbbbbb", "bbbbbbbbbbbbbbbb", expires=NOW + 23 * H, purpose="other"),
        "bootstrap-token-cccccc": our_secret("cccccc", "cccccccccccccccc", expires=NOW + 30 * H),
    })
    result = manager(core).run()
    assert result == dict(changed=False, created=False, token="aaaaaa.aaaaaaaaaaaaaaaa", token_id="aaaaaa",
                          secret_name="bootstrap-token-aaaaaa", expires_at=bt.format_rfc3339(NOW + 5 * H),
                          ca_cert_hashes=[ca["hash"]], ca_source="kube-root-ca.crt")
    assert not [c for c in core.calls if c[0] == "create"]


def test_present_min_remaining_forces_new_token(ca):
    core = FakeCore({("kube-system", "kube-root-ca.crt"): {"ca.crt": ca["pem"]}},
                    {"bootstrap-token-aaaaaa": our_secret("aaaaaa", expires=NOW + 2 * H)})
    result = manager(core, min_remaining="3h").run()
    assert result["created"] is True and result["token_id"] != "aaaaaa"
    assert "bootstrap-token-aaaaaa" in core.secrets  # the old one is left to expire


def test_check_mode_predicts_creation(ca):
    core = FakeCore({("kube-system", "kube-root-ca.crt"): {"ca.crt": ca["pem"]}})
    result = manager(core, check_mode=True).run()
    assert result == dict(changed=True, created=False, ca_cert_hashes=[ca["hash"]], ca_source="kube-root-ca.crt")
    assert not core.secrets and not [c for c in core.calls if c[0] == "create"]


def test_check_mode_returns_reusable_token(ca):
    core = FakeCore({("kube-system", "kube-root-ca.crt"): {"ca.crt": ca["pem"]}},
                    {"bootstrap-token-aaaaaa": our_secret("aaaaaa")})
    result = manager(core, check_mode=True).run()
    assert result["changed"] is False and result["token"] == "aaaaaa.0123456789abcdef"


def test_create_retries_on_token_id_collision(ca):
    core = FakeCore({("kube-system", "kube-root-ca.crt"): {"ca.crt": ca["pem"]}})
    core.create_failures = [api_exc(409, "exists"), api_exc(409, "exists")]
    result = manager(core).run()
    assert result["created"] is True
    assert len([c for c in core.calls if c[0] == "create"]) == 3


def test_create_gives_up_after_collisions(ca):
    core = FakeCore({("kube-system", "kube-root-ca.crt"): {"ca.crt": ca["pem"]}})
    core.create_failures = [api_exc(409, "exists")] * mod.CREATE_ATTEMPTS
    with pytest.raises(mod.TokenModuleError, match="random token ids were all taken"):
        manager(core).run()


def test_create_error_never_contains_the_secret(ca, monkeypatch):
    monkeypatch.setattr(bt, "generate_token", lambda: ("abcdef", "zzzzzzzzzzzzzzzz"))
    core = FakeCore({("kube-system", "kube-root-ca.crt"): {"ca.crt": ca["pem"]}})
    core.create_failures = [api_exc(403, "secrets is forbidden: User bob cannot create resource")]
    with pytest.raises(mod.TokenModuleError) as err:
        manager(core).run()
    assert "zzzzzzzzzzzzzzzz" not in str(err.value)
    assert "Cannot create Secret kube-system/bootstrap-token-abcdef" in str(err.value)
    assert "RBAC" in str(err.value)
    assert err.value.secrets == ["zzzzzzzzzzzzzzzz"]


def test_ca_failure_creates_nothing():
    core = FakeCore({("kube-system", "kube-root-ca.crt"): {"ca.crt": "not a certificate"}})
    with pytest.raises(mod.TokenModuleError, match="ConfigMap kube-system/kube-root-ca.crt.*ca_cert_path"):
        manager(core).run()
    assert not [c for c in core.calls if c[0] in ("create", "list")]


# CA source order: ca_cert_path > cluster-info > kube-root-ca.crt > connection.
def test_ca_order_ca_cert_path_wins(ca):
    core = FakeCore({("kube-public", "cluster-info"): cluster_info(ca["pem"]),
                     ("kube-system", "kube-root-ca.crt"): {"ca.crt": ca["pem"]}})
    result = manager(core, ca_cert_path=str(ca["ec_path"]), connection_ca=str(ca["path"])).run()
    assert (result["ca_source"], result["ca_cert_hashes"]) == ("ca_cert_path", [ca["ec_hash"]])
    assert not [c for c in core.calls if c[0] == "read_cm"]


def test_ca_order_cluster_info_before_root_ca(ca):
    core = FakeCore({("kube-public", "cluster-info"): cluster_info(ca["ec_pem"]),
                     ("kube-system", "kube-root-ca.crt"): {"ca.crt": ca["pem"]}})
    result = manager(core, connection_ca=str(ca["path"])).run()
    assert (result["ca_source"], result["ca_cert_hashes"]) == ("cluster-info", [ca["ec_hash"]])


def test_ca_order_root_ca_before_connection(ca):
    core = FakeCore({("kube-system", "kube-root-ca.crt"): {"ca.crt": ca["ec_pem"]}})
    result = manager(core, connection_ca=str(ca["path"])).run()
    assert (result["ca_source"], result["ca_cert_hashes"]) == ("kube-root-ca.crt", [ca["ec_hash"]])


def test_ca_order_connection_last(ca):
    core = FakeCore({("kube-public", "cluster-info"): {"other": "x"}})
    result = manager(core, connection_ca=str(ca["path"])).run()
    assert (result["ca_source"], result["ca_cert_hashes"]) == ("connection", [ca["hash"]])


def test_ca_cluster_info_without_ca_warns_and_falls_back(ca):
    core = FakeCore({("kube-public", "cluster-info"): {"kubeconfig": "clusters: []"},
                     ("kube-system", "kube-root-ca.crt"): {"ca.crt": ca["pem"]}})
    m = manager(core)
    assert m.run()["ca_source"] == "kube-root-ca.crt"
    assert any("cluster-info" in w for w in m.warnings)


def test_ca_forbidden_configmaps_warn_and_fall_back(ca):
    core = FakeCore({("kube-public", "cluster-info"): api_exc(403), ("kube-system", "kube-root-ca.crt"): api_exc(403)})
    m = manager(core, connection_ca=str(ca["path"]))
    assert m.run()["ca_source"] == "connection"
    assert len(m.warnings) == 2


def test_ca_other_api_error_fails(ca):
    core = FakeCore({("kube-public", "cluster-info"): api_exc(500, "boom")})
    with pytest.raises(mod.TokenModuleError, match="ConfigMap kube-public/cluster-info: boom"):
        manager(core, connection_ca=str(ca["path"])).run()


def test_ca_nowhere_fails_with_hint(tmp_path):
    with pytest.raises(mod.TokenModuleError, match="Set ca_cert_path"):
        manager(FakeCore(), connection_ca=str(tmp_path / "gone.crt")).run()
    with pytest.raises(mod.TokenModuleError, match="Cannot read ca_cert_path"):
        manager(FakeCore(), ca_cert_path=str(tmp_path / "gone.crt")).run()


@pytest.mark.parametrize("kw, match", [
    (dict(ttl="1 day"), "ttl: '1 day' is not a duration"),
    (dict(min_remaining="soon"), "min_remaining: 'soon' is not a duration"),
    (dict(ttl="1h", min_remaining="1h"), r"min_remaining \(1h\) must be shorter than ttl \(1h\)"),
    (dict(ttl="30m"), r"min_remaining \(1h\) must be shorter than ttl \(30m\)"),
    (dict(usages=[]), "usages must name at least one"),
    (dict(groups=["system:masters"]), "not a bootstrap group"),
    (dict(purpose="no spaces"), "not usable as a label value"),
    (dict(purpose="no spaces", state="absent"), "not usable as a label value"),
])
def test_bad_options(ca, kw, match):
    core = FakeCore({("kube-system", "kube-root-ca.crt"): {"ca.crt": ca["pem"]}})
    with pytest.raises(mod.TokenModuleError, match=match):
        manager(core, **kw).run()
    assert not [c for c in core.calls if c[0] == "create"]


def test_ttl_zero_allows_any_min_remaining(ca):
    core = FakeCore({("kube-system", "kube-root-ca.crt"): {"ca.crt": ca["pem"]}})
    assert manager(core, ttl="0", min_remaining="100d").run()["created"] is True


def test_absent_deletes_only_ours_for_purpose():
    core = FakeCore(secrets={
        "bootstrap-token-aaaaaa": our_secret("aaaaaa"),
        "bootstrap-token-bbbbbb": our_secret("bbbbbb", purpose="other"),
        "bootstrap-token-cccccc": our_secret("cccccc", expires=NOW - H),
    })
    core.secrets["bootstrap-token-dddddd"] = V1Secret(type=bt.SECRET_TYPE, metadata=V1ObjectMeta(
        name="bootstrap-token-dddddd", labels={}), data=our_secret("dddddd").data)
    check = manager(core, state="absent", check_mode=True).run()
    assert check == dict(changed=True, deleted=["bootstrap-token-aaaaaa", "bootstrap-token-cccccc"])
    assert len(core.secrets) == 4
    result = manager(core, state="absent").run()
    assert result == check
    assert sorted(core.secrets) == ["bootstrap-token-bbbbbb", "bootstrap-token-dddddd"]
    assert manager(core, state="absent").run() == dict(changed=False, deleted=[])


def test_absent_does_not_need_a_ca():
    core = FakeCore()
    assert manager(core, state="absent").run() == dict(changed=False, deleted=[])
    assert not [c for c in core.calls if c[0] == "read_cm"]


def test_argument_spec_defaults():
    spec = mod.argument_spec()
    assert spec["ttl"]["default"] == "24h" and spec["min_remaining"]["default"] == "1h"
    assert spec["usages"]["default"] == ["signing", "authentication"]
    assert spec["groups"]["default"] == ["system:bootstrappers:kubeadm:default-node-token"]
    assert "kubeconfig" in spec and spec["api_key"]["no_log"] is True
    assert "edge.cluster" in spec["description"]["default"]
