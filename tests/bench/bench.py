"""`make bench`: measure, never assert timings; write BENCHMARKS.md.

    python tests/bench/bench.py [--only daemonset,fleet,idempotence] [--output BENCHMARKS.md]

Run it through tests/bench/run.sh (it prepares kubectl and the environment).
Results of every run are kept as JSON in $EDGE_CLUSTER_CACHE/bench/ and
BENCHMARKS.md is rendered from them by report.py. Settings (environment):

    BENCH_REPS              repetitions for every benchmark unless set below (3)
    BENCH_DS_COUNT          DaemonSets (30)         BENCH_DS_NODES     edge Nodes (20)
    BENCH_DS_MODULE_REPS    module runs (BENCH_REPS)
    BENCH_DS_SCRIPT_REPS    runbook script runs (1: one run is >= 600 s at 30 x 20)
    BENCH_FLEET_SIZES       edge containers per fleet join ("1 5 20")
    BENCH_FLEET_REPS        fleet joins per size (1)
    BENCH_FORKS             ansible forks for the fleet join (20)
    BENCH_IDEM_TARGET       site (default: rebuilds the lab) or edge (BENCH_IDEM_N fresh hosts)
    BENCH_IDEM_N            edge hosts for the idempotence benchmark (5)
    BENCH_IDEM_REPS         second runs of the idempotence benchmark (BENCH_REPS)
    BENCH_REF               measure this commit (git archive) instead of the work tree
    BENCH_KEEP              1: keep containers and cluster objects for debugging
"""

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import audit  # noqa: E402  pylint: disable=wrong-import-position
import report  # noqa: E402  pylint: disable=wrong-import-position
from cluster import Bench  # noqa: E402  pylint: disable=wrong-import-position
from stats import loadavg, machine  # noqa: E402  pylint: disable=wrong-import-position

CACHE = os.environ.get("EDGE_CLUSTER_CACHE", "/var/cache/edge-cluster")
BENCHMARKS = ("daemonset", "fleet", "idempotence")


class Context(object):
    def __init__(self, args):
        self.repo = REPO
        # The collection measured: the work tree, or a `git archive` of BENCH_REF (run.sh).
        self.collection = os.environ.get("BENCH_COLLECTION_DIR") or REPO
        self.kubeconfig = os.environ["KUBECONFIG"]
        self.prefix = os.environ.get("BENCH_PREFIX") or "ebench-%s" % os.urandom(3).hex()
        self.results_dir = os.path.join(CACHE, "bench")
        os.makedirs(self.results_dir, exist_ok=True)
        self.workdir = tempfile.mkdtemp(prefix="%s-" % self.prefix, dir=self.results_dir)
        self.audit_log = os.environ.get("BENCH_AUDIT_LOG", audit.AUDIT_LOG)
        bindir = os.path.dirname(sys.executable)
        self.python = sys.executable
        # The user of the admin kubeconfig in the audit log (the cloudcore double runs as it).
        self.admin_user = os.environ.get("BENCH_ADMIN_USER", "admin")
        self.ansible = os.path.join(bindir, "ansible")
        self.ansible_playbook = os.path.join(bindir, "ansible-playbook")
        self.kubectl = args.kubectl or shutil.which("kubectl")
        self.kubectl_version = self._kubectl_version()
        self.keep = os.environ.get("BENCH_KEEP") == "1"
        self.bench = Bench(self.kubeconfig, self.prefix, self.workdir)
        self.t0 = time.monotonic()
        self.results = self.results_path = None

    def _kubectl_version(self):
        if not self.kubectl:
            return None
        out = subprocess.run([self.kubectl, "version", "--client", "--short"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, check=False).stdout
        return out.strip().split(":")[-1].strip() or None

    def checkpoint(self, name, data):
        """Save a benchmark's partial results (set by main())."""
        if self.results is not None:
            self.results["benchmarks"][name] = data
            with open(self.results_path, "w") as handle:
                json.dump(self.results, handle, indent=1, default=str)

    def log(self, msg):
        print("[bench %s +%4.0fs load %s] %s" % (datetime.datetime.now().strftime("%H:%M:%S"),
                                                 time.monotonic() - self.t0,
                                                 "/".join("%.2f" % x for x in (loadavg() or ())), msg),
              flush=True)


def remove_containers(prefix):
    """Containers of this run (name prefix and the benchmarks' label) that are still there."""
    names = subprocess.run(["docker", "ps", "-aq", "--filter", "label=owner=edge-cluster-bench",
                            "--filter", "name=^%s-" % prefix], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           text=True, check=False).stdout.split()
    if names:
        subprocess.run(["docker", "rm", "-f", "-v"] + names, stdout=subprocess.DEVNULL, check=False)


def _git_describe():
    proc = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True, check=False)
    return proc.stdout.strip() or None


def recover_fleet(workdir):
    from bench_fleet import recover  # pylint: disable=import-outside-toplevel
    prefix = "-".join(os.path.basename(workdir.rstrip("/")).split("-")[:2])
    out = recover(workdir, prefix, os.environ.get("BENCH_ADMIN_USER", "admin"),
                  int(os.environ.get("BENCH_FORKS", "20")), os.environ.get("BENCH_STRATEGY", "linear"))
    kubeconfig = os.environ.get("KUBECONFIG")
    results = {"machine": machine(kubeconfig), "prefix": prefix, "benchmarks": {"fleet": out}}
    # the measured commit, when BENCH_REF put it in the playbook log's paths
    for rs in out["runs"].values():
        with open(rs[0]["log"]) as handle:
            found = re.search(r"/bench/collections-([0-9a-f]+)/", handle.read())
        if found:
            results["machine"]["collection"] = found.group(1)
    stamps = [os.path.getmtime(r["log"]) for rs in out["runs"].values() for r in rs]
    out["date"] = datetime.datetime.fromtimestamp(max(stamps), datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M UTC") if stamps else None
    out["duration_s"] = sum(r["wall_s"] for rs in out["runs"].values() for r in rs)
    path = os.path.join(CACHE, "bench", "results-%s-recovered.json" % prefix)
    with open(path, "w") as handle:
        json.dump(results, handle, indent=1, default=str)
    print(path)
    return 0


def merge_fleet(a, b):
    """Fleet results of two runs as one: the runs of every size together, medians recomputed."""
    from bench_fleet import summarize  # pylint: disable=import-outside-toplevel
    runs = {}
    for part in (a, b):
        for n, rs in part["runs"].items():
            runs.setdefault(int(n), []).extend(rs)
    merged = summarize(runs, max(len(r) for r in runs.values()), b["params"]["forks"], b["params"]["strategy"])
    merged.update({"date": b.get("date"), "duration_s": (a.get("duration_s") or 0) + (b.get("duration_s") or 0),
                   "load_before": b.get("load_before"), "load_after": b.get("load_after"),
                   "merged_from": "more than one result file",
                   "collection": ", ".join(sorted({x.get("collection") or "?" for x in (a, b)}))})
    return merged


def render_only(args):
    results = {"benchmarks": {}}
    for path in args.merge:
        with open(path) as handle:
            earlier = json.load(handle)
        results["machine"] = earlier.get("machine", results.get("machine"))
        for name, out in earlier.get("benchmarks", {}).items():
            out.setdefault("collection", (earlier.get("machine") or {}).get("collection"))
            have = results["benchmarks"].get(name)
            if name == "fleet" and have and "runs" in have and "runs" in out:
                out = merge_fleet(have, out)
            if "error" not in out or not have:
                results["benchmarks"][name] = out
    text = report.render(results)
    if args.notes:
        with open(args.notes) as handle:
            text += "\n## Notes on this run\n\n" + handle.read().strip() + "\n"
    with open(args.output, "w") as handle:
        handle.write(text)
    print("wrote %s from %s" % (args.output, ", ".join(args.merge)))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--only", default=",".join(BENCHMARKS),
                        help="comma-separated subset of %s" % ", ".join(BENCHMARKS))
    parser.add_argument("--output", default=os.path.join(REPO, "BENCHMARKS.md"))
    parser.add_argument("--kubectl", default=None, help="kubectl for the runbook script (v1.20.2)")
    parser.add_argument("--merge", action="append", default=[],
                        help="results JSON of an earlier run to fill in benchmarks not run now")
    parser.add_argument("--recover-fleet", metavar="WORKDIR",
                        help="rebuild the fleet results of a stopped run from its work directory "
                             "($EDGE_CLUSTER_CACHE/bench/<prefix>-*) and write them as results JSON")
    parser.add_argument("--notes", default=None,
                        help="with --render: a Markdown file appended as 'Notes on this run'")
    parser.add_argument("--render", action="store_true",
                        help="run nothing: write the report from the --merge results (later files win)")
    args = parser.parse_args(argv)
    if args.recover_fleet:
        return recover_fleet(args.recover_fleet)
    if args.render:
        return render_only(args)
    only = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = set(only) - set(BENCHMARKS)
    if unknown:
        parser.error("unknown benchmark(s) %s; choose from %s" % (", ".join(sorted(unknown)), ", ".join(BENCHMARKS)))

    # SIGTERM (and SIGINT, even when started in the background) end the run through
    # the cleanup below instead of leaving containers and cluster objects behind.
    def stop(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    ctx = Context(args)
    results = {"machine": machine(ctx.kubeconfig), "prefix": ctx.prefix, "benchmarks": {}}
    results["machine"]["kubectl"] = ctx.kubectl_version
    results["machine"]["collection"] = os.environ.get("BENCH_COLLECTION_REF") or _git_describe()
    results_path = os.path.join(ctx.results_dir, "results-%s.json" % ctx.prefix)
    ctx.results, ctx.results_path = results, results_path
    ctx.log("run %s, results in %s" % (ctx.prefix, results_path))
    failed = []
    try:
        for name in only:
            started = time.monotonic()
            load_before = loadavg()
            try:
                if name == "daemonset":
                    from bench_daemonset import DaemonSetBench
                    out = DaemonSetBench(ctx).run()
                elif name == "fleet":
                    from bench_fleet import FleetBench
                    out = FleetBench(ctx).run()
                else:
                    from bench_idempotence import IdempotenceBench
                    out = IdempotenceBench(ctx).run()
            except Exception as exc:  # pylint: disable=broad-except  # report, run the others
                ctx.log("%s FAILED: %s" % (name, exc))
                failed.append(name)
                out = {"error": "%s: %s" % (type(exc).__name__, exc)}
            out["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            out["duration_s"] = time.monotonic() - started
            out["load_before"] = load_before
            out["load_after"] = loadavg()
            out["collection"] = results["machine"]["collection"]
            results["benchmarks"][name] = out
            with open(results_path, "w") as handle:
                json.dump(results, handle, indent=1, default=str)
    finally:
        if not ctx.keep:
            remove_containers(ctx.prefix)
            errors = ctx.bench.cleanup()
            for err in errors:
                ctx.log("cleanup: %s" % err)
    for path in args.merge:
        with open(path) as handle:
            earlier = json.load(handle)
        for name, out in earlier.get("benchmarks", {}).items():
            results["benchmarks"].setdefault(name, dict(out, merged_from=os.path.basename(path)))
    with open(results_path, "w") as handle:
        json.dump(results, handle, indent=1, default=str)
    with open(args.output, "w") as handle:
        handle.write(report.render(results))
    ctx.log("wrote %s (results %s) in %.0f s" % (args.output, results_path, time.monotonic() - ctx.t0))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
