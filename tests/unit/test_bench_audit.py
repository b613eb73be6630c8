"""The plumbing behind BENCHMARKS.md: audit-log counting, medians/ratios, recap parsing, rendering."""

import datetime
import json
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))

import audit  # noqa: E402  pylint: disable=wrong-import-position
import report  # noqa: E402  pylint: disable=wrong-import-position
import stats  # noqa: E402  pylint: disable=wrong-import-position
from bench_idempotence import site_time_from_lab_log  # noqa: E402  pylint: disable=wrong-import-position
from fleet import first_failure, parse_recap  # noqa: E402  pylint: disable=wrong-import-position


def stamp(when):
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event(user, verb, resource=None, namespace=None, name=None, when=None, uri=None, subresource=None):
    ref = {}
    if resource:
        ref = {"resource": resource, "namespace": namespace, "name": name}
        if subresource:
            ref["subresource"] = subresource
        ref = {k: v for k, v in ref.items() if v is not None}
    return {"kind": "Event", "verb": verb, "user": {"username": user}, "objectRef": ref or None,
            "requestURI": uri or "/api/v1/%s" % (resource or ""),
            "requestReceivedTimestamp": stamp(when or audit.utcnow())}


def append(path, events):
    with open(path, "a") as handle:
        for e in events:
            handle.write(json.dumps(e) + "\n")


# ---- audit.py ------------------------------------------------------------------

def test_parse_time_accepts_micro_nano_and_no_fraction():
    base = datetime.datetime(2026, 11, 25, 0, 2, 3, tzinfo=datetime.timezone.utc)
    assert audit.parse_time("2026-11-25T00:02:03Z") == base
    assert audit.parse_time("2026-11-25T00:02:03.669726Z") == base.replace(microsecond=669726)
    assert audit.parse_time("2026-11-25T00:02:03.669726123Z") == base.replace(microsecond=669726)
    assert audit.parse_time("2026-11-25T00:02:03.5Z") == base.replace(microsecond=500000)


def test_window_counts_only_its_own_events(tmp_path):
    log = tmp_path / "audit.log"
    before = audit.utcnow() - datetime.timedelta(seconds=30)
    append(log, [event("me", "get", "secrets", "kubeedge", "tokensecret", when=before)] * 3)
    window = audit.Window(str(log)).open()
    time.sleep(0.01)
    append(log, [
        event("me", "get", "secrets", "kubeedge", "tokensecret"),
        event("me", "get", "nodes", name="edge-1"),
        event("someone-else", "list", "pods"),
        # written after open() but received before the window (a late flush): excluded by time
        event("me", "list", "pods", when=before),
    ])
    window.close(settle=0)
    with open(log, "a") as handle:
        handle.write('{"partial line without newline"')
    events = window.events()
    assert len(events) == 3
    mine = audit.by_user(events, "me")
    assert len(mine) == 2
    assert sum(audit.is_resource(e, "secrets", "kubeedge", "tokensecret", "get") for e in mine) == 1
    assert audit.breakdown(mine) == {"get nodes": 1, "get secrets": 1}


def test_window_reads_rotated_backups(tmp_path):
    log = tmp_path / "audit.log"
    append(log, [event("me", "get", "nodes", name="old", when=audit.utcnow() - datetime.timedelta(minutes=5))])
    window = audit.Window(str(log)).open()
    time.sleep(0.01)
    append(log, [event("me", "create", "nodes", name="n1")])
    os.rename(str(log), str(tmp_path / "audit-2026-11-25T00-10-00.000.log"))  # what the apiserver does
    append(log, [event("me", "patch", "nodes", name="n1", subresource="status")])
    window.close(settle=0)
    assert audit.breakdown(window.events()) == {"create nodes": 1, "patch nodes/status": 1}


def test_breakdown_groups_discovery():
    events = [event("k", "get", uri="/api"), event("k", "get", uri="/apis/apps/v1"), event("k", "get", "pods")]
    for e in events[:2]:
        e["objectRef"] = None
    assert audit.breakdown(events) == {"get discovery (/api, /apis, /version)": 2, "get pods": 1}


def test_window_must_be_opened_and_closed(tmp_path):
    with pytest.raises(RuntimeError):
        audit.Window(str(tmp_path / "audit.log")).events()


def test_names_any_matches_object_name_or_uri():
    assert audit.names_any(event("a", "get", "nodes", name="ebench-1-f1r0-00"), ["ebench-1-f1r0-00"])
    assert audit.names_any(event("a", "list", "pods", uri="/api/v1/pods?fieldSelector=spec.nodeName%3Dn-7"), ["n-7"])
    assert not audit.names_any(event("a", "get", "nodes", name="other"), ["n-7"])


# ---- stats.py ------------------------------------------------------------------

@pytest.mark.parametrize("values, expected", [
    ([3.0, 1.0, 2.0], 2.0),
    ([4, 1, 3, 2], 2.5),
    ([5], 5),
    ([None, 7.0, 1.0], 4.0),
    ([], None),
])
def test_median(values, expected):
    assert stats.median(values) == expected


def test_ratio_and_missing_values():
    assert stats.ratio(600.0, 3.0) == 200.0
    assert stats.ratio(1, 0) is None
    assert stats.ratio(None, 2) is None
    assert stats.ratio(2, None) is None


def test_marginal_is_the_slope():
    assert stats.marginal([(1, 60.0), (5, 80.0), (20, 155.0)]) == pytest.approx(5.0)
    assert stats.marginal([(1, 60.0)]) is None
    assert stats.marginal([(5, 60.0), (5, 70.0)]) is None


def test_fmt():
    assert stats.fmt(None) == "n/a"
    assert stats.fmt(3) == "3"
    assert stats.fmt(2.345, 1, " s") == "2.3 s"


# ---- fleet recap, lab log ----------------------------------------------------

def test_parse_recap():
    text = """PLAY RECAP *********************************************************************
ebench-1-f1r0-00           : ok=64   changed=14   unreachable=0    failed=0    skipped=30   rescued=0    ignored=1
localhost                  : ok=2    changed=0    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0
"""
    recap = parse_recap(text)
    assert recap["ebench-1-f1r0-00"] == {"ok": 64, "changed": 14, "unreachable": 0, "failed": 0, "skipped": 30,
                                         "rescued": 0, "ignored": 1}
    assert recap["localhost"]["changed"] == 0


def test_first_failure():
    text = ('ok: [h1]\nfatal: [h2]: FAILED! => {"changed": false, "checksum": "a8", '
            '"msg": "Destination directory /etc/cni/net.d does not exist"}\n')
    assert first_failure(text) == "h2: Destination directory /etc/cni/net.d does not exist"
    assert first_failure("ok: [h1]\n") is None


def test_site_time_from_lab_log():
    text = ("[testbed 23:59:50] starting the lab hosts: lab-cloud\n"
            "[testbed 23:59:58] ansible-playbook -i inventories/lab playbooks/site.yml\n"
            "PLAY [x] ***\n"
            "[testbed 00:01:10] the lab cluster (KUBECONFIG=.lab/kubeconfig):\n")
    assert site_time_from_lab_log(text) == 72.0
    assert site_time_from_lab_log("no lines") is None


# ---- report.py -----------------------------------------------------------------

def test_report_renders_medians_ratio_and_verdicts():
    ds_run = {"wall_s": 1.0, "requests": 33, "breakdown": {"patch daemonsets": 30}, "load": [0.5, 0.5, 0.5]}
    results = {
        "machine": {"date": "2026-11-25 01:00 UTC", "nproc": 2, "ram_gib": 23.5, "kernel": "6.1",
                    "python": "3.11.7", "ansible_core": "2.19.14", "kube_apiserver": "v1.20.2"},
        "benchmarks": {"daemonset": {
            "date": "2026-11-25 01:00 UTC", "duration_s": 700, "load_before": [0.1, 0.2, 0.3],
            "load_after": [0.4, 0.5, 0.6],
            "params": {"daemonsets": 30, "nodes": 20, "pods": 600, "script_pattern": "x", "kubectl": "v1.20.2"},
            "runs": {"module": [ds_run], "script": [dict(ds_run, wall_s=650.0, requests=1900)]},
            "summary": {"module": {"runs": 1, "wall_s": 2.0, "requests": 33, "all_patched": True, "loads": [[0.5]]},
                        "script": {"runs": 1, "wall_s": 650.0, "requests": 1900, "all_patched": True,
                                   "loads": [[0.7]]},
                        "speedup": 325.0, "request_ratio": 1900 / 33.0, "request_budget": 33},
        }},
    }
    text = report.render(results)
    assert "| CPUs (nproc) | 2 |" in text
    assert "**325x**" in text
    assert "module at least 100x faster: **met** (325x)" in text
    assert "(33): **met** (33)" in text
    assert "## 2. Fleet join" in text and "Not run." in text
