"""python3 remove-cloudcore-release.py KUBECONFIG [NODE...]: delete the named Nodes and
the objects of the CloudCore Helm release `keadm init` installed (what `helm
uninstall cloudcore` removes) from the shared test cluster. The namespace and
its Secrets (token, CA) stay: the test bed's other users share them. Used by
lab.sh down and the journey tests."""
import sys

from kubernetes import client, config
from kubernetes.client import AppsV1Api, RbacAuthorizationV1Api

config.load_kube_config(config_file=sys.argv[1])
api = client.CoreV1Api()
for name in sys.argv[2:]:
    try:
        api.delete_node(name)
        print("deleted Node %s" % name)
    except client.ApiException as exc:
        if exc.status != 404:
            raise
# The Helm release keadm init installed for lab-cloud's CloudCore (what `helm
# uninstall cloudcore` removes): without it the next lab would find a CloudCore
# Deployment whose host is gone. The namespace and its Secrets (token, CA) stay:
# the test bed's other users share them.
apps, rbac = AppsV1Api(api.api_client), RbacAuthorizationV1Api(api.api_client)
ns = "kubeedge"


def ours(obj):
    meta = obj.metadata
    return ((meta.annotations or {}).get("meta.helm.sh/release-name") == "cloudcore"
            or ((meta.labels or {}).get("owner") == "helm" and (meta.labels or {}).get("name") == "cloudcore"))


# Deletes do not parse the answer (_preload_content=False): the client cannot read
# the Status that kube-apiserver v1.20 returns for a deleted Service.
kinds = [
    (lambda: apps.list_namespaced_deployment(ns).items, apps.delete_namespaced_deployment),
    (lambda: api.list_namespaced_service(ns).items, api.delete_namespaced_service),
    (lambda: api.list_namespaced_config_map(ns).items, api.delete_namespaced_config_map),
    (lambda: api.list_namespaced_service_account(ns).items, api.delete_namespaced_service_account),
    (lambda: api.list_namespaced_secret(ns).items, api.delete_namespaced_secret),
    (lambda: rbac.list_cluster_role_binding().items, rbac.delete_cluster_role_binding),
    (lambda: rbac.list_cluster_role().items, rbac.delete_cluster_role),
]
for list_, delete in kinds:
    for obj in list_():
        if ours(obj):
            try:
                args = (obj.metadata.name, ns) if obj.metadata.namespace else (obj.metadata.name,)
                delete(*args, _preload_content=False)
                print("deleted %s %s" % (obj.kind or type(obj).__name__, obj.metadata.name))
            except client.ApiException as exc:
                if exc.status != 404:
                    raise
