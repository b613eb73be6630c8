"""The KubeEdge test doubles against reference facts recorded by hand from the
real binaries (tests/double/reference/<version>.json: command lists, flag
names, shorthands, types and defaults, exit codes; no upstream text). Runs in
every `make test`, no real binary needed. Every KubeEdge minor the edgenode
role supports must have a recorded version: a minor without one fails here."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOUBLE = REPO / "tests" / "double"
REFERENCE = DOUBLE / "reference"
RECORDED = sorted(p.stem for p in REFERENCE.glob("v*.json"))


def reference(version):
    return json.loads((REFERENCE / ("%s.json" % version)).read_text(encoding="utf-8"))


def double(name, version, tmp_path):
    path = tmp_path / ("%s-%s.py" % (name, version))
    path.write_text((DOUBLE / ("%s.py" % name)).read_text(encoding="utf-8").replace("@KUBEEDGE_VERSION@", version),
                    encoding="utf-8")
    spec = importlib.util.spec_from_file_location("double_%s_%s" % (name, version.replace(".", "_")), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, path


def as_reference(table):
    """The double's {name: (shorthand, kind, default)} in the reference's form (cobra prints no zero default)."""
    out = {}
    for name, (short, kind, default) in table.items():
        entry = {"type": kind}
        if short:
            entry["shorthand"] = short
        if default not in ("", None, False, []):
            entry["default"] = "true" if default is True else str(default)
        out[name] = entry
    return out


def minor_of(version):
    return ".".join(version.lstrip("v").split(".")[:2])


def test_every_supported_minor_has_reference_data():
    """Each KubeEdge minor the edgenode role supports has a recorded version."""
    import yaml
    supported = yaml.safe_load((REPO / "roles" / "edgenode" / "vars" / "main.yml").read_text(
        encoding="utf-8"))["edgenode_supported_versions"]
    covered = {minor_of(v) for v in RECORDED}
    assert sorted(set(supported) - covered) == [], "supported minors without reference data"


@pytest.mark.parametrize("version", RECORDED)
@pytest.mark.parametrize("command,table", [("join", "join_flags"), ("reset", "reset_flags"), ("init", "init_flags")])
def test_keadm_flag_tables_match_the_real_keadm(version, command, table, tmp_path):
    keadm, dummy = double("keadm", version, tmp_path)
    minor = int(version.split(".")[1])
    ref = reference(version)["keadm"]["subcommands"][command]
    real = {k: {f: v for f, v in e.items() if f != "deprecated"} for k, e in ref["flags"].items()}
    ours = as_reference(getattr(keadm, table)(minor))
    # Deprecated flags the real keadm hides from --help but still accepts (recorded by probing).
    hidden = set(keadm.deprecated_flags(minor)) - set(real)
    if "hidden_flags" in ref:
        assert hidden & set(ours) == set(ref["hidden_flags"]) & set(ours), (hidden, ref["hidden_flags"])
        assert set(ref["hidden_flags"]) <= set(ours), "hidden flags the double refuses: %s" % ref["hidden_flags"]
    assert {k: v for k, v in ours.items() if k not in hidden} == real


@pytest.mark.parametrize("version", RECORDED)
def test_keadm_commands_and_exit_codes(version, tmp_path):
    ref = reference(version)["keadm"]
    dummy, path = double("keadm", version, tmp_path)
    for command in ("join", "reset", "init", "gettoken", "version", "upgrade"):
        assert command in ref["commands"], command
    res = subprocess.run([sys.executable, str(path), "join", "--bogus-flag"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, check=False, timeout=60)
    assert res.returncode == ref["unknown_flag_exit_code"]
    res = subprocess.run([sys.executable, str(path), "version"], stdout=subprocess.PIPE, text=True, check=False,
                         timeout=60)
    assert ('GitVersion:"%s"' % version in res.stdout) is ref["version_output_has_gitversion"]


@pytest.mark.parametrize("version", RECORDED)
def test_edgecore_flags_exist_in_the_real_one_and_version_behaves_alike(version, tmp_path):
    ref = reference(version)["edgecore"]
    dummy, path = double("edgecore", version, tmp_path)

    def edgecore(*args):
        return subprocess.run([sys.executable, str(path)] + list(args), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, check=False, timeout=60)

    for flag in ("config", "minconfig", "defaultconfig"):
        assert flag in ref["flags"], flag
    assert edgecore("--bogus-flag").returncode == ref["unknown_flag_exit_code"]
    missing = str(tmp_path / "missing.yaml")
    res = edgecore("--version", "--config", missing)
    if ref["version_flag"]["accepted"] and not ref["version_flag"]["prints_version"]:
        assert res.stdout == "" and res.returncode == ref["missing_config_exit_code"], res
    res = edgecore("--config", missing)
    assert res.returncode == ref["missing_config_exit_code"] and "not exist" in res.stderr


@pytest.mark.parametrize("version", RECORDED)
def test_the_node_reports_the_real_kubelet_version(version, tmp_path):
    """The cloudcore double writes the Node status an edgecore of `version` would post."""
    ref = reference(version)["edgecore"]
    assert "node_kubelet_version" in ref, "read it off a Node the real edgecore %s registered" % version
    cloudcore, dummy = double("cloudcore", version, tmp_path)
    assert cloudcore.kubelet_version(version) == ref["node_kubelet_version"]


def _parse_help():
    spec = importlib.util.spec_from_file_location("edge_reference_record", REFERENCE / "record.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.parse_help


# The keadm commands the double models (tests/double/README.md lists what it does not).
MODELLED = ("join", "reset", "reset edge", "reset cloud", "init", "gettoken", "upgrade", "upgrade edge",
            "upgrade cloud", "version")


@pytest.mark.parametrize("version", RECORDED)
def test_every_modelled_keadm_command_has_the_real_flags(version, tmp_path):
    """The double's `--help` of each command it models, read with the recorder's parser, lists
    exactly the flags of the real one: names, types, shorthands and defaults."""
    parse_help = _parse_help()
    ref = reference(version)["keadm"]
    dummy, path = double("keadm", version, tmp_path)
    top_help = subprocess.run([sys.executable, str(path), "--help"], stdout=subprocess.PIPE, text=True, check=True,
                              timeout=60).stdout
    top = parse_help(top_help)[0]
    assert set(top) <= set(ref["commands"]), "commands the real keadm %s lacks: %s" % (
        version, sorted(set(top) - set(ref["commands"])))
    compared = []
    for command in MODELLED:
        if command not in ref["subcommands"]:
            continue
        out = subprocess.run([sys.executable, str(path)] + command.split() + ["--help"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, check=False, timeout=60).stdout
        commands, flags = parse_help(out)
        want = {k: {f: v for f, v in e.items() if f != "deprecated"}
                for k, e in ref["subcommands"][command]["flags"].items()}
        assert flags == want, (command, out)
        assert commands == ref["subcommands"][command].get("commands", []), (command, out)
        compared.append(command)
    assert {"join", "reset", "init", "gettoken", "version"} <= set(compared), compared
