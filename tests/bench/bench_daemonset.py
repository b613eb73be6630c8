"""Benchmark 1: DaemonSet patching, the module against the KubeSphere runbook script.

Both start from the same state: BENCH_DS_COUNT DaemonSets (tolerating every
taint, like calico-node) in a fresh namespace, with one pod bound to each of
BENCH_DS_NODES edge Nodes. The Nodes have no kubelet, so the pods stay
Pending, but the DaemonSet controller creates one per Node and sets
spec.nodeName (in 1.20 through a required node affinity on metadata.name that
the scheduler binds): `kubectl get pods -o wide` shows the NODE column, which
is all the runbook script and the module's discover mode look at. Each run is
checked (every DaemonSet ends with the DoesNotExist expression) and its
requests are counted in the audit log under its own ServiceAccount.
"""

import json
import os
import resource
import subprocess
import sys
import time

import audit
from cluster import EDGE_LABEL
from stats import loadavg, median, ratio

HERE = os.path.dirname(os.path.abspath(__file__))
POOL_LABEL = "bench.edge.cluster/ds-pool"
IMAGE = "registry.invalid/pause:1"


def daemonset(name, pool):
    return {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [{"name": "main", "image": IMAGE}],
                    "tolerations": [{"operator": "Exists"}],
                    "terminationGracePeriodSeconds": 0,
                    "nodeSelector": {POOL_LABEL: pool},
                },
            },
        },
    }


def has_edge_expression(ds):
    aff = (((ds.get("spec") or {}).get("template") or {}).get("spec") or {}).get("affinity") or {}
    terms = (((aff.get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or {})
             .get("nodeSelectorTerms") or [])
    return bool(terms) and all(
        any(e.get("key") == EDGE_LABEL and e.get("operator") == "DoesNotExist"
            for e in t.get("matchExpressions") or []) for t in terms)


class DaemonSetBench(object):
    def __init__(self, ctx):
        self.ctx = ctx
        self.bench = ctx.bench
        self.n_ds = int(os.environ.get("BENCH_DS_COUNT", "30"))
        self.n_nodes = int(os.environ.get("BENCH_DS_NODES", "20"))
        self.reps_module = int(os.environ.get("BENCH_DS_MODULE_REPS", os.environ.get("BENCH_REPS", "3")))
        self.reps_script = int(os.environ.get("BENCH_DS_SCRIPT_REPS", "1"))
        self.pool = "%s-ds" % ctx.prefix
        # Names hold "edgenode" like the runbook's default pattern; the script
        # is given this run's prefix so it only sees this run's pods.
        self.node_prefix = "%s-edgenode" % ctx.prefix
        self.nodes = ["%s-%02d" % (self.node_prefix, i) for i in range(self.n_nodes)]

    # ---- setup -------------------------------------------------------------
    def setup_nodes(self):
        self.bench.add_nodes(self.nodes, {EDGE_LABEL: "", POOL_LABEL: self.pool})

    def populate(self, ns):
        """A namespace with n_ds DaemonSets and one bound pod per DaemonSet and edge Node."""
        self.bench.ensure_namespace(ns)
        for i in range(self.n_ds):
            self.bench.apps.create_namespaced_daemon_set(ns, daemonset("ds-%02d" % i, self.pool))
        want = self.n_ds * self.n_nodes
        deadline = time.time() + 600
        while True:
            pods = self.bench.core.list_namespaced_pod(ns).items
            bound = [p for p in pods if p.spec.node_name in self.nodes and not p.metadata.deletion_timestamp]
            if len(bound) >= want:
                return len(bound)
            if time.time() > deadline:
                raise RuntimeError("only %d of %d DaemonSet pods were bound to edge Nodes in %s after 600 s: "
                                   "is kube-controller-manager running?" % (len(bound), want, ns))
            time.sleep(2)

    def teardown(self, ns):
        self.bench.apps.delete_collection_namespaced_daemon_set(ns)
        self.bench.force_delete_pods(ns)
        self.bench.core.delete_namespace(ns)
        self.bench.namespaces.remove(ns)

    def patched(self, ns):
        items = json.loads(self.bench.apps.list_namespaced_daemon_set(ns, _preload_content=False).data)["items"]
        return sum(1 for ds in items if has_edge_expression(ds))

    # ---- the two contenders ------------------------------------------------
    def run_module(self, ns):
        kubeconfig, user = self.bench.identity("ds-module")
        args = {"discover": True, "namespace": ns, "kubeconfig": kubeconfig}
        cmd = [self.ctx.ansible, "localhost", "-c", "local", "-i", "localhost,",
               "-e", "ansible_python_interpreter=%s" % sys.executable,
               "-m", "edge.cluster.daemonset_edge_affinity", "-a", json.dumps(args)]
        env = {"ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_STDOUT_CALLBACK": "json"}
        return self._measure(cmd, user, "module-%s.log" % ns, env=env)

    def run_script(self, ns):
        kubeconfig, user = self.bench.identity("ds-runbook")
        home = os.path.join(self.ctx.workdir, "runbook-home")
        os.makedirs(home, exist_ok=True)
        env = {"KUBECONFIG": kubeconfig, "HOME": home,
               "PATH": os.path.dirname(self.ctx.kubectl) + os.pathsep + os.environ["PATH"]}
        # An admin's kubectl has its discovery cache warm: fill it before the window.
        subprocess.run([self.ctx.kubectl, "api-resources"], env=dict(os.environ, **env), check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cmd = ["bash", os.path.join(HERE, "kubesphere_patch.sh"), self.node_prefix]
        return self._measure(cmd, user, "script-%s.log" % ns, env=env)

    def _measure(self, cmd, user, logname, env):
        full_env = dict(os.environ, **env)
        log_path = os.path.join(self.ctx.workdir, logname)
        window = audit.Window(self.ctx.audit_log).open()
        load = loadavg()
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.monotonic()
        with open(log_path, "w") as log:
            proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=full_env, check=False)
        wall = time.monotonic() - start
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        window.close()
        events = audit.by_user(window.events(), user)
        return {"wall_s": wall, "rc": proc.returncode,
                "cpu_s": (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime), "requests": len(events),
                "breakdown": audit.breakdown(events), "load": load, "log": log_path}

    # ---- the benchmark -----------------------------------------------------
    def run(self):
        ctx = self.ctx
        ctx.log("daemonset: %d DaemonSets x %d edge Nodes; module x%d, runbook script x%d"
                % (self.n_ds, self.n_nodes, self.reps_module, self.reps_script))
        self.setup_nodes()
        runs = {"module": [], "script": []}
        # Alternate the contenders so slow phases of the shared machine hit both.
        order = []
        for i in range(max(self.reps_module, self.reps_script)):
            if i < self.reps_module:
                order.append(("module", i))
            if i < self.reps_script:
                order.append(("script", i))
        for tool, i in order:
            ns = "%s-ds-%s-%d" % (ctx.prefix, tool, i)
            pods = self.populate(ns)
            ctx.log("daemonset: %s run %d on %d pods" % (tool, i + 1, pods))
            result = self.run_module(ns) if tool == "module" else self.run_script(ns)
            result["pods"] = pods
            result["patched"] = self.patched(ns)
            result["daemonsets"] = self.n_ds
            ctx.log("daemonset: %s run %d: %.1f s, %d requests, %d/%d DaemonSets patched, rc %d"
                    % (tool, i + 1, result["wall_s"], result["requests"], result["patched"], self.n_ds,
                       result["rc"]))
            runs[tool].append(result)
            self.teardown(ns)
        self.bench.delete_nodes(self.nodes)
        summary = {}
        for tool, results in runs.items():
            summary[tool] = {
                "runs": len(results),
                "wall_s": median([r["wall_s"] for r in results]),
                "requests": median([r["requests"] for r in results]),
                "cpu_s": median([r.get("cpu_s") for r in results]),
                "all_patched": all(r["patched"] == r["daemonsets"] and r["rc"] == 0 for r in results),
                "loads": [r["load"] for r in results],
            }
        summary["speedup"] = ratio(summary["script"]["wall_s"], summary["module"]["wall_s"])
        summary["cpu_ratio"] = ratio(summary["script"]["cpu_s"], summary["module"]["cpu_s"])
        summary["request_ratio"] = ratio(summary["script"]["requests"], summary["module"]["requests"])
        summary["request_budget"] = 3 + self.n_ds
        return {"params": {"daemonsets": self.n_ds, "nodes": self.n_nodes, "pods": self.n_ds * self.n_nodes,
                           "script_pattern": self.node_prefix, "kubectl": ctx.kubectl_version},
                "runs": runs, "summary": summary}
