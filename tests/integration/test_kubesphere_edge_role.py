"""Role edge.cluster.kubesphere_edge against the real control plane.

A namespace of this module stands in for `kubeedge` (with a CloudCore
Deployment shaped like keadm's), the edge nodes carry a label of this module
(so the taint never reaches other helpers' nodes) and the DaemonSets of the
runbook (nodelocaldns, kube-proxy, calico-node) are test copies in that
namespace, tolerating everything like the real ones, pinned to this module's
nodes.
"""

import os
import re
import time
from pathlib import Path

import pytest
import yaml
from kubernetes import client

PLAYBOOK = Path(__file__).parent / "playbooks" / "kubesphere_edge.yml"
TAINT_KEY = "node-role.kubernetes.io/edge"
RUNBOOK_PORTS = [("cloudhub", 10000, 30000), ("cloudhub-quic", 10001, 30001), ("cloudhub-https", 10002, 30002),
                 ("cloudstream", 10003, 30003), ("tunnelport", 10004, 30004)]


def recap(res, host="localhost"):
    match = re.search(r"^%s\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)" % re.escape(host),
                      res.stdout, re.M)
    assert match, "no PLAY RECAP in\n%s" % res.stdout[-3000:]
    return int(match.group(1)), int(match.group(2))


def wait_for(what, predicate, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise AssertionError("timed out waiting for %s" % what)


class Bed:
    def __init__(self, api_client, tmp_path_factory):
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.tag = os.urandom(3).hex()
        self.ns = "t-ks-kubeedge-%s" % self.tag
        self.edge_label = "edge-test.example.com/ks-edge-%s" % self.tag
        self.sel = "edge-test.example.com/ks-%s" % self.tag
        self.cloud = "ks-cloud-%s" % self.tag
        self.edges = ["ks-edge-%s-%d" % (self.tag, i) for i in range(2)]
        self.nodes = [self.cloud] + self.edges
        self.tmp = tmp_path_factory.mktemp("kubesphere")
        # The runbook's 30000-30004 may be held by other tests on the shared apiserver (a keadm
        # CloudCore's Service): this module maps the same five ports to a block of its own.
        self.base = 30100 + (int(self.tag, 16) % 400) * 5
        self.ports = [(name, port, self.base + i) for i, (name, port, dummy) in enumerate(RUNBOOK_PORTS)]

    def add_node(self, name, labels):
        self.core.create_node(client.V1Node.from_dict({
            "metadata": {"name": name, "labels": labels},
            "status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                       "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                       "addresses": [{"type": "InternalIP", "address": "198.51.100.%d" % (10 + len(name) % 50)}]}}))

    def setup(self):
        self.add_node(self.cloud, {self.sel: "1"})
        for edge in self.edges:
            self.add_node(edge, {self.sel: "1", self.edge_label: ""})
        self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=self.ns)))
        labels = {"k8s-app": "kubeedge", "kubeedge": "cloudcore"}
        self.apps.create_namespaced_deployment(self.ns, client.V1Deployment.from_dict({
            "metadata": {"name": "cloudcore", "labels": labels},
            "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "cloudcore", "image": "kubeedge/cloudcore:v1.12.1"}]}}}}))
        for name in ("nodelocaldns", "kube-proxy", "calico-node"):
            self.apps.create_namespaced_daemon_set(self.ns, client.V1DaemonSet.from_dict({
                "metadata": {"name": name},
                "spec": {"selector": {"matchLabels": {"app": name}},
                         "template": {"metadata": {"labels": {"app": name}},
                                      "spec": {"hostNetwork": True, "nodeSelector": {self.sel: "1"},
                                               "tolerations": [{"operator": "Exists"}],
                                               "terminationGracePeriodSeconds": 0,
                                               "containers": [{"name": "main", "image": "registry.invalid/pause:1"}]}}}}))

    def taints(self):
        return dict((n, sorted((t.key, t.value or "", t.effect) for t in (self.core.read_node(n).spec.taints or [])
                               if t.key == TAINT_KEY)) for n in self.nodes)

    def ds_affinity(self, name):
        ds = self.apps.read_namespaced_daemon_set(name, self.ns)
        return ds.spec.template.spec.affinity

    def snapshot(self):
        return {
            # kube-root-ca.crt is kube-controller-manager's, published into a new namespace some time later
            "configmaps": sorted(c.metadata.name for c in self.core.list_namespaced_config_map(self.ns).items
                                 if c.metadata.name != "kube-root-ca.crt"),
            "services": sorted(s.metadata.name for s in self.core.list_namespaced_service(self.ns).items),
            "taints": self.taints(),
            "daemonsets": sorted((d.metadata.name, d.metadata.generation)
                                 for d in self.apps.list_namespaced_daemon_set(self.ns).items),
        }

    def cleanup(self):
        try:
            self.core.delete_namespace(self.ns)
        except client.ApiException:
            pass
        for node in self.nodes:
            try:
                self.core.delete_node(node)
            except client.ApiException:
                pass

    def inventory(self):
        path = self.tmp / "inventory.yml"
        path.write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {"ansible_connection": "local"}}}}),
                        encoding="utf-8")
        return str(path)

    def extra(self, **override):
        base = {
            "kubesphere_edge_namespace": self.ns,
            "kubesphere_edge_region": "en",
            "kubesphere_edge_kubeedge_version": "v1.13.1",
            "kubesphere_edge_node_label": self.edge_label,
            "kubesphere_edge_daemonsets": [{"namespace": self.ns, "name": n}
                                           for n in ("nodelocaldns", "kube-proxy", "calico-node")],
            "kubesphere_edge_external_address": "203.0.113.5",
            "kubesphere_edge_ports": [{"name": n, "port": p, "node_port": np} for n, p, np in self.ports],
        }
        base.update(override)
        return base


@pytest.fixture(scope="module")
def bed(api_client, tmp_path_factory):
    b = Bed(api_client, tmp_path_factory)
    try:
        b.setup()
        yield b
    finally:
        b.cleanup()


def run(run_playbook, bed, check=False, **override):
    return run_playbook(PLAYBOOK, inventory=bed.inventory(), extra_vars=bed.extra(**override), check=check)


@pytest.fixture(scope="module")
def taken_port(bed):
    """A NodePort held by another Service."""
    svc = bed.core.create_namespaced_service(bed.ns, client.V1Service.from_dict({
        "metadata": {"name": "holds-a-nodeport"},
        "spec": {"type": "NodePort", "selector": {"app": "none"}, "ports": [{"name": "x", "port": 80}]}}))
    return svc.spec.ports[0].node_port


FAILURES = [
    ("bad region", {"kubesphere_edge_region": "jp"}, ["kubesphere_edge_region", "zh, en", "jp"]),
    ("node port outside the range", {"kubesphere_edge_ports": [{"name": "cloudhub", "port": 10000, "node_port": 40000}]},
     ["cloudhub 10000->40000: node_port must be inside 30000-32767"]),
    ("port out of range", {"kubesphere_edge_ports": [{"name": "cloudhub", "port": 70000, "node_port": 30000}]},
     ["cloudhub 70000->30000: port must be 1-65535"]),
    ("duplicate node ports", {"kubesphere_edge_ports": [{"name": "a", "port": 10000, "node_port": 30000},
                                                        {"name": "b", "port": 10001, "node_port": 30000}]},
     ["NodePorts in kubesphere_edge_ports must be unique"]),
    ("bad version", {"kubesphere_edge_kubeedge_version": "1.13"}, ["'1.13' is not a KubeEdge release", "vX.Y.Z"]),
    ("bad taint effect", {"kubesphere_edge_taint": {"key": TAINT_KEY, "effect": "NoWay"}},
     ["kubesphere_edge_taint needs a valid key and effect one of NoSchedule, PreferNoSchedule, NoExecute"]),
    ("missing kubeconfig", {"kubesphere_edge_kubeconfig": "/nonexistent/kubeconfig"},
     ["/nonexistent/kubeconfig does not exist", "kubesphere_edge_kubeconfig"]),
    ("no KubeEdge namespace", {"kubesphere_edge_namespace": "t-ks-no-such-ns"},
     ["Namespace t-ks-no-such-ns does not exist", "Install CloudCore first"]),
    ("missing DaemonSet", {"_ds": "calico"}, ["calico of kubesphere_edge_daemonsets do not exist", "optional: true"]),
    ("node port held by another Service", {"_taken": True},
     ["already allocated", "by Service", "holds-a-nodeport", "kubesphere_edge_nodeport_service=false"]),
]


@pytest.mark.parametrize("case,override,needles", FAILURES, ids=[c[0] for c in FAILURES])
def test_bad_input_fails_in_preflight_and_changes_nothing(run_playbook, bed, taken_port, case, override, needles):
    override = dict(override)
    if "_ds" in override:
        override["kubesphere_edge_daemonsets"] = [{"namespace": bed.ns, "name": override.pop("_ds")}]
    if override.pop("_taken", False):
        override["kubesphere_edge_ports"] = [{"name": "cloudhub", "port": 10000, "node_port": taken_port}]
        needles = needles + ["%d by Service %s/holds-a-nodeport" % (taken_port, bed.ns)]
    before = bed.snapshot()
    res = run(run_playbook, bed, **override)
    assert res.rc != 0, res
    out = " ".join((res.stdout + res.stderr).split())
    for needle in needles:
        assert needle in out, "%s: %r not in output\n%s" % (case, needle, res.stdout[-3000:])
    assert bed.snapshot() == before, case


def test_check_mode_predicts_and_changes_nothing(run_playbook, bed):
    before = bed.snapshot()
    res = run(run_playbook, bed, check=True)
    assert res.rc == 0, res
    assert recap(res)[0] > 0
    assert bed.snapshot() == before


def test_cloud_side_applied_then_idempotent(run_playbook, bed):
    first = run(run_playbook, bed)
    assert first.rc == 0, first
    assert recap(first)[0] > 0

    cm = bed.core.read_namespaced_config_map("edge-watcher-config", bed.ns)
    assert cm.data == {"region": "en", "version": "v1.13.1"}
    svc = bed.core.read_namespaced_service("cloudcore-nodeport", bed.ns)
    assert svc.spec.type == "NodePort"
    assert svc.spec.selector == {"k8s-app": "kubeedge", "kubeedge": "cloudcore"}
    assert [(p.name, p.port, p.target_port, p.node_port, p.protocol) for p in svc.spec.ports] == \
        [(n, p, p, np, "TCP") for n, p, np in bed.ports]

    taints = bed.taints()
    assert taints[bed.cloud] == []
    for edge in bed.edges:
        assert taints[edge] == [(TAINT_KEY, "", "NoSchedule")]
    for name in ("nodelocaldns", "kube-proxy", "calico-node"):
        terms = bed.ds_affinity(name).node_affinity.required_during_scheduling_ignored_during_execution.node_selector_terms
        assert [(e.key, e.operator) for e in terms[0].match_expressions] == [(bed.edge_label, "DoesNotExist")], name
    wait_for("calico-node only on the cloud node", lambda: bed.apps.read_namespaced_daemon_set(
        "calico-node", bed.ns).status.desired_number_scheduled == 1)

    out = " ".join(first.stdout.split())
    assert "CloudCore runs v1.12.1 but edge-watcher-config makes KubeSphere's join command install v1.13.1" in out
    assert "cloudhubPort 10000/TCP cloudhubNodePort %d" % bed.base in out
    assert "tunnelPort 10004/TCP tunnelNodePort %d" % (bed.base + 4) in out
    assert "allow it in the firewall of 203.0.113.5" in out

    second = run(run_playbook, bed)
    assert second.rc == 0, second
    assert recap(second) == (0, 0), second.stdout[-3000:]


def test_defaults_are_the_runbooks_port_table():
    """The role's default mapping is the runbook's table (the cluster tests use a block of their own)."""
    defaults = yaml.safe_load((Path(__file__).parents[2] / "roles" / "kubesphere_edge" / "defaults" / "main.yml")
                              .read_text(encoding="utf-8"))
    assert [(p["name"], p["port"], p["node_port"]) for p in defaults["kubesphere_edge_ports"]] == RUNBOOK_PORTS
    assert defaults["kubesphere_edge_namespace"] == "kubeedge"
    assert defaults["kubesphere_edge_taint"] == {"key": TAINT_KEY, "value": "", "effect": "NoSchedule"}


def test_taint_option_off_leaves_new_edge_nodes_untainted(run_playbook, bed):
    late = "ks-edge-%s-late" % bed.tag
    bed.add_node(late, {bed.sel: "1", bed.edge_label: ""})
    bed.nodes.append(late)
    res = run(run_playbook, bed, kubesphere_edge_default_taint=False)
    assert res.rc == 0, res
    assert bed.taints()[late] == []
    res = run(run_playbook, bed, kubesphere_edge_taint={"key": TAINT_KEY, "value": "true", "effect": "NoExecute"},
              kubesphere_edge_nodeport_service=False, kubesphere_edge_watcher_config=False)
    assert res.rc == 0, res
    assert (TAINT_KEY, "true", "NoExecute") in bed.taints()[late]


def test_binary_cloudcore_gets_a_service_with_endpoints(run_playbook, bed):
    ports = [{"name": "cloudhub", "port": 10000, "node_port": bed.base + 5}]
    res = run(run_playbook, bed, kubesphere_edge_service_name="cloudcore-binary",
              kubesphere_edge_cloudcore_endpoints=["192.0.2.20"], kubesphere_edge_ports=ports,
              kubesphere_edge_default_taint=False)
    assert res.rc == 0, res
    svc = bed.core.read_namespaced_service("cloudcore-binary", bed.ns)
    assert not svc.spec.selector
    assert svc.spec.ports[0].node_port == ports[0]["node_port"]
    ep = bed.core.read_namespaced_endpoints("cloudcore-binary", bed.ns)
    assert [a.ip for a in ep.subsets[0].addresses] == ["192.0.2.20"]
    assert [(p.name, p.port) for p in ep.subsets[0].ports] == [("cloudhub", 10000)]
