"""plugins/modules/edge_node_metadata.py: one read, at most one patch, a conflict read again."""

import datetime
import json

import pytest
from kubernetes.client import V1Node, V1NodeSpec, V1ObjectMeta, V1Taint
from kubernetes.client.rest import ApiException

from ansible_collections.edge.cluster.plugins.module_utils import node_metadata as nm
from ansible_collections.edge.cluster.plugins.modules import edge_node_metadata as mod


class FakeCore(object):
    def __init__(self, node=None, conflicts=0, missing=False):
        self.node = node or V1Node(metadata=V1ObjectMeta(name="edge-1", labels={}, annotations={},
                                                         resource_version="7"), spec=V1NodeSpec())
        self.conflicts, self.missing, self.calls = conflicts, missing, []

    def read_node(self, name):
        self.calls.append(("read", name))
        if self.missing:
            raise ApiException(status=404, reason="Not Found")
        return self.node

    def patch_node(self, name, body, field_manager=None):
        self.calls.append(("patch", name, body, field_manager))
        if self.conflicts:
            self.conflicts -= 1
            raise ApiException(status=409, reason="Conflict")
        return self.node


def test_fresh_node_is_patched_once_with_its_resource_version():
    core = FakeCore()
    result = mod.converge(mod.NodeApi(core), "edge-1", {"zone": "a"}, [{"key": "k", "value": "", "effect": "NoSchedule"}],
                          check_mode=False)
    assert result["changed"]
    assert [c[0] for c in core.calls] == ["read", "patch"]
    body = core.calls[1][2]
    assert body["metadata"]["resourceVersion"] == "7"
    assert body["metadata"]["labels"] == {"zone": "a"}
    assert body["spec"]["taints"] == [{"key": "k", "effect": "NoSchedule"}]
    assert core.calls[1][3] == "edge.cluster.edge_node_metadata"


def test_check_mode_reads_only():
    core = FakeCore()
    result = mod.converge(mod.NodeApi(core), "edge-1", {"zone": "a"}, [], check_mode=True)
    assert result["changed"] and [c[0] for c in core.calls] == ["read"]


def test_node_taints_are_read_with_their_time_and_kept():
    when = datetime.datetime(2026, 12, 6, tzinfo=datetime.timezone.utc)
    node = V1Node(metadata=V1ObjectMeta(name="edge-1", labels={"zone": "a"}, resource_version="9",
                                        annotations={nm.OWNER_ANNOTATION: '{"labels":["zone"],"taints":[]}'}),
                  spec=V1NodeSpec(taints=[V1Taint(key="node.kubernetes.io/unreachable", effect="NoExecute",
                                                  time_added=when)]))
    core = FakeCore(node)
    result = mod.converge(mod.NodeApi(core), "edge-1", {"zone": "a"}, [], check_mode=False)
    assert not result["changed"]
    assert [c[0] for c in core.calls] == ["read"]


def test_a_conflict_is_read_again():
    core = FakeCore(conflicts=2)
    result = mod.converge(mod.NodeApi(core), "edge-1", {"zone": "a"}, [], check_mode=False)
    assert result["changed"]
    assert [c[0] for c in core.calls] == ["read", "patch"] * 3


def test_endless_conflicts_end_with_a_message():
    core = FakeCore(conflicts=99)
    with pytest.raises(mod.NodeApiError, match="kept changing .* run again"):
        mod.converge(mod.NodeApi(core), "edge-1", {"zone": "a"}, [], check_mode=False, attempts=3)


def test_missing_node_says_to_join_first():
    with pytest.raises(mod.NodeApiError, match="Node edge-9 does not exist: join the host first"):
        mod.converge(mod.NodeApi(FakeCore(missing=True)), "edge-9", {}, [], check_mode=False)


def test_forbidden_patch_is_reported_with_its_reason():
    class Forbidden(FakeCore):
        def patch_node(self, name, body, field_manager=None):
            raise ApiException(status=403, reason="Forbidden")
    with pytest.raises(mod.NodeApiError) as exc:
        mod.converge(mod.NodeApi(Forbidden()), "edge-1", {"zone": "a"}, [], check_mode=False)
    assert exc.value.status == 403
    assert "Node edge-1" in str(exc.value)


def test_record_written_is_what_the_plan_reads_back():
    core = FakeCore()
    mod.converge(mod.NodeApi(core), "edge-1", {"zone": "a"}, [], check_mode=False)
    record = core.calls[1][2]["metadata"]["annotations"][nm.OWNER_ANNOTATION]
    assert nm.owned_of({nm.OWNER_ANNOTATION: record}) == {"labels": ["zone"], "taints": []}
    assert json.loads(record) == {"labels": ["zone"], "taints": []}
