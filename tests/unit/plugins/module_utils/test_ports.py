"""module_utils/ports.py: ss -Htlnp output."""

from ansible_collections.edge.cluster.plugins.module_utils import ports

SS = """\
LISTEN 0      4096         0.0.0.0:10000      0.0.0.0:*    users:(("cloudcore",pid=1687,fd=9))
LISTEN 0      4096            [::]:10000         [::]:*    users:(("cloudcore",pid=1687,fd=10))
LISTEN 0      128          0.0.0.0:22         0.0.0.0:*    users:(("sshd",pid=88,fd=3))
LISTEN 0      4096   172.29.213.10:10002      0.0.0.0:*    users:(("nginx",pid=501,fd=6),("nginx",pid=502,fd=6))
LISTEN 0      4096       127.0.0.1:10003      0.0.0.0:*
garbage
"""


def test_listeners():
    got = ports.listeners(SS)
    assert got[0] == {"port": 10000, "process": "cloudcore", "pid": 1687}
    assert {"port": 10002, "process": "nginx", "pid": 501} in got
    assert {"port": 10003, "process": "?", "pid": 0} in got
    assert len(got) == 5
    assert ports.listeners("") == [] and ports.listeners(None) == []


def test_held_by_others_by_pid_and_by_name():
    wanted = [10000, 10001, 10002, 10003, 10004]
    assert ports.held_by_others(SS, wanted) == ["10000 (cloudcore pid 1687)", "10002 (nginx pid 501)",
                                                "10003 (? pid 0)"]
    assert ports.held_by_others(SS, wanted, own_pids=[1687]) == ["10002 (nginx pid 501)", "10003 (? pid 0)"]
    rest = ["10002 (nginx pid 501)", "10003 (? pid 0)"]
    assert ports.held_by_others(SS, wanted, own_pids=["1687", "", "0"]) == rest
    assert ports.held_by_others(SS, wanted, own_process="cloudcore") == ["10002 (nginx pid 501)", "10003 (? pid 0)"]
    assert ports.held_by_others(SS, [22]) == ["22 (sshd pid 88)"]
    assert ports.held_by_others(SS, []) == []
