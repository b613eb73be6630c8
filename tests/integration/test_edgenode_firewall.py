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


def test_reset_closes_the_ports_the_inventory_gave_edgenode(run_playbook, ufw_host):
    """reset reads edgenode_firewall_ports: a port the inventory added is closed too, SSH stays."""
    ports = ["20006/tcp", "20007/udp"]
    run(run_playbook, ufw_host, edgenode_firewall_ports=ports)
    assert "20007/udp" in ufw_rules(ufw_host)
    # the firewall reset's own detection would pick (tested with the whole role in Molecule reset)
    res = run_playbook(Path(__file__).parent / "playbooks" / "reset_firewall.yml", inventory="%s," % ufw_host.name,
                       extra_vars={"edgenode_firewall_ports": ports, "reset_active_firewall": "ufw"}, env=ENV)
    assert res.rc == 0, res
    rules = ufw_rules(ufw_host)
    assert "20006/tcp" not in rules and "20007/udp" not in rules, rules
    assert "22/tcp" in rules, rules
