"""module_utils/node_metadata.py: labels and taints kept in step, and only ours removed."""

import json

import pytest

from ansible_collections.edge.cluster.plugins.module_utils import node_metadata as nm

ANN = nm.OWNER_ANNOTATION


def owned(labels=(), taints=()):
    return {ANN: json.dumps({"labels": list(labels), "taints": list(taints)})}


def test_fresh_node_gets_labels_taints_and_the_record():
    result = nm.plan({"node-role.kubernetes.io/edge": ""}, [], {}, {"zone": "a"},
                     [{"key": "dedicated", "value": "pos", "effect": "NoSchedule"}])
    assert result["changed"]
    assert result["patch"]["metadata"]["labels"] == {"zone": "a"}
    record = json.loads(result["patch"]["metadata"]["annotations"][ANN])
    assert record == {"labels": ["zone"], "taints": ["dedicated:NoSchedule"]}
    assert result["patch"]["spec"]["taints"] == [{"key": "dedicated", "value": "pos", "effect": "NoSchedule"}]
    assert result["added"] == {"labels": ["zone"], "taints": ["dedicated:NoSchedule"]}
    assert result["before"] == {"labels": {}, "taints": []}
    assert result["after"]["labels"] == {"zone": "a"}


def test_in_step_changes_nothing():
    taint = {"key": "dedicated", "value": "pos", "effect": "NoSchedule"}
    result = nm.plan({"zone": "a"}, [taint], owned(["zone"], ["dedicated:NoSchedule"]), {"zone": "a"}, [taint])
    assert result == dict(result, changed=False, patch={})
    assert result["added"] == {"labels": [], "taints": []}


def test_labels_keadm_set_at_join_are_taken_over_with_only_the_record_written():
    result = nm.plan({"zone": "a"}, [], {}, {"zone": "a"}, [])
    assert result["patch"] == {"metadata": {"annotations": {ANN: '{"labels":["zone"],"taints":[]}'}}}
    assert result["added"]["labels"] == []


def test_removing_from_the_inventory_removes_only_what_was_ours():
    others = {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": "2026-12-06T00:00:00Z"}
    mine = {"key": "dedicated", "value": "pos", "effect": "NoSchedule"}
    result = nm.plan({"zone": "a", "team": "ops", "node-role.kubernetes.io/edge": ""}, [others, mine],
                     owned(["zone"], ["dedicated:NoSchedule"]), {}, [])
    assert result["patch"]["metadata"]["labels"] == {"zone": None}      # team was never ours
    assert result["patch"]["spec"]["taints"] == [others]                # the controller's taint stays
    assert result["removed"] == {"labels": ["zone"], "taints": ["dedicated:NoSchedule"]}
    assert json.loads(result["patch"]["metadata"]["annotations"][ANN]) == {"labels": [], "taints": []}


def test_a_foreign_label_with_another_value_is_overwritten_when_asked_for():
    result = nm.plan({"zone": "b"}, [], {}, {"zone": "a"}, [])
    assert result["patch"]["metadata"]["labels"] == {"zone": "a"}
    assert result["before"]["labels"] == {"zone": "b"}


def test_taint_value_changes_in_place_and_keeps_its_time():
    node = [{"key": "dedicated", "value": "old", "effect": "NoExecute", "timeAdded": "2026-12-06T00:00:00Z"}]
    result = nm.plan({}, node, owned([], ["dedicated:NoExecute"]), {},
                     [{"key": "dedicated", "value": "new", "effect": "NoExecute"}])
    assert result["patch"]["spec"]["taints"] == [{"key": "dedicated", "value": "new", "effect": "NoExecute",
                                                  "timeAdded": "2026-12-06T00:00:00Z"}]
    assert result["added"]["taints"] == ["dedicated:NoExecute"]
    assert "metadata" not in result["patch"]


def test_same_key_other_effect_is_another_taint():
    node = [{"key": "dedicated", "effect": "NoExecute"}]
    result = nm.plan({}, node, {}, {}, [{"key": "dedicated", "effect": "NoSchedule"}])
    assert result["patch"]["spec"]["taints"] == node + [{"key": "dedicated", "effect": "NoSchedule"}]


def test_a_removed_value_is_dropped_from_the_taint():
    node = [{"key": "dedicated", "value": "pos", "effect": "NoSchedule"}]
    wanted = [{"key": "dedicated", "value": "", "effect": "NoSchedule"}]
    result = nm.plan({}, node, owned([], ["dedicated:NoSchedule"]), {}, wanted)
    assert result["patch"]["spec"]["taints"] == [{"key": "dedicated", "effect": "NoSchedule"}]


@pytest.mark.parametrize("annotations", [{ANN: "not json"}, {ANN: "[1, 2]"}, {ANN: '{"labels": "zone"}'}])
def test_an_unreadable_record_owns_nothing(annotations):
    result = nm.plan({"zone": "a"}, [], annotations, {}, [])
    assert "labels" not in result["patch"].get("metadata", {})


def test_values_are_strings():
    result = nm.plan({}, [], {}, {"gpu": True, "slots": 4}, [])
    assert result["patch"]["metadata"]["labels"] == {"gpu": "true", "slots": "4"}


@pytest.mark.parametrize("labels,taints,message", [
    ({"bad key!": "x"}, [], "label key 'bad key!' is not valid"),
    ({"zone": "-a"}, [], "label zone has the value '-a'"),
    ({"zone": "a" * 64}, [], "label zone has the value"),
    ({}, [{"key": "k", "effect": "Sometimes"}], "taint k has the effect 'Sometimes'"),
    ({}, [{"key": "", "effect": "NoSchedule"}], "taint key '' is not valid"),
    ({}, [{"key": "k", "value": "a b", "effect": "NoSchedule"}], "taint k has the value 'a b'"),
    ({}, [{"key": "k", "effect": "NoSchedule"}, {"key": "k", "value": "x", "effect": "NoSchedule"}], "listed twice"),
    ({}, ["k=v:NoSchedule"], "must be a dict"),
])
def test_bad_input_is_named(labels, taints, message):
    with pytest.raises(nm.NodeMetadataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        nm.plan({}, [], {}, labels, taints)


def test_in_step_reads_a_listed_node():
    node = {"name": "edge-1", "labels": {"zone": "a"}, "taints": [{"key": "k", "effect": "NoSchedule"}],
            "managed_metadata": {"labels": ["zone"], "taints": ["k:NoSchedule"]}}
    assert nm.in_step(node, {"zone": "a"}, [{"key": "k", "effect": "NoSchedule"}])
    assert not nm.in_step(node, {"zone": "b"}, [{"key": "k", "effect": "NoSchedule"}])
    assert not nm.in_step(node, {"zone": "a"}, [])           # a recorded taint to remove
    assert not nm.in_step(dict(node, managed_metadata={}), {"zone": "a"}, [{"key": "k", "effect": "NoSchedule"}])
    assert not nm.in_step(None, {}, [])
    assert nm.in_step({"labels": {}, "taints": []}, {}, [])   # nothing asked, nothing recorded
