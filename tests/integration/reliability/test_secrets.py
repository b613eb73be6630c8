"""Secrets: the join token and the kubeconfig's credentials never show up in
the output of a -vvv run of playbooks/edge.yml, in the edge host's journal or
in files the run leaves on the controller; files holding them on the host are
0600; a download whose sha256 does not match installs nothing.

One fresh systemd host: the checksum cases run first (they must leave it
clean), then the real join at -vvv.
"""

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from kubernetes import client

pytestmark = pytest.mark.lane("edge")

# Not the sha256 of any release archive.
WRONG_SHA256 = "sha256:5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e"
# What a bad checksum must never leave on the host.
INSTALLED = ["/usr/local/bin/keadm", "/usr/local/bin/edgecore", "/etc/kubeedge", "/etc/systemd/system/edgecore.service"]
STAGING = "/var/cache/edge-cluster-keadm"
# Only the download under test: nothing else of the role may change the host.
QUIET = {"edgenode_manage_runtime": False, "edgenode_manage_nsswitch": False, "edgenode_ip_forward": False,
         "edgenode_image_archives": []}

CASES = [
    ("keadm-url-wrong-sha256", {"edgenode_keadm_install_method": "url", "edgenode_keadm_checksum": WRONG_SHA256},
     ["keadm-v1.13.1-linux-amd64.tar.gz", "did not match",
      "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e"]),
    ("kubeedge-url-wrong-sha256", {"edgenode_install_method": "binary", "edgenode_kubeedge_archive_method": "url",
                                   "edgenode_kubeedge_archive_checksum": WRONG_SHA256},
     ["kubeedge-v1.13.1-linux-amd64.tar.gz", "did not match",
      "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e"]),
]


@pytest.fixture(scope="module")
def host(edge_hosts):
    return edge_hosts.start(1)[0]


def hits(text, needles):
    return [n[:12] + "..." for n in needles if n and n in text]


@pytest.mark.parametrize("case,override,needles", [pytest.param(*c, id=c[0]) for c in CASES])
def test_wrong_sha256_installs_nothing(rel, edge_lab, host, tmp_path, case, override, needles):
    inv = rel.write_inventory(tmp_path / "inv.yml", [host], edge_lab.edge_vars(
        edgenode_release_base_url=edge_lab.art_url, **dict(QUIET, **override)))
    host.mark()
    res = rel.play(inv, extra_vars={"edgenode_kubeconfig": edge_lab.kubeconfig})
    assert res.rc != 0, res
    for needle in needles:
        assert needle in res.output, (case, needle, res)
    for path in INSTALLED:
        assert host.sh("test -e %s" % path, check=False).returncode != 0, (case, path)
    files = host.sh("find %s -type f 2>/dev/null || true" % STAGING).stdout.split()
    assert files == [], (case, files)
    assert host.changed_since_marker() == [], case


def test_verbose_join_leaks_no_secret(rel, edge_lab, host, api_client, tmp_path, secret_needles):
    core = client.CoreV1Api(api_client)
    secrets_before = (secret_needles.token_needles(secret_needles.token_of(core))
                      + secret_needles.kubeconfig_needles(edge_lab.admin_kubeconfig))
    private_tmp = Path(os.environ.get("TMPDIR", "/tmp")) / ("edge-rel-secrets-%s" % os.urandom(3).hex())
    private_tmp.mkdir(mode=0o700)
    marker = private_tmp / ".marker"
    marker.write_text("", encoding="utf-8")
    time.sleep(1)
    inv = rel.write_inventory(tmp_path / "inv.yml", [host], edge_lab.edge_vars())
    res = rel.play(inv, extra_vars={"edgenode_kubeconfig": edge_lab.kubeconfig}, verbosity=3,
                   env={"TMPDIR": str(private_tmp), "ANSIBLE_LOCAL_TEMP": str(private_tmp / "ansible-local"),
                        "ANSIBLE_KEEP_REMOTE_FILES": "0"})
    assert res.rc == 0, res
    assert "<ESTABLISH DOCKER CONNECTION" in res.output or "ESTABLISH" in res.output, "not a -vvv run"
    # the token may have been refreshed while we ran: look for both
    secrets = secrets_before + secret_needles.token_needles(secret_needles.token_of(core))

    assert hits(res.output, secrets) == [], "the -vvv output carries a secret"
    journal = host.sh("journalctl --no-pager -o cat 2>/dev/null || true").stdout
    assert "keadm" in journal or "edgecore" in journal, "the journal of the run is empty"
    assert hits(journal, secrets) == [], "the host's journal carries a secret"

    # Files the run wrote on the controller: its own TMPDIR and ANSIBLE_LOCAL_TEMP (private_tmp),
    # and ansible's ~/.ansible/tmp and ~/.ansible/cp, since the start.
    roots = [str(private_tmp)] + [str(p) for p in (Path.home() / ".ansible" / "tmp", Path.home() / ".ansible" / "cp")
                                  if p.exists()]
    found = subprocess.run(["find"] + roots + ["-xdev", "-type", "f", "-newer", str(marker), "-size", "-20M"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=False).stdout.split()
    assert any("ansible-local" in f for f in found) or (private_tmp / "ansible-local").is_dir(), \
        "the run wrote nothing where it was told to: the scan would prove nothing"
    leaked = []
    for path in found:
        try:
            text = Path(path).read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
        if hits(text, secrets):
            leaked.append(path)
    assert leaked == [], "controller files with a secret: %s" % leaked

    # On the host: every file that holds the token or a private key is owner-only.
    signature = secret_needles.token_needles(secret_needles.token_of(core))[2]
    holders = host.sh("grep -rlsF '%s' /etc /var/lib/kubeedge /root /tmp /var/tmp /var/log 2>/dev/null || true"
                      % signature).stdout.split()
    keys = host.sh("find /etc/kubeedge /var/lib/kubeedge -name '*.key' 2>/dev/null || true").stdout.split()
    sensitive = sorted(set(holders + keys + ["/etc/kubeedge/config/edgecore.yaml"]))
    for path in sensitive:
        mode = host.sh("stat -c %%a %s" % path).stdout.strip()
        assert mode == "600", "%s is %s" % (path, mode)
    assert host.sh("test -e /etc/kubeedge/bootstrap-edgecore.conf", check=False).returncode != 0, \
        "the bootstrap file with the token is left behind"


def test_a_join_that_fails_after_writing_the_token_leaks_nothing(rel, edge_lab, edge_hosts, api_client, tmp_path,
                                                                 secret_needles):
    """keadm writes edgecore.yaml (with the token) and then fails to start edgecore (here: the
    `sudo systemctl ... edgecore` keadm starts it with fails; ansible's own sudo still works): at -vvv,
    neither the failure, the rescue nor the summary carries the token, and the file keadm left is
    owner-only."""
    fresh = edge_hosts.start(1)[0]
    fresh.sh("mv /usr/bin/sudo /usr/bin/sudo.hidden && printf '#!/bin/sh\ncase \"$*\" in *systemctl*edgecore*) "
             "echo \"Failed to start edgecore.service: injected\" >&2; exit 1;; esac\n"
             "exec /usr/bin/sudo.hidden \"$@\"\n' > /usr/bin/sudo && chmod 755 /usr/bin/sudo")
    try:
        core = client.CoreV1Api(api_client)
        inv = rel.write_inventory(tmp_path / "inv-fail.yml", [fresh], edge_lab.edge_vars(edgenode_verify=False))
        res = rel.play(inv, extra_vars={"edgenode_kubeconfig": edge_lab.kubeconfig}, verbosity=3)
        assert res.rc != 0, res
        assert "keadm join failed on %s" % fresh.name in res.output, res.output[-3000:]
        assert "Edge nodes that did not join: %s" % fresh.name in res.output
        # The token keadm wrote is the one to look for: CloudCores of the other lanes share namespace
        # kubeedge, and one restarted meanwhile writes a new token into it.
        written = fresh.sh("sed -n 's/^ *token: *//p' /etc/kubeedge/config/edgecore.yaml").stdout.strip().strip('"')
        assert re.match(r"^[0-9a-f]{64}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$", written), \
            "keadm did not get as far as writing the token"
        assert hits(res.output, secret_needles.token_needles(written)) == [], "the failed run printed the token"
        current = secret_needles.token_of(core)
        assert hits(res.output, secret_needles.token_needles(current)) == [], "the failed run printed the token"
        assert fresh.sh("stat -c %a /etc/kubeedge/config/edgecore.yaml").stdout.strip() == "600"
    finally:
        fresh.sh("mv -f /usr/bin/sudo.hidden /usr/bin/sudo", check=False)
