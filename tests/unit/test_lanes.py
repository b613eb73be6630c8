"""The integration lanes (tests/conftest.py LANES, run side by side by `make
integration`) split the suite: every test is in exactly one lane, and the lanes
together are the whole suite."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def collect(*args):
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "tests/integration"] + list(args),
                          cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    ids = [line for line in proc.stdout.splitlines() if "::" in line]
    return proc.returncode, ids, proc.stdout


@pytest.fixture(scope="module")
def by_lane():
    rc, everything, out = collect()
    assert rc == 0 and everything, out[-3000:]
    lanes = {}
    for lane in ("cloud", "edge", "api", "alone"):
        rc, ids, out = collect("--lane", lane)
        assert rc in (0, 5), out[-3000:]  # 5: no test in that lane
        lanes[lane] = ids
    return everything, lanes


def test_the_lanes_together_are_the_whole_suite(by_lane):
    everything, lanes = by_lane
    assert sorted(sum(lanes.values(), [])) == sorted(everything)


def test_no_test_is_in_two_lanes(by_lane):
    lanes = by_lane[1]
    seen = {}
    for lane, ids in lanes.items():
        for node in ids:
            assert node not in seen, "%s is in lanes %s and %s" % (node, seen[node], lane)
            seen[node] = lane


def test_the_kube_apiserver_restart_runs_alone(by_lane):
    lanes = by_lane[1]
    assert [n.rsplit("::", 1)[1] for n in lanes["alone"]] == [
        "test_real_apiserver_restarted_mid_play_then_rerun_converges"]


@pytest.mark.parametrize("path,lane", [
    ("tests/integration/test_lab_site_reset.py", "cloud"),  # keadm init in namespace kubeedge
    ("tests/integration/reliability/test_limit.py", "edge"),  # joins to the shared cloudcore double
    ("tests/integration/test_bootstrap_token.py", "api"),  # no lane marker: the default
])
def test_a_file_runs_in_its_lane(by_lane, path, lane):
    lanes = by_lane[1]
    assert any(n.startswith(path + "::") for n in lanes[lane])
    assert not any(n.startswith(path + "::") for other, ids in lanes.items() if other != lane for n in ids)


def test_an_unknown_lane_is_refused():
    rc, dummy, out = collect("--lane", "fast")
    assert rc == 4 and "invalid choice: 'fast'" in out, out[-2000:]
