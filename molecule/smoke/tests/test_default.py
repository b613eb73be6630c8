"""Verify the smoke scenario against the real state of each systemd host."""

import pytest


def test_systemd_is_pid_1_and_running(host):
    assert host.process.get(pid=1).comm == "systemd"
    state = host.run("systemctl is-system-running").stdout.strip()
    assert state in ("running", "degraded"), state


def test_ip_forward_is_live(host):
    assert host.sysctl("net.ipv4.ip_forward") == 1


@pytest.mark.parametrize("path", ["/etc/sysctl.d/90-edge-smoke.conf"])
def test_ip_forward_is_persisted(host, path):
    conf = host.file(path)
    assert conf.exists
    assert "net.ipv4.ip_forward=1" in conf.content_string.replace(" ", "")
