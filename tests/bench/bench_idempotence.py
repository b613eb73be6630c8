"""Benchmark 3: the idempotent re-run (changed=0 and its cost against the first run).

BENCH_IDEM_TARGET selects what is run twice:

* ``site`` (default, what BENCHMARKS.md's table 3 asks for) - the local lab:
  ``tests/testbed/lab.sh down`` then ``lab.sh up``
  (hosts, then the first playbooks/site.yml run), then BENCH_IDEM_REPS more
  runs of playbooks/site.yml with the same inventory and extra vars as
  lab.sh. This REBUILDS THE LAB: only use it when nobody else works on it.
  The first run's site.yml time is read from lab.sh's own log lines (1 s
  resolution), so host creation is not counted.
* ``edge`` - BENCH_IDEM_N fresh edge containers of this run (the
  fleet benchmark's hosts and settings): playbooks/edge.yml once, then
  BENCH_IDEM_REPS more runs.

Requests of the re-runs are counted like the fleet join (edge target only:
the lab authenticates as admin, shared with other users of the apiserver).
"""

import os
import re
import subprocess
import time

from fleet import Fleet, parse_recap
from stats import loadavg, median, ratio

LAB_LINE = re.compile(r"^\[testbed (\d\d):(\d\d):(\d\d)\] (.*)$", re.M)


def _seconds(h, m, s):
    return int(h) * 3600 + int(m) * 60 + int(s)


def site_time_from_lab_log(text):
    """Seconds between lab.sh's 'ansible-playbook ... playbooks/site.yml' line and its next log line."""
    lines = LAB_LINE.findall(text)
    for i, (h, m, s, msg) in enumerate(lines):
        if "playbooks/site.yml" in msg and i + 1 < len(lines):
            end = _seconds(*lines[i + 1][:3])
            start = _seconds(h, m, s)
            return float((end - start) % 86400)
    return None


class IdempotenceBench(object):
    def __init__(self, ctx):
        self.ctx = ctx
        self.target = os.environ.get("BENCH_IDEM_TARGET", "site")
        if self.target not in ("edge", "site"):
            raise RuntimeError("BENCH_IDEM_TARGET=%s: use edge or site" % self.target)
        self.reps = int(os.environ.get("BENCH_IDEM_REPS", os.environ.get("BENCH_REPS", "3")))
        self.n = int(os.environ.get("BENCH_IDEM_N", "5"))

    def run(self):
        return self.run_site() if self.target == "site" else self.run_edge()

    def _summary(self, first, seconds, extra):
        summary = {
            "first_s": first["wall_s"], "first_changed": first["changed"], "first_rc": first["rc"],
            "rerun_s": median([r["wall_s"] for r in seconds]),
            "rerun_changed": [r["changed"] for r in seconds],
            "rerun_rc": [r["rc"] for r in seconds],
        }
        summary["fraction"] = ratio(summary["rerun_s"], summary["first_s"])
        summary.update(extra)
        return summary

    # ---- edge.yml on this run's containers -------------------------------------
    def run_edge(self):
        ctx = self.ctx
        fleet = Fleet(ctx)
        kubeconfig, user = ctx.bench.identity("edge-play")
        names = ["%s-idem-%02d" % (ctx.prefix, i) for i in range(self.n)]
        ctx.log("idempotence: playbooks/edge.yml on %d fresh edge containers, then %d re-run(s)"
                % (self.n, self.reps))
        try:
            fleet.start(names)
            inventory = fleet.inventory(names, kubeconfig, os.path.join(ctx.workdir, "inventory-idem.yml"))
            first = fleet.run_playbook("playbooks/edge.yml", inventory, user, "idem-first", names, kubeconfig)
            ctx.log("idempotence: first run %.1f s, changed=%d, rc %d"
                    % (first["wall_s"], first["changed"], first["rc"]))
            seconds = []
            for i in range(self.reps):
                again = fleet.run_playbook("playbooks/edge.yml", inventory, user, "idem-rerun%d" % i, names,
                                           kubeconfig)
                ctx.log("idempotence: re-run %d %.1f s, changed=%d, rc %d, role %d requests"
                        % (i + 1, again["wall_s"], again["changed"], again["rc"], again["role_requests"]))
                seconds.append(again)
        finally:
            if not ctx.keep:
                fleet.remove(names)
                ctx.bench.nodes.extend(names)
                ctx.bench.delete_nodes(names)
        summary = self._summary(first, seconds, {
            "rerun_role_requests": median([r["role_requests"] for r in seconds])})
        return {"params": {"target": "edge", "playbook": "playbooks/edge.yml", "hosts": self.n,
                           "reps": self.reps, "forks": fleet.forks, "strategy": fleet.strategy},
                "first": first, "reruns": seconds, "summary": summary}

    # ---- site.yml on the lab ---------------------------------------------------
    def _lab(self, *args):
        proc = subprocess.run([os.path.join(self.ctx.repo, "tests", "testbed", "lab.sh")] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              cwd=self.ctx.repo, check=False)
        return proc

    def run_site(self):
        ctx = self.ctx
        repo = ctx.repo
        if not os.path.exists(os.path.join(repo, "playbooks", "site.yml")):
            raise RuntimeError("playbooks/site.yml does not exist: use BENCH_IDEM_TARGET=edge")
        ctx.log("idempotence: rebuilding the lab (lab.sh down; lab.sh up), then %d site.yml re-run(s)" % self.reps)
        self._lab("down")
        load = loadavg()
        started = time.monotonic()
        up = self._lab("up")
        total = time.monotonic() - started
        with open(os.path.join(ctx.workdir, "lab-up.log"), "w") as handle:
            handle.write(up.stdout)
        recap = parse_recap(up.stdout)
        first = {"wall_s": site_time_from_lab_log(up.stdout), "lab_up_s": total, "rc": up.returncode,
                 "changed": sum(r.get("changed", 0) for r in recap.values()), "load": load}
        ctx.log("idempotence: first site.yml run %s s (lab.sh up %.0f s), changed=%d, rc %d"
                % (first["wall_s"], total, first["changed"], up.returncode))
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        cmd = [ctx.ansible_playbook, "-i", "inventories/lab", "-e", "@.lab/lab-vars.yml", "playbooks/site.yml"]
        seconds = []
        for i in range(self.reps):
            log_path = os.path.join(ctx.workdir, "site-rerun%d.log" % i)
            load = loadavg()
            t0 = time.monotonic()
            with open(log_path, "w") as log:
                proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=repo, check=False)
            wall = time.monotonic() - t0
            with open(log_path) as log:
                recap = parse_recap(log.read())
            again = {"wall_s": wall, "rc": proc.returncode, "load": load, "log": log_path,
                     "changed": sum(r.get("changed", 0) for r in recap.values()),
                     "changed_by_host": {h: r.get("changed", 0) for h, r in recap.items()}}
            ctx.log("idempotence: site.yml re-run %d %.1f s, changed=%d, rc %d"
                    % (i + 1, wall, again["changed"], proc.returncode))
            seconds.append(again)
        return {"params": {"target": "site", "playbook": "playbooks/site.yml", "inventory": "inventories/lab",
                           "reps": self.reps},
                "first": first, "reruns": seconds, "summary": self._summary(first, seconds, {})}
