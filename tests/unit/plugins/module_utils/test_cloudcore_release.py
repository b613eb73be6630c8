"""module_utils/cloudcore_release.py: which release CloudCore runs, and which edge versions it allows."""

import pytest

from ansible_collections.edge.cluster.plugins.module_utils import cloudcore_release as cr

KEADM_CONFIG = """apiVersion: cloudcore.config.kubeedge.io/v1alpha2
kind: CloudCore
modules:
  cloudHub:
    advertiseAddress:
    - 192.0.2.10
    - 198.51.100.7
"""


def test_release_from_keadm_reads_version_and_addresses():
    assert cr.release_from_keadm("v1.13.1", KEADM_CONFIG) == {
        "version": "v1.13.1", "advertise_addresses": ["192.0.2.10", "198.51.100.7"], "source": "deployment",
        "hosts": {}}


@pytest.mark.parametrize("config", ["", "modules: [", "- a list", "modules:\n  cloudHub: null\n"])
def test_release_from_keadm_without_readable_addresses(config):
    release = cr.release_from_keadm("v1.13.1", config)
    assert release["advertise_addresses"] == []
    assert release["version"] == "v1.13.1"


def test_release_from_keadm_without_a_tag_is_unknown():
    assert cr.release_from_keadm("", KEADM_CONFIG)["source"] == ""


def test_release_from_record_takes_the_oldest_host():
    data = cr.record_data("cloud-1", "v1.14.5", ["192.0.2.10", " "])
    data.update(cr.record_data("cloud-2", "v1.13.1", ["192.0.2.11", "192.0.2.10"]))
    release = cr.release_from_record(data)
    assert release["version"] == "v1.13.1"
    assert release["hosts"] == {"cloud-1": "v1.14.5", "cloud-2": "v1.13.1"}
    assert release["host_addresses"] == {"cloud-1": ["192.0.2.10"], "cloud-2": ["192.0.2.11", "192.0.2.10"]}
    assert release["advertise_addresses"] == ["192.0.2.10", "192.0.2.11"]
    assert release["source"] == "record"


def test_only_the_cloudcores_at_the_joined_address_count():
    """A stale or other CloudCore of the cluster (another address) does not hold an edge node back."""
    data = cr.record_data("lab-cloud", "v1.14.5", ["172.29.213.10"])
    data.update(cr.record_data("old-test-host", "v1.13.1", ["172.17.0.2"]))
    release = cr.release_from_record(data)
    assert cr.edge_version_problem(release, "172.29.213.10:10000", "v1.14.5") == ""
    assert "runs KubeEdge v1.13.1" in cr.edge_version_problem(release, "172.17.0.2:10000", "v1.14.5")
    assert cr.edge_version_problem(release, "192.0.2.99", "v1.23.1") == ""


def test_ha_pair_at_one_address_is_as_old_as_its_oldest():
    data = cr.record_data("cloud-1", "v1.14.5", ["192.0.2.100", "192.0.2.10"])
    data.update(cr.record_data("cloud-2", "v1.13.1", ["192.0.2.100", "192.0.2.11"]))
    release = cr.release_from_record(data)
    assert "runs KubeEdge v1.13.1" in cr.edge_version_problem(release, "192.0.2.100:10000", "v1.14.5")
    assert cr.edge_version_problem(release, "192.0.2.10:10000", "v1.14.5") == ""


@pytest.mark.parametrize("data", [None, {}, {"addresses.cloud-1": "192.0.2.10"}, {"version.cloud-1": "garbage"}])
def test_release_from_record_without_a_version(data):
    release = cr.release_from_record(data)
    assert release["version"] == ""
    assert release["source"] == ""


@pytest.mark.parametrize("address", ["192.0.2.10", "192.0.2.10:10000", " 192.0.2.10:10002 "])
def test_edge_newer_than_its_cloudcore_is_refused(address):
    release = cr.release_from_keadm("v1.13.1", KEADM_CONFIG)
    msg = cr.edge_version_problem(release, address, "v1.14.5")
    assert msg.startswith("CloudCore at 192.0.2.10 runs KubeEdge v1.13.1, older than the v1.14.5")
    assert "Upgrade CloudCore first" in msg


def test_ipv6_address_is_compared_without_brackets():
    release = {"version": "v1.13.1", "advertise_addresses": ["2001:db8::1"]}
    assert cr.edge_version_problem(release, "[2001:db8::1]:10000", "v1.14.5") != ""
    assert cr.edge_version_problem(release, "2001:db8::1", "v1.14.5") != ""


@pytest.mark.parametrize("release,address,version", [
    ({"version": "v1.13.1", "advertise_addresses": ["192.0.2.10"]}, "192.0.2.10:10000", "v1.13.1"),   # same
    ({"version": "v1.14.5", "advertise_addresses": ["192.0.2.10"]}, "192.0.2.10:10000", "v1.13.1"),   # older edge
    ({"version": "v1.13.1", "advertise_addresses": ["192.0.2.99"]}, "192.0.2.10:10000", "v1.14.5"),   # other CloudCore
    ({"version": "", "advertise_addresses": ["192.0.2.10"]}, "192.0.2.10:10000", "v1.14.5"),          # unknown
    ({}, "192.0.2.10", "v1.14.5"), (None, "192.0.2.10", "v1.14.5"),
])
def test_edge_version_allowed(release, address, version):
    assert cr.edge_version_problem(release, address, version) == ""
