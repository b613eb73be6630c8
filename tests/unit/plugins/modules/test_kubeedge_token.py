"""Unit tests for edge.cluster.kubeedge_token and module_utils.kubeedge (no cluster)."""

import base64
import hashlib
import hmac
import json
import time

import pytest
from kubernetes.client import V1ObjectMeta, V1Secret
from kubernetes.client.rest import ApiException

from ansible_collections.edge.cluster.plugins.module_utils import kubeedge as ke
from ansible_collections.edge.cluster.plugins.modules import kubeedge_token as mod

NOW = 1767225600  # 2026-01-01T00:00:00Z
CA_HASH = hashlib.sha256(b"fake ca der").hexdigest()


def b64url(data):
    if not isinstance(data, bytes):
        data = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_token(exp=NOW + 3600, ca_hash=CA_HASH, header=None, payload=None, key=b"unit-test-key"):
    """A KubeEdge token the way CloudCore builds it: <sha256 hex>.<HS256 JWT>."""
    header = {"alg": "HS256", "typ": "JWT"} if header is None else header
    payload = {"exp": exp} if payload is None else payload
    signing_input = "%s.%s" % (b64url(header), b64url(payload))
    sig = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return "%s.%s.%s" % (ca_hash, signing_input, b64url(sig))


def tokendata(token):
    return base64.b64encode(token.encode() if isinstance(token, str) else token).decode()


GOOD = make_token()
H, P, S = GOOD.split(".")[1:]


# ---------------------------------------------------------------- parse_token

@pytest.mark.parametrize("token, exp", [
    (GOOD, NOW + 3600),
    (make_token(ca_hash=CA_HASH.upper()), NOW + 3600),
    (make_token(exp=NOW + 3600.7), NOW + 3600),
    (make_token(payload={"exp": NOW + 60, "iss": "cloudcore"}), NOW + 60),
    ("%s.%s=.%s.%s" % (CA_HASH, H, P, S), NOW + 3600),  # padded base64url is tolerated
])
def test_good_tokens(token, exp):
    info = ke.parse_token(token, now=NOW)
    assert info["ca_hash"] == token.split(".")[0]
    assert info["exp"] == exp
    assert info["expired"] is False
    assert info["header"]["alg"] == "HS256"


BAD = [
    ("empty", "", "empty"),
    ("no dots", CA_HASH, "1 dot-separated parts, expected 4"),
    ("plain JWT without CA hash", "%s.%s.%s" % (H, P, S), "3 dot-separated parts"),
    ("2-part JWT", "%s.%s.%s" % (CA_HASH, H, P), "3 dot-separated parts"),
    ("5 parts", GOOD + ".x", "5 dot-separated parts"),
    ("short hex", make_token(ca_hash=CA_HASH[:63]), "63 characters, expected 64 hex"),
    ("long hex", make_token(ca_hash=CA_HASH + "0"), "65 characters"),
    ("non-hex", make_token(ca_hash="g" * 64), "not hexadecimal"),
    ("empty header", "%s..%s.%s" % (CA_HASH, P, S), "header is not base64url"),
    ("header not base64url", "%s.%s.%s.%s" % (CA_HASH, "ab+/", P, S), "header is not base64url"),
    ("header not JSON", make_token(header=b"not json"), "header is not JSON"),
    ("header not an object", make_token(header=["HS256"]), "header is not a JSON object"),
    ("header without alg", make_token(header={"typ": "JWT"}), 'no "alg"'),
    ("payload not base64url", "%s.%s.%s.%s" % (CA_HASH, H, "e30*", S), "payload is not base64url"),
    ("payload impossible length", "%s.%s.%s.%s" % (CA_HASH, H, "abcde", S), "payload is not base64url"),
    ("payload not JSON", make_token(payload=b"\xff\xfe"), "payload is not JSON"),
    ("payload without exp", make_token(payload={"iat": NOW}), 'no "exp" claim'),
    ("exp is a string", make_token(payload={"exp": str(NOW)}), "not a number"),
    ("exp is a bool", make_token(payload={"exp": True}), "not a number"),
    ("exp is null", make_token(payload={"exp": None}), "not a number"),
    ("exp negative", make_token(exp=-5), "not a positive time"),
    ("exp out of range", make_token(exp=10 ** 20), "out of range"),
    ("signature empty", "%s.%s.%s." % (CA_HASH, H, P), "signature is not base64url"),
    ("signature not base64url", "%s.%s.%s.%s" % (CA_HASH, H, P, "a b"), "signature is not base64url"),
]


@pytest.mark.parametrize("token, expected", [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_tokens(token, expected):
    with pytest.raises(ke.KubeEdgeTokenError) as err:
        ke.parse_token(token, now=NOW)
    assert expected in str(err.value)
    for part in token.split("."):
        if len(part) > 4:
            assert part not in str(err.value)


def test_expired_token_is_parsed_and_flagged():
    info = ke.parse_token(make_token(exp=NOW - 1), now=NOW)
    assert info["expired"] is True
    assert info["expires_at"] == "2025-12-31T23:59:59Z"


# ------------------------------------------------------------- expiry helpers

@pytest.mark.parametrize("exp, now, expires_at, expired", [
    (NOW, NOW - 1, "2026-01-01T00:00:00Z", False),
    (NOW, NOW, "2026-01-01T00:00:00Z", True),  # RFC 7519: expired on or after exp
    (NOW, NOW + 0.5, "2026-01-01T00:00:00Z", True),
    (NOW + 86400 + 3661, NOW, "2026-01-02T01:01:01Z", False),
    (1, NOW, "1970-01-01T00:00:01Z", True),
])
def test_expiry_info(exp, now, expires_at, expired):
    assert ke.expiry_info(exp, now=now) == (expires_at, expired)


def test_expiry_info_defaults_to_current_time():
    assert ke.expiry_info(int(time.time()) + 600)[1] is False
    assert ke.expiry_info(int(time.time()) - 600)[1] is True


@pytest.mark.parametrize("payload, exp", [({"exp": 5}, 5), ({"exp": 5.9}, 5)])
def test_token_expiry(payload, exp):
    assert ke.token_expiry(payload) == exp


@pytest.mark.parametrize("payload", [{}, {"exp": float("inf")}, {"exp": float("nan")}, {"exp": 0}, {"exp": [1]}])
def test_token_expiry_unusable(payload):
    with pytest.raises(ke.KubeEdgeTokenError):
        ke.token_expiry(payload)


# ------------------------------------------------------------ Secret data

def test_decode_token_data_roundtrip():
    assert ke.decode_token_data(tokendata(GOOD)) == GOOD
    assert ke.decode_token_data(tokendata(GOOD + "\n")) == GOOD
    assert ke.decode_token_data(tokendata(GOOD).encode()) == GOOD


@pytest.mark.parametrize("data, expected", [
    (None, "empty"),
    ("", "empty"),
    ("not base64!", "not valid base64"),
    ("abc", "not valid base64"),
    ("é" * 8, "not valid base64"),
    (tokendata(b"\xff\xfe\x00binary"), "does not decode to text"),
    (tokendata("  \n"), "empty token"),
])
def test_decode_token_data_bad(data, expected):
    with pytest.raises(ke.KubeEdgeTokenError) as err:
        ke.decode_token_data(data)
    assert expected in str(err.value)


# ----------------------------------------------- the module's reader class

class FakeClock(object):
    def __init__(self):
        self.t = 1000.0
        self.sleeps = []

    def clock(self):
        return self.t

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.t += seconds


class FakeCoreV1(object):
    """read_namespaced_secret answers from a script: exceptions are raised, secrets returned."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def read_namespaced_secret(self, name, namespace):
        self.calls.append((name, namespace))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def secret(data):
    return V1Secret(metadata=V1ObjectMeta(name="tokensecret", namespace="kubeedge"), data=data)


def params(**kw):
    p = dict(namespace="kubeedge", secret_name="tokensecret", wait=True, wait_timeout=10,
             wait_sleep=2, allow_expired=False)
    p.update(kw)
    return p


def reader(api, clock=None, **kw):
    clock = clock or FakeClock()
    return mod.KubeEdgeTokenReader(api, params(**kw), clock=clock.clock, sleep=clock.sleep, now=lambda: NOW)


NOT_FOUND = ApiException(status=404, reason="Not Found")


def test_reader_returns_token():
    api = FakeCoreV1(secret({"tokendata": tokendata(GOOD)}))
    assert reader(api).run() == dict(changed=False, token=GOOD, ca_hash=CA_HASH,
                                     expires_at="2026-01-01T01:00:00Z", expired=False)
    assert api.calls == [("tokensecret", "kubeedge")]


def test_reader_polls_until_secret_appears():
    clock = FakeClock()
    api = FakeCoreV1(NOT_FOUND, NOT_FOUND, secret({"tokendata": tokendata(GOOD)}))
    assert reader(api, clock).run()["token"] == GOOD
    assert len(api.calls) == 3
    assert clock.sleeps == [2, 2]


def test_reader_times_out_on_one_clock():
    clock = FakeClock()
    api = FakeCoreV1(NOT_FOUND)
    with pytest.raises(mod.TokenModuleError) as err:
        reader(api, clock, wait_timeout=5, namespace="edge-ns").run()
    msg = str(err.value)
    assert "is CloudCore running in namespace edge-ns?" in msg
    assert "tokensecret" in msg and "after waiting 5 s" in msg
    assert clock.sleeps == [2, 2, 1]  # the last sleep is cut to the deadline
    assert clock.t == 1005.0
    assert len(api.calls) == 4


def test_reader_without_wait_reads_once():
    clock = FakeClock()
    api = FakeCoreV1(NOT_FOUND)
    with pytest.raises(mod.TokenModuleError) as err:
        reader(api, clock, wait=False).run()
    assert "is CloudCore running in namespace kubeedge?" in str(err.value)
    assert "waiting" not in str(err.value)
    assert clock.sleeps == [] and len(api.calls) == 1


@pytest.mark.parametrize("status, hint", [(403, "RBAC"), (401, "credentials were rejected")])
def test_reader_auth_errors_fail_at_once(status, hint):
    clock = FakeClock()
    api = FakeCoreV1(ApiException(status=status, reason="Forbidden"))
    with pytest.raises(mod.TokenModuleError) as err:
        reader(api, clock).run()
    assert hint in str(err.value) and "Secret kubeedge/tokensecret" in str(err.value)
    assert clock.sleeps == []


@pytest.mark.parametrize("data, expected", [
    (None, "has no data key tokendata (keys: none)"),
    ({"other": "eA=="}, "has no data key tokendata (keys: other)"),
    ({"tokendata": tokendata(b"\xff\xfe")}, "does not decode to text"),
    ({"tokendata": tokendata("garbage-" + GOOD)}, "is not a KubeEdge join token"),
    ({"tokendata": tokendata(make_token(exp=NOW - 10))}, "expired at 2025-12-31T23:59:50Z"),
])
def test_reader_bad_secret_data(data, expected):
    with pytest.raises(mod.TokenModuleError) as err:
        reader(FakeCoreV1(secret(data))).run()
    assert expected in str(err.value)
    assert GOOD.split(".", 1)[1] not in str(err.value)


def test_reader_allow_expired():
    token = make_token(exp=NOW - 10)
    result = reader(FakeCoreV1(secret({"tokendata": tokendata(token)})), allow_expired=True).run()
    assert result["expired"] is True and result["token"] == token


def test_argument_spec_defaults():
    spec = mod.argument_spec()
    assert spec["namespace"]["default"] == "kubeedge"
    assert spec["secret_name"]["default"] == "tokensecret"
    assert spec["wait"]["default"] is True
    assert spec["wait_timeout"]["default"] == 120
    assert spec["wait_sleep"]["default"] == 2
    assert spec["allow_expired"]["default"] is False
    assert spec["api_key"]["no_log"] is True
