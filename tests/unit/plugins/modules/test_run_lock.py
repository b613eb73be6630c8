"""Unit tests for module run_lock: taking, refusing, taking over and releasing a host's run lock."""

import json
import os
import time

import pytest
from ansible.module_utils.testing import patch_module_args  # ansible-core 2.19 (requirements.txt)

from ansible_collections.edge.cluster.plugins.modules import run_lock as mod


def run(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            mod.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def lock(tmp_path):
    return str(tmp_path / "run" / "edgenode.lock")


def me(lock, **extra):
    args = dict(path=lock, controller="ctl-a", pid=100, live_pids=[100])
    args.update(extra)
    return args


def plant(lock, controller, pid, age=0):
    os.makedirs(os.path.dirname(lock), exist_ok=True)
    with open(lock, "w") as f:
        json.dump({"controller": controller, "pid": pid, "epoch": time.time() - age, "since": "then"}, f)


def test_take_hold_and_release(capsys, lock):
    first = run(capsys, **me(lock))
    assert first["acquired"] is True and first["changed"] is False and first["took_over"] == ""
    assert oct(os.stat(lock).st_mode & 0o777) == "0o600"
    assert json.load(open(lock))["pid"] == 100
    again = run(capsys, **me(lock))
    assert again["acquired"] is True  # re-entry of the same run
    released = run(capsys, **me(lock, state="absent"))
    assert released["acquired"] is True and not os.path.exists(lock)


def test_a_live_run_of_another_controller_is_reported_not_taken(capsys, lock):
    plant(lock, "ctl-b", 7, age=30)
    result = run(capsys, **me(lock))
    assert result["acquired"] is False
    assert result["holder"]["controller"] == "ctl-b" and result["holder"]["pid"] == 7
    assert 29 <= result["holder"]["age"] <= 40
    assert json.load(open(lock))["controller"] == "ctl-b"
    # releasing what another run holds leaves it
    assert run(capsys, **me(lock, state="absent"))["acquired"] is False and os.path.exists(lock)


@pytest.mark.parametrize("controller,pid,age,extra,reason", [
    ("ctl-a", 55, 10, {}, "dead-process"),            # this controller, that ansible-playbook is gone
    ("ctl-b", 7, 8000, {}, "too-old"),
    ("ctl-b", 7, 10, {"force": True}, "forced"),
])
def test_stale_locks_are_taken_over(capsys, lock, controller, pid, age, extra, reason):
    plant(lock, controller, pid, age=age)
    result = run(capsys, **me(lock, **extra))
    assert result["acquired"] is True and result["took_over"] == reason
    assert json.load(open(lock))["controller"] == "ctl-a"


def test_a_live_run_of_this_controller_is_respected(capsys, lock):
    plant(lock, "ctl-a", 55, age=10)
    assert run(capsys, **me(lock, live_pids=[100, 55]))["acquired"] is False


def test_check_mode_writes_nothing(capsys, lock):
    result = run(capsys, _ansible_check_mode=True, **me(lock))
    assert result["acquired"] is True and not os.path.exists(lock)
