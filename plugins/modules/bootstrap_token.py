#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, edge.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: bootstrap_token
short_description: Create or reuse a kubeadm-style bootstrap token and return the discovery CA hash
version_added: 0.1.0
description:
  - Manages a bootstrap token Secret C(kube-system/bootstrap-token-<id>) of type C(bootstrap.kubernetes.io/token),
    laid out exactly like C(kubeadm token create) does, for C(edgeadm join) (SuperEdge) or C(kubeadm join).
  - Returns the token C(<id>.<secret>) and the discovery CA hashes C(sha256:<hex>) (SHA-256 of the DER
    SubjectPublicKeyInfo of the cluster CA certificate) for C(--discovery-token-ca-cert-hash). This replaces
    C(edgeadm token create --print-join-command) and the
    C(openssl x509 -pubkey -in ca.crt | openssl rsa -pubin -outform der | openssl dgst -sha256) pipeline.
  - Idempotent. Tokens created by this module carry the labels C(edge.cluster/managed-by=bootstrap_token) and
    C(edge.cluster/purpose=<purpose>). A token of ours with the same O(purpose), O(usages) and O(groups) that
    stays valid for at least O(min_remaining) and does not outlive O(ttl) is returned instead of creating a new
    one. Tokens created by other tools are never reused or deleted.
  - With O(state=absent), deletes the tokens of ours for O(purpose).
author:
  - edge.cluster contributors (!UNKNOWN)
options:
  state:
    description:
      - V(present) returns a valid token, creating one when no token of ours can be reused.
      - V(absent) deletes every token of ours for O(purpose).
    type: str
    choices: [present, absent]
    default: present
  purpose:
    description:
      - Tag telling apart tokens of this module created for different uses, so several can coexist;
        stored in the label C(edge.cluster/purpose).
      - At most 63 letters, digits, C(-), C(_) or C(.), starting and ending with a letter or digit.
    type: str
    default: join
  ttl:
    description:
      - Lifetime of a new token, as a duration such as V(24h), V(90m), V(1h30m), V(2d) or a number of
        seconds. V(0) creates a token that never expires (discouraged).
      - Units are V(s), V(m), V(h) and V(d) (24 hours); parts can be combined and may have decimals (V(1.5h)).
      - An existing token that expires later than O(ttl) from now is not reused.
    type: str
    default: 24h
  min_remaining:
    description:
      - Reuse an existing token only when it stays valid for at least this long, so that the nodes joining
        with it have time to finish. Same syntax as O(ttl).
      - Must be shorter than O(ttl) unless O(ttl=0).
    type: str
    default: 1h
  usages:
    description:
      - What the token may be used for. V(signing) lets the bootstrapsigner controller sign the
        C(kube-public/cluster-info) ConfigMap with it (token discovery); V(authentication) lets it
        authenticate to the kube-apiserver as C(system:bootstrap:<id>).
      - C(kubeadm join) and C(edgeadm join) need both.
    type: list
    elements: str
    choices: [signing, authentication]
    default: [signing, authentication]
  groups:
    description:
      - Extra groups the token authenticates as (C(auth-extra-groups)), each matching
        C(system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]).
      - The kubeadm default group is bound to the roles that let a node send its certificate request.
    type: list
    elements: str
    default: ['system:bootstrappers:kubeadm:default-node-token']
  description:
    description:
      - Human-readable description stored in the Secret when a token is created. Changing it does not
        replace an existing token.
    type: str
    default: Bootstrap token managed by the edge.cluster.bootstrap_token Ansible module.
  ca_cert_path:
    description:
      - Path on the host running the module to the cluster CA certificate (PEM, or a single DER certificate),
        usually C(/etc/kubernetes/pki/ca.crt). A bundle yields one hash per certificate.
      - When omitted, the CA is looked up in this order, the first one found wins (RV(ca_source) tells
        which) - the C(certificate-authority-data) of the kubeconfig in the C(kube-public/cluster-info)
        ConfigMap (what joining nodes verify the hash against; kubeadm creates it); the C(ca.crt) key
        of the C(kube-system/kube-root-ca.crt) ConfigMap (published by kube-controller-manager from its
        C(--root-ca-file)); the CA the module itself uses to verify the kube-apiserver (the kubeconfig's
        C(certificate-authority-data) or C(certificate-authority), or O(ca_cert)).
      - Ignored with O(state=absent).
    type: path
extends_documentation_fragment:
  - edge.cluster.k8s_auth
  - edge.cluster.k8s_auth.ATTRIBUTES
attributes:
  check_mode:
    support: full
    details:
      - Returns an existing reusable token unchanged.
      - When a token would be created, returns C(changed=true) and RV(created=false) with no RV(token),
        RV(token_id) or RV(expires_at), since none exists yet.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: A second run reuses the token created by the first one while it stays valid for O(min_remaining).
notes:
  - The returned RV(token) is a credential that lets any machine request to join the cluster. Set
    C(no_log=true) on the task and do not print or store it in clear text. Error messages never contain it.
  - Token discovery also needs the C(kube-public/cluster-info) ConfigMap (created by kubeadm or
    C(edgeadm addon)) and kube-controller-manager running the C(bootstrapsigner) controller, which signs that
    ConfigMap with every token that has the V(signing) usage; the C(tokencleaner) controller deletes expired
    tokens. Both are off by default - C(--controllers=*,bootstrapsigner,tokencleaner). The kube-apiserver needs
    C(--enable-bootstrap-token-auth).
  - Needs C(list), C(create) and C(delete) on Secrets in C(kube-system) and C(get) on the ConfigMaps above,
    for example the cluster admin kubeconfig on a cloud host.
  - The token secret part is generated with Python's C(secrets) module. The CA hash is computed with the
    C(cryptography) library when it is installed and otherwise with a small built-in DER parser.
seealso:
  - name: Authenticating with Bootstrap Tokens
    description: The Secret format and the controllers involved.
    link: https://kubernetes.io/docs/reference/access-authn-authz/bootstrap-tokens/
  - name: SuperEdge addon and edgeadm join
    description: The runbook step this module replaces.
    link: https://github.com/superedge/superedge/blob/main/docs/installation/addon_superedge.md
  - module: edge.cluster.kubeedge_token
'''

EXAMPLES = r'''
- name: Get a join token and the CA hash on the first cloud host
  edge.cluster.bootstrap_token:
    kubeconfig: /etc/kubernetes/admin.conf
    ca_cert_path: /etc/kubernetes/pki/ca.crt
  delegate_to: "{{ groups['cloud'][0] }}"
  run_once: true
  no_log: true
  register: bootstrap

- name: Join the edge nodes with edgeadm
  ansible.builtin.command:
    argv:
      - ./edgeadm
      - join
      - "{{ apiserver_address }}:6443"
      - --token={{ bootstrap.token }}
      - --discovery-token-ca-cert-hash={{ bootstrap.ca_cert_hashes[0] }}
      - --install-pkg-path={{ edgeadm_kube_package }}
      - --enable-edge=true
    chdir: /opt/edgeadm
    creates: /etc/kubernetes/kubelet.conf
  no_log: true
  when: inventory_hostname in groups['edge']

- name: A short-lived token for a one-off join, replaced when less than 30 minutes are left
  edge.cluster.bootstrap_token:
    kubeconfig: /etc/kubernetes/admin.conf
    purpose: edge-site-42
    ttl: 2h
    min_remaining: 30m
    description: Join token for edge site 42
  delegate_to: "{{ groups['cloud'][0] }}"
  run_once: true
  no_log: true
  register: site_token

- name: Report when the token expires (the token itself is not printed)
  ansible.builtin.debug:
    msg: "Token {{ site_token.token_id }} expires at {{ site_token.expires_at }}, CA {{ site_token.ca_cert_hashes | join(',') }}"
  run_once: true

- name: Revoke the tokens once all edge nodes have joined
  edge.cluster.bootstrap_token:
    kubeconfig: /etc/kubernetes/admin.conf
    purpose: edge-site-42
    state: absent
  delegate_to: "{{ groups['cloud'][0] }}"
  run_once: true
'''

RETURN = r'''
token:
  description:
    - The bootstrap token C(<token_id>.<secret>) for C(edgeadm join --token) or C(kubeadm join --token).
    - A credential; register it from a task with C(no_log=true).
  returned: O(state=present), except in check mode when a token would be created
  type: str
  sample: abcdef.0123456789abcdef
token_id:
  description: The public part of the token; the Secret is C(kube-system/bootstrap-token-<token_id>).
  returned: O(state=present), except in check mode when a token would be created
  type: str
  sample: abcdef
secret_name:
  description: Name of the token Secret in C(kube-system).
  returned: O(state=present), except in check mode when a token would be created
  type: str
  sample: bootstrap-token-abcdef
expires_at:
  description: When the token expires, RFC 3339 in UTC; V(null) for a token that never expires.
  returned: O(state=present), except in check mode when a token would be created
  type: str
  sample: "2026-01-02T03:04:05Z"
created:
  description:
    - Whether this run created the token. V(false) when an existing token was reused, and in check mode.
  returned: O(state=present)
  type: bool
  sample: true
ca_cert_hashes:
  description:
    - Discovery hashes of the cluster CA, C(sha256:<hex>), one per CA certificate, for
      C(--discovery-token-ca-cert-hash).
  returned: O(state=present)
  type: list
  elements: str
  sample: ["sha256:6f2c7c3e2a0a44b7c87a6f8d3b3e0d3e4c4f7e1b8a9c0d1e2f3a4b5c6d7e8f90"]
ca_source:
  description:
    - Where the CA certificate came from - V(ca_cert_path), V(cluster-info), V(kube-root-ca.crt) or
      V(connection) (the CA used to verify the kube-apiserver).
  returned: O(state=present)
  type: str
  sample: cluster-info
deleted:
  description: Names of the token Secrets deleted (or that would be deleted in check mode).
  returned: O(state=absent)
  type: list
  elements: str
  sample: [bootstrap-token-abcdef]
'''

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.edge.cluster.plugins.module_utils.k8s_client import (
    ApiException,
    TransportError,
    api_error_message,
    auth_arg_spec,
    get_api_client,
)
from ansible_collections.edge.cluster.plugins.module_utils import bootstrap_token as bt

try:
    from kubernetes.client import CoreV1Api, V1ObjectMeta, V1Secret
except ImportError:  # pragma: no cover - get_api_client reports the missing library
    CoreV1Api = V1ObjectMeta = V1Secret = None

CREATE_ATTEMPTS = 5


class TokenModuleError(Exception):
    """Ends the module with fail_json; the text is safe to show (no token in it)."""

    def __init__(self, msg, secrets=()):
        super(TokenModuleError, self).__init__(msg)
        self.secrets = [s for s in secrets if s]


class BootstrapTokenManager(object):
    """Find, reuse, create or delete the bootstrap tokens of one purpose."""

    def __init__(self, core_api, params, check_mode=False, now=time.time, connection_ca=None, warn=None):
        self.core_api = core_api
        self.params = params
        self.check_mode = check_mode
        self.now = now
        self.connection_ca = connection_ca
        self.warn = warn or (lambda msg: None)
        self.purpose = params['purpose']

    def _call(self, what, func, *args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ApiException as exc:
            raise TokenModuleError(api_error_message(exc, what))
        except (TransportError, OSError) as exc:
            raise TokenModuleError(api_error_message(exc, what))

    # ---------------------------------------------------------------- tokens

    def list_ours(self):
        """Our token Secrets for this purpose, summarised by bt.describe_existing."""
        secrets = self._call(
            'Secrets in %s (labels %s)' % (bt.SECRET_NAMESPACE, bt.selector(self.purpose)),
            self.core_api.list_namespaced_secret, bt.SECRET_NAMESPACE,
            label_selector=bt.selector(self.purpose), field_selector='type=%s' % bt.SECRET_TYPE)
        found = []
        for secret in secrets.items or []:
            if secret.type != bt.SECRET_TYPE:
                continue
            meta = secret.metadata
            found.append(bt.describe_existing(meta.name, bt.decode_data(secret.data),
                                              deleting=meta.deletion_timestamp is not None))
        return sorted(found, key=lambda c: c['name'])

    def create(self, ttl, usages, groups):
        last_conflict = None
        for dummy in range(CREATE_ATTEMPTS):
            token_id, token_secret = bt.generate_token()
            expires_at = int(self.now()) + ttl if ttl else None
            name = bt.secret_name(token_id)
            data = bt.secret_string_data(token_id, token_secret, expires_at, usages, groups,
                                         self.params['description'])
            body = V1Secret(
                api_version='v1', kind='Secret', type=bt.SECRET_TYPE, data=bt.encode_data(data),
                metadata=V1ObjectMeta(name=name, namespace=bt.SECRET_NAMESPACE, labels={
                    bt.MANAGED_BY_LABEL: bt.MANAGED_BY_VALUE, bt.PURPOSE_LABEL: self.purpose}))
            what = 'Secret %s/%s' % (bt.SECRET_NAMESPACE, name)
            try:
                self.core_api.create_namespaced_secret(bt.SECRET_NAMESPACE, body)
            except ApiException as exc:
                if exc.status == 409:  # token-id collision: draw another one
                    last_conflict = exc
                    continue
                raise TokenModuleError('Cannot create %s' % api_error_message(exc, what), secrets=[token_secret])
            except (TransportError, OSError) as exc:
                raise TokenModuleError(api_error_message(exc, what), secrets=[token_secret])
            return dict(name=name, token_id=token_id, token_secret=token_secret, expires_at=expires_at)
        raise TokenModuleError('Cannot create a bootstrap token Secret: %d random token ids were all taken (%s).'
                               % (CREATE_ATTEMPTS, api_error_message(last_conflict, 'last attempt')))

    # -------------------------------------------------------------- CA hash

    def _configmap(self, namespace, name):
        """Data of a ConfigMap, or None when it does not exist or cannot be read."""
        what = 'ConfigMap %s/%s' % (namespace, name)
        try:
            return self.core_api.read_namespaced_config_map(name, namespace).data or {}
        except ApiException as exc:
            if exc.status == 404:
                return None
            if exc.status == 403:
                self.warn('Skipping the CA in %s: %s' % (what, api_error_message(exc, what)))
                return None
            raise TokenModuleError(api_error_message(exc, what))
        except (TransportError, OSError) as exc:
            raise TokenModuleError(api_error_message(exc, what))

    def ca_sources(self):
        """Yield (source, description, PEM/DER bytes) in the documented order, lazily."""
        path = self.params.get('ca_cert_path')
        if path:
            try:
                with open(path, 'rb') as handle:
                    content = handle.read()
            except (IOError, OSError) as exc:
                raise TokenModuleError('Cannot read ca_cert_path %s: %s. Point it at the cluster CA '
                                       'certificate, usually /etc/kubernetes/pki/ca.crt.' % (path, exc))
            yield 'ca_cert_path', path, content
            return
        data = self._configmap('kube-public', 'cluster-info')
        if data and data.get('kubeconfig'):
            ca = bt.ca_from_kubeconfig_yaml(data['kubeconfig'])
            if ca:
                yield 'cluster-info', 'ConfigMap kube-public/cluster-info', ca
            else:
                self.warn('ConfigMap kube-public/cluster-info has no certificate-authority-data in its '
                          'kubeconfig; looking for the CA elsewhere.')
        data = self._configmap('kube-system', 'kube-root-ca.crt')
        if data and data.get('ca.crt'):
            yield 'kube-root-ca.crt', 'ConfigMap kube-system/kube-root-ca.crt', data['ca.crt']
        if self.connection_ca:
            try:
                with open(self.connection_ca, 'rb') as handle:
                    content = handle.read()
            except (IOError, OSError) as exc:
                self.warn('Cannot read the CA used for the connection, %s: %s' % (self.connection_ca, exc))
                content = None
            if content:
                yield 'connection', 'the CA verifying the kube-apiserver (%s)' % self.connection_ca, content

    def ca_hashes(self):
        for source, description, data in self.ca_sources():
            try:
                return source, bt.ca_cert_hashes(data)
            except bt.BootstrapTokenError as exc:
                raise TokenModuleError('Cannot compute the discovery CA hash from %s: %s. Set ca_cert_path '
                                       'to the cluster CA certificate (PEM).' % (description, exc))
        raise TokenModuleError(
            'Cannot find the cluster CA certificate: no kube-public/cluster-info or kube-system/kube-root-ca.crt '
            'ConfigMap, and the connection does not name a CA. Set ca_cert_path to the cluster CA certificate, '
            'usually /etc/kubernetes/pki/ca.crt on a control-plane host.')

    # ---------------------------------------------------------------- states

    def present(self):
        params = self.params
        ttl = bt.parse_duration(params['ttl'], 'ttl')
        min_remaining = bt.parse_duration(params['min_remaining'], 'min_remaining')
        if ttl and min_remaining >= ttl:
            raise TokenModuleError(
                'min_remaining (%s) must be shorter than ttl (%s), otherwise no token could ever be reused.'
                % (bt.format_duration(min_remaining), bt.format_duration(ttl)))
        usages = sorted(set(params['usages']))
        if not usages:
            raise TokenModuleError('usages must name at least one of: %s.' % ', '.join(bt.USAGES))
        groups = list(params['groups'])
        bt.validate_groups(groups)

        # The CA first: a failure there must not leave a fresh token behind.
        ca_source, hashes = self.ca_hashes()
        result = dict(changed=False, created=False, ca_cert_hashes=hashes, ca_source=ca_source)

        chosen = bt.pick_reusable(self.list_ours(), int(self.now()), ttl, min_remaining, usages, groups)
        if chosen is None:
            result['changed'] = True
            if self.check_mode:
                return result
            chosen = self.create(ttl, usages, groups)
            result['created'] = True
        result.update(
            token='%s.%s' % (chosen['token_id'], chosen['token_secret']), token_id=chosen['token_id'],
            secret_name=chosen['name'],
            expires_at=bt.format_rfc3339(chosen['expires_at']) if chosen['expires_at'] is not None else None)
        return result

    def absent(self):
        names = [c['name'] for c in self.list_ours()]
        if not self.check_mode:
            for name in names:
                try:
                    self.core_api.delete_namespaced_secret(name, bt.SECRET_NAMESPACE)
                except ApiException as exc:
                    if exc.status != 404:
                        raise TokenModuleError('Cannot delete %s' % api_error_message(
                            exc, 'Secret %s/%s' % (bt.SECRET_NAMESPACE, name)))
                except (TransportError, OSError) as exc:
                    raise TokenModuleError(api_error_message(exc, 'Secret %s/%s' % (bt.SECRET_NAMESPACE, name)))
        return dict(changed=bool(names), deleted=names)

    def run(self):
        try:
            bt.validate_purpose(self.purpose)
            if self.params['state'] == 'absent':
                return self.absent()
            return self.present()
        except bt.BootstrapTokenError as exc:
            raise TokenModuleError(str(exc))


def argument_spec():
    return auth_arg_spec(
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        purpose=dict(type='str', default='join'),
        ttl=dict(type='str', default='24h'),
        min_remaining=dict(type='str', default='1h'),
        usages=dict(type='list', elements='str', choices=list(bt.USAGES), default=list(bt.USAGES)),
        groups=dict(type='list', elements='str', default=[bt.DEFAULT_GROUP]),
        description=dict(type='str',
                         default='Bootstrap token managed by the edge.cluster.bootstrap_token Ansible module.'),
        ca_cert_path=dict(type='path'),
    )


def run_module(module):
    """Do the work; raise TokenModuleError on any failure."""
    api_client = get_api_client(module)
    manager = BootstrapTokenManager(CoreV1Api(api_client), module.params, check_mode=module.check_mode,
                                    connection_ca=getattr(api_client.configuration, 'ssl_ca_cert', None),
                                    warn=module.warn)
    return manager.run()


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        result = run_module(module)
    except TokenModuleError as exc:
        # Defence in depth: mask the token secret should any message ever quote it.
        module.no_log_values.update(exc.secrets)
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
