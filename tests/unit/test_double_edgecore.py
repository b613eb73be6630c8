"""The edgecore double's configuration writer: like the real edgecore, once it has its
certificates it blanks the join token and writes the whole configuration back (sorted keys,
its own layout, comments gone, the file's mode kept), so the roles must compare
edgecore.yaml as data, never byte by byte."""

import importlib.util
import os
from pathlib import Path

import pytest

DOUBLE = Path(__file__).resolve().parents[1] / "double" / "edgecore.py"

CONFIG = """\
# written by hand: edgecore drops this comment
kind: EdgeCore
apiVersion: edgecore.config.kubeedge.io/v1alpha2
modules:
  edgeHub:
    token: "0123abcd.eyJhbGciOi"   # the join token
    httpServer: https://192.0.2.10:10002
    heartbeat: 15
  edged:
    nodeLabels: {}
    hostnameOverride: edge-1
    tailoredKubeletConfig:
      clusterDNS:
      - 169.254.96.16
      enforceNodeAllocatable: ['pods']
      cgroupDriver: cgroupfs
  metaManager:
    metaServer:
      enable: true
      server: "127.0.0.1:10550"
"""


@pytest.fixture(scope="module")
def edgecore():
    spec = importlib.util.spec_from_file_location("edgecore_double", DOUBLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cleanup_rewrites_the_whole_file_keeping_the_data_and_the_mode(edgecore, tmp_path):
    path = tmp_path / "edgecore.yaml"
    # flow sequences are beyond the double's reader: the hand-written file uses block ones
    path.write_text(CONFIG.replace("['pods']", "\n      - pods"))
    os.chmod(path, 0o600)
    before = edgecore.load_yaml(path.read_text())

    edgecore.cleanup_token(str(path))

    text = path.read_text()
    after = edgecore.load_yaml(text)
    assert after["modules"]["edgeHub"]["token"] == ""
    before["modules"]["edgeHub"]["token"] = ""
    assert after == before
    assert "#" not in text
    assert text.splitlines()[:2] == ["apiVersion: edgecore.config.kubeedge.io/v1alpha2", "kind: EdgeCore"]
    assert '    token: ""' in text.splitlines()
    assert "      clusterDNS:\n      - 169.254.96.16\n" in text
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_without_a_token_the_file_is_left_alone(edgecore, tmp_path):
    path = tmp_path / "edgecore.yaml"
    text = CONFIG.replace('"0123abcd.eyJhbGciOi"   # the join token', '""').replace("['pods']", "[]")
    path.write_text(text)
    edgecore.cleanup_token(str(path))
    assert path.read_text() == text


@pytest.mark.parametrize("value", ["", " padded", "true", "10", "1.5", "null", "a: b", "x #y", "-dash", "*star",
                                   "unix:///run/containerd/containerd.sock", "169.254.96.16", "plain"])
def test_every_scalar_reads_back_as_written(edgecore, value):
    data = {"k": value, "n": 3, "b": False, "none": None, "list": [value, 1, True]}
    assert edgecore.load_yaml("\n".join(edgecore.dump_yaml(data))) == data
