#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, edge.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: edge_node_metadata
short_description: Keep the labels and taints an inventory asks for on a Node, and only those it put there
version_added: 0.4.0
description:
  - Sets O(labels) and O(taints) on Node O(name), with one read and at most one merge patch.
  - What the module put on the Node is recorded in the Node's annotation C(edge.cluster/managed-node-metadata).
    A label or taint that was recorded but is no longer asked for is removed; labels and taints others set
    (edgecore, other tools, an operator's C(kubectl label) or C(kubectl taint)) are never removed.
  - Asking for a label or taint that is already on the Node with the same value takes it over (it is recorded
    from then on), for example the labels C(keadm join --labels) set at registration.
  - A taint is identified by its key and effect, as Kubernetes does; its value may change in place.
  - The patch carries the C(resourceVersion) it was computed from, so a Node changed in between (the node
    controller adds and removes taints) is read again and the change recomputed.
author:
  - edge.cluster contributors (@edge-cluster)
options:
  name:
    description:
      - The Node's name.
    type: str
    required: true
  labels:
    description:
      - The labels to carry, key to value. Values are strings; V(true) becomes C("true").
    type: dict
    default: {}
  taints:
    description:
      - The taints to carry.
    type: list
    elements: dict
    default: []
    suboptions:
      key:
        description: The taint's key (the form of a label key).
        type: str
        required: true
      value:
        description: The taint's value; empty for none.
        type: str
        default: ''
      effect:
        description: What the taint does to pods that do not tolerate it.
        type: str
        required: true
        choices: [NoSchedule, PreferNoSchedule, NoExecute]
extends_documentation_fragment:
  - edge.cluster.k8s_auth
  - edge.cluster.k8s_auth.ATTRIBUTES
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: Shows the labels and taints the module manages on the Node, before and after.
  idempotent:
    support: full
requirements:
  - kubernetes (the Python client; Debian package C(python3-kubernetes))
notes:
  - Needs C(get) and C(patch) on Nodes.
  - Empty O(labels) and O(taints) remove everything the module recorded on the Node, and the record stays
    empty; nothing else changes.
seealso:
  - name: Taints and Tolerations
    description: Taints in the Kubernetes documentation.
    link: https://kubernetes.io/docs/concepts/scheduling-eviction/taint-and-toleration/
  - module: edge.cluster.kubeedge_cloud_info
'''

EXAMPLES = r'''
- name: Label and taint an edge node
  edge.cluster.edge_node_metadata:
    kubeconfig: /etc/kubernetes/admin.conf
    name: edge-1
    labels:
      topology.kubernetes.io/zone: shop-12
    taints:
      - key: edge.example.org/dedicated
        value: pos
        effect: NoSchedule

- name: Remove what the module put on edge-1 (other labels and taints stay)
  edge.cluster.edge_node_metadata:
    kubeconfig: /etc/kubernetes/admin.conf
    name: edge-1
'''

RETURN = r'''
added:
  description: The labels (keys) and taints (C(key:effect)) set or changed.
  returned: success
  type: dict
  sample: {"labels": ["topology.kubernetes.io/zone"], "taints": ["edge.example.org/dedicated:NoSchedule"]}
removed:
  description: The recorded labels (keys) and taints (C(key:effect)) removed because they are no longer asked for.
  returned: success
  type: dict
  sample: {"labels": [], "taints": []}
diff:
  description: The labels and taints the module manages on the Node, before and after.
  returned: in diff mode
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.edge.cluster.plugins.module_utils.k8s_client import (
    HAS_K8S,
    ApiException,
    ClusterConnectionError,
    TransportError,
    api_error_message,
    auth_arg_spec,
    build_configuration,
)
from ansible_collections.edge.cluster.plugins.module_utils.node_metadata import NodeMetadataError, plan

try:
    from kubernetes.client import ApiClient, CoreV1Api
except ImportError:  # pragma: no cover - reported through HAS_K8S
    ApiClient = CoreV1Api = None

FIELD_MANAGER = 'edge.cluster.edge_node_metadata'
ATTEMPTS = 5


class NodeApiError(Exception):
    def __init__(self, msg, status=None):
        super(NodeApiError, self).__init__(msg)
        self.status = status


class NodeApi(object):
    """Read and patch one Node through the kubernetes client (plain dicts, the API's field names)."""

    def __init__(self, core):
        self.core = core

    def _call(self, what, method, *args, **kwargs):
        try:
            return method(*args, **kwargs)
        except ApiException as exc:
            raise NodeApiError(api_error_message(exc, what), getattr(exc, 'status', None))
        except (TransportError, OSError) as exc:
            raise NodeApiError(api_error_message(exc, what))

    def read(self, name):
        node = self._call('Node %s' % name, self.core.read_node, name)
        meta, spec = node.metadata, node.spec
        taints = []
        for taint in (spec.taints if spec is not None else None) or []:
            entry = {'key': taint.key, 'effect': taint.effect}
            if taint.value:
                entry['value'] = taint.value
            if taint.time_added is not None:
                entry['timeAdded'] = taint.time_added.strftime('%Y-%m-%dT%H:%M:%SZ')
            taints.append(entry)
        return {'labels': dict(meta.labels or {}), 'annotations': dict(meta.annotations or {}), 'taints': taints,
                'resourceVersion': meta.resource_version}

    def patch(self, name, body):
        return self._call('Node %s' % name, self.core.patch_node, name, body, field_manager=FIELD_MANAGER)


def converge(api, name, labels, taints, check_mode, attempts=ATTEMPTS):
    """Read, plan, patch; on a conflict (the Node changed since the read) read again."""
    for dummy in range(attempts):
        try:
            node = api.read(name)
        except NodeApiError as exc:
            if exc.status == 404:
                raise NodeApiError('Node %s does not exist: join the host first (its edgecore registers the Node), '
                                   'or check the name.' % name, 404)
            raise
        result = plan(node['labels'], node['taints'], node['annotations'], labels, taints)
        if not result['changed'] or check_mode:
            return result
        body = dict(result['patch'])
        body['metadata'] = dict(body.get('metadata', {}), resourceVersion=node['resourceVersion'])
        try:
            api.patch(name, body)
            return result
        except NodeApiError as exc:
            if exc.status != 409:
                raise
    raise NodeApiError('Node %s kept changing while its labels and taints were written (%d attempts): run again.'
                       % (name, attempts), 409)


def main():
    module = AnsibleModule(
        argument_spec=auth_arg_spec(
            name=dict(type='str', required=True),
            labels=dict(type='dict', default={}),
            taints=dict(type='list', elements='dict', default=[], options=dict(
                key=dict(type='str', required=True, no_log=False),
                value=dict(type='str', default=''),
                effect=dict(type='str', required=True, choices=['NoSchedule', 'PreferNoSchedule', 'NoExecute']),
            )),
        ),
        supports_check_mode=True,
    )
    if not HAS_K8S:
        module.fail_json(msg=missing_required_lib('kubernetes') + ' On Debian/Ubuntu: apt install python3-kubernetes.')
    try:
        api = NodeApi(CoreV1Api(ApiClient(build_configuration(module.params))))
        result = converge(api, module.params['name'], module.params['labels'], module.params['taints'],
                          module.check_mode)
    except (ClusterConnectionError, NodeApiError, NodeMetadataError) as exc:
        module.fail_json(msg=str(exc))
    out = dict(changed=result['changed'], added=result['added'], removed=result['removed'])
    if module._diff:
        out['diff'] = dict(before=result['before'], after=result['after'])
    module.exit_json(**out)


if __name__ == '__main__':
    main()
