"""AWX / Tower material: the execution environment definition builds a context
with ansible-builder, every job template points at a playbook of ours, and every
survey question is valid for AWX and sets a variable the collection reads."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
AWX = REPO / "awx"
SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}


def controller():
    return yaml.safe_load((AWX / "controller.yml").read_text(encoding="utf-8"))


def role_variables():
    names = set()
    for spec in (REPO / "roles").glob("*/meta/argument_specs.yml"):
        for entry in yaml.safe_load(spec.read_text(encoding="utf-8"))["argument_specs"].values():
            names.update(entry.get("options", {}))
    return names


def playbook_text():
    return "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "playbooks").rglob("*.yml"))


def test_job_templates_point_at_playbooks_and_surveys():
    templates = controller()["edge_cluster_awx_job_templates"]
    wanted = {"playbooks/site.yml", "playbooks/edge.yml", "playbooks/upgrade.yml", "playbooks/reset.yml"}
    assert {t["playbook"] for t in templates} >= wanted
    for tpl in templates:
        assert (REPO / tpl["playbook"]).is_file(), tpl["playbook"]
        assert (AWX / tpl["survey"]).is_file(), tpl["survey"]


@pytest.mark.parametrize("survey", sorted(p.name for p in (AWX / "surveys").glob("*.json")))
def test_survey_questions_are_valid_and_used(survey):
    spec = json.loads((AWX / "surveys" / survey).read_text(encoding="utf-8"))
    assert spec["name"] and spec["description"] and spec["spec"]
    known, plays = role_variables(), playbook_text()
    seen = set()
    for q in spec["spec"]:
        assert q["type"] in SURVEY_TYPES, q
        assert q["variable"] not in seen, "duplicate variable %s" % q["variable"]
        seen.add(q["variable"])
        assert q["question_name"]
        # The variable is a role argument or one the playbooks read.
        assert q["variable"] in known or q["variable"] in plays, "%s is read by nothing" % q["variable"]
        if q["type"] == "multiplechoice":
            assert q["default"] in q["choices"]
        if q["type"] == "integer" and "default" in q:
            assert q["min"] <= q["default"] <= q["max"]


# Per-job decisions a survey asks for on purpose: the version an upgrade job goes
# to, and whether a reset job also uninstalls CloudCore.
SURVEY_OVERRIDES = {("upgrade.json", "edge_cluster_upgrade_version"), ("reset.json", "reset_cloudcore_uninstall")}


def inventory_variables():
    names = set()
    for path in (REPO / "inventories" / "example").rglob("*.yml"):
        text = path.read_text(encoding="utf-8")
        names.update(m.group(1) for m in re.finditer(r"^#? ?([a-z][a-z0-9_]+):", text, re.M))
    return names


@pytest.mark.parametrize("survey", sorted(p.name for p in (AWX / "surveys").glob("*.json")))
def test_survey_answers_never_shadow_the_inventory(survey):
    """A survey answer is an extra variable, which beats every inventory value: surveys set
    edge_cluster_survey_* (read through the survey_or filter) or a per-job decision, never a
    site setting the inventory or a role owns."""
    spec = json.loads((AWX / "surveys" / survey).read_text(encoding="utf-8"))
    site_settings = role_variables() | inventory_variables()
    for q in spec["spec"]:
        if (survey, q["variable"]) in SURVEY_OVERRIDES:
            continue
        assert q["variable"] not in site_settings, "%s: %s would override the inventory" % (survey, q["variable"])
        if q["variable"].startswith("edge_cluster_survey_"):
            assert "survey_or" in playbook_text().split(q["variable"], 1)[1][:80], q["variable"]


def test_configure_playbook_syntax():
    proc = subprocess.run([str(BIN / "ansible-playbook"), "--syntax-check", str(AWX / "configure.yml")],
                          cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    assert proc.returncode == 0, proc.stdout


def test_execution_environment_context(tmp_path):
    """`ansible-builder create` on the real definition and a freshly built collection."""
    builder = shutil.which("ansible-builder", path=str(BIN)) or shutil.which("ansible-builder")
    assert builder, "ansible-builder missing from the venv (requirements.txt)"
    work = tmp_path / "ee"
    (work / "awx").mkdir(parents=True)
    shutil.copy(REPO / "execution-environment.yml", work)
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path / "dist")],
                   cwd=str(REPO), check=True, stdout=subprocess.PIPE)
    shutil.copy(next((tmp_path / "dist").glob("edge-cluster-*.tar.gz")), work / "awx" / "edge-cluster.tar.gz")
    proc = subprocess.run([builder, "create", "-f", "execution-environment.yml", "-c", "context",
                           "--output-filename", "Containerfile"], cwd=str(work),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    assert proc.returncode == 0, proc.stdout
    context = work / "context"
    containerfile = (context / "Containerfile").read_text(encoding="utf-8")
    assert "ansible-galaxy collection install --offline /tmp/edge-cluster.tar.gz" in containerfile
    assert (context / "_build" / "collections" / "edge-cluster.tar.gz").is_file()
    python_reqs = (context / "_build" / "requirements.txt").read_text(encoding="utf-8")
    assert "kubernetes==37.0.2" in python_reqs
    galaxy = yaml.safe_load((context / "_build" / "requirements.yml").read_text(encoding="utf-8"))
    assert {c["name"] for c in galaxy["collections"]} >= {"kubernetes.core", "ansible.posix", "community.general"}
