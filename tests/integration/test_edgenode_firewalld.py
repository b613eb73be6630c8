"""The edgenode role's firewall step on a real systemd host running Debian's
firewalld: edgenode_firewall=auto picks firewalld while it runs, opens SSH and
the edge ports permanently and at once, and a second run changes nothing."""

from pathlib import Path

import pytest

PLAYBOOK = Path(__file__).parent / "playbooks" / "edgenode_firewall.yml"
ENV = {"ANSIBLE_TRANSPORT": "community.docker.docker"}
PORTS = ["20006/tcp", "20007/udp"]


@pytest.fixture(scope="module")
def firewalld_host(systemd_host):
    # netbase: firewalld checks protocol names against /etc/protocols and exits without it
    # (the test image is a minimal debootstrap; every installed Debian system has it).
    systemd_host.sh("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                    "--no-install-recommends firewalld dbus netbase >/dev/null && systemctl start dbus firewalld && "
                    "for i in $(seq 30); do firewall-cmd --state >/dev/null 2>&1 && exit 0; sleep 1; done; "
                    "firewall-cmd --state")
    return systemd_host


def run(run_playbook, host, **extra):
    res = run_playbook(PLAYBOOK, inventory="%s," % host.name, extra_vars=dict(extra), env=ENV)
    assert res.rc == 0, res
    return res


def test_running_firewalld_gets_ssh_and_edge_ports_then_nothing_changes(run_playbook, firewalld_host):
    host = firewalld_host
    assert host.sh("firewall-cmd --list-ports").stdout.split() == []
    res = run(run_playbook, host, edgenode_firewall_ports=PORTS)
    assert "picked=firewalld" in res.stdout
    live = host.sh("firewall-cmd --list-ports").stdout.split()
    permanent = host.sh("firewall-cmd --permanent --list-ports").stdout.split()
    for ports in (live, permanent):
        assert sorted(ports) == sorted(["22/tcp"] + PORTS), ports
    again = run(run_playbook, host, edgenode_firewall_ports=PORTS)
    assert "changed=0" in again.stdout, again.stdout[-2000:]
    # still there after firewalld reloads its permanent configuration
    host.sh("firewall-cmd --reload")
    assert sorted(host.sh("firewall-cmd --list-ports").stdout.split()) == sorted(["22/tcp"] + PORTS)


def test_stopped_firewalld_is_not_picked(run_playbook, firewalld_host):
    firewalld_host.sh("systemctl stop firewalld")
    try:
        res = run(run_playbook, firewalld_host)
        assert "picked=none" in res.stdout
    finally:
        firewalld_host.sh("systemctl start firewalld")
