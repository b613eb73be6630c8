#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, edge.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: kubeedge_cloud_info
short_description: Read what a cluster holds of KubeEdge's cloud side, in one call
version_added: 0.1.0
description:
  - Reads, with one connection to the Kubernetes API, what a CloudCore install or check needs to know
    about the cluster.
  - The Kubernetes version (C(/version)).
  - The CloudCore Deployment C(keadm init) creates, and the image of its C(cloudcore) container.
  - CloudCore's configuration, the C(cloudcore.yaml) key of the ConfigMap of the same name.
  - The IP and DNS subject alternative names of CloudCore's server certificate, Secret
    C(cloudcoresecret) (data key C(cloudcoredata)).
  - Whether the join token Secret C(tokensecret) exists.
  - The edge Nodes (label C(node-role.kubernetes.io/edge)) with their KubeEdge version and readiness,
    when O(edge_nodes=true).
  - Replaces C(kubectl version), C(kubectl -n kubeedge get deployment,configmap cloudcore),
    C(kubectl -n kubeedge get secret cloudcoresecret | openssl x509 -ext subjectAltName) and
    C(kubectl -n kubeedge get secret tokensecret) in the KubeEdge runbook's checks.
  - Only the certificate's names leave the host, never the Secret's data. The module never changes anything.
  - Objects that do not exist are reported as absent, not as errors. An unreachable cluster, rejected
    credentials or missing read rights fail the module with a message that says which and how to fix it;
    RV(stage) tells the caller which step failed.
author:
  - edge.cluster contributors (!UNKNOWN)
options:
  namespace:
    description:
      - Namespace CloudCore runs in.
    type: str
    default: kubeedge
  name:
    description:
      - Name of CloudCore's Deployment and of its ConfigMap.
    type: str
    default: cloudcore
  server_certificate:
    description:
      - Whether to read the server certificate Secret C(cloudcoresecret) and return its subject alternative names.
      - Needs the C(get) verb on Secrets in O(namespace).
    type: bool
    default: true
  token_secret:
    description:
      - Whether to look for the join token Secret C(tokensecret). Its content is not read into the result.
    type: bool
    default: true
  version:
    description:
      - Whether to read the Kubernetes version (RV(kubernetes)).
    type: bool
    default: true
  cloudcore:
    description:
      - Whether to read CloudCore's Deployment and ConfigMap (RV(deployment), RV(config)).
    type: bool
    default: true
  edge_nodes:
    description:
      - Whether to list the edge Nodes (RV(edge_nodes)), with one request.
      - Needs the C(list) verb on Nodes.
    type: bool
    default: false
  other_nodes:
    description:
      - Whether to list the names and labels of the Nodes without O(edge_node_label) (RV(other_nodes)), with one
        request; a node name an edge host is about to register must not be one of them.
      - Needs the C(list) verb on Nodes.
    type: bool
    default: false
  release:
    description:
      - Whether to say which KubeEdge version CloudCore runs and at which addresses it is advertised
        (RV(release)). They come from the Deployment C(keadm init) created and its ConfigMap, otherwise from the ConfigMap
        C(edge-cluster-cloudcore) the edge.cluster cloudcore role writes for a CloudCore it runs as a systemd
        service (binary method).
      - An edge node must not run a newer KubeEdge than the CloudCore it joins.
    type: bool
    default: false
  cluster_uid:
    description:
      - Whether to read the UID of namespace C(kube-system) (RV(cluster_uid)), which names the cluster; it differs
        between clusters even when their kubeconfigs look alike.
    type: bool
    default: false
  edge_node_label:
    description:
      - The label that marks edge Nodes; C(keadm join) and C(edgecore) set it.
    type: str
    default: node-role.kubernetes.io/edge
extends_documentation_fragment:
  - edge.cluster.k8s_auth
  - edge.cluster.k8s_auth.ATTRIBUTES
attributes:
  check_mode:
    support: full
    details: Read-only; check mode reads the same objects and returns the same result.
  diff_mode:
    support: none
  idempotent:
    support: full
requirements:
  - kubernetes (the Python client; Debian package C(python3-kubernetes))
  - the Python C(cryptography) package or the C(openssl) command, to read the certificate's names
notes:
  - Needs C(get) on Deployments, ConfigMaps and Secrets in O(namespace) (and C(list) on Nodes with
    O(edge_nodes=true)), for example the cluster admin kubeconfig on a cloud host.
  - Without the Python client the module fails with RV(missing_python_client=true), so a playbook can
    install it (C(python3-kubernetes)) and call the module again.
seealso:
  - module: edge.cluster.kubeedge_token
  - name: keadm init
    description: The KubeEdge command whose result this module reads.
    link: https://kubeedge.io/docs/setup/install-with-keadm/
'''

EXAMPLES = r'''
- name: Read the cloud side of KubeEdge on the first cloud host
  edge.cluster.kubeedge_cloud_info:
    kubeconfig: /etc/kubernetes/admin.conf
  register: kubeedge_cloud

- name: Show the CloudCore version keadm init installed, if any
  ansible.builtin.debug:
    msg: "Kubernetes {{ kubeedge_cloud.kubernetes.git_version }}, CloudCore {{ kubeedge_cloud.deployment.version | default('absent') }}"

- name: Fail when CloudCore's certificate does not name the advertise address
  ansible.builtin.assert:
    that: "'192.0.2.10' in kubeedge_cloud.server_certificate.ip_addresses"
  when: kubeedge_cloud.server_certificate.exists

- name: List the edge Nodes that are Ready with KubeEdge v1.13.1, in one request
  edge.cluster.kubeedge_cloud_info:
    kubeconfig: /etc/kubernetes/admin.conf
    version: false
    cloudcore: false
    server_certificate: false
    token_secret: false
    edge_nodes: true
  register: kubeedge_cloud

- name: Show them
  ansible.builtin.debug:
    msg: "{{ kubeedge_cloud.edge_nodes | selectattr('ready') | selectattr('kubeedge_version', 'eq', 'v1.13.1') | map(attribute='name') | list }}"

- name: Only the version and the Deployment, with a kubeconfig context of its own
  edge.cluster.kubeedge_cloud_info:
    kubeconfig: /root/.kube/config
    context: edge-admin
    server_certificate: false
    token_secret: false
'''

RETURN = r'''
kubernetes:
  description: The cluster's version, from C(/version).
  returned: when O(version=true)
  type: dict
  contains:
    git_version:
      description: The full version.
      type: str
      sample: v1.27.4
    major:
      description: The major version.
      type: str
      sample: "1"
    minor:
      description: The minor version, digits only (C(27+) becomes C(27)).
      type: str
      sample: "27"
deployment:
  description:
    - CloudCore's Deployment; RV(deployment.exists=false) when there is none (and then no other key).
  returned: when O(cloudcore=true)
  type: dict
  contains:
    exists:
      description: Whether the Deployment exists.
      type: bool
      sample: true
    image:
      description: The image of its C(cloudcore) container (the first container without one of that name).
      type: str
      sample: kubeedge/cloudcore:v1.13.1
    version:
      description: The tag of that image.
      type: str
      sample: v1.13.1
    ready_replicas:
      description: Ready replicas from the Deployment's status.
      type: int
      sample: 1
config:
  description:
    - The C(cloudcore.yaml) key of CloudCore's ConfigMap, as text; empty when the ConfigMap or the key is missing.
  returned: when O(cloudcore=true)
  type: str
  sample: "apiVersion: cloudcore.config.kubeedge.io/v1alpha2\nkind: CloudCore\n..."
server_certificate:
  description: What Secret C(cloudcoresecret) holds; the Secret's data itself is never returned.
  returned: when O(server_certificate=true)
  type: dict
  contains:
    exists:
      description: Whether the Secret exists with a certificate under C(cloudcoredata).
      type: bool
      sample: true
    readable:
      description: Whether its names could be read; RV(server_certificate.error) says why not.
      type: bool
      sample: true
    ip_addresses:
      description: The certificate's IP subject alternative names.
      type: list
      elements: str
      sample: ["192.0.2.10"]
    dns_names:
      description: The certificate's DNS subject alternative names.
      type: list
      elements: str
      sample: ["cloudcore.example.org"]
    error:
      description: Why the names could not be read.
      type: str
      returned: when RV(server_certificate.readable=false)
token_secret:
  description: Whether the join token Secret C(tokensecret) exists with a C(tokendata) key.
  returned: when O(token_secret=true)
  type: dict
  contains:
    exists:
      description: Whether it exists with a C(tokendata) key.
      type: bool
      sample: true
edge_nodes:
  description: The edge Nodes, sorted by name.
  returned: when O(edge_nodes=true)
  type: list
  elements: dict
  contains:
    name:
      description: The Node's name.
      type: str
      sample: edge-1
    kubeedge_version:
      description:
        - The KubeEdge version edgecore reports, from the end of C(status.nodeInfo.kubeletVersion)
          (C(v1.23.15-kubeedge-v1.13.1) gives V(v1.13.1)); empty when it reports none.
      type: str
      sample: v1.13.1
    kubelet_version:
      description: C(status.nodeInfo.kubeletVersion) as the Node reports it.
      type: str
      sample: v1.23.15-kubeedge-v1.13.1
    ready:
      description: Whether the Node's C(Ready) condition is C(True).
      type: bool
      sample: true
    labels:
      description: The Node's labels.
      type: dict
      sample: {"node-role.kubernetes.io/edge": ""}
    internal_ips:
      description: The Node's C(InternalIP) addresses.
      type: list
      elements: str
      sample: ["192.0.2.21"]
    taints:
      description: The Node's taints (C(key), C(effect), and C(value) when it has one).
      type: list
      elements: dict
      sample: [{"key": "edge.example.org/dedicated", "value": "pos", "effect": "NoSchedule"}]
    managed_metadata:
      description:
        - The labels (keys) and taints (C(key:effect)) M(edge.cluster.edge_node_metadata) recorded as its own on
          the Node.
      type: dict
      sample: {"labels": ["topology.kubernetes.io/zone"], "taints": []}
other_nodes:
  description: The Nodes without O(edge_node_label) (cloud nodes), sorted by name.
  returned: when O(other_nodes=true)
  type: list
  elements: dict
  contains:
    name:
      description: The Node's name.
      type: str
      sample: control-plane-1
    labels:
      description: The Node's labels.
      type: dict
      sample: {"node-role.kubernetes.io/control-plane": ""}
release:
  description:
    - The KubeEdge release of CloudCore. Empty RV(release.version) when neither a keadm Deployment nor a record
      of the binary method exists.
  returned: when O(release=true)
  type: dict
  contains:
    version:
      description:
        - The version CloudCore runs; with several CloudCore hosts of the binary method, the oldest of them.
      type: str
      sample: v1.13.1
    advertise_addresses:
      description: The addresses CloudCore is advertised at (C(cloudHub.advertiseAddress)).
      type: list
      elements: str
      sample: ["192.0.2.10"]
    source:
      description: V(deployment) (keadm init), V(record) (binary method) or empty (unknown).
      type: str
      sample: deployment
    hosts:
      description: The binary method's CloudCore hosts and the version each runs.
      type: dict
      sample: {"cloud-1": "v1.13.1"}
    host_addresses:
      description: The binary method's CloudCore hosts and the addresses each advertises.
      type: dict
      returned: when RV(release.source=record)
      sample: {"cloud-1": ["192.0.2.10"]}
cluster_uid:
  description: The UID of namespace C(kube-system), an identity of the cluster.
  returned: when O(cluster_uid=true)
  type: str
  sample: 5b0b1d9c-1f0e-4a8e-9a57-3c1d2e4f5a6b
stage:
  description:
    - Which step failed, V(connect) (no usable client or kubeconfig), V(version) (the API did not answer)
      or V(read) (an object could not be read, e.g. for lack of rights).
  returned: failure
  type: str
  sample: read
missing_python_client:
  description: V(true) when the module failed because the Python C(kubernetes) client is not installed.
  returned: failure
  type: bool
  sample: true
'''

import base64
import binascii
import ipaddress
import re
import textwrap

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
from ansible_collections.edge.cluster.plugins.module_utils.cloudcore_release import (
    RELEASE_RECORD_NAME,
    release_from_keadm,
    release_from_record,
)
from ansible_collections.edge.cluster.plugins.module_utils.kubeedge import (
    TOKEN_SECRET_KEY,
    TOKEN_SECRET_NAME,
)
from ansible_collections.edge.cluster.plugins.module_utils.node_metadata import owned_of

try:
    from kubernetes.client import ApiClient, AppsV1Api, CoreV1Api, VersionApi
except ImportError:  # pragma: no cover - reported through HAS_K8S
    ApiClient = AppsV1Api = CoreV1Api = VersionApi = None

try:
    from cryptography import x509
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - the openssl command is the fallback
    x509 = None
    HAS_CRYPTOGRAPHY = False

SERVER_CERT_SECRET = 'cloudcoresecret'
SERVER_CERT_KEY = 'cloudcoredata'
CONFIG_KEY = 'cloudcore.yaml'
# edgecore reports e.g. v1.23.15-kubeedge-v1.13.1 as its kubelet version.
KUBEEDGE_VERSION_RE = re.compile(r'kubeedge-(v[0-9]+\.[0-9]+\.[0-9]+)$')


class CloudInfoError(Exception):
    """Ends the module with fail_json; ``stage`` says which step failed."""

    def __init__(self, msg, stage):
        super(CloudInfoError, self).__init__(msg)
        self.stage = stage


def _sans_with_cryptography(der):
    cert = x509.load_der_x509_certificate(der)
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return ([str(ip) for ip in ext.get_values_for_type(x509.IPAddress)],
            list(ext.get_values_for_type(x509.DNSName)))


def _sans_with_openssl(der, run_command):
    pem = '-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n' % '\n'.join(
        textwrap.wrap(base64.b64encode(der).decode('ascii'), 64))
    rc, out, err = run_command(['openssl', 'x509', '-noout', '-ext', 'subjectAltName'], data=pem)
    if rc != 0:
        raise ValueError('openssl x509 failed: %s' % (err or out).strip()[:300])
    # openssl spells IPv6 in full (2001:DB8:0:0:...): normalise it as cryptography does.
    ips = [str(ipaddress.ip_address(ip)) for ip in re.findall(r'IP Address:([0-9a-fA-F:.]+)', out)]
    return ips, re.findall(r'DNS:([^,\s]+)', out)


def certificate_names(data, run_command=None, use_cryptography=HAS_CRYPTOGRAPHY):
    """Describe the base64 DER certificate ``data`` (a Secret value) by its subject alternative names."""
    try:
        der = base64.b64decode(data, validate=True)
        if not der:
            raise ValueError('the value is empty')
        if use_cryptography:
            ips, dns = _sans_with_cryptography(der)
        elif run_command is not None:
            ips, dns = _sans_with_openssl(der, run_command)
        else:
            raise ValueError('neither the Python cryptography package nor the openssl command is available')
    except (binascii.Error, ValueError, TypeError) as exc:
        return dict(exists=True, readable=False, ip_addresses=[], dns_names=[],
                    error='the certificate in Secret %s (data key %s) cannot be read: %s'
                    % (SERVER_CERT_SECRET, SERVER_CERT_KEY, exc))
    return dict(exists=True, readable=True, ip_addresses=ips, dns_names=dns)


def node_summary(node):
    """Name, KubeEdge version, readiness and labels of a V1Node."""
    info = node.status.node_info if node.status is not None else None
    kubelet = (info.kubelet_version if info is not None else '') or ''
    match = KUBEEDGE_VERSION_RE.search(kubelet)
    conditions = (node.status.conditions if node.status is not None else None) or []
    addresses = (node.status.addresses if node.status is not None else None) or []
    internal = [a.address for a in addresses if a.type == 'InternalIP']
    spec_taints = (node.spec.taints if node.spec is not None else None) or []
    taints = [dict(dict(key=t.key, effect=t.effect), **({'value': t.value} if t.value else {})) for t in spec_taints]
    return dict(name=node.metadata.name, kubelet_version=kubelet, kubeedge_version=match.group(1) if match else '',
                ready=any(c.type == 'Ready' and c.status == 'True' for c in conditions),
                labels=dict(node.metadata.labels or {}), internal_ips=internal, taints=taints,
                managed_metadata=owned_of(node.metadata.annotations))


class CloudInfoReader(object):
    """Read the cloud side of KubeEdge through the given API objects."""

    def __init__(self, version_api, apps_api, core_api, params, run_command=None):
        self.version_api = version_api
        self.apps_api = apps_api
        self.core_api = core_api
        self.namespace = params['namespace']
        self.name = params['name']
        self.params = params
        self.run_command = run_command

    @staticmethod
    def _call(what, stage, call, *args, **kwargs):
        """Return call(*args, **kwargs); an API or connection error ends in CloudInfoError naming ``what``.
        With ``missing_ok``, a 404 (the object or its namespace does not exist) returns None."""
        missing_ok = kwargs.pop('missing_ok', False)
        try:
            return call(*args, **kwargs)
        except ApiException as exc:
            if missing_ok and exc.status == 404:
                return None
            raise CloudInfoError(api_error_message(exc, what), stage)
        except (TransportError, OSError) as exc:
            raise CloudInfoError(api_error_message(exc, what), stage)

    def _get(self, read, kind, name):
        """Return the object, or None when it (or its namespace) does not exist."""
        return self._call('%s %s/%s' % (kind, self.namespace, name), 'read', read, name, self.namespace,
                          missing_ok=True)

    def version(self):
        info = self._call('the cluster version (/version)', 'version', self.version_api.get_code)
        return dict(git_version=info.git_version, major=re.sub(r'[^0-9]', '', info.major or ''),
                    minor=re.sub(r'[^0-9]', '', info.minor or ''))

    def deployment(self):
        dep = self._get(self.apps_api.read_namespaced_deployment, 'Deployment', self.name)
        if dep is None:
            return dict(exists=False)
        containers = dep.spec.template.spec.containers or []
        chosen = [c for c in containers if c.name == 'cloudcore'] or containers[:1]
        image = chosen[0].image if chosen else ''
        version = image.rsplit(':', 1)[1] if ':' in image.rsplit('/', 1)[-1] else ''
        return dict(exists=True, image=image, version=version,
                    ready_replicas=(dep.status.ready_replicas or 0) if dep.status else 0)

    def config(self):
        cm = self._get(self.core_api.read_namespaced_config_map, 'ConfigMap', self.name)
        return ((cm.data or {}).get(CONFIG_KEY, '') if cm is not None else '') or ''

    def server_certificate(self):
        secret = self._get(self.core_api.read_namespaced_secret, 'Secret', SERVER_CERT_SECRET)
        data = (secret.data or {}).get(SERVER_CERT_KEY) if secret is not None else None
        if not data:
            return dict(exists=False, readable=False, ip_addresses=[], dns_names=[])
        return certificate_names(data, run_command=self.run_command)

    def edge_nodes(self):
        selector = self.params['edge_node_label']
        nodes = self._call('the Nodes labelled %s' % selector, 'read', self.core_api.list_node,
                           label_selector=selector).items
        return sorted((node_summary(n) for n in nodes), key=lambda n: n['name'])

    def other_nodes(self):
        selector = '!' + self.params['edge_node_label']
        nodes = self._call('the Nodes without label %s' % self.params['edge_node_label'], 'read',
                           self.core_api.list_node, label_selector=selector).items
        return sorted((dict(name=n.metadata.name, labels=dict(n.metadata.labels or {})) for n in nodes),
                      key=lambda n: n['name'])

    def cluster_uid(self):
        ns = self._call('namespace kube-system', 'read', self.core_api.read_namespace, 'kube-system')
        return ns.metadata.uid

    def token_secret(self):
        secret = self._get(self.core_api.read_namespaced_secret, 'Secret', TOKEN_SECRET_NAME)
        return dict(exists=secret is not None and TOKEN_SECRET_KEY in (secret.data or {}))

    def release(self, deployment=None, config=None):
        deployment = deployment if deployment is not None else self.deployment()
        if deployment.get('exists'):
            return release_from_keadm(deployment.get('version', ''),
                                      config if config is not None else self.config())
        record = self._get(self.core_api.read_namespaced_config_map, 'ConfigMap', RELEASE_RECORD_NAME)
        return release_from_record((record.data or {}) if record is not None else None)

    def run(self):
        result = dict(changed=False)
        if self.params['version']:
            result['kubernetes'] = self.version()
        if self.params['cloudcore']:
            result.update(deployment=self.deployment(), config=self.config())
        if self.params['release']:
            result['release'] = self.release(result.get('deployment'), result.get('config'))
        if self.params['server_certificate']:
            result['server_certificate'] = self.server_certificate()
        if self.params['token_secret']:
            result['token_secret'] = self.token_secret()
        if self.params['edge_nodes']:
            result['edge_nodes'] = self.edge_nodes()
        if self.params['other_nodes']:
            result['other_nodes'] = self.other_nodes()
        if self.params['cluster_uid']:
            result['cluster_uid'] = self.cluster_uid()
        return result


def argument_spec():
    return auth_arg_spec(
        namespace=dict(type='str', default='kubeedge'),
        name=dict(type='str', default='cloudcore'),
        version=dict(type='bool', default=True),
        cloudcore=dict(type='bool', default=True),
        server_certificate=dict(type='bool', default=True),
        token_secret=dict(type='bool', default=True),
        edge_nodes=dict(type='bool', default=False),
        edge_node_label=dict(type='str', default='node-role.kubernetes.io/edge'),
        other_nodes=dict(type='bool', default=False),
        cluster_uid=dict(type='bool', default=False),
        release=dict(type='bool', default=False),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_K8S:
        module.fail_json(msg=missing_required_lib('kubernetes') + ' On Debian/Ubuntu: apt install python3-kubernetes.',
                         missing_python_client=True, stage='connect')
    try:
        api = ApiClient(build_configuration(module.params))
    except ClusterConnectionError as exc:
        module.fail_json(msg=str(exc), stage='connect')
    reader = CloudInfoReader(VersionApi(api), AppsV1Api(api), CoreV1Api(api), module.params,
                             run_command=module.run_command)
    try:
        result = reader.run()
    except CloudInfoError as exc:
        module.fail_json(msg=str(exc), stage=exc.stage)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
