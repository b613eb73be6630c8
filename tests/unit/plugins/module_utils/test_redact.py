"""Unit tests for module_utils/redact.py: what a failure message may quote, masked."""

import pytest

from ansible_collections.edge.cluster.plugins.module_utils import redact as rd

JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3MDAwMDAwMDB9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
TOKEN = "a" * 64 + "." + JWT
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsecretkeymaterial\n-----END RSA PRIVATE KEY-----"


@pytest.mark.parametrize("text,secret", [
    ("keadm join --token=%s --cloudcore-ipport=1.2.3.4:10000" % TOKEN, TOKEN),
    ("while parsing edgecore.yaml: line 40: token: %s" % TOKEN[:90], TOKEN[:90]),
    ("mapping values are not allowed here\n  token: %s\n" % JWT, JWT),
    ("Authorization: Bearer abc.def-secret", "abc.def-secret"),
    ("client-key-data: LS0tLS1CRUdJTiBSU0Eg", "LS0tLS1CRUdJTiBSU0Eg"),
    ('{"token": "s3cr3t-value", "name": "x"}', "s3cr3t-value"),
    ("edgemesh psk=Zm9vYmFyYmF6cXV4", "Zm9vYmFyYmF6cXV4"),
    ("copy failed: %s" % PEM, "secretkeymaterial"),
    ("truncated: -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0", "MIIEvQIBADANBgkqhkiG9w0"),
    ("password=hunter22 user=admin", "hunter22"),
])
def test_secrets_are_masked(text, secret):
    out = rd.mask(text)
    assert secret not in out
    assert rd.MARK in out


def test_the_rest_stays_readable():
    out = rd.mask("keadm join failed: --token=%s cloudcore 192.0.2.10:10000 unreachable" % TOKEN)
    assert "cloudcore 192.0.2.10:10000 unreachable" in out and "keadm join failed" in out


def test_extra_literals_and_plain_text():
    assert rd.mask("the value abcdef-123 leaked", extra=["abcdef-123"]) == "the value <redacted> leaked"
    assert rd.mask("nothing secret here: port 10000 refused") == "nothing secret here: port 10000 refused"
    assert rd.mask(None) == ""
    # short extras (a single character) would mangle the text: ignored
    assert rd.mask("abc", extra=["a", ""]) == "abc"


def test_masking_twice_changes_nothing_more():
    once = rd.mask("token: %s" % TOKEN)
    assert rd.mask(once) == once
