"""The bad-input catalogue (catalogue.py, CATALOGUE.md) is complete and current."""

import importlib.util
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def catalogue():
    spec = importlib.util.spec_from_file_location("edge_rel_catalogue", HERE / "catalogue.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_at_least_40_cases_across_modules_and_roles(catalogue):
    rows = catalogue.collect()
    assert len(rows) >= 40, len(rows)
    files = set(r["file"] for r in rows)
    for expected in ("test_edgenode_preflight.py", "test_cloudcore_preflight.py", "test_kubeedge_token.py",
                     "test_daemonset_edge_affinity.py", "test_bootstrap_token.py", "test_module_bad_input.py"):
        assert any(f.endswith(expected) for f in files), expected


def test_every_case_expects_a_message(catalogue):
    for row in catalogue.collect():
        assert row["messages"], row
        assert all(isinstance(m, str) and m.strip() for m in row["messages"]), row


def test_every_table_runs_in_a_test(catalogue):
    for row in catalogue.table_cases():
        assert row["function"], "table %s in %s is used by no test function" % (row["table"], row["file"])


def test_case_ids_are_unique_per_file(catalogue):
    seen = set()
    for row in catalogue.collect():
        key = (row["file"], row["function"], row["id"])
        assert key not in seen, key
        seen.add(key)


def test_single_cases_exist_and_expect_their_messages(catalogue):
    assert catalogue.check_single() == []


def test_catalogue_md_is_current(catalogue):
    current = catalogue.CATALOGUE.read_text(encoding="utf-8")
    assert current == catalogue.render(), \
        "CATALOGUE.md is stale: run python tests/integration/reliability/catalogue.py --write"
