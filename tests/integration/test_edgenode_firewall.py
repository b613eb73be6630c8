"""The edgenode role's firewall step on a real systemd host with real ufw:
edgenode_firewall=auto picks ufw only while it is active and enabled, opens
SSH and the edge ports there, and a second run changes nothing."""

from pathlib import Path

import pytest

PLAYBOOK = Path(__file__).parent / "playbooks" / "edgenode_firewall.yml"
ENV = {"ANSIBLE_TRANSPORT": "community.docker.docker"}


@pytest.fixture(scope="module")
def ufw_host(systemd_host):
    systemd_host.sh("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                    "--no-install-recommends ufw >/dev/null")
    return systemd_host


def run(run_playbook, host, **extra):
    res = run_playbook(PLAYBOOK, inventory="%s," % host.name, extra_vars=dict(extra), env=ENV)
    assert res.rc == 0, res
    return res


def ufw_rules(host):
    return host.sh("ufw status").stdout


def test_installed_but_disabled_ufw_is_left_alone(run_playbook, ufw_host):
    ufw_host.sh("ufw --force disable >/dev/null; systemctl disable ufw >/dev/null 2>&1 || true")
    res = run(run_playbook, ufw_host)
    assert "picked=none" in res.stdout
    assert "inactive" in ufw_rules(ufw_host)


def test_active_ufw_gets_ssh_and_edge_ports_then_nothing_changes(run_playbook, ufw_host):
    ufw_host.sh("systemctl enable --now ufw >/dev/null 2>&1 && ufw --force enable >/dev/null")
    res = run(run_playbook, ufw_host, edgenode_firewall_ports=["20006/tcp", "20007/udp"])
    assert "picked=ufw" in res.stdout
    rules = ufw_rules(ufw_host)
    for rule in ("22/tcp", "20006/tcp", "20007/udp"):
        assert rule in rules, rules
    again = run(run_playbook, ufw_host, edgenode_firewall_ports=["20006/tcp", "20007/udp"])
    assert "changed=0" in again.stdout, again.stdout[-2000:]


def test_explicit_choice_reads_no_unit_state(run_playbook, ufw_host):
    res = run(run_playbook, ufw_host, edgenode_firewall="ufw")
    assert "picked=ufw" in res.stdout
    assert "Read the states of firewalld and ufw" in res.stdout
    assert "skipping: [%s]" % ufw_host.name in res.stdout.split("Read the states of firewalld and ufw", 1)[1].split("TASK", 1)[0]
