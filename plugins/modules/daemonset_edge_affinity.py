#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, edge.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: daemonset_edge_affinity
short_description: Keep DaemonSets such as CNI and kube-proxy off edge nodes
version_added: 0.1.0
description:
  - Adds the node affinity expression O(node_label) C(DoesNotExist) to DaemonSets so that their pods
    no longer run on edge nodes, or removes it again with O(state=absent).
  - Replaces the KubeSphere runbook loop (C(kubectl get pods -o wide), C(kubectl describe pod), one merge
    patch per pod) and the manual Rainbond flannel edit. Unlike that merge patch, the existing affinity is
    kept; the expression is merged into it.
  - The expression is added to every term of
    C(requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms), because terms are ORed. A term
    that only has C(matchFields) gets C(matchExpressions). Other expressions, C(matchFields), preferred
    terms, C(podAffinity) and C(podAntiAffinity) are kept untouched. With no required terms one is created.
  - Select the DaemonSets with exactly one of O(daemonsets), O(label_selector) or O(discover=true).
  - "Requests per run: O(discover) lists nodes (by label), pods and DaemonSets once each, and ReplicaSets once
    when ReplicaSet pods run on edge nodes; O(label_selector) lists DaemonSets once; O(daemonsets) reads each
    one once. Then one patch per DaemonSet that changes. Nothing is requested per pod."
author:
  - edge.cluster contributors (@edge-cluster)
options:
  daemonsets:
    description:
      - The DaemonSets to change, by namespace and name.
      - Fails when one of them does not exist, or when it can only run on nodes carrying O(node_label) (with
        O(state=present) it would then run nowhere).
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the DaemonSet.
        type: str
        required: true
      namespace:
        description:
          - Namespace of the DaemonSet.
          - Defaults to O(namespace); one of the two is required.
        type: str
  label_selector:
    description:
      - Change every DaemonSet matching this label selector, for example V(k8s-app=kube-proxy).
      - Searched in O(namespace), or in all namespaces when O(namespace) is not set.
      - DaemonSets that require O(node_label) (edge-only DaemonSets) are skipped with a warning.
    type: str
  discover:
    description:
      - With O(state=present), change every DaemonSet that has pods on nodes carrying O(node_label), like the
        runbook does, plus report those that already carry the expression.
      - With O(state=absent), undo the change on every DaemonSet that carries the expression (its pods have
        left the edge nodes by then, so pods cannot tell which ones were changed).
      - Pods on edge nodes that belong to anything else than a DaemonSet are never changed; they are reported
        in RV(other_workloads) and in a warning. Pods of a ReplicaSet are reported with the Deployment that owns it.
      - DaemonSets that require O(node_label) on purpose (for example C(edgemesh-agent)) are not changed;
        they are listed in RV(daemonsets) with status V(skipped) and a warning.
      - Pods are listed once for the whole cluster (or O(namespace)) and filtered on the edge node names
        locally, so the number of requests does not grow with the number of edge nodes.
      - When no node carries O(node_label) the module returns without change and warns.
    type: bool
    default: false
  namespace:
    description:
      - Limits O(label_selector) and O(discover) to one namespace; all namespaces when not set.
      - The default namespace of the entries in O(daemonsets).
    type: str
  node_label:
    description:
      - The label that marks edge nodes. Only its presence matters, not its value.
      - Rainbond edge agents use V(node-role.kubernetes.io/agent).
    type: str
    default: node-role.kubernetes.io/edge
  state:
    description:
      - V(present) adds the O(node_label) C(DoesNotExist) expression, so pods leave the edge nodes.
      - V(absent) removes exactly that expression and the structures that only existed to hold it, restoring
        the affinity the DaemonSet had before V(present). Expressions on the same key with other operators
        are never touched.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - edge.cluster.k8s_auth
  - edge.cluster.k8s_auth.ATTRIBUTES
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: Shows the pod template affinity before and after for each DaemonSet that changes.
  idempotent:
    support: full
notes:
  - The change is a JSON patch that writes the whole computed C(spec.template.spec.affinity), guarded by a
    C(test) of the C(metadata.generation) that was read, so a spec edit made in between is never overwritten; the
    DaemonSet is then read again and the change recomputed.
  - Changing the pod template rolls the DaemonSet; its controller removes the pods from edge nodes.
  - A user expression on the same key with C(In) or C(Exists) is kept and the expression is still added.
    When every term (or the C(nodeSelector)) requires the label, the DaemonSet is not changed, see
    O(daemonsets) and O(discover).
seealso:
  - name: Assigning Pods to Nodes
    description: Node affinity in the Kubernetes documentation.
    link: https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#node-affinity
'''

EXAMPLES = r'''
- name: Keep the KubeSphere CNI and proxy DaemonSets off KubeEdge nodes
  edge.cluster.daemonset_edge_affinity:
    kubeconfig: /etc/kubernetes/admin.conf
    namespace: kube-system
    daemonsets:
      - name: calico-node
      - name: kube-proxy
      - name: nodelocaldns

- name: Keep every DaemonSet that has pods on edge nodes off them (what the runbook loop does)
  edge.cluster.daemonset_edge_affinity:
    discover: true
  register: edge_affinity

- name: Show the workloads that still run on edge nodes but are not DaemonSets
  ansible.builtin.debug:
    var: edge_affinity.other_workloads
  when: edge_affinity.other_workloads | length > 0

- name: Rainbond, keep flannel off the edge agents
  edge.cluster.daemonset_edge_affinity:
    namespace: kube-system
    label_selector: app=flannel
    node_label: node-role.kubernetes.io/agent

- name: Let kube-proxy run on edge nodes again
  edge.cluster.daemonset_edge_affinity:
    daemonsets:
      - namespace: kube-system
        name: kube-proxy
    state: absent
'''

RETURN = r'''
changed_daemonsets:
  description: The DaemonSets that were changed (or would be in check mode), as C(namespace/name).
  returned: always
  type: list
  elements: str
  sample: [kube-system/calico-node, kube-system/kube-proxy]
daemonsets:
  description: Every DaemonSet examined.
  returned: always
  type: list
  elements: dict
  contains:
    namespace:
      description: Namespace of the DaemonSet.
      type: str
      returned: always
    name:
      description: Name of the DaemonSet.
      type: str
      returned: always
    status:
      description: V(changed), V(unchanged), or V(skipped) (it requires O(node_label), see RV(daemonsets[].reason)).
      type: str
      returned: always
    reason:
      description: Why the DaemonSet was skipped.
      type: str
      returned: when status is skipped
    affinity:
      description: The pod template affinity after the change, or null when there is none.
      type: dict
      returned: unless status is skipped
    edge_pods:
      description: Its pods on edge nodes, as C(pod@node).
      type: list
      elements: str
      returned: with O(discover=true)
  sample:
    - namespace: kube-system
      name: kube-proxy
      status: changed
      edge_pods: [kube-proxy-8xk2p@edge-1]
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
              - matchExpressions:
                  - key: node-role.kubernetes.io/edge
                    operator: DoesNotExist
other_workloads:
  description:
    - Workloads other than DaemonSets that have pods on edge nodes; they are never changed. Pods of a
      ReplicaSet are reported under the Deployment that owns it.
      Always empty with O(state=absent).
  returned: with O(discover=true)
  type: list
  elements: dict
  contains:
    kind:
      description: Kind of the owner, for example V(Deployment), V(StatefulSet), V(Job), or V(Pod) for a pod without owner.
      type: str
      returned: always
    namespace:
      description: Its namespace.
      type: str
      returned: always
    name:
      description: Its name.
      type: str
      returned: always
    pods:
      description: Its pods on edge nodes, as C(pod@node).
      type: list
      elements: str
      returned: always
    reason:
      description: Why it was not changed.
      type: str
      returned: always
  sample:
    - kind: Deployment
      namespace: default
      name: web
      pods: [web-6d4cf56db6-x7rlc@edge-1]
      reason: "not a DaemonSet: pods of a Deployment are placed by its own spec; ..."
edge_nodes:
  description: The nodes carrying O(node_label).
  returned: with O(discover=true) and O(state=present)
  type: list
  elements: str
  sample: [edge-1, edge-2]
diff:
  description: Per changed DaemonSet, its pod template affinity before and after (V({}) for none).
  returned: in diff mode, when something changed
  type: list
  elements: dict
'''

import json

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.edge.cluster.plugins.module_utils.affinity import (
    ApiError,
    EdgeAffinityError,
    is_label_key,
    EdgeAffinityService,
    DEFAULT_NODE_LABEL,
)
from ansible_collections.edge.cluster.plugins.module_utils.k8s_client import (
    ApiException,
    TransportError,
    api_error_message,
    auth_arg_spec,
    get_api_client,
)

try:
    from kubernetes import client as k8s_client
except ImportError:  # pragma: no cover - get_api_client reports the missing library
    k8s_client = None

# Large enough that a cluster of a few thousand pods is read in one request.
PAGE_SIZE = 5000
FIELD_MANAGER = 'edge.cluster.daemonset_edge_affinity'


class KubernetesApi(object):
    """The ``api`` of EdgeAffinityService on the kubernetes client.

    Objects are read as raw JSON (``_preload_content=False``): plain dicts with
    the API's own field names, cheaper than model objects, and exactly what the
    JSON patch paths refer to. Lists are read in pages of PAGE_SIZE (one
    logical list; more than one request only on big clusters).
    """

    def __init__(self, api_client):
        self.core = k8s_client.CoreV1Api(api_client)
        self.apps = k8s_client.AppsV1Api(api_client)

    @staticmethod
    def _call(what, method, *args, **kwargs):
        try:
            return json.loads(method(*args, _preload_content=False, **kwargs).data)
        except ApiException as exc:
            raise ApiError(api_error_message(exc, what), getattr(exc, 'status', None))
        except (TransportError, OSError) as exc:  # unreachable apiserver, TLS errors
            raise ApiError(api_error_message(exc, what))

    def _list(self, what, method, *args, **kwargs):
        items, token = [], None
        while True:
            if token:
                kwargs['_continue'] = token
            page = self._call(what, method, *args, limit=PAGE_SIZE, **kwargs)
            items.extend(page.get('items') or [])
            token = (page.get('metadata') or {}).get('continue')
            if not token:
                return items

    def list_nodes(self, label_selector):
        return self._list('Nodes with label %s' % label_selector, self.core.list_node,
                          label_selector=label_selector)

    def list_pods(self, namespace):
        if namespace:
            return self._list('Pods in %s' % namespace, self.core.list_namespaced_pod, namespace)
        return self._list('Pods in all namespaces', self.core.list_pod_for_all_namespaces)

    def list_daemonsets(self, namespace, label_selector):
        kwargs = {'label_selector': label_selector} if label_selector else {}
        if namespace:
            return self._list('DaemonSets in %s' % namespace, self.apps.list_namespaced_daemon_set,
                              namespace, **kwargs)
        return self._list('DaemonSets in all namespaces', self.apps.list_daemon_set_for_all_namespaces,
                          **kwargs)

    def list_replicasets(self, namespace):
        if namespace:
            return self._list('ReplicaSets in %s' % namespace, self.apps.list_namespaced_replica_set,
                              namespace)
        return self._list('ReplicaSets in all namespaces', self.apps.list_replica_set_for_all_namespaces)

    def get_daemonset(self, namespace, name):
        return self._call('DaemonSet %s/%s' % (namespace, name), self.apps.read_namespaced_daemon_set,
                          name, namespace)

    def patch_daemonset(self, namespace, name, json_patch):
        return self._call('DaemonSet %s/%s' % (namespace, name), self.apps.patch_namespaced_daemon_set,
                          name, namespace, json_patch, field_manager=FIELD_MANAGER,
                          _content_type='application/json-patch+json')


def targets_from(params):
    """Validate the targeting options; return the explicit targets (or None)."""
    if not is_label_key(params['node_label']):
        raise EdgeAffinityError(
            'node_label must be a label key such as node-role.kubernetes.io/edge (an optional DNS prefix and "/", '
            'then up to 63 letters, digits, "-", "_" or "."), got %r: set it to the label your edge nodes carry.'
            % params['node_label'])
    modes = [opt for opt, on in (('daemonsets', params['daemonsets'] is not None),
                                 ('label_selector', params['label_selector'] is not None),
                                 ('discover', params['discover'])) if on]
    if len(modes) != 1:
        raise EdgeAffinityError(
            'Set exactly one of daemonsets, label_selector or discover: true (got %s).'
            % (', '.join(modes) or 'none'))
    if params['daemonsets'] is None:
        return None
    targets = []
    for item in params['daemonsets']:
        namespace = item.get('namespace') or params['namespace']
        if not namespace:
            raise EdgeAffinityError('DaemonSet %s has no namespace: set namespace in the entry or the '
                                    'namespace option.' % item['name'])
        targets.append({'namespace': namespace, 'name': item['name']})
    return targets


def run(module):
    params = module.params
    targets = targets_from(params)
    service = EdgeAffinityService(KubernetesApi(get_api_client(module)), node_label=params['node_label'],
                                  state=params['state'], check_mode=module.check_mode)
    try:
        result = service.run(daemonsets=targets, label_selector=params['label_selector'],
                             discover=params['discover'], namespace=params['namespace'])
    except ApiError as exc:
        if exc.status == 400 and params['label_selector'] is not None:
            raise EdgeAffinityError(
                'label_selector %r is not a valid label selector (%s): use the kubectl -l syntax, '
                'e.g. k8s-app=kube-proxy or "tier in (net,proxy)".' % (params['label_selector'], exc))
        raise EdgeAffinityError(str(exc))
    if module._diff and service.diffs:
        result['diff'] = service.diffs
    for warning in service.warnings:
        module.warn(warning)
    return result


def main():
    module = AnsibleModule(
        argument_spec=auth_arg_spec(
            daemonsets=dict(type='list', elements='dict', options=dict(
                name=dict(type='str', required=True),
                namespace=dict(type='str'),
            )),
            label_selector=dict(type='str'),
            discover=dict(type='bool', default=False),
            namespace=dict(type='str'),
            node_label=dict(type='str', default=DEFAULT_NODE_LABEL),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except EdgeAffinityError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
