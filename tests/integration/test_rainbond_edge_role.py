"""The rainbond_edge role against the real kube-apiserver.

Each test builds what the Rainbond runbook starts from in a namespace of its
own (a headless rbd-etcd, rbd-eventlog with its usual ports, EdgeMesh's agent
and CloudCore's ConfigMap, a flannel-like DaemonSet) plus Nodes with unique
names, runs the role on localhost and reads the cluster back."""

import base64
import copy
import ipaddress
import os
import re
from pathlib import Path

import pytest
import yaml

PLAYBOOK = Path(__file__).parent / "playbooks" / "rainbond_edge.yml"
EDGE_LABELS = {"node-role.kubernetes.io/edge": "", "node-role.kubernetes.io/agent": ""}
EDGE_TAINT = "node-role.kubernetes.io/edge"
ETCD_SELECTOR = {"belongTo": "rainbond-operator", "creator": "Rainbond", "etcd_node": "rbd-etcd", "name": "rbd-etcd"}
EVENTLOG_PORTS = [("websocket", 6363), ("dockerlog", 6362), ("monitorlog", 6166)]
VIP = "192.0.2.10"


class Bed:
    """Rainbond's starting point in a unique namespace, and unique Nodes."""

    def __init__(self, api_client, kubeconfig):
        from kubernetes import client
        self.client = client
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.kubeconfig = kubeconfig
        self.run = os.urandom(3).hex()
        self.ns = "rbe-%s" % self.run
        self.edge = ["rbe-%s-edge-1" % self.run, "rbe-%s-edge-2" % self.run]
        self.containerd_edge = "rbe-%s-edge-ctr" % self.run
        self.cloud = "rbe-%s-cloud" % self.run
        self.nodes = []

    # -- building ---------------------------------------------------------------
    def create(self):
        core, apps = self.core, self.apps
        core.create_namespace({"metadata": {"name": self.ns}})
        run_label = {"edge-test-run": self.run}
        for name in self.edge:
            self._node(name, dict(EDGE_LABELS, **run_label), "docker://20.10.21")
        self._node(self.containerd_edge, dict(EDGE_LABELS, **{"edge-test-ctr": self.run}), "containerd://1.6.20")
        self._node(self.cloud, dict(run_label), "containerd://1.6.20")
        etcd_labels = dict(ETCD_SELECTOR)
        core.create_namespaced_service(self.ns, {
            "metadata": {"name": "rbd-etcd", "labels": etcd_labels},
            "spec": {"clusterIP": "None", "selector": etcd_labels,
                     "ports": [{"name": "client", "port": 2379}, {"name": "server", "port": 2380}]}})
        for name, ports in (("rbd-eventlog", EVENTLOG_PORTS), ("rbd-eventlog-conflict", EVENTLOG_PORTS + [("grpc", 7000)])):
            core.create_namespaced_service(self.ns, {
                "metadata": {"name": name},
                "spec": {"selector": {"name": "rbd-eventlog"},
                         "ports": [{"name": n, "port": p, "targetPort": p} for n, p in ports]}})
        for name, agent_cfg in (("edgemesh-agent-cfg", {"kubeAPIConfig": {"metaServer": {"security": {"requireAuthorization": False}}}}),
                                ("edgemesh-authz", {"kubeAPIConfig": {"metaServer": {"security": {"requireAuthorization": True}}}})):
            core.create_namespaced_config_map(self.ns, {"metadata": {"name": name},
                                                        "data": {"edgemesh-agent.yaml": yaml.safe_dump(agent_cfg)}})
        for name, enable in (("cloudcore", True), ("cloudcore-off", False)):
            cfg = {"kind": "CloudCore", "modules": {"dynamicController": {"enable": enable}}}
            core.create_namespaced_config_map(self.ns, {"metadata": {"name": name},
                                                        "data": {"cloudcore.yaml": yaml.safe_dump(cfg)}})
        for name in ("edgemesh-agent", "kube-flannel"):
            apps.create_namespaced_daemon_set(self.ns, {
                "metadata": {"name": name},
                "spec": {"selector": {"matchLabels": {"app": name}},
                         "template": {"metadata": {"labels": {"app": name}},
                                      # pods only on this bed's Nodes, never on other tests' Nodes
                                      "spec": {"nodeSelector": run_label,
                                               "containers": [{"name": "c", "image": "example.invalid/%s:1" % name}]}}}})
        return self

    def _node(self, name, labels, runtime):
        self.core.create_node({"metadata": {"name": name, "labels": labels}})
        self.nodes.append(name)
        self.core.patch_node_status(name, {"status": {"nodeInfo": {
            "containerRuntimeVersion": runtime, "architecture": "amd64", "operatingSystem": "linux",
            "bootID": "", "kernelVersion": "", "kubeProxyVersion": "", "kubeletVersion": "v1.20.2",
            "machineID": "", "osImage": "", "systemUUID": ""}}})

    def destroy(self):
        for name in self.nodes:
            try:
                self.core.delete_node(name)
            except self.client.exceptions.ApiException:
                pass
        try:
            self.core.delete_namespace(self.ns)
        except self.client.exceptions.ApiException:
            pass

    # -- running ----------------------------------------------------------------
    def extra(self, **override):
        base = {
            "rainbond_edge_kubeconfig": self.kubeconfig,
            "rainbond_edge_namespace": self.ns,
            "rainbond_edge_nodes_label_selector": "node-role.kubernetes.io/edge,edge-test-run=%s" % self.run,
            "rainbond_edge_gateway_vip": VIP,
            "rainbond_edge_edgemesh_namespace": self.ns,
            "rainbond_edge_cloudcore_namespace": self.ns,
            "rainbond_edge_cni_daemonsets": [{"namespace": self.ns, "name": "kube-flannel"}],
            "rainbond_edge_daemonset_node_selector": {"edge-test-run": self.run},
        }
        base.update(override)
        return base

    # -- reading ----------------------------------------------------------------
    def state(self):
        """What the role may change, in a comparable form."""
        def svc(s):
            return (s.metadata.name, s.spec.cluster_ip, sorted((p.name, p.port) for p in s.spec.ports))
        services = sorted(svc(s) for s in self.core.list_namespaced_service(self.ns).items)
        secrets = sorted(s.metadata.name for s in self.core.list_namespaced_secret(self.ns).items
                         if s.type != "kubernetes.io/service-account-token")
        daemonsets = sorted((d.metadata.name, d.metadata.generation,
                             str(d.spec.template.spec.affinity)) for d in self.apps.list_namespaced_daemon_set(self.ns).items)
        taints = {n: sorted(t.key for t in (self.core.read_node(n).spec.taints or []) if t.key == EDGE_TAINT)
                  for n in self.nodes}
        return services, secrets, daemonsets, taints


@pytest.fixture
def bed(api_client, kubeconfig):
    b = Bed(api_client, kubeconfig).create()
    yield b
    b.destroy()


@pytest.fixture(scope="module")
def shared_bed(api_client, kubeconfig):
    """One bed for the failure cases: none of them may change it (asserted)."""
    b = Bed(api_client, kubeconfig).create()
    yield b
    b.destroy()


def recap_changed(res):
    lines = [line for line in res.stdout.splitlines() if line.startswith("localhost") and "changed=" in line]
    assert lines, res
    return int(re.search(r"changed=(\d+)", lines[-1]).group(1))


def secret_needles(kubeconfig, secret_b64=None):
    """Strings that must never appear in ansible's output: credentials, raw and base64."""
    cfg = yaml.safe_load(Path(kubeconfig).read_text(encoding="utf-8"))
    needles = []
    for user in cfg.get("users", []):
        for key in ("token", "client-key-data", "client-certificate-data", "password"):
            value = (user.get("user") or {}).get(key)
            if value:
                needles += [value, base64.b64encode(value.encode()).decode()]
                if key.endswith("-data"):
                    needles.append(base64.b64decode(value).decode(errors="ignore").strip().splitlines()[1])
    for cluster in cfg.get("clusters", []):
        ca = cluster["cluster"].get("certificate-authority-data")
        if ca:
            needles.append(ca)
    if secret_b64:
        needles += [secret_b64, secret_b64[:60], secret_b64[-60:]]
    return [n for n in needles if n]


def expected_kubeconf(kubeconfig):
    cfg = yaml.safe_load(Path(kubeconfig).read_text(encoding="utf-8"))
    want = copy.deepcopy(cfg)
    for cluster in want["clusters"]:
        cluster["cluster"]["server"] = "http://127.0.0.1:10550"
    return cfg, want


def test_role_configures_rainbond_for_edge_nodes(run_playbook, bed):
    core, apps = bed.core, bed.apps
    extra = bed.extra()
    before = bed.state()

    # Check mode first: predicts changes, makes none.
    res = run_playbook(PLAYBOOK, extra_vars=extra, check=True)
    assert res.rc == 0, res
    assert recap_changed(res) > 0, res
    assert bed.state() == before

    # The real run, at -vvv: nothing secret may be printed.
    res = run_playbook(PLAYBOOK, extra_vars=extra, verbosity=3)
    assert res.rc == 0, res
    assert recap_changed(res) > 0, res
    out = res.stdout + res.stderr
    assert "is headless (clusterIP None)" in out, "the rbd-etcd replacement is not reported"

    # Taints: both edge nodes, not the cloud node, not the containerd node outside the selector.
    for name in bed.edge:
        taints = [(t.key, t.value, t.effect) for t in core.read_node(name).spec.taints or []]
        assert (EDGE_TAINT, "true", "NoSchedule") in taints, (name, taints)
    for name in (bed.cloud, bed.containerd_edge):
        assert EDGE_TAINT not in [t.key for t in core.read_node(name).spec.taints or []], name

    # rbd-etcd: a ClusterIP Service, the runbook's ports and selector, its labels kept.
    etcd = core.read_namespaced_service("rbd-etcd", bed.ns)
    assert etcd.spec.cluster_ip not in (None, "", "None")
    ipaddress.ip_address(etcd.spec.cluster_ip)
    assert sorted((p.name, p.port, p.protocol, p.target_port) for p in etcd.spec.ports) == [
        ("client", 2379, "TCP", 2379), ("server", 2380, "TCP", 2380)]
    assert etcd.spec.selector == ETCD_SELECTOR
    assert etcd.metadata.labels == ETCD_SELECTOR

    # rbd-eventlog: the old ports plus grpc 6366, once.
    eventlog = core.read_namespaced_service("rbd-eventlog", bed.ns)
    ports = sorted((p.name, p.port, p.target_port) for p in eventlog.spec.ports)
    assert ports == sorted([(n, p, p) for n, p in EVENTLOG_PORTS] + [("grpc", 6366, 6366)])

    # kubeconf Secret: the admin kubeconfig, server replaced, nothing else changed.
    secret = core.read_namespaced_secret("kubeconf", bed.ns)
    assert list(secret.data) == ["kubeconf"]
    stored = yaml.safe_load(base64.b64decode(secret.data["kubeconf"]))
    admin, want = expected_kubeconf(bed.kubeconfig)
    assert [c["cluster"]["server"] for c in stored["clusters"]] == ["http://127.0.0.1:10550"] * len(admin["clusters"])
    assert stored == want
    for needle in secret_needles(bed.kubeconfig, secret.data["kubeconf"]):
        assert needle not in out, "a secret was printed at -vvv"

    # rbd-node-edge as in the runbook.
    ds = apps.read_namespaced_daemon_set("rbd-node-edge", bed.ns)
    pod = ds.spec.template.spec
    terms = pod.affinity.node_affinity.required_during_scheduling_ignored_during_execution.node_selector_terms
    assert [[(e.key, e.operator) for e in t.match_expressions] for t in terms] == [
        [("node-role.kubernetes.io/agent", "Exists"), ("node-role.kubernetes.io/edge", "Exists")]]
    assert [(t.key, t.operator, t.effect) for t in pod.tolerations] == [(None, "Exists", None)]
    assert [(a.ip, a.hostnames) for a in pod.host_aliases] == [(VIP, ["goodrain.me"])]
    assert pod.host_network and pod.host_pid and pod.dns_policy == "ClusterFirstWithHostNet"
    assert pod.node_selector == {"edge-test-run": bed.run}
    volumes = {v.name: v for v in pod.volumes}
    assert volumes["kubeconf"].secret.secret_name == "kubeconf"
    assert volumes["grdata"].persistent_volume_claim.claim_name == "rbd-cpt-grdata"
    assert volumes["dockersock"].host_path.path == "/var/run/docker.sock"
    assert volumes["dockersock"].host_path.type == "Socket"
    container = pod.containers[0]
    assert container.image == "registry.cn-hangzhou.aliyuncs.com/goodrain/rbd-node:edge"
    mounts = {m.name: m for m in container.volume_mounts}
    assert mounts["kubeconf"].mount_path == "/var/rbd-node/" and mounts["kubeconf"].read_only
    assert container.args == [
        "--etcd=http://rbd-etcd:2379", "--hostIP=$(POD_IP)", "--run-mode master", "--noderule manage,compute",
        "--nodeid=$(NODE_NAME)", "--image-repo-host=goodrain.me", "--hostsfile=/newetc/hosts", "--rbd-ns=%s" % bed.ns,
        "--container-runtime=docker", "--kube-conf=/var/rbd-node/kubeconf", "--gateway-vip=%s" % VIP,
        "--event-log-server=rbd-eventlog:6366", "--event-server=rbd-eventlog:6363", "--log-address=rbd-eventlog:6362"]
    env = {e.name: e.value or e.value_from.field_ref.field_path for e in container.env}
    assert env == {"POD_IP": "status.podIP", "NODE_NAME": "spec.nodeName", "RBD_NAMESPACE": bed.ns,
                   "RBD_DOCKER_SECRET": "hub-image-repository"}

    # The CNI DaemonSet leaves the edge agents.
    flannel = apps.read_namespaced_daemon_set("kube-flannel", bed.ns)
    terms = flannel.spec.template.spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution
    assert [[(e.key, e.operator) for e in t.match_expressions] for t in terms.node_selector_terms] == [
        [("node-role.kubernetes.io/agent", "DoesNotExist")]]

    # Idempotence: a second run changes nothing and replaces nothing.
    after = bed.state()
    etcd_uid = etcd.metadata.uid
    res = run_playbook(PLAYBOOK, extra_vars=extra)
    assert res.rc == 0, res
    assert recap_changed(res) == 0, res
    assert "is headless (clusterIP None)" not in res.stdout
    assert core.read_namespaced_service("rbd-etcd", bed.ns).metadata.uid == etcd_uid
    assert bed.state() == after

    # Check mode on the configured cluster: nothing to do.
    res = run_playbook(PLAYBOOK, extra_vars=extra, check=True)
    assert res.rc == 0, res
    assert recap_changed(res) == 0, res
    assert bed.state() == after


def test_changed_variables_are_applied(run_playbook, bed):
    """A new gateway VIP and a removed extra argument reach the DaemonSet; the Secret follows a new server."""
    res = run_playbook(PLAYBOOK, extra_vars=bed.extra(rainbond_edge_daemonset_extra_args=["--log-level=debug"]))
    assert res.rc == 0, res
    res = run_playbook(PLAYBOOK, extra_vars=bed.extra(rainbond_edge_gateway_vip="192.0.2.20",
                                                      rainbond_edge_edge_kube_api_server="http://127.0.0.1:10551",
                                                      rainbond_edge_nodes=[bed.edge[0]]))
    assert res.rc == 0, res
    assert recap_changed(res) == 2, res   # DaemonSet + Secret
    ds = bed.apps.read_namespaced_daemon_set("rbd-node-edge", bed.ns)
    container = ds.spec.template.spec.containers[0]
    assert "--gateway-vip=192.0.2.20" in container.args and "--log-level=debug" not in container.args
    assert ds.spec.template.spec.host_aliases[0].ip == "192.0.2.20"
    stored = yaml.safe_load(base64.b64decode(bed.core.read_namespaced_secret("kubeconf", bed.ns).data["kubeconf"]))
    assert {c["cluster"]["server"] for c in stored["clusters"]} == {"http://127.0.0.1:10551"}


FAILURES = [
    ("namespace missing", lambda b: {"rainbond_edge_namespace": b.ns + "-absent"},
     ["Namespace {ns}-absent does not exist", "Install Rainbond first", "rainbond_edge_namespace"]),
    ("rbd-etcd missing", lambda b: {"rainbond_edge_etcd_service": "rbd-etcd-absent"},
     ["rbd-etcd-absent do not exist in namespace {ns}", "rainbond_edge_etcd_service"]),
    ("edge nodes without labels", lambda b: {"rainbond_edge_nodes": [b.edge[0], b.cloud]},
     ["{cloud} (missing node-role.kubernetes.io/agent, node-role.kubernetes.io/edge)", "kubectl label node"]),
    ("edge node that does not exist", lambda b: {"rainbond_edge_nodes": [b.edge[0], "rbe-no-such-node"]},
     ["rbe-no-such-node of rainbond_edge_nodes do not exist", "edge.cluster.edgenode"]),
    ("no node matches the selector", lambda b: {"rainbond_edge_nodes_label_selector": "edge-test-run=absent-%s" % b.run},
     ["No Node matches edge-test-run=absent-", "rainbond_edge_nodes"]),
    ("containerd-only edge node", lambda b: {"rainbond_edge_nodes": [b.edge[0], b.containerd_edge]},
     ["{ctr} runs containerd://1.6.20", "/var/run/docker.sock", "edgenode_container_runtime=docker",
      "rainbond_edge_container_runtime=docker"]),
    ("containerd declared", lambda b: {"rainbond_edge_container_runtime": "containerd"},
     ["rainbond_edge_container_runtime is 'containerd'", "docker.sock", "edgenode_container_runtime=docker"]),
    ("bad gateway VIP", lambda b: {"rainbond_edge_gateway_vip": "10.0.0.300"},
     ["rainbond_edge_gateway_vip '10.0.0.300' is not an IP address", "rainbond_edge_gateway_vip=192.0.2.10"]),
    ("gateway VIP unset", lambda b: {"rainbond_edge_gateway_vip": ""},
     ["rainbond_edge_gateway_vip '' is not an IP address"]),
    ("bad registry IP", lambda b: {"rainbond_edge_registry_ip": "goodrain.example"},
     ["rainbond_edge_registry_ip 'goodrain.example' is not an IP address", "goodrain.me"]),
    ("EdgeMesh not installed", lambda b: {"rainbond_edge_edgemesh_agent_daemonset": "edgemesh-absent"},
     ["{ns}/edgemesh-absent) is not installed", "edge.cluster.edgemesh", "rainbond_edge_check_edge_kube_api=false"]),
    ("dynamicController disabled", lambda b: {"rainbond_edge_cloudcore_configmap": "cloudcore-off"},
     ["dynamicController is disabled", "cloudcore_dynamic_controller=true"]),
    ("metaServer requires HTTPS", lambda b: {"rainbond_edge_edgemesh_agent_configmap": "edgemesh-authz"},
     ["requireAuthorization", "https://127.0.0.1:10550"]),
    ("CNI DaemonSet missing", lambda b: {"rainbond_edge_cni_daemonsets": [{"namespace": "kube-system", "name": "rbe-absent-flannel"}]},
     ["kube-system/rbe-absent-flannel do not exist", "rainbond_edge_cni_daemonsets"]),
    ("grpc port name taken", lambda b: {"rainbond_edge_eventlog_service": "rbd-eventlog-conflict"},
     ["already has a port named grpc on 7000", "rainbond_edge_eventlog_grpc_port"]),
    ("kubeconfig missing", lambda b: {"rainbond_edge_kubeconf_source": "/nonexistent/kubeconf"},
     ["/nonexistent/kubeconf does not exist", "rainbond_edge_kubeconf_source"]),
]


@pytest.mark.parametrize("case,override,needles", FAILURES, ids=[c[0] for c in FAILURES])
def test_bad_input_fails_before_any_change(run_playbook, shared_bed, case, override, needles):
    b = shared_bed
    before = b.state()
    res = run_playbook(PLAYBOOK, extra_vars=b.extra(**override(b)))
    assert res.rc != 0, "%s: %r" % (case, res)
    out = res.stdout + res.stderr
    for needle in needles:
        needle = needle.format(ns=b.ns, cloud=b.cloud, ctr=b.containerd_edge)
        assert needle in " ".join(out.split()), "%s: %r not in output\n%s" % (case, needle, out[-3000:])
    assert b.state() == before, case
    for needle in secret_needles(b.kubeconfig):
        assert needle not in out, "%s: a secret was printed" % case


def test_kubeconfig_with_file_references_is_refused(run_playbook, shared_bed, tmp_path):
    b = shared_bed
    cfg = yaml.safe_load(Path(b.kubeconfig).read_text(encoding="utf-8"))
    for cluster in cfg["clusters"]:
        cluster["cluster"].pop("certificate-authority-data", None)
        cluster["cluster"]["certificate-authority"] = "/etc/kubernetes/pki/ca.crt"
    source = tmp_path / "kubeconf-with-paths"
    source.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    before = b.state()
    res = run_playbook(PLAYBOOK, extra_vars=b.extra(rainbond_edge_kubeconf_source=str(source)))
    assert res.rc != 0, res
    out = " ".join((res.stdout + res.stderr).split())
    assert "refers to files (cluster %s: certificate-authority)" % cfg["clusters"][0]["name"] in out, out[-3000:]
    assert "kubectl config view --raw --flatten" in out
    assert b.state() == before
    for needle in secret_needles(b.kubeconfig):
        assert needle not in out


def test_edge_kube_api_check_can_be_skipped(run_playbook, shared_bed):
    """Without EdgeMesh but with the check off, preflight passes (only preflight runs)."""
    b = shared_bed
    before = b.state()
    res = run_playbook(PLAYBOOK, extra_vars=b.extra(rainbond_edge_edgemesh_agent_daemonset="edgemesh-absent",
                                                    rainbond_edge_check_edge_kube_api=False),
                       env={"ANSIBLE_RUN_TAGS": "rainbond_edge_preflight"})
    assert res.rc == 0, res
    assert recap_changed(res) == 0
    assert b.state() == before
