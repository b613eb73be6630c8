"""Each role's argument specs and its defaults/main.yml agree: every default a
role sets is declared in its main entry point, and a literal default is the
value the spec documents (templated ones are described in words instead)."""

from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[3] / "roles"


def role_names():
    return sorted(p.parent.parent.name for p in ROLES.glob("*/meta/argument_specs.yml"))


def load(path):
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


@pytest.mark.parametrize("role", role_names())
def test_defaults_and_specs_agree(role):
    defaults = load(ROLES / role / "defaults" / "main.yml")
    specs = load(ROLES / role / "meta" / "argument_specs.yml")["argument_specs"]
    # A role's entry points (main, edge, cloud, fetch, ...) each declare what they read.
    options = {}
    for spec in specs.values():
        for name, opt in (spec.get("options") or {}).items():
            options.setdefault(name, opt)
    undeclared = sorted(set(defaults) - set(options))
    assert undeclared == [], "%s: defaults without an argument spec: %s" % (role, undeclared)
    wrong = {}
    for name, value in defaults.items():
        spec = options[name]
        if isinstance(value, str) and "{{" in value:
            continue  # computed: the spec says in words what it resolves to
        if "default" not in spec and spec.get("required") and value in ("", None):
            continue  # required: the empty default only makes the preflight's message possible
        if "default" not in spec:
            wrong[name] = ("<no default in the spec>", value)
        elif spec["default"] != value and not (value in ("", None) and spec["default"] in ("", None)):
            wrong[name] = (spec["default"], value)
    assert wrong == {}, "%s: spec default vs defaults/main.yml: %s" % (role, wrong)
    # Every entry point documents the same default for a variable.
    for entry, spec in specs.items():
        for name, opt in (spec.get("options") or {}).items():
            literal = not (isinstance(opt.get("default"), str) and "{{" in opt["default"])
            if literal and "default" in opt and "default" in options[name]:
                assert opt["default"] == options[name]["default"], (role, entry, name)


# reset removes what edgenode wrote: each reset value follows edgenode's (inventory value
# first, then a fallback that must be edgenode's default) or equals its role variable.
RESET_FOLLOWS_EDGENODE = {"reset_firewall_ports": "edgenode_firewall_ports",
                          "reset_sysctl_file": "edgenode_sysctl_file"}
RESET_EQUALS_EDGENODE_VARS = {"reset_cni_conflist": "edgenode_cni_conflist", "reset_cni_bridge": "edgenode_cni_bridge"}


@pytest.mark.parametrize("reset_name,edgenode_name", sorted(RESET_FOLLOWS_EDGENODE.items()))
def test_reset_follows_the_edgenode_setting(reset_name, edgenode_name):
    value = load(ROLES / "reset" / "defaults" / "main.yml")[reset_name]
    fallback = load(ROLES / "edgenode" / "defaults" / "main.yml")[edgenode_name]
    # "{{ edgenode_x | default(<fallback>) }}": the fallback, read as YAML, is edgenode's default
    assert value.startswith("{{ %s | default(" % edgenode_name) and value.endswith(") }}"), value
    inner = value[len("{{ %s | default(" % edgenode_name):-len(") }}")]
    assert yaml.safe_load(inner) == fallback, (reset_name, inner, fallback)


@pytest.mark.parametrize("reset_name,edgenode_name", sorted(RESET_EQUALS_EDGENODE_VARS.items()))
def test_reset_removes_the_path_edgenode_writes(reset_name, edgenode_name):
    assert load(ROLES / "reset" / "defaults" / "main.yml")[reset_name] == \
        load(ROLES / "edgenode" / "vars" / "main.yml")[edgenode_name]
