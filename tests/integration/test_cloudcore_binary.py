"""The cloudcore role's binary method on a real systemd host against the real
kube-apiserver: install, idempotence, a version change refused and then done
with cloudcore_reinit, and the firewall (ufw) opening CloudCore's ports."""

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS_SH = REPO / "molecule" / "cloudcore" / "artifacts.sh"
PLAYBOOK = Path(__file__).parent / "playbooks" / "cloudcore.yml"


@pytest.fixture(scope="module")
def cloud_host(systemd_host, kubeconfig):
    systemd_host.sh("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                    "--no-install-recommends python3-kubernetes python3-yaml python3-cryptography ufw >/dev/null")
    systemd_host.sh("mkdir -p /root/.kube && chmod 700 /root/.kube")
    subprocess.run(["docker", "cp", kubeconfig, "%s:/root/.kube/config" % systemd_host.name], check=True)
    return systemd_host


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    root = tmp_path_factory.mktemp("cloudcore-artifacts")
    subprocess.run([str(ARTIFACTS_SH), str(root), str(REPO / "tests" / "double"), "v1.13.1 v1.17.5"], check=True)
    return root


@pytest.fixture
def playbook():
    return PLAYBOOK


def converge(run_playbook, playbook, host, artifacts, version="v1.13.1", **extra):
    ev = dict(cloudcore_method="binary", cloudcore_kubeedge_version=version, cloudcore_install_method="artifacts",
              cloudcore_artifacts_dir=str(artifacts / version), cloudcore_wait_timeout=60, **extra)
    return run_playbook(playbook, inventory="%s," % host.name, extra_vars=ev,
                        env={"ANSIBLE_TRANSPORT": "community.docker.docker"})


def failures(res):
    return "\n".join(line[:1500] for line in res.stdout.splitlines() if "fatal:" in line or '"msg"' in line)


def changed(res, host):
    recap = [line for line in res.stdout.splitlines() if line.startswith(host.name) and "changed=" in line][-1]
    return int(re.search(r"changed=(\d+)", recap).group(1))


def main_pid(host):
    return host.sh("systemctl show -p MainPID --value cloudcore").stdout.strip()


def test_install_with_ufw_active_then_idempotent(run_playbook, playbook, cloud_host, artifacts):
    host = cloud_host
    host.sh("ufw allow 22/tcp >/dev/null && ufw --force enable >/dev/null")
    res = converge(run_playbook, playbook, host, artifacts)
    assert res.rc == 0, failures(res)
    assert changed(res, host) > 0
    assert host.sh("systemctl is-active cloudcore && systemctl is-enabled cloudcore").returncode == 0
    status = host.sh("ufw status").stdout
    for rule in ("22/tcp", "10000/tcp", "10001/tcp", "10002/tcp", "10003/tcp", "10004/tcp"):
        assert re.search(r"^%s\s+ALLOW" % re.escape(rule), status, re.M), status
    assert "10001/udp" not in status  # QUIC is off
    again = converge(run_playbook, playbook, host, artifacts)
    assert again.rc == 0, again
    assert changed(again, host) == 0, again


def test_other_version_refused_then_reinit(run_playbook, playbook, cloud_host, artifacts):
    host = cloud_host
    pid = main_pid(host)
    host.mark()
    refused = converge(run_playbook, playbook, host, artifacts, version="v1.17.5")
    assert refused.rc != 0
    assert "runs the binary CloudCore v1.13.1, the request is v1.17.5" in refused.stdout
    assert "cloudcore_reinit=true" in refused.stdout
    assert host.changed_since_marker() == []
    assert main_pid(host) == pid

    done = converge(run_playbook, playbook, host, artifacts, version="v1.17.5", cloudcore_reinit=True)
    assert done.rc == 0, done
    assert host.sh("cat /etc/kubeedge/config/.edge-cluster-cloudcore-version").stdout.strip() == "v1.17.5"
    assert '"v1.17.5"' in host.sh("grep CLOUDCORE_DOUBLE_VERSION /usr/local/bin/cloudcore").stdout
    assert main_pid(host) != pid  # restarted with the new binary
    again = converge(run_playbook, playbook, host, artifacts, version="v1.17.5", cloudcore_reinit=True)
    assert again.rc == 0 and changed(again, host) == 0, again
