"""Medians, ratios and the machine facts printed with every table."""

import datetime
import os
import platform
import re
import subprocess
import sys


def median(values):
    """Median of the numbers in `values` (None when empty); even counts average the middle two."""
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    mid = len(vals) // 2
    if len(vals) % 2:
        return vals[mid]
    return (vals[mid - 1] + vals[mid]) / 2.0


def ratio(numerator, denominator):
    """numerator / denominator, None when either is missing or the denominator is 0."""
    if numerator is None or denominator in (None, 0):
        return None
    return float(numerator) / float(denominator)


def marginal(points):
    """Least-squares slope of (n, t) points: the cost of one more node."""
    pts = [(float(n), float(t)) for n, t in points if t is not None]
    if len(pts) < 2:
        return None
    mean_n = sum(n for n, _t in pts) / len(pts)
    mean_t = sum(t for _n, t in pts) / len(pts)
    den = sum((n - mean_n) ** 2 for n, _t in pts)
    if den == 0:
        return None
    return sum((n - mean_n) * (t - mean_t) for n, t in pts) / den


def fmt(value, digits=2, suffix=""):
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return "%d%s" % (value, suffix)
    return "%.*f%s" % (digits, value, suffix)


def loadavg():
    try:
        return tuple(round(x, 2) for x in os.getloadavg())
    except OSError:
        return None


def _version(cmd, pattern):
    try:
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             check=False, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(pattern, out)
    return found.group(1) if found else None


def machine(kubeconfig=None):
    """nproc, RAM, kernel, versions and the date, as a dict."""
    mem_kb = None
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    mem_kb = int(line.split()[1])
    except OSError:
        pass
    apiserver = None
    if kubeconfig:
        try:
            from kubernetes import client, config
            api = config.new_client_from_config(config_file=kubeconfig)
            apiserver = client.VersionApi(api).get_code().git_version
        except Exception:  # pylint: disable=broad-except  # best effort, shown as n/a
            apiserver = None
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "ram_gib": round(mem_kb / 1024.0 / 1024.0, 1) if mem_kb else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "ansible_core": _version([os.path.join(os.path.dirname(sys.executable), "ansible"), "--version"],
                                 r"core ([0-9][^\]\s]*)"),
        "kube_apiserver": apiserver,
    }
