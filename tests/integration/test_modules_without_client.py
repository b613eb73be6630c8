"""Every module of the collection on a Python without the kubernetes client (a
bare virtualenv as the host's interpreter): it fails before it connects, says
which library is missing and how to install it, and kubeedge_cloud_info sets
missing_python_client so a playbook can install it and call again."""

import json
import os
import subprocess
import sys

import pytest

MODULES = {
    "edge.cluster.kubeedge_token": {},
    "edge.cluster.kubeedge_cloud_info": {},
    "edge.cluster.bootstrap_token": {"purpose": "t-no-client"},
    "edge.cluster.daemonset_edge_affinity": {"discover": True, "namespace": "default"},
}


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory):
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    probe = subprocess.run([str(python), "-c", "import kubernetes"], stderr=subprocess.PIPE, check=False)
    assert probe.returncode != 0, "the bare virtualenv must not see the kubernetes client"
    return str(python)


def run_with(python, module, args):
    """The module on localhost run by `python` (the implicit localhost would use the controller's)."""
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(["ansible", "all", "-i", "localhost,", "-c", "local", "-m", module, "-a", json.dumps(args),
                           "-e", "ansible_python_interpreter=%s" % python],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, check=False)
    return proc.returncode, json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_missing_client_is_named_before_anything_else(kubeconfig, bare_python, module):
    rc, result = run_with(bare_python, module, dict(MODULES[module], kubeconfig=kubeconfig))
    assert rc != 0, result
    msg = result["msg"]
    assert "Failed to import the required Python library (kubernetes)" in msg, msg
    assert "changed" not in result or result["changed"] is False
    if module == "edge.cluster.kubeedge_cloud_info":
        assert result["missing_python_client"] is True and result["stage"] == "connect", result
        assert "python3-kubernetes" in msg
