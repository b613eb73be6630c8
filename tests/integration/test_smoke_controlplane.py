"""The test bed is real: kubernetes.core writes, our client factory reads back."""

import base64

from kubernetes import client


def test_apiserver_version(api_client, capsys):
    info = client.VersionApi(api_client).get_code()
    with capsys.disabled():
        print("\nreal kube-apiserver: %s (%s)" % (info.git_version, info.platform))
    assert info.major == "1"


def test_secret_created_by_kubernetes_core_is_read_by_module_utils(run_module, api_client, namespace, kubeconfig):
    rc, result = run_module("kubernetes.core.k8s", {
        "kubeconfig": kubeconfig,
        "state": "present",
        "definition": {
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "smoke", "namespace": namespace},
            "data": {"greeting": base64.b64encode(b"hello-edge").decode()},
        },
    })
    assert rc == 0, result
    assert result["changed"] is True

    secret = client.CoreV1Api(api_client).read_namespaced_secret("smoke", namespace)
    assert base64.b64decode(secret.data["greeting"]) == b"hello-edge"

    rc, again = run_module("kubernetes.core.k8s", {
        "kubeconfig": kubeconfig, "state": "present",
        "definition": {"apiVersion": "v1", "kind": "Secret",
                       "metadata": {"name": "smoke", "namespace": namespace},
                       "data": {"greeting": base64.b64encode(b"hello-edge").decode()}},
    })
    assert rc == 0
    assert again["changed"] is False


def test_unprivileged_context_is_forbidden(kubeconfig):
    from ansible_collections.edge.cluster.plugins.module_utils.k8s_client import api_error_message, get_api_client
    nobody = get_api_client(params={"kubeconfig": kubeconfig, "context": "edge-test-nobody"})
    try:
        client.CoreV1Api(nobody).list_namespaced_secret("default")
    except client.ApiException as exc:
        msg = api_error_message(exc, "Secrets in default")
        assert exc.status == 403
        assert "RBAC" in msg
    else:
        raise AssertionError("user 'nobody' could list secrets: RBAC is not enforced")
