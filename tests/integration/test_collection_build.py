"""The built collection holds no test or lab files and installs offline."""

import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import yaml

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


def _collection_version(name):
    """The version of a collection the venv's `ansible` package ships (what make test runs)."""
    import ansible_collections
    for root in ansible_collections.__path__:
        manifest = Path(root) / name.replace(".", "/") / "MANIFEST.json"
        if manifest.exists():
            return json.loads(manifest.read_text(encoding="utf-8"))["collection_info"]["version"]
    return None


def test_dependencies_are_declared_with_the_floors_the_tests_run():
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text(encoding="utf-8"))
    deps = galaxy["dependencies"]
    used = set()
    for path in list((REPO / "roles").rglob("*.yml")) + list((REPO / "playbooks").rglob("*.yml")):
        used.update(m.group(1) for m in re.finditer(
            r"\b((?:community|kubernetes|ansible)\.[a-z_]+)\.[a-z_]+:", path.read_text(encoding="utf-8")))
    used.discard("ansible.builtin")
    assert used <= set(deps), "used but not in galaxy.yml dependencies: %s" % sorted(used - set(deps))
    ee = yaml.safe_load((REPO / "execution-environment.yml").read_text(encoding="utf-8"))
    ee_floors = dict((c["name"], c["version"]) for c in ee["dependencies"]["galaxy"]["collections"])
    for name, floor in deps.items():
        assert floor == ">=%s" % _collection_version(name), (name, floor, _collection_version(name))
        assert ee_floors.get(name) == floor, (name, ee_floors.get(name), floor)


def test_galaxy_importer_accepts_the_tarball(tmp_path):
    """The checks Galaxy runs on import (galaxy-importer, without its container-only ansible-test)."""
    out = tmp_path / "dist"
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(out)],
                   cwd=str(REPO), check=True, stdout=subprocess.PIPE)
    cfg = tmp_path / "galaxy-importer.cfg"
    cfg.write_text("[galaxy-importer]\nRUN_ANSIBLE_TEST = False\nRUN_ANSIBLE_LINT = True\nRUN_ANSIBLE_DOC = True\n"
                   "CHECK_REQUIRED_TAGS = False\n", encoding="utf-8")
    env = dict(os.environ, GALAXY_IMPORTER_CONFIG=str(cfg), PATH="%s:%s" % (BIN, os.environ.get("PATH", "")))
    proc = subprocess.run([sys.executable, "-m", "galaxy_importer.main", str(next(out.glob("*.tar.gz")))],
                          cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, check=False, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "Importer processing completed successfully" in proc.stdout
    problems = [ln for ln in proc.stdout.splitlines() if ln.startswith(("ERROR", "WARNING"))]
    assert problems == [], problems


def test_execution_environment_needs_are_introspected(tmp_path):
    """ansible-builder finds the collection's Python and system needs (meta/execution-environment.yml)."""
    out = tmp_path / "dist"
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(out)],
                   cwd=str(REPO), check=True, stdout=subprocess.PIPE)
    dest = tmp_path / "collections"
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "--offline", "--no-deps", "--force", "-p", str(dest),
                    str(next(out.glob("*.tar.gz")))], check=True, stdout=subprocess.PIPE)
    proc = subprocess.run([str(BIN / "ansible-builder"), "introspect", str(dest)], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, check=False)
    assert proc.returncode == 0, proc.stdout
    assert "kubernetes>=24.2.0" in proc.stdout and "edge.cluster" in proc.stdout, proc.stdout
    assert "openssl" in proc.stdout, proc.stdout
