"""module_utils/versions.py: the since/until tables of the roles."""

import pytest

from ansible_collections.edge.cluster.plugins.module_utils import versions as v


@pytest.mark.parametrize("text,parsed", [
    ("v1.13.1", (1, 13, 1)), ("1.13.1", (1, 13, 1)), ("v1.14", (1, 14, 0)), ("v2", (2, 0, 0)),
    ("v1.23.1-beta.0", (1, 23, 1)), (" v1.9.10 ", (1, 9, 10)),
])
def test_parse(text, parsed):
    assert v.parse(text) == parsed


@pytest.mark.parametrize("bad", ["", None, "latest", "v1.x", "1..2"])
def test_parse_rejects(bad):
    with pytest.raises(ValueError):
        v.parse(bad)


@pytest.mark.parametrize("version,since,until,inside", [
    ("v1.13.1", None, None, True),
    ("v1.13.1", "v1.13.0", None, True),
    ("v1.13.1", "v1.13.1", None, True),     # since is inclusive
    ("v1.13.1", "v1.13.2", None, False),
    ("v1.13.1", None, "v1.13.1", False),     # until is exclusive
    ("v1.13.1", None, "v1.14.0", True),
    ("v1.9.0", "v1.10.0", None, False),      # numeric, not string, order
    ("v1.10.0", "v1.9.0", "v1.11.0", True),
    ("v1.14.5", "", "", True),
])
def test_in_range(version, since, until, inside):
    assert v.in_range(version, since, until) is inside


def test_select_keeps_order_and_matching_entries():
    layers = [{"config": 1}, {"since": "v1.14.0", "config": 2}, {"until": "v1.14.0", "config": 3},
              {"since": "v1.13.0", "until": "v1.16.0", "config": 4}]
    assert [e["config"] for e in v.select(layers, "v1.13.1")] == [1, 3, 4]
    assert [e["config"] for e in v.select(layers, "v1.15.0")] == [1, 2, 4]
    assert [e["config"] for e in v.select(layers, "v1.23.1")] == [1, 2]
    assert v.select(None, "v1.13.1") == []


def test_flags_skip_empty_values_and_other_versions():
    table = [{"flag": "--cloudcore-ipport", "value": "10.0.0.1:10000"},
             {"flag": "--cgroupdriver", "value": "systemd", "since": "v1.13.0"},
             {"flag": "--runtimetype", "value": "remote", "until": "v1.14.0"},
             {"flag": "--labels", "value": ""},
             {"flag": "--with-mqtt", "value": None},
             {"flag": "--image-repository", "value": 0},
             {"flag": "--kubeedge-version", "value": "v1.15.0", "since": "v1.15.0"}]
    assert v.flags(table, "v1.13.1") == ["--cloudcore-ipport=10.0.0.1:10000", "--cgroupdriver=systemd",
                                         "--runtimetype=remote", "--image-repository=0"]
    assert v.flags(table, "v1.15.1") == ["--cloudcore-ipport=10.0.0.1:10000", "--cgroupdriver=systemd",
                                         "--image-repository=0", "--kubeedge-version=v1.15.0"]


@pytest.mark.parametrize("current,target", [
    ("", "v1.14.5"), (None, "v1.14.5"), ("unknown", "v1.14.5"),   # nothing there: an install
    ("v1.13.1", "v1.13.1"),                                         # same version
    ("v1.13.1", "v1.13.9"), ("v1.13.1", "v1.14.0"), ("v1.13.1", "v1.14.5"),
    ("v1.19.2", "v1.20.0"), ("v1.9.3", "v1.10.0"),                  # numeric order
])
def test_upgrade_problem_allows(current, target):
    assert v.upgrade_problem(current, target) == ''


def test_upgrade_problem_refuses_a_downgrade():
    msg = v.upgrade_problem("v1.14.5", "v1.13.1")
    assert "downgrade is not supported" in msg
    assert "CloudCore runs v1.14.5" in msg
    assert "downgrade" in v.upgrade_problem("v1.14.5", "v1.14.4", what="edgecore")
    assert v.upgrade_problem("v1.14.5", "v1.14.4", what="edgecore").startswith("edgecore runs")


@pytest.mark.parametrize("current,target,step", [
    ("v1.13.1", "v1.15.4", "v1.14"), ("v1.9.0", "v1.11.0", "v1.10"), ("v1.23.1", "v2.0.0", "v1.24"),
])
def test_upgrade_problem_refuses_a_skipped_minor(current, target, step):
    msg = v.upgrade_problem(current, target)
    assert "skips a minor release" in msg
    assert "last %s.x" % step in msg


def test_upgrade_problem_rejects_a_non_version():
    with pytest.raises(ValueError):
        v.upgrade_problem("v1.13.1", "latest")


@pytest.mark.parametrize("version,reference,newer", [
    ("v1.14.5", "v1.13.1", True), ("v1.13.1", "v1.13.1", False), ("v1.13.1", "v1.14.5", False),
    ("v1.10.0", "v1.9.9", True), ("v1.14.5", "", False), ("", "v1.13.1", False), ("v1.14.5", "unknown", False),
])
def test_newer_than(version, reference, newer):
    assert v.newer_than(version, reference) is newer
