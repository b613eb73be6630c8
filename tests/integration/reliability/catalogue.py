"""The catalogue of bad-input cases of the whole repository.

    python tests/integration/reliability/catalogue.py           print it (Markdown)
    python tests/integration/reliability/catalogue.py --write   rewrite CATALOGUE.md beside this file
    python tests/integration/reliability/catalogue.py --check   exit 1 when CATALOGUE.md is stale

Cases are found by reading the test files (ast, nothing is imported or run):

* tables: a list of tuples assigned to ``CASES``, ``<NAME>_CASES`` or
  ``BAD_<NAME>`` at module level, or to ``cases`` inside a test function, in
  tests/integration/**/test_*.py. A tuple is ``(id, bad value..., expected)``:
  the id is its first element when that is a string (else ``<function>[i]``),
  the expected message fragments are the last element that is a list of
  strings (or else the last string), the bad value is what lies between, and
  a string after the fragments is the reason of a known defect (xfail).
* single-case tests without a table: listed in SINGLE below; the check
  verifies the function exists and that each fragment is in its source.

test_catalogue.py asserts that there are at least 40 cases, that every case
expects a non-empty message and that CATALOGUE.md is current.
"""

import ast
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
ROOT = REPO / "tests" / "integration"
CATALOGUE = HERE / "CATALOGUE.md"
TABLE_NAMES = ("CASES",)
TABLE_SUFFIX = "_CASES"
TABLE_PREFIX = "BAD_"

# (test file relative to the repository, test function, bad value, expected message fragments)
SINGLE = [
    ("tests/integration/test_edgenode_preflight.py", "test_leftovers_of_an_earlier_join_are_refused",
     "/etc/kubeedge/config/edgecore.yaml of another join on the host",
     ["leftovers of an earlier KubeEdge join", "edgenode_join_force=true"]),
    ("tests/integration/test_edgenode_preflight.py", "test_wrong_artifact_checksum_installs_nothing",
     "keadm archive whose checksum file says 000...0",
     ["does not match its checksum ", "nothing was installed"]),
    ("tests/integration/test_edgenode_preflight.py", "test_url_method_without_checksum_is_refused",
     "edgenode_keadm_install_method=url without edgenode_keadm_checksum",
     ["keadm_checksum", "nothing is installed unchecked"]),
    ("tests/integration/test_cloudcore_preflight.py", "test_port_taken_by_another_program",
     "port 10002 held by another program (python3 http.server)",
     ["Port(s) 10002 (python3 pid", "in use by another program"]),
    ("tests/integration/test_kubeedge_token.py", "test_missing_secret_without_wait",
     "namespace without tokensecret, wait: false", ["is CloudCore running in namespace %s?", "tokensecret"]),
    ("tests/integration/test_kubeedge_token.py", "test_missing_secret_waits_for_the_timeout",
     "namespace without tokensecret, wait_timeout: 3", ["is CloudCore running in namespace %s?", "after waiting 3 s"]),
    ("tests/integration/test_kubeedge_token.py", "test_missing_namespace",
     "namespace no-such-ns-<random>", ["is CloudCore running in namespace no-such-ns-"]),
    ("tests/integration/test_kubeedge_token.py", "test_missing_key",
     "Secret with key token instead of tokendata", ["has no data key tokendata (keys: token)"]),
    ("tests/integration/test_kubeedge_token.py", "test_data_not_text",
     "tokendata of binary bytes", ["is unusable", "does not decode to text"]),
    ("tests/integration/test_kubeedge_token.py", "test_payload_without_exp",
     "token whose JWT has no exp claim", ['no "exp" claim']),
    ("tests/integration/test_kubeedge_token.py", "test_expired_token",
     "token expired 60 s ago", ["expired at %s", "allow_expired"]),
    ("tests/integration/test_kubeedge_token.py", "test_forbidden_context",
     "context edge-test-nobody (no RBAC rights)", ["Secret %s/tokensecret", "RBAC"]),
    ("tests/integration/test_daemonset_edge_affinity.py", "test_explicit_targets_and_missing_daemonset",
     "daemonsets entry no-such-ds", ["not found; check the name or use discover: true"]),
    ("tests/integration/test_daemonset_edge_affinity.py", "test_targeting_modes_are_exclusive",
     "discover: true together with label_selector", ["exactly one of daemonsets, label_selector or discover"]),
    ("tests/integration/test_bootstrap_token.py", "test_forbidden_user_gets_rbac_hint",
     "ca_cert_path /dev/null; context edge-test-nobody",
     ["Cannot compute the discovery CA hash", "RBAC"]),
    ("tests/integration/test_reset_guard.py", "test_a_cloudcore_host_is_refused_and_keeps_everything",
     "reset.yml pointed at a binary-method CloudCore host (cloudcore.yaml, stream key, cloudcore.service running)",
     ["is not reset: CloudCore: its configuration, unit cloudcore.service"]),
    ("tests/integration/test_reset_guard.py", "test_a_kubernetes_worker_with_a_containerd_workload_is_refused",
     "reset.yml pointed at a Kubernetes worker (kubelet.service, CRI pod containers in k8s.io, a stray keadm)",
     ["a Kubernetes node that is not a SuperEdge edge node of this cluster: unit kubelet.service"]),
    ("tests/integration/test_reset_guard.py", "test_kubeedge_files_nothing_proves_ours_are_refused",
     "edgecore.yaml naming an absent Node, then a control-plane Node, no edgenode leftovers",
     ["nothing proves it is an edge node of this cluster", "exists in the cluster but carries none of the labels"]),
    ("tests/integration/test_edgenode_preflight.py", "test_dpkg_lock_held_is_waited_for_then_named",
     "dpkg's lock-frontend held with fcntl by another process, edgenode_dpkg_lock_timeout=3",
     ["is still held after", "edgenode_dpkg_lock_timeout"]),
    ("tests/integration/test_edgenode_preflight.py", "test_clock_skew_is_refused",
     "the host's clock 10 minutes behind the controller's (libfaketime)",
     ["behind the controller's", "edgenode_max_clock_skew"]),
    ("tests/integration/test_edgenode_preflight.py", "test_node_name_of_a_cloud_node_is_refused",
     "edgenode_node_name of an existing control-plane Node",
     ["already exists in the cluster and is not an edge node", "Set edgenode_node_name"]),
    ("tests/integration/test_edgenode_preflight.py", "test_node_name_connected_from_another_machine_is_refused",
     "edgenode_node_name of a Ready edge Node at another address (192.0.2.99)",
     ["is Ready with address 192", "which is not an address of"]),
    ("tests/integration/test_edgenode_preflight.py", "test_certificate_without_the_cloudcore_address_is_refused",
     "cloudcoresecret naming 192.0.2.10 only, edgenode_cloudcore_address another address",
     ["names 192.0.2.10 but not", "cloudcore_advertise_address"]),
    ("tests/integration/test_edgenode_preflight.py", "test_kubeconfig_of_another_cluster_is_refused",
     "edgenode_expected_cluster_uid of another cluster",
     ["reaches the cluster whose kube-system namespace has UID"]),
    ("tests/integration/test_edgenode_preflight.py", "test_a_second_run_on_the_host_stops_before_any_change",
     "the host's run lock held by a run of another controller (awx-node-2, 20 s old)",
     ["Another run, from awx-node-2", "edgenode_run_lock_force=true"]),
    ("tests/integration/reliability/test_secrets.py", "test_a_join_that_fails_after_writing_the_token_leaks_nothing",
     "keadm join fails after writing edgecore.yaml (its sudo systemctl start edgecore fails), at -vvv",
     ["keadm join failed on", "Edge nodes that did not join"]),
    ("tests/integration/test_reset_role.py", "test_a_kubeconfig_of_another_cluster_stops_the_reset",
     "reset_expected_cluster_uid of another cluster", ["not the", "cluster whose kube-system UID"]),
    ("tests/integration/test_reset_role.py", "test_the_cluster_changes_need_their_own_confirmation",
     "reset_node_names with reset_confirm=false and no terminal",
     ["were not confirmed", "reset_cloud_confirm=false"]),
]


def _is_table_name(name, in_function):
    if in_function:
        return name == "cases"
    return name in TABLE_NAMES or name.endswith(TABLE_SUFFIX) or name.startswith(TABLE_PREFIX)


def _strings(node):
    """The fragments of an expected-message element, or None when it is not one."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.List, ast.Tuple)) and node.elts and all(
            isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
        return [e.value for e in node.elts]
    return None


def _short(text, limit=90):
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _value(node, consts):
    if isinstance(node, ast.Name) and node.id in consts:
        return consts[node.id]
    return _short(ast.unparse(node))


def _row(rel, table, function, index, elts, consts):
    case_id = None
    rest = list(elts)
    if rest and isinstance(rest[0], ast.Constant) and isinstance(rest[0].value, str):
        case_id = rest.pop(0).value
    lists = [i for i, e in enumerate(rest) if isinstance(e, (ast.List, ast.Tuple)) and _strings(e)]
    strs = [i for i, e in enumerate(rest) if _strings(e)]
    pos = lists[-1] if lists else (strs[-1] if strs else None)
    if pos is None:
        messages, value, defect = [], rest, ""
    else:
        messages = _strings(rest[pos])
        value = rest[:pos]
        after = [_strings(e) for e in rest[pos + 1:]]
        defect = " ".join(a[0] for a in after if a)
    return {
        "file": rel, "table": table, "function": function,
        "id": case_id or "%s[%d]" % (function or table, index),
        "value": "; ".join(_value(v, consts) for v in value),
        "messages": messages, "defect": defect,
    }


def _users(tree, name):
    """Test functions that use a module-level table (decorator or body)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and sub.id == name:
                    found.append(node.name)
                    break
    return found


def table_cases(root=ROOT):
    rows = []
    for path in sorted(root.rglob("test_*.py")):
        rel = str(path.relative_to(REPO))
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # module-level string constants (e.g. MODULE = "edge.cluster.x") shown by value
        consts = dict((s.targets[0].id, s.value.value) for s in tree.body
                      if isinstance(s, ast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], ast.Name)
                      and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str))
        scopes = [(None, tree.body)] + [(n.name, n.body) for n in ast.walk(tree)
                                        if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]
        for function, body in scopes:
            for stmt in body:
                if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                        and isinstance(stmt.targets[0], ast.Name)
                        and _is_table_name(stmt.targets[0].id, function is not None)
                        and isinstance(stmt.value, ast.List) and stmt.value.elts
                        and all(isinstance(e, ast.Tuple) for e in stmt.value.elts)):
                    continue
                name = stmt.targets[0].id
                users = [function] if function else _users(tree, name)
                for i, elt in enumerate(stmt.value.elts):
                    rows.append(_row(rel, name, ",".join(users), i, elt.elts, consts))
    return rows


def single_cases():
    rows = []
    for rel, function, value, messages in SINGLE:
        rows.append({"file": rel, "table": "", "function": function, "id": function, "value": value,
                     "messages": list(messages), "defect": ""})
    return rows


def check_single():
    """Problems with SINGLE: missing files/functions or fragments not in the function's source."""
    problems = []
    for rel, function, dummy, messages in SINGLE:
        path = REPO / rel
        if not path.exists():
            problems.append("%s does not exist" % rel)
            continue
        source = path.read_text(encoding="utf-8")
        funcs = [n for n in ast.walk(ast.parse(source))
                 if isinstance(n, ast.FunctionDef) and n.name == function]
        if not funcs:
            problems.append("%s has no function %s" % (rel, function))
            continue
        text = ast.get_source_segment(source, funcs[0])
        for fragment in messages:
            if fragment not in text:
                problems.append("%s::%s does not expect %r" % (rel, function, fragment))
    return problems


def collect():
    return table_cases() + single_cases()


def _cell(text):
    return text.replace("|", "\\|").replace("\n", " ")


def render(rows=None):
    rows = collect() if rows is None else rows
    lines = [
        "# Bad-input catalogue",
        "",
        "Every bad-input case of the tests: each run fails with a message that names",
        "the bad value and the fix, and the tests assert that the host and the cluster",
        "are unchanged. Generated by `python tests/integration/reliability/catalogue.py --write`",
        "from the test files (do not edit by hand); `test_catalogue.py` fails when it is stale.",
        "",
        "%d cases in %d files." % (len(rows), len(set(r["file"] for r in rows))),
        "",
        "| test file | case id | bad value | expected message (fragments) |",
        "| --- | --- | --- | --- |",
    ]
    for row in rows:
        where = row["file"].replace("tests/integration/", "")
        if row["function"] and row["function"] != row["id"]:
            where += " `%s`" % row["function"]
        expected = " / ".join("`%s`" % _short(m, 80) for m in row["messages"])
        if row["defect"]:
            expected += " (known defect, xfail: %s)" % row["defect"]
        cells = (_cell(where), _cell(row["id"]), _cell("`%s`" % row["value"]), _cell(expected))
        lines.append("| %s | %s | %s | %s |" % cells)
    return "\n".join(lines) + "\n"


def main(argv):
    text = render()
    if "--write" in argv:
        CATALOGUE.write_text(text, encoding="utf-8")
        print("wrote %s (%d cases)" % (CATALOGUE.relative_to(REPO), len(collect())))
        return 0
    if "--check" in argv:
        current = CATALOGUE.read_text(encoding="utf-8") if CATALOGUE.exists() else ""
        if current != text:
            print("%s is stale: run python %s --write"
                  % (CATALOGUE.relative_to(REPO), Path(__file__).relative_to(REPO)))
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
