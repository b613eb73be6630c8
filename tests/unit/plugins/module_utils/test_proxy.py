"""module_utils/proxy.py: the proxy environment, CloudCore and the cluster always direct."""

import pytest

from ansible_collections.edge.cluster.plugins.module_utils import proxy


def test_no_proxy_means_no_environment():
    assert proxy.environment("", "", "example.org", ["192.0.2.10"]) == {}
    assert proxy.environment(None, None) == {}


def test_both_cases_and_the_direct_addresses_once_in_order():
    env = proxy.environment("http://proxy:3128", "http://proxy:3128", ["10.0.0.0/8", "localhost", "192.0.2.10"],
                            ["192.0.2.10", "[2001:db8::1]", "10.96.0.1"])
    assert env["HTTP_PROXY"] == env["http_proxy"] == "http://proxy:3128"
    assert env["HTTPS_PROXY"] == env["https_proxy"] == "http://proxy:3128"
    assert env["NO_PROXY"] == env["no_proxy"] == "10.0.0.0/8,localhost,192.0.2.10,2001:db8::1,10.96.0.1,127.0.0.1,::1"


def test_comma_string_and_https_only():
    env = proxy.environment("", "https://user:pw@proxy:8443", " .corp , registry.local ,", [])
    assert "HTTP_PROXY" not in env
    assert env["https_proxy"] == "https://user:pw@proxy:8443"
    assert env["no_proxy"] == ".corp,registry.local,localhost,127.0.0.1,::1"


@pytest.mark.parametrize("bad", ["proxy:3128", "ftp://proxy", "http://", "http://pro xy:1"])
def test_a_value_that_is_no_url_is_named(bad):
    with pytest.raises(proxy.ProxyError, match="is not a proxy URL"):
        proxy.environment(bad)
