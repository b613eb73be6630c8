"""Bad input for the collection's modules against the real kube-apiserver.

Each case fails (rc != 0) with a message that names the bad value and the fix,
and the cluster is unchanged: the objects the module could write (Secrets of
the namespace, DaemonSets of the namespace, bootstrap token Secrets of our
purpose in kube-system) are listed before and after, with their
resourceVersions (generations of DaemonSets). Cases the test files of the modules already cover
(tests/integration/test_kubeedge_token.py, test_daemonset_edge_affinity.py,
test_bootstrap_token.py) are not repeated here; CATALOGUE.md lists them all.

A case is (id, module, args, message fragments[, xfail reason]). In args,
"{kubeconfig}", "{unreachable}", "{ns}" and "{purpose}" are filled in per run.
"""

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kubernetes import client

pytestmark = pytest.mark.lane("edge")

TOKEN = "edge.cluster.kubeedge_token"
AFFINITY = "edge.cluster.daemonset_edge_affinity"
BOOTSTRAP = "edge.cluster.bootstrap_token"

CASES = [
    # ---- kubeedge_token
    ("token-missing-kubeconfig", TOKEN, {"kubeconfig": "/nonexistent/edge-rel.kubeconfig", "namespace": "{ns}"},
     ["/nonexistent/edge-rel.kubeconfig", "Copy the cluster admin kubeconfig there or set the kubeconfig option"]),
    ("token-unknown-context", TOKEN, {"context": "edge-rel-no-such-context", "namespace": "{ns}"},
     ["edge-rel-no-such-context", "Check the file and the context name", "kubectl config get-contexts"]),
    ("token-unreachable-apiserver", TOKEN, {"kubeconfig": "{unreachable}", "namespace": "{ns}", "wait": False},
     ["port=1", "Check that the kube-apiserver is up and that host/kubeconfig point at it"]),
    ("token-rejected-credentials", TOKEN, {"kubeconfig": None, "host": "{server}", "api_key": "edge-rel-bogus-token",
                                           "validate_certs": False, "namespace": "{ns}"},
     ["Unauthorized", "check the token or client certificate in the kubeconfig"]),
    ("token-negative-wait-timeout", TOKEN, {"namespace": "{ns}", "wait_timeout": -1},
     ["wait_timeout must be 0 or more seconds", "got -1"]),
    ("token-zero-wait-sleep", TOKEN, {"namespace": "{ns}", "wait_sleep": 0},
     ["wait_sleep must be 1 or more seconds", "got 0"]),
    ("token-namespace-not-a-name", TOKEN, {"namespace": "Kube_Edge", "wait": False},
     ["Kube_Edge", "Check the CloudCore pod or service", "the namespace and secret_name options"]),
    ("token-wrong-secret-name", TOKEN, {"namespace": "{ns}", "secret_name": "token-secret", "wait": False},
     ["{ns}/token-secret not found", "the namespace and secret_name options"]),
    ("token-missing-ca-cert", TOKEN, {"namespace": "{ns}", "ca_cert": "/nonexistent/edge-rel-ca.crt"},
     ["/nonexistent/edge-rel-ca.crt", "does not exist", "remove ca_cert"]),
    # ---- daemonset_edge_affinity
    ("affinity-unknown-daemonset", AFFINITY, {"daemonsets": [{"name": "edge-rel-no-such-ds", "namespace": "{ns}"}]},
     ["{ns}/edge-rel-no-such-ds not found", "check the name or use discover: true"]),
    ("affinity-daemonset-in-missing-namespace", AFFINITY,
     {"daemonsets": [{"name": "edge-rel-ds", "namespace": "edge-rel-no-such-ns"}]},
     ["edge-rel-no-such-ns/edge-rel-ds not found", "check the name or use discover: true"]),
    ("affinity-entry-without-namespace", AFFINITY, {"daemonsets": [{"name": "edge-rel-ds"}]},
     ["DaemonSet edge-rel-ds has no namespace", "set namespace in the entry or the namespace option"]),
    ("affinity-unknown-state", AFFINITY, {"namespace": "{ns}", "discover": True, "state": "removed"},
     ["got: removed", "present, absent"]),
    ("affinity-unknown-context", AFFINITY, {"context": "edge-rel-no-such-context", "namespace": "{ns}",
                                            "discover": True},
     ["edge-rel-no-such-context", "kubectl config get-contexts"]),
    ("affinity-missing-kubeconfig", AFFINITY, {"kubeconfig": "/nonexistent/edge-rel.kubeconfig", "namespace": "{ns}",
                                               "discover": True},
     ["/nonexistent/edge-rel.kubeconfig", "set the kubeconfig option to its path"]),
    ("affinity-unreachable-apiserver", AFFINITY, {"kubeconfig": "{unreachable}", "namespace": "{ns}",
                                                  "discover": True},
     ["port=1", "Check that the kube-apiserver is up"]),
    ("affinity-context-without-rights", AFFINITY, {"context": "edge-test-nobody", "namespace": "{ns}",
                                                   "discover": True},
     ['User "nobody"', "use an admin kubeconfig or grant the verb"]),
    ("affinity-node-label-not-a-label", AFFINITY, {"namespace": "{ns}", "discover": True,
                                                   "node_label": "edge node"},
     ["edge node", "node_label must be a label key"]),
    ("affinity-label-selector-unparsable", AFFINITY, {"namespace": "{ns}", "label_selector": "tier in ("},
     ["tier in (", "label_selector", "kubectl -l syntax"]),
    # ---- bootstrap_token
    ("bootstrap-negative-ttl", BOOTSTRAP, {"purpose": "{purpose}", "ttl": "-1h"},
     ["ttl: '-1h' is not a duration", "for example 24h, 90m, 1h30m, 2d"]),
    ("bootstrap-ttl-in-weeks", BOOTSTRAP, {"purpose": "{purpose}", "ttl": "1w"},
     ["ttl: '1w' is not a duration", "a number followed by s, m, h or d"]),
    ("bootstrap-min-remaining-not-a-duration", BOOTSTRAP, {"purpose": "{purpose}", "min_remaining": "soon"},
     ["min_remaining: 'soon' is not a duration", "for example 24h"]),
    ("bootstrap-min-remaining-equals-ttl", BOOTSTRAP, {"purpose": "{purpose}", "ttl": "1h", "min_remaining": "1h"},
     ["min_remaining (1h) must be shorter than ttl (1h)"]),
    ("bootstrap-purpose-not-a-label", BOOTSTRAP, {"purpose": "Edge Rel!"},
     ["purpose 'Edge Rel!' is not usable as a label value", "use at most 63 letters, digits"]),
    ("bootstrap-no-usage", BOOTSTRAP, {"purpose": "{purpose}", "usages": []},
     ["usages must name at least one of: signing, authentication"]),
    ("bootstrap-group-with-space", BOOTSTRAP, {"purpose": "{purpose}", "groups": ["system:bootstrappers:edge rel"]},
     ["'system:bootstrappers:edge rel' is not a bootstrap group", "for example system:bootstrappers:kubeadm"]),
    ("bootstrap-unknown-state", BOOTSTRAP, {"purpose": "{purpose}", "state": "gone"},
     ["got: gone", "present, absent"]),
    ("bootstrap-unknown-context", BOOTSTRAP, {"purpose": "{purpose}", "context": "edge-rel-no-such-context"},
     ["edge-rel-no-such-context", "kubectl config get-contexts"]),
    ("bootstrap-missing-kubeconfig", BOOTSTRAP,
     {"purpose": "{purpose}", "kubeconfig": "/nonexistent/edge-rel.kubeconfig"},
     ["/nonexistent/edge-rel.kubeconfig", "set the kubeconfig option to its path"]),
    ("bootstrap-unreachable-apiserver", BOOTSTRAP, {"purpose": "{purpose}", "kubeconfig": "{unreachable}"},
     ["port=1", "Check that the kube-apiserver is up"]),
]


def _params(cases):
    out = []
    for case in cases:
        marks = [pytest.mark.xfail(reason=case[4], strict=True)] if len(case) > 4 else []
        out.append(pytest.param(*case[:4], id=case[0], marks=marks))
    return out


@pytest.fixture(scope="module")
def bed(api_client, kubeconfig, tmp_path_factory):
    """A namespace with a tokensecret and a DaemonSet (what a bad call could touch),
    a unique bootstrap token purpose, and a kubeconfig pointing at a closed port."""
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    ns = "edge-rel-mod-%s" % os.urandom(3).hex()
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    core.create_namespaced_secret(ns, client.V1Secret(
        metadata=client.V1ObjectMeta(name="tokensecret"),
        data={"tokendata": base64.b64encode(b"not-read-by-a-failing-call").decode()}))
    apps.create_namespaced_daemon_set(ns, client.V1DaemonSet.from_dict({
        "metadata": {"name": "edge-rel-ds"},
        "spec": {"selector": {"matchLabels": {"app": "edge-rel-ds"}},
                 "template": {"metadata": {"labels": {"app": "edge-rel-ds"}},
                              "spec": {"containers": [{"name": "main", "image": "registry.invalid/pause:1"}],
                                       "nodeSelector": {"edge-rel.example.com/nowhere": "true"}}}}}))
    cfg = yaml.safe_load(Path(kubeconfig).read_text(encoding="utf-8"))
    server = cfg["clusters"][0]["cluster"]["server"]
    for cluster in cfg["clusters"]:
        cluster["cluster"]["server"] = "https://%s:1" % server.split("://", 1)[1].rsplit(":", 1)[0]
    unreachable = tmp_path_factory.mktemp("edge-rel-mod") / "unreachable.kubeconfig"
    unreachable.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    unreachable.chmod(0o600)
    values = {"kubeconfig": kubeconfig, "unreachable": str(unreachable), "ns": ns, "server": server,
              "purpose": "edge-rel-%s" % os.urandom(3).hex()}
    yield values, core, apps
    core.delete_namespace(ns)
    for secret in bootstrap_secrets(core, values["purpose"]):
        core.delete_namespaced_secret(secret[0], "kube-system")


def bootstrap_secrets(core, purpose):
    return sorted((s.metadata.name, s.metadata.resource_version) for s in core.list_namespaced_secret(
        "kube-system", label_selector="edge.cluster/purpose=%s" % purpose).items)


def cluster_state(core, apps, values):
    ns = values["ns"]
    return {
        "secrets": sorted((s.metadata.name, s.metadata.resource_version) for s in core.list_namespaced_secret(ns).items
                          if s.type != "kubernetes.io/service-account-token"),
        # generation, not resourceVersion: the DaemonSet controller keeps updating the status
        "daemonsets": sorted((d.metadata.name, d.metadata.generation, json.dumps(
            apps.api_client.sanitize_for_serialization(d.spec.template.spec), sort_keys=True))
            for d in apps.list_namespaced_daemon_set(ns).items),
        "bootstrap": bootstrap_secrets(core, values["purpose"]),
    }


def fill(obj, values):
    if isinstance(obj, str):
        return obj.format(**values)
    if isinstance(obj, list):
        return [fill(o, values) for o in obj]
    if isinstance(obj, dict):
        return dict((k, fill(v, values)) for k, v in obj.items())
    return obj


def run(module, args, tmp_path):
    """Run the module's own code the way ansible executes it (python, args file),
    without the ansible CLI around it: about three times faster, same messages."""
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}), encoding="utf-8")
    args_file.chmod(0o600)
    proc = subprocess.run([sys.executable, "-m", "ansible_collections.%s" % module.replace(
        "edge.cluster.", "edge.cluster.plugins.modules."), str(args_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(tmp_path), check=False)
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        raise AssertionError("unparseable module output: %s %s"
                             % (proc.stdout[-2000:], proc.stderr[-2000:])) from exc
    return proc.returncode, result


@pytest.mark.parametrize("case,module,args,needles", _params(CASES))
def test_bad_input_names_value_and_fix_and_changes_nothing(bed, tmp_path, case, module, args, needles):
    values, core, apps = bed
    args = fill(dict({"kubeconfig": "{kubeconfig}"}, **args), values)
    args = dict((k, v) for k, v in args.items() if v is not None)
    before = cluster_state(core, apps, values)
    rc, result = run(module, args, tmp_path)
    assert rc != 0 and result.get("failed") is True, (case, result)
    msg = result.get("msg", "")
    for needle in fill(needles, values):
        assert needle in msg, "%s: %r not in %r" % (case, needle, msg)
    assert cluster_state(core, apps, values) == before, case
    assert "not-read-by-a-failing-call" not in json.dumps(result), case
