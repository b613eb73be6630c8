"""Role edge.cluster.edgemesh against the real control plane (and, for its
edge entry point, a real systemd host).

The cluster side runs on localhost with the manifest method (no helm binary
on the test bed). Every object lives in namespaces, Nodes and labels of this
module's own tag, so helpers sharing the apiserver are not touched: the agent
is pinned to this module's nodes with a nodeSelector, the test DaemonSets are
shaped like calico-node/kube-proxy (tolerate everything, hostNetwork) but
pinned to the same nodes, and discovery is limited to the module's namespace.
Nodes have no kubelet: they turn NotReady/unreachable, so the agent tolerates
every taint here (the verify step then expects all three nodes).
"""

import base64
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from tests.conftest import SYSTEMD_RUN_ARGS, TESTBED, SystemdHost

PLAYBOOK = Path(__file__).parent / "playbooks" / "edgemesh.yml"
EDGE_LABEL = "node-role.kubernetes.io/edge"
FILTER_LABEL = "service.edgemesh.kubeedge.io/service-proxy-name"
AFFINITY_KEY = "requiredDuringSchedulingIgnoredDuringExecution"
TOLERATE_ALL = [{"operator": "Exists"}]
ISTIO_CRDS = ["destinationrules.networking.istio.io", "gateways.networking.istio.io",
              "virtualservices.networking.istio.io"]


def recap(res, host="localhost"):
    """(changed, failed) of host in the PLAY RECAP."""
    match = re.search(r"^%s\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)" % re.escape(host),
                      res.stdout, re.M)
    assert match, "no PLAY RECAP for %s in\n%s" % (host, res.stdout[-3000:])
    return int(match.group(1)), int(match.group(2))


def changed_tasks(res):
    """Names of the tasks that reported a change (for failure messages)."""
    out, task = [], None
    for line in res.stdout.splitlines():
        if line.startswith("TASK ["):
            task = line
        elif line.startswith("changed:") and task:
            out.append(task)
    return out


def wait_for(what, predicate, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise AssertionError("timed out waiting for %s" % what)


def excludes_edge(ds):
    aff = ((ds.spec.template.spec.affinity or client.V1Affinity()).node_affinity
           or client.V1NodeAffinity()).required_during_scheduling_ignored_during_execution
    terms = aff.node_selector_terms if aff else []
    return bool(terms) and all(any(e.key == EDGE_LABEL and e.operator == "DoesNotExist"
                                   for e in (t.match_expressions or [])) for t in terms)


class Bed:
    """This module's Nodes, namespaces and DaemonSets."""

    def __init__(self, api_client, tmp_path_factory):
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.rbac = client.RbacAuthorizationV1Api(api_client)
        self.ext = client.ApiextensionsV1Api(api_client)
        self.tag = os.urandom(3).hex()
        self.sel = "edge-test.example.com/em-%s" % self.tag
        self.ns = "t-edgemesh-%s" % self.tag          # EdgeMesh and the test DaemonSets
        self.cc_ns = "t-em-cloudcore-%s" % self.tag   # CloudCore's ConfigMap (keadm shape)
        self.role_name = "edgemesh-agent-%s" % self.tag
        self.cloud = "em-cloud-%s" % self.tag
        self.edges = ["em-edge-%s-%d" % (self.tag, i) for i in range(2)]
        self.tmp = tmp_path_factory.mktemp("edgemesh")
        self.crds_before = set(c.metadata.name for c in self.ext.list_custom_resource_definition().items)
        self.kubernetes_label_before = FILTER_LABEL in (self.core.read_namespaced_service("kubernetes", "default")
                                                        .metadata.labels or {})

    def setup(self):
        for name, labels in [(self.cloud, {self.sel: "1"})] + [(e, {self.sel: "1", EDGE_LABEL: ""}) for e in self.edges]:
            self.core.create_node(client.V1Node.from_dict({
                "metadata": {"name": name, "labels": labels},
                "status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                           "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}}))
        for ns in (self.ns, self.cc_ns):
            self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
        self.set_dynamic_controller(True)
        for name in ("calico-node", "kube-proxy", "node-exporter", "log-agent"):
            self.apps.create_namespaced_daemon_set(self.ns, client.V1DaemonSet.from_dict({
                "metadata": {"name": name},
                "spec": {"selector": {"matchLabels": {"app": name}},
                         "template": {"metadata": {"labels": {"app": name}},
                                      "spec": {"hostNetwork": True, "nodeSelector": {self.sel: "1"},
                                               "tolerations": TOLERATE_ALL, "terminationGracePeriodSeconds": 0,
                                               "containers": [{"name": "main", "image": "registry.invalid/pause:1"}]}}}}))
        self.core.create_namespaced_service(self.ns, client.V1Service.from_dict({
            "metadata": {"name": "api-like"}, "spec": {"ports": [{"port": 443}]}}))
        # Discovery needs pods bound to the edge nodes, as on a real cluster.
        wait_for("DaemonSet pods on the edge nodes", lambda: self.on_edges("node-exporter") == set(self.edges)
                 and self.on_edges("log-agent") == set(self.edges))

    def set_dynamic_controller(self, enable):
        body = {"metadata": {"name": "cloudcore"},
                "data": {"cloudcore.yaml": yaml.safe_dump({"modules": {"dynamicController": {"enable": enable}}})}}
        try:
            self.core.replace_namespaced_config_map("cloudcore", self.cc_ns, body)
        except client.ApiException:
            self.core.create_namespaced_config_map(self.cc_ns, body)

    def on_edges(self, owner):
        pods = self.core.list_namespaced_pod(self.ns, label_selector="app=%s" % owner).items
        return set(p.spec.node_name for p in pods if p.spec.node_name in self.edges)

    def ds(self, name):
        return self.apps.read_namespaced_daemon_set(name, self.ns)

    def snapshot(self):
        """What a failed or check-mode run must leave as it was."""
        svc = self.core.read_namespaced_service("api-like", self.ns)
        return {
            "daemonsets": sorted((d.metadata.name, d.metadata.generation)
                                 for d in self.apps.list_namespaced_daemon_set(self.ns).items),
            # kube-root-ca.crt is kube-controller-manager's, published into a new namespace some time later
            "configmaps": sorted(c.metadata.name for c in self.core.list_namespaced_config_map(self.ns).items
                                 if c.metadata.name != "kube-root-ca.crt"),
            "secrets": sorted(s.metadata.name for s in self.core.list_namespaced_secret(self.ns).items
                              if s.type != "kubernetes.io/service-account-token"),
            "service_label": FILTER_LABEL in (svc.metadata.labels or {}),
            "clusterrole": bool(self.rbac.list_cluster_role(field_selector="metadata.name=%s" % self.role_name).items),
        }

    def psk(self):
        return base64.b64decode(self.core.read_namespaced_secret("edgemesh-agent-psk", self.ns).data["psk"]).decode()

    def cleanup(self):
        for call in (lambda: self.rbac.delete_cluster_role_binding(self.role_name),
                     lambda: self.rbac.delete_cluster_role(self.role_name)):
            try:
                call()
            except client.ApiException:
                pass
        for ns in (self.ns, self.cc_ns):
            try:
                self.core.delete_namespace(ns)
            except client.ApiException:
                pass
        for node in [self.cloud] + self.edges:
            try:
                self.core.delete_node(node)
            except client.ApiException:
                pass
        for crd in ISTIO_CRDS:
            if crd not in self.crds_before:
                try:
                    self.ext.delete_custom_resource_definition(crd)
                except client.ApiException:
                    pass
        if not self.kubernetes_label_before:
            self.core.patch_namespaced_service("kubernetes", "default", {"metadata": {"labels": {FILTER_LABEL: None}}})

    def inventory(self, relay=True):
        inv = {"all": {"children": {"edgemesh_api": {"hosts": {"localhost": {"ansible_connection": "local"}}}}}}
        if relay:
            inv["all"]["children"]["edgemesh_relay"] = {"hosts": {"relay-a": {
                "edgemesh_relay_node_name": self.cloud, "edgemesh_relay_advertise_address": "192.0.2.10"}}}
        path = self.tmp / ("inventory-%s.yml" % ("relay" if relay else "plain"))
        path.write_text(yaml.safe_dump(inv), encoding="utf-8")
        return str(path)

    def extra(self, **override):
        base = {
            "edgemesh_namespace": self.ns,
            "edgemesh_cluster_role_name": self.role_name,
            "edgemesh_cloudcore_namespace": self.cc_ns,
            "edgemesh_install_method": "auto",
            "edgemesh_agent_node_selector": {self.sel: "1"},
            "edgemesh_agent_tolerations": TOLERATE_ALL,
            "edgemesh_proxy_filter_services": [{"namespace": "default", "name": "kubernetes"},
                                               {"namespace": self.ns, "name": "api-like"}],
            "edgemesh_daemonsets": [{"namespace": self.ns, "name": "calico-node"},
                                    {"namespace": self.ns, "name": "kube-proxy"},
                                    {"namespace": "kube-system", "name": "no-such-cni-%s" % self.tag, "optional": True}],
            "edgemesh_daemonsets_discover": True,
            "edgemesh_daemonsets_namespace": self.ns,
            "edgemesh_daemonsets_exclude": ["%s/log-agent" % self.ns],
            "edgemesh_verify_timeout": 90,
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


def run(run_playbook, bed, check=False, relay=True, **override):
    return run_playbook(PLAYBOOK, inventory=bed.inventory(relay), extra_vars=bed.extra(**override), check=check,
                        verbosity=1)


# Failures first: each must stop in preflight with a message that says what is
# wrong and how to fix it, and leave the cluster as it was.
FAILURES = [
    ("dynamicController off", {"_dynamic": False},
     ["without modules.dynamicController.enable=true", "cloudcore_dynamic_controller=true", "re-run the cloud play"]),
    ("no CloudCore at all", {"edgemesh_cloudcore_namespace": "t-no-such-ns",
                             "edgemesh_cloudcore_config_file": "/nonexistent/cloudcore.yaml"},
     ["No CloudCore configuration found", "/nonexistent/cloudcore.yaml", "edgemesh_check_dynamic_controller=false"]),
    ("missing kubeconfig", {"edgemesh_kubeconfig": "/nonexistent/kubeconfig"},
     ["/nonexistent/kubeconfig does not exist", "edgemesh_kubeconfig"]),
    ("relay node that is no Node", {"edgemesh_relay_nodes": [{"node_name": "no-such-node", "advertise_address": ["192.0.2.11"]}]},
     ["no-such-node are not Nodes of the cluster", "edgemesh_relay_node_name"]),
    ("relay address not an IP", {"edgemesh_relay_nodes": [{"node_name": "x", "advertise_address": "relay.example.org"}]},
     ["must be IP addresses", "relay.example.org"]),
    ("published PSK", {"edgemesh_psk": "JugH9HP1XBouyO5pWGeZa8LtipDURrf17EJvUHcJGuQ="},
     ["published example", "openssl rand -base64 32"]),
    ("version without v", {"edgemesh_version": "1.14.0"}, ["'1.14.0' is not a release tag", "vX.Y.Z"]),
    ("missing DaemonSet", {"_ds": "calico-nod"}, ["calico-nod of edgemesh_daemonsets do not exist", "optional: true"]),
    ("helm without helm", {"edgemesh_install_method": "helm", "edgemesh_helm_binary": "/nonexistent/helm"},
     ["edgemesh_install_method=helm", "/nonexistent/helm version", "edgemesh_install_method=manifest"]),
]


@pytest.mark.parametrize("case,override,needles", FAILURES, ids=[c[0] for c in FAILURES])
def test_bad_input_fails_in_preflight_and_changes_nothing(run_playbook, bed, case, override, needles):
    override = dict(override)
    dynamic = override.pop("_dynamic", True)
    if "_ds" in override:
        override["edgemesh_daemonsets"] = [{"namespace": bed.ns, "name": override.pop("_ds")}]
    bed.set_dynamic_controller(dynamic)
    try:
        before = bed.snapshot()
        res = run(run_playbook, bed, **override)
    finally:
        bed.set_dynamic_controller(True)
    assert res.rc != 0, res
    out = " ".join((res.stdout + res.stderr).split())
    for needle in needles:
        assert needle in out, "%s: %r not in output\n%s" % (case, needle, res.stdout[-3000:])
    assert bed.snapshot() == before, case


def test_binary_cloudcore_file_is_read_when_there_is_no_configmap(run_playbook, bed, tmp_path):
    conf = tmp_path / "cloudcore.yaml"
    extra = {"edgemesh_cloudcore_namespace": "t-no-such-ns", "edgemesh_cloudcore_config_file": str(conf),
             "edgemesh_cloudcore_host": "localhost"}
    conf.write_text(yaml.safe_dump({"modules": {"dynamicController": {"enable": False}}}), encoding="utf-8")
    res = run(run_playbook, bed, **extra)
    assert res.rc != 0 and "without modules.dynamicController.enable=true (%s on localhost)" % conf in res.stdout, res
    conf.write_text(yaml.safe_dump({"modules": {"dynamicController": {"enable": True}}}), encoding="utf-8")
    before = bed.snapshot()
    res = run_playbook(PLAYBOOK, inventory=bed.inventory(), extra_vars=bed.extra(**extra),
                       env={"ANSIBLE_RUN_TAGS": "edgemesh_preflight"})
    assert res.rc == 0, res
    assert bed.snapshot() == before


def test_check_mode_predicts_and_changes_nothing(run_playbook, bed):
    before = bed.snapshot()
    res = run(run_playbook, bed, check=True)
    assert res.rc == 0, res
    changed, dummy = recap(res)
    assert changed > 0, "check mode on a fresh namespace must predict changes"
    assert bed.snapshot() == before
    assert not bed.apps.list_namespaced_daemon_set(bed.ns, label_selector="kubeedge=edgemesh-agent").items


def test_manifest_install_then_idempotent(run_playbook, bed):
    start = time.time()
    first = run(run_playbook, bed)
    first_seconds = time.time() - start
    assert first.rc == 0, first
    assert recap(first)[0] > 0

    # Objects of the manifest method.
    ds = bed.ds("edgemesh-agent")
    spec = ds.spec.template.spec
    assert spec.containers[0].image == "kubeedge/edgemesh-agent:v1.14.0"
    assert spec.host_network and spec.service_account_name == "edgemesh-agent"
    assert spec.node_selector == {bed.sel: "1"}
    assert [v.secret.secret_name for v in spec.volumes if v.name == "psk"] == ["edgemesh-agent-psk"]
    assert bed.core.read_namespaced_service_account("edgemesh-agent", bed.ns)
    binding = bed.rbac.read_cluster_role_binding(bed.role_name)
    assert binding.role_ref.name == bed.role_name
    assert [(s.name, s.namespace) for s in binding.subjects] == [("edgemesh-agent", bed.ns)]
    assert "services" in bed.rbac.read_cluster_role(bed.role_name).rules[0].resources
    cfg = yaml.safe_load(bed.core.read_namespaced_config_map("edgemesh-agent-cfg", bed.ns).data["edgemesh-agent.yaml"])
    assert cfg["modules"]["edgeProxy"]["enable"] is True
    assert cfg["modules"]["edgeTunnel"]["relayNodes"] == [{"nodeName": bed.cloud, "advertiseAddress": ["192.0.2.10"]}]
    for crd in ISTIO_CRDS:
        assert bed.ext.read_custom_resource_definition(crd)

    # The PSK: random, long, not the published one, never printed.
    psk = bed.psk()
    assert len(psk) >= 40 and psk != "JugH9HP1XBouyO5pWGeZa8LtipDURrf17EJvUHcJGuQ="
    for text in (psk, base64.b64encode(psk.encode()).decode()):
        assert text not in first.stdout + first.stderr

    # Prerequisites: filter label, DaemonSets off edge nodes (listed and discovered),
    # the excluded one and EdgeMesh's own agent untouched.
    for ns, name in (("default", "kubernetes"), (bed.ns, "api-like")):
        assert bed.core.read_namespaced_service(name, ns).metadata.labels.get(FILTER_LABEL) == ""
    for name in ("calico-node", "kube-proxy", "node-exporter"):
        assert excludes_edge(bed.ds(name)), name
    assert not excludes_edge(bed.ds("log-agent"))
    wait_for("calico-node off the edge nodes", lambda: bed.ds("calico-node").status.desired_number_scheduled == 1)

    # The agent targets the three nodes (verify checked it too); wait until its
    # pods are bound to the edge nodes so the next run's discovery sees them.
    assert bed.ds("edgemesh-agent").status.desired_number_scheduled == 3
    wait_for("edgemesh-agent pods on the edge nodes", lambda: len(set(
        p.spec.node_name for p in bed.core.list_namespaced_pod(bed.ns, label_selector="kubeedge=edgemesh-agent").items
        if p.spec.node_name in bed.edges)) == 2)
    generation = bed.ds("edgemesh-agent").metadata.generation

    start = time.time()
    second = run(run_playbook, bed)
    second_seconds = time.time() - start
    assert second.rc == 0, second
    assert recap(second) == (0, 0), changed_tasks(second)
    assert bed.psk() == psk, "the PSK must be reused, not regenerated"
    assert psk not in second.stdout + second.stderr
    ds = bed.ds("edgemesh-agent")
    assert ds.metadata.generation == generation and not excludes_edge(ds)
    print("edgemesh role: first run %.0fs, second run %.0fs" % (first_seconds, second_seconds))


def test_setting_the_psk_rotates_it_and_rolls_the_agents(run_playbook, bed):
    before = bed.ds("edgemesh-agent").spec.template.metadata.annotations["edge.cluster/psk-checksum"]
    new = "rotated-" + os.urandom(24).hex()
    res = run(run_playbook, bed, edgemesh_psk=new)
    assert res.rc == 0, res
    assert new not in res.stdout + res.stderr
    assert bed.psk() == new
    after = bed.ds("edgemesh-agent").spec.template.metadata.annotations["edge.cluster/psk-checksum"]
    assert after != before


# ---- edge entry point on a real systemd host -----------------------------------------
EDGECORE_YAML = {
    "apiVersion": "edgecore.config.kubeedge.io/v1alpha2", "kind": "EdgeCore",
    "modules": {
        "edgeHub": {"token": "", "httpServer": "https://192.0.2.1:10002"},
        "edged": {"hostnameOverride": "edge-a", "tailoredKubeletConfig": {"cgroupDriver": "cgroupfs",
                                                                          "clusterDomain": "cluster.local"}},
        "edgeStream": {"enable": False},
        "metaManager": {"metaServer": {"enable": False}},
    },
}


@pytest.fixture(scope="module")
def systemd_edge():
    """A bookworm systemd container like conftest's systemd_host, with a longer boot wait (the shared
    machine is often loaded) and a name of this module."""
    subprocess.run([str(TESTBED / "images.sh"), "bookworm"], check=True, stdout=subprocess.DEVNULL)
    name = "edge-pytest-em-%s" % os.urandom(3).hex()
    subprocess.run(["docker", "run", "-d", "--name", name, "--hostname", name] + SYSTEMD_RUN_ARGS
                   + ["edge-cluster/systemd-debian:bookworm", "/lib/systemd/systemd"],
                   check=True, stdout=subprocess.DEVNULL)
    host = SystemdHost(name)
    try:
        host.sh("for i in $(seq 1 240); do s=$(systemctl is-system-running 2>/dev/null); "
                "case $s in running|degraded) exit 0;; esac; sleep 1; done; exit 1")
        yield host
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], check=False, stdout=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def edge_host(systemd_edge):
    """A systemd host with an edgecore.yaml as keadm join leaves it and a stand-in edgecore service."""
    systemd_host = systemd_edge
    systemd_host.sh("mkdir -p /etc/kubeedge/config && printf '[Service]\\nExecStart=/bin/sleep infinity\\n' "
                    "> /etc/systemd/system/edgecore.service && systemctl daemon-reload && systemctl start edgecore")
    subprocess.run(["docker", "exec", "-i", systemd_host.name, "sh", "-c", "cat > /etc/kubeedge/config/edgecore.yaml"],
                   input=yaml.safe_dump(EDGECORE_YAML), text=True, check=True)
    return systemd_host


def edge_run(run_playbook, host, tmp_path, **extra):
    inv = tmp_path / "edge-inventory.yml"
    inv.write_text(yaml.safe_dump({"all": {"children": {"edgemesh_edge": {"hosts": {host.name: {
        "ansible_connection": "community.docker.docker"}}}}}}), encoding="utf-8")
    return run_playbook(PLAYBOOK, inventory=str(inv), extra_vars=extra)


def edgecore_pid(host):
    return host.sh("systemctl show -p MainPID --value edgecore").stdout.strip()


def test_edge_entry_point_sets_metaserver_and_cluster_dns(run_playbook, edge_host, tmp_path):
    pid = edgecore_pid(edge_host)
    res = edge_run(run_playbook, edge_host, tmp_path, edgemesh_cluster_domain="edge.example")
    assert res.rc == 0, res
    assert recap(res, edge_host.name)[0] > 0
    conf = yaml.safe_load(edge_host.sh("cat /etc/kubeedge/config/edgecore.yaml").stdout)
    mods = conf["modules"]
    assert mods["metaManager"]["metaServer"]["enable"] is True
    assert mods["edged"]["tailoredKubeletConfig"]["clusterDNS"] == ["169.254.96.16"]
    assert mods["edged"]["tailoredKubeletConfig"]["clusterDomain"] == "edge.example"
    assert mods["edged"]["tailoredKubeletConfig"]["cgroupDriver"] == "cgroupfs", "keys the role does not set are kept"
    assert mods["edgeHub"]["httpServer"] == "https://192.0.2.1:10002"
    new_pid = edgecore_pid(edge_host)
    assert new_pid != pid, "edgecore must restart when its configuration changed"

    again = edge_run(run_playbook, edge_host, tmp_path, edgemesh_cluster_domain="edge.example")
    assert again.rc == 0, again
    assert recap(again, edge_host.name) == (0, 0), changed_tasks(again)
    assert edgecore_pid(edge_host) == new_pid, "no restart without a change"


def test_edge_entry_point_rejects_a_bad_dns_address(run_playbook, edge_host, tmp_path):
    before = edge_host.sh("md5sum /etc/kubeedge/config/edgecore.yaml").stdout
    res = edge_run(run_playbook, edge_host, tmp_path, edgemesh_bridge_device_ip="169.254.96")
    assert res.rc != 0
    assert "edgemesh_bridge_device_ip '169.254.96' is not an IP address" in " ".join(res.stdout.split()), res
    assert edge_host.sh("md5sum /etc/kubeedge/config/edgecore.yaml").stdout == before
