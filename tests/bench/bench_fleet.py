"""Benchmarks 2 and 4: fleet join with playbooks/edge.yml, and API requests per joined node.

For each fleet size N (BENCH_FLEET_SIZES, default 1 5 20) and repetition, N
fresh edge containers join through the real edge play (token once per play,
edgenode role on every host, Node Ready check) against the real apiserver and
the cloudcore double. Wall time is the ansible-playbook run only (containers
are started and booted before, removed after). The role's requests are
counted under its own ServiceAccount; the cloudcore double (which registers
and updates the Nodes for the edgecore doubles, which never call the
apiserver themselves) under the admin user, restricted to this run's Nodes.
"""

import os

from fleet import Fleet
from stats import marginal, median, ratio


class FleetBench(object):
    def __init__(self, ctx):
        self.ctx = ctx
        self.sizes = [int(n) for n in os.environ.get("BENCH_FLEET_SIZES", "1 5 20").split()]
        # One join per size by default: three sizes already give the slope, and a
        # 20-host join is the longest part after the runbook script.
        self.reps = int(os.environ.get("BENCH_FLEET_REPS", "1"))
        self.fleet = Fleet(ctx)

    def one(self, n, rep):
        ctx = self.ctx
        kubeconfig, user = ctx.bench.identity("edge-play")
        names = ["%s-f%dr%d-%02d" % (ctx.prefix, n, rep, i) for i in range(n)]
        try:
            self.fleet.start(names)
            inventory = self.fleet.inventory(names, kubeconfig,
                                             os.path.join(ctx.workdir, "inventory-f%dr%d.yml" % (n, rep)))
            label = "fleet-f%dr%d" % (n, rep)
            result = self.fleet.run_playbook("playbooks/edge.yml", inventory, user, label, names, kubeconfig)
            result["nodes_ready"] = self.fleet.nodes_ready(names)
        finally:
            if not ctx.keep:
                self.fleet.remove(names)
                ctx.bench.nodes.extend(names)
                ctx.bench.delete_nodes(names)
        ctx.log("fleet: N=%d run %d: %.1f s, %d/%d hosts ok, %d Ready, role %d requests (%d token GETs), "
                "cloudcore double %d, rc %d" % (n, rep + 1, result["wall_s"], result["hosts_ok"], n,
                                                result["nodes_ready"], result["role_requests"],
                                                result["token_gets"], result["double_requests"], result["rc"]))
        return result

    def run(self):
        ctx = self.ctx
        ctx.log("fleet: sizes %s, %d run(s) each, forks %d, strategy %s"
                % (self.sizes, self.reps, self.fleet.forks, self.fleet.strategy))
        runs = {n: [] for n in self.sizes}
        for rep in range(self.reps):
            for n in self.sizes:
                runs[n].append(self.one(n, rep))
                # Keep what was measured so far, should a later (bigger) run not finish.
                ctx.checkpoint("fleet", dict(self.summarize(runs), partial=True))
        return self.summarize(runs)

    def summarize(self, runs):
        return summarize(runs, self.reps, self.fleet.forks, self.fleet.strategy)


def recover(workdir, prefix, admin_user, forks, strategy="linear"):
    """The fleet results of a stopped run, from its playbook logs (fleet-f<N>r<rep>.log) and the audit log."""
    import glob  # pylint: disable=import-outside-toplevel
    import re  # pylint: disable=import-outside-toplevel
    from fleet import recover_run  # pylint: disable=import-outside-toplevel
    runs = {}
    user = "system:serviceaccount:%s:edge-play" % prefix
    for path in sorted(glob.glob(os.path.join(workdir, "fleet-f*r*.log"))):
        n, rep = (int(x) for x in re.search(r"fleet-f(\d+)r(\d+)\.log$", path).groups())
        names = ["%s-f%dr%d-%02d" % (prefix, n, rep, i) for i in range(n)]
        try:
            runs.setdefault(n, []).append(recover_run(path, names, user, admin_user))
        except RuntimeError:
            continue  # a run that had not finished
    reps = max((len(r) for r in runs.values()), default=0)
    return dict(summarize(runs, reps, forks, strategy), recovered_from=workdir)


def summarize(runs, reps, forks, strategy):
    """Medians per fleet size, T(last)/T(first) and the marginal cost per host."""
    per_size = {}
    for n, results in runs.items():
        if not results:
            continue
        ok = [r for r in results if r["rc"] == 0 and r["hosts_ok"] == n]
        per_size[n] = {
            "runs": len(results), "ok_runs": len(ok),
            "wall_s": median([r["wall_s"] for r in ok]),
            "controller_cpu_s": median([r.get("controller_cpu_s") for r in ok]),
            "role_requests": median([r["role_requests"] for r in ok]),
            "role_per_node": median([r["role_requests"] / float(n) for r in ok]),
            "token_gets": median([r["token_gets"] for r in ok]),
            "double_requests": median([r["double_requests"] for r in ok]),
            "double_per_node": median([r["double_requests"] / float(n) for r in ok]),
            "loads": [r["load"] for r in results],
        }
    sizes = sorted(per_size)
    first, last = (sizes[0], sizes[-1]) if sizes else (None, None)
    summary = {
        "scaling": ratio(per_size[last]["wall_s"], per_size[first]["wall_s"]) if sizes else None,
        "first": first, "last": last,
        "marginal_s": marginal([(n, s["wall_s"]) for n, s in per_size.items()]),
    }
    return {"params": {"sizes": sizes, "reps": reps, "forks": forks,
                       "strategy": strategy, "serial": 50,
                       "image": "edge-cluster-bench/edgenode:bookworm"},
            "runs": {str(n): r for n, r in runs.items() if r},
            "per_size": {str(n): s for n, s in per_size.items()}, "summary": summary}
