"""The binary method's version record: the cloudcore role writes it, kubeedge_cloud_info reads it and the reset
role deletes it. The three must agree on the ConfigMap's name and keys (module_utils/cloudcore_release.py)."""

from pathlib import Path

import yaml

from ansible_collections.edge.cluster.plugins.module_utils import cloudcore_release as cr

ROLES = Path(__file__).resolve().parents[3] / "roles"


def task(path, name_start):
    tasks = yaml.safe_load((ROLES / path).read_text())
    found = [t for t in tasks if t.get("name", "").startswith(name_start)]
    assert len(found) == 1, [t.get("name") for t in tasks]
    return found[0]


def test_the_cloudcore_role_writes_what_the_module_reads():
    record = task("cloudcore/tasks/main.yml", "Cloudcore | Record the binary CloudCore's version")
    definition = record["kubernetes.core.k8s"]["definition"]
    role_vars = yaml.safe_load((ROLES / "cloudcore" / "vars" / "main.yml").read_text())
    assert role_vars["cloudcore_release_record"] == cr.RELEASE_RECORD_NAME
    assert definition["metadata"]["name"] == "{{ cloudcore_release_record }}"
    assert "'%s' ~ inventory_hostname" % cr.VERSION_KEY_PREFIX in definition["data"]
    assert "'%s' ~ inventory_hostname" % cr.ADDRESSES_KEY_PREFIX in definition["data"]
    assert record["when"] == "cloudcore_method == 'binary'"


def test_the_reset_role_removes_this_hosts_keys_of_that_configmap():
    read = task("reset/tasks/cloudcore_binary.yml", "CloudCore binary | Read the version record")
    assert read["kubernetes.core.k8s_info"]["name"] == cr.RELEASE_RECORD_NAME
    remove = task("reset/tasks/cloudcore_binary.yml", "CloudCore binary | Remove this host from the version record")
    assert remove["kubernetes.core.k8s"]["definition"]["metadata"]["name"] == cr.RELEASE_RECORD_NAME
    assert remove["vars"]["reset_cloudcore_record_own"] == [cr.VERSION_KEY_PREFIX + "{{ inventory_hostname }}",
                                                            cr.ADDRESSES_KEY_PREFIX + "{{ inventory_hostname }}"]
