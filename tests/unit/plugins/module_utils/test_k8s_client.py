"""Unit tests for the shared client factory (no cluster needed)."""

import base64

import pytest

from ansible_collections.edge.cluster.plugins.module_utils import k8s_client as kc


def bearer(cfg):
    return cfg.auth_settings()["BearerToken"]["value"]


KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: a
  cluster: {server: "https://192.0.2.1:6443", certificate-authority-data: "%(ca)s"}
- name: b
  cluster: {server: "https://192.0.2.2:6443", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: "tok-a"}
contexts:
- name: ctx-a
  context: {cluster: a, user: u}
- name: ctx-b
  context: {cluster: b, user: u}
current-context: ctx-a
"""
CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").decode()


@pytest.fixture
def kubeconfig(tmp_path):
    path = tmp_path / "config"
    path.write_text(KUBECONFIG % {"ca": CA})
    return str(path)


def test_current_context_is_used(kubeconfig):
    cfg = kc.build_configuration({"kubeconfig": kubeconfig})
    assert cfg.host == "https://192.0.2.1:6443"
    assert bearer(cfg) == "Bearer tok-a"
    assert cfg.verify_ssl is True


def test_named_context_is_used(kubeconfig):
    cfg = kc.build_configuration({"kubeconfig": kubeconfig, "context": "ctx-b"})
    assert cfg.host == "https://192.0.2.2:6443"
    assert cfg.verify_ssl is False


def test_explicit_options_override_kubeconfig(kubeconfig, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    cfg = kc.build_configuration({"kubeconfig": kubeconfig, "host": "https://198.51.100.7:6443",
                                  "api_key": "other", "validate_certs": False, "ca_cert": str(ca)})
    assert cfg.host == "https://198.51.100.7:6443"
    assert bearer(cfg) == "Bearer other"
    assert cfg.verify_ssl is False
    assert cfg.ssl_ca_cert == str(ca)


def test_host_and_token_without_kubeconfig(monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    cfg = kc.build_configuration({"host": "https://203.0.113.5:6443", "api_key": "t"})
    assert cfg.host == "https://203.0.113.5:6443"
    assert bearer(cfg) == "Bearer t"


def test_missing_kubeconfig_names_the_path(tmp_path):
    missing = str(tmp_path / "nope.conf")
    with pytest.raises(kc.ClusterConnectionError) as err:
        kc.build_configuration({"kubeconfig": missing})
    assert missing in str(err.value)
    assert "does not exist" in str(err.value)


def test_unknown_context_names_context_and_fix(kubeconfig):
    with pytest.raises(kc.ClusterConnectionError) as err:
        kc.build_configuration({"kubeconfig": kubeconfig, "context": "prod"})
    assert "context prod" in str(err.value)
    assert "get-contexts" in str(err.value)


def test_nothing_configured_explains(monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(kc.ClusterConnectionError) as err:
        kc.build_configuration({})
    assert "No cluster connection" in str(err.value)


def test_missing_ca_cert(kubeconfig, tmp_path):
    with pytest.raises(kc.ClusterConnectionError, match="ca_cert .* does not exist"):
        kc.build_configuration({"kubeconfig": kubeconfig, "ca_cert": str(tmp_path / "none.pem")})


def test_auth_arg_spec_is_a_copy():
    spec = kc.auth_arg_spec(namespace=dict(type="str"))
    spec["kubeconfig"]["type"] = "changed"
    assert kc.K8S_AUTH_ARG_SPEC["kubeconfig"]["type"] == "path"
    assert "namespace" in spec and "namespace" not in kc.K8S_AUTH_ARG_SPEC
    assert kc.K8S_AUTH_ARG_SPEC["api_key"]["no_log"] is True


class FakeApiException(Exception):
    def __init__(self, status, reason="", body=None):
        super().__init__(reason)
        self.status, self.reason, self.body = status, reason, body


@pytest.mark.parametrize("status,needle", [
    (401, "credentials were rejected"),
    (403, "RBAC"),
    (404, "does not exist"),
    (500, "HTTP 500"),
])
def test_api_error_message_hints(status, needle):
    msg = kc.api_error_message(FakeApiException(status, "R", '{"message": "the detail"}'), "Secret ns/x")
    assert msg.startswith("Secret ns/x: the detail")
    assert needle in msg


def test_api_error_message_unreachable():
    msg = kc.api_error_message(OSError("connection refused"), "Secret ns/x")
    assert "Cannot reach the Kubernetes API" in msg
    assert "connection refused" in msg
