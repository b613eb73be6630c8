"""The built collection holds no test or lab files and installs offline."""

import os
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_build_and_offline_install(tmp_path):
    out = tmp_path / "dist"
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(out)],
                   cwd=str(REPO), check=True, stdout=subprocess.PIPE)
    tarball = next(out.glob("edge-cluster-*.tar.gz"))
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert "galaxy.yml" not in names and "MANIFEST.json" in names
    forbidden = ("tests", "molecule", ".ci", ".config", "Makefile", "inventories/lab", "requirements.txt", "build")
    leaked = [n for n in names if n.split("/")[0] in forbidden or n.startswith("inventories/lab")]
    assert leaked == []
    assert "plugins/modules/kubeedge_token.py" in names
    assert "roles/edgenode/meta/argument_specs.yml" in names

    # A clean environment: no sys.path collections, no network (--offline).
    home = tmp_path / "home"
    home.mkdir()
    dest = tmp_path / "collections"
    env = {"PATH": "%s:/usr/bin:/bin" % BIN, "HOME": str(home), "ANSIBLE_COLLECTIONS_PATH": str(dest)}
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", str(tarball), "--offline"],
                   env=env, check=True, stdout=subprocess.PIPE)
    assert (dest / "ansible_collections" / "edge" / "cluster" / "MANIFEST.json").exists()
    doc = subprocess.run([str(BIN / "ansible-doc"), "edge.cluster.kubeedge_token"], env=env, check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    assert str(dest) in doc
    assert not any((dest / "ansible_collections" / "edge" / "cluster" / d).exists() for d in ("tests", "molecule"))
    assert os.path.getsize(tarball) < 5 * 1024 * 1024
