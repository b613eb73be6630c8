"""edge.cluster.bootstrap_token against the real kube-apiserver of the test bed.

The apiserver runs with --enable-bootstrap-token-auth and kube-controller-manager
with the bootstrapsigner and tokencleaner controllers. Every test uses its own
``purpose`` and deletes the tokens it created.
"""

import base64
import datetime
import hashlib
import json
import os
import re
import subprocess
import time

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

MODULE = "edge.cluster.bootstrap_token"
MANAGED = "edge.cluster/managed-by=bootstrap_token"


@pytest.fixture
def core(api_client):
    return client.CoreV1Api(api_client)


@pytest.fixture
def purpose(core, request):
    """A unique purpose; every token of ours for it is deleted afterwards."""
    name = "t-%s-%s" % (re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower())[:40].strip("-"), os.urandom(3).hex())
    yield name
    for secret in tokens(core, name):
        try:
            core.delete_namespaced_secret(secret.metadata.name, "kube-system")
        except ApiException as exc:
            if exc.status != 404:
                raise


def tokens(core, purpose):
    return core.list_namespaced_secret(
        "kube-system", label_selector="%s,edge.cluster/purpose=%s" % (MANAGED, purpose)).items


def decoded(secret):
    return dict((k, base64.b64decode(v).decode()) for k, v in (secret.data or {}).items())


def openssl_pin(pem_bytes):
    """sha256:<hex> the way the runbook computes it, with the openssl CLI."""
    pub = subprocess.run(["openssl", "x509", "-pubkey", "-noout"], input=pem_bytes, check=True,
                         stdout=subprocess.PIPE).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub, check=True,
                         stdout=subprocess.PIPE).stdout
    return "sha256:" + hashlib.sha256(der).hexdigest()


def epoch(rfc3339):
    return datetime.datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def as_bearer(api_client, token):
    """An ApiClient for the same apiserver that authenticates with ``token`` only."""
    base = api_client.configuration
    conf = client.Configuration()
    conf.host = base.host
    conf.ssl_ca_cert = base.ssl_ca_cert
    conf.verify_ssl = base.verify_ssl
    conf.api_key = {"BearerToken": "Bearer %s" % token}
    return client.ApiClient(conf)


@pytest.fixture
def cluster_ca(core):
    """The CA the test bed's apiserver and controller-manager use (kube-system/kube-root-ca.crt)."""
    return core.read_namespaced_config_map("kube-root-ca.crt", "kube-system").data["ca.crt"].encode()


def test_create_then_reuse(run_module, kubeconfig, core, purpose, cluster_ca):
    args = {"kubeconfig": kubeconfig, "purpose": purpose}
    before = time.time()
    rc, first = run_module(MODULE, args)
    assert rc == 0, first
    assert first["changed"] is True and first["created"] is True
    assert re.match(r"^[a-z0-9]{6}\.[a-z0-9]{16}$", first["token"])
    assert first["token"].startswith(first["token_id"] + ".")
    assert first["secret_name"] == "bootstrap-token-" + first["token_id"]
    assert before + 24 * 3600 - 5 <= epoch(first["expires_at"]) <= time.time() + 24 * 3600 + 1
    # cluster-info does not exist in the test bed: the CA comes from kube-root-ca.crt.
    assert first["ca_source"] in ("kube-root-ca.crt", "cluster-info")
    assert first["ca_cert_hashes"] == [openssl_pin(cluster_ca)]

    rc, second = run_module(MODULE, args)
    assert rc == 0, second
    assert second["changed"] is False and second["created"] is False
    assert (second["token"], second["expires_at"]) == (first["token"], first["expires_at"])
    assert second["ca_cert_hashes"] == first["ca_cert_hashes"]
    assert [s.metadata.name for s in tokens(core, purpose)] == [first["secret_name"]]


def test_secret_has_kubeadm_fields(run_module, kubeconfig, core, purpose):
    rc, result = run_module(MODULE, {"kubeconfig": kubeconfig, "purpose": purpose, "ttl": "90m",
                                     "min_remaining": "10m", "description": "edge site 42"})
    assert rc == 0, result
    secret = core.read_namespaced_secret(result["secret_name"], "kube-system")
    assert secret.type == "bootstrap.kubernetes.io/token"
    assert secret.metadata.labels == {"edge.cluster/managed-by": "bootstrap_token", "edge.cluster/purpose": purpose}
    token_id, token_secret = result["token"].split(".")
    assert decoded(secret) == {
        "token-id": token_id,
        "token-secret": token_secret,
        "expiration": result["expires_at"],
        "usage-bootstrap-signing": "true",
        "usage-bootstrap-authentication": "true",
        "auth-extra-groups": "system:bootstrappers:kubeadm:default-node-token",
        "description": "edge site 42",
    }
    assert abs(epoch(result["expires_at"]) - (time.time() + 90 * 60)) < 60


def test_token_authenticates_against_apiserver(run_module, kubeconfig, api_client, purpose):
    rc, result = run_module(MODULE, {"kubeconfig": kubeconfig, "purpose": purpose})
    assert rc == 0, result

    bootstrap = as_bearer(api_client, result["token"])
    # Discovery is open to every authenticated user.
    versions = client.ApisApi(bootstrap).get_api_versions()
    assert any(g.name == "certificates.k8s.io" for g in versions.groups)
    # Authenticated (403, not 401) as system:bootstrap:<id>, but not allowed to list nodes.
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(bootstrap).list_node()
    assert err.value.status == 403
    assert 'User "system:bootstrap:%s"' % result["token_id"] in json.loads(err.value.body)["message"]

    # A wrong secret for the same id is rejected outright.
    wrong = "%s.%s" % (result["token_id"], "0" * 16 if not result["token"].endswith("0" * 16) else "1" * 16)
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(as_bearer(api_client, wrong)).list_node()
    assert err.value.status == 401


def test_check_mode_predicts_and_creates_nothing(run_module, kubeconfig, core, purpose, cluster_ca):
    rc, result = run_module(MODULE, {"kubeconfig": kubeconfig, "purpose": purpose}, check=True)
    assert rc == 0, result
    assert result["changed"] is True and result["created"] is False
    assert "token" not in result and "token_id" not in result
    assert result["ca_cert_hashes"] == [openssl_pin(cluster_ca)]
    assert tokens(core, purpose) == []

    # With a token in place, check mode returns it unchanged.
    rc, real = run_module(MODULE, {"kubeconfig": kubeconfig, "purpose": purpose})
    assert rc == 0 and real["created"] is True
    rc, check = run_module(MODULE, {"kubeconfig": kubeconfig, "purpose": purpose}, check=True)
    assert rc == 0, check
    assert check["changed"] is False and check["token"] == real["token"]


def test_min_remaining_longer_than_remaining_creates_new_token(run_module, kubeconfig, core, purpose):
    base = {"kubeconfig": kubeconfig, "purpose": purpose}
    rc, short = run_module(MODULE, dict(base, ttl="1h", min_remaining="10m"))
    assert rc == 0 and short["created"] is True, short
    # About 1h left, 2h asked for: a new token; the old one stays until it expires.
    rc, longer = run_module(MODULE, dict(base, ttl="3h", min_remaining="2h"))
    assert rc == 0, longer
    assert longer["changed"] is True and longer["created"] is True
    assert longer["token_id"] != short["token_id"]
    assert sorted(s.metadata.name for s in tokens(core, purpose)) == sorted(
        [short["secret_name"], longer["secret_name"]])
    # The longest-lived suitable token is reused from now on.
    rc, again = run_module(MODULE, dict(base, ttl="3h", min_remaining="30m"))
    assert rc == 0 and again["changed"] is False and again["token"] == longer["token"], again


def test_purposes_coexist_and_absent_deletes(run_module, kubeconfig, core, purpose):
    other = purpose[:50] + "-b"
    try:
        rc, a = run_module(MODULE, {"kubeconfig": kubeconfig, "purpose": purpose})
        assert rc == 0, a
        rc, b = run_module(MODULE, {"kubeconfig": kubeconfig, "purpose": other})
        assert rc == 0 and b["created"] is True and b["token"] != a["token"], b

        rc, check = run_module(MODULE, {"kubeconfig": kubeconfig, "purpose": purpose, "state": "absent"}, check=True)
        assert rc == 0 and check["changed"] is True and check["deleted"] == [a["secret_name"]], check
        assert len(tokens(core, purpose)) == 1

        rc, gone = run_module(MODULE, {"kubeconfig": kubeconfig, "purpose": purpose, "state": "absent"})
        assert rc == 0 and gone["changed"] is True and gone["deleted"] == [a["secret_name"]], gone
        with pytest.raises(ApiException) as err:
            core.read_namespaced_secret(a["secret_name"], "kube-system")
        assert err.value.status == 404
        assert [s.metadata.name for s in tokens(core, other)] == [b["secret_name"]]

        rc, again = run_module(MODULE, {"kubeconfig": kubeconfig, "purpose": purpose, "state": "absent"})
        assert rc == 0 and again["changed"] is False and again["deleted"] == [], again
    finally:
        for secret in tokens(core, other):
            core.delete_namespaced_secret(secret.metadata.name, "kube-system")


def test_foreign_tokens_are_left_alone(run_module, kubeconfig, core, purpose):
    """A kubeadm-made token (no labels of ours) is neither reused nor deleted."""
    token_id = os.urandom(3).hex()
    data = {"token-id": token_id, "token-secret": "abcdef0123456789", "usage-bootstrap-signing": "true",
            "usage-bootstrap-authentication": "true",
            "auth-extra-groups": "system:bootstrappers:kubeadm:default-node-token",
            "expiration": datetime.datetime.fromtimestamp(time.time() + 7200, datetime.timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ")}
    name = "bootstrap-token-" + token_id
    core.create_namespaced_secret("kube-system", client.V1Secret(
        type="bootstrap.kubernetes.io/token", metadata=client.V1ObjectMeta(name=name),
        string_data=data))
    try:
        rc, result = run_module(MODULE, {"kubeconfig": kubeconfig, "purpose": purpose})
        assert rc == 0 and result["created"] is True and result["token_id"] != token_id, result
        rc, gone = run_module(MODULE, {"kubeconfig": kubeconfig, "purpose": purpose, "state": "absent"})
        assert rc == 0 and gone["deleted"] == [result["secret_name"]], gone
        assert core.read_namespaced_secret(name, "kube-system").metadata.name == name
    finally:
        core.delete_namespaced_secret(name, "kube-system")


def test_ca_cert_path_overrides(run_module, kubeconfig, core, purpose, tmp_path):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "1", "-subj", "/CN=other-ca", "-keyout", str(tmp_path / "ca.key"),
                    "-out", str(tmp_path / "ca.crt")], check=True, stderr=subprocess.DEVNULL)
    rc, result = run_module(MODULE, {"kubeconfig": kubeconfig, "purpose": purpose,
                                     "ca_cert_path": str(tmp_path / "ca.crt")}, check=True)
    assert rc == 0, result
    assert result["ca_source"] == "ca_cert_path"
    assert result["ca_cert_hashes"] == [openssl_pin((tmp_path / "ca.crt").read_bytes())]


def test_bad_options_fail_cleanly(run_module, kubeconfig, core, purpose, tmp_path):
    cases = [
        ({"ttl": "one day"}, "ttl: 'one day' is not a duration"),
        ({"ttl": "1h", "min_remaining": "2h"}, "min_remaining (2h) must be shorter than ttl (1h)"),
        ({"groups": ["system:nodes"]}, "is not a bootstrap group"),
        ({"ca_cert_path": str(tmp_path / "missing.crt")}, "Cannot read ca_cert_path"),
        ({"usages": ["signing", "bogus"]}, "value of usages must be one or more of"),
    ]
    for extra, message in cases:
        rc, result = run_module(MODULE, dict({"kubeconfig": kubeconfig, "purpose": purpose}, **extra))
        assert rc != 0 and result.get("failed") is True, (extra, result)
        assert message in result["msg"], (extra, result["msg"])
    assert tokens(core, purpose) == []


def test_forbidden_user_gets_rbac_hint(run_module, kubeconfig, core, purpose):
    rc, result = run_module(MODULE, {"kubeconfig": kubeconfig, "context": "edge-test-nobody", "purpose": purpose,
                                     "ca_cert_path": os.devnull})
    assert rc != 0, result
    # /dev/null is not a certificate: the CA is checked before any token is made.
    assert "Cannot compute the discovery CA hash" in result["msg"]
    rc, result = run_module(MODULE, {"kubeconfig": kubeconfig, "context": "edge-test-nobody", "purpose": purpose})
    assert rc != 0, result
    assert "RBAC" in result["msg"] or "permission" in result["msg"], result["msg"]
    assert tokens(core, purpose) == []


def test_groups_option_reaches_the_authenticator(run_module, kubeconfig, api_client, core, purpose):
    """A token with a custom group gets exactly what RBAC grants that group."""
    group = "system:bootstrappers:edge-test-%s" % os.urandom(3).hex()
    rc, result = run_module(MODULE, {"kubeconfig": kubeconfig, "purpose": purpose, "groups": [group]})
    assert rc == 0, result
    assert decoded(core.read_namespaced_secret(result["secret_name"], "kube-system"))["auth-extra-groups"] == group
    bootstrap = client.CoreV1Api(as_bearer(api_client, result["token"]))
    with pytest.raises(ApiException) as err:
        bootstrap.list_namespace()
    assert err.value.status == 403

    rbac = client.RbacAuthorizationV1Api(api_client)
    binding = "edge-test-%s" % group.rsplit(":", 1)[1]
    rbac.create_cluster_role_binding(client.V1ClusterRoleBinding(
        metadata=client.V1ObjectMeta(name=binding),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="view"),
        subjects=[client.RbacV1Subject(kind="Group", name=group, api_group="rbac.authorization.k8s.io")]))
    try:
        deadline = time.time() + 20
        while True:
            try:
                assert bootstrap.list_namespace().items
                break
            except ApiException as exc:
                if exc.status != 403 or time.time() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        rbac.delete_cluster_role_binding(binding)
