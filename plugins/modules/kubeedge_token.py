#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, edge.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: kubeedge_token
short_description: Read the KubeEdge join token that CloudCore stores in the cluster
version_added: 0.1.0
description:
  - Reads the token that edge nodes need to join a KubeEdge cluster (C(keadm join --token)) from the
    Secret CloudCore keeps it in, by default C(kubeedge/tokensecret), data key C(tokendata).
  - Replaces C(kubectl get secret -n kubeedge tokensecret -o=jsonpath='{.data.tokendata}' | base64 -d)
    and C(keadm gettoken), using the Kubernetes API directly (no C(kubectl) or C(keadm) needed).
  - CloudCore creates the Secret a few seconds after it starts, so by default the module waits for
    it up to O(wait_timeout) seconds.
  - Validates the token (C(<CA hash>.<JWT>)) and returns it together with the CloudCore CA hash and
    its expiry time. Fails on a malformed or expired token.
  - The module only reads; it never changes anything.
author:
  - edge.cluster contributors (!UNKNOWN)
options:
  namespace:
    description:
      - Namespace CloudCore runs in and keeps the token Secret in.
    type: str
    default: kubeedge
  secret_name:
    description:
      - Name of the Secret holding the token under the data key C(tokendata).
    type: str
    default: tokensecret
  wait:
    description:
      - Whether to wait for the Secret to appear when it does not exist yet.
      - When V(false), a missing Secret fails at once.
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds to wait for the Secret when O(wait=true).
    type: int
    default: 120
  wait_sleep:
    description:
      - Seconds between two reads of the Secret while waiting.
    type: int
    default: 2
  allow_expired:
    description:
      - Return an expired token instead of failing. The result then has RV(expired=true).
    type: bool
    default: false
extends_documentation_fragment:
  - edge.cluster.k8s_auth
  - edge.cluster.k8s_auth.ATTRIBUTES
attributes:
  check_mode:
    support: full
    details: Read-only; check mode reads the Secret and returns the same result.
  diff_mode:
    support: none
  idempotent:
    support: full
notes:
  - The returned RV(token) is a credential that lets any machine join the cluster as an edge node.
    Set C(no_log=true) on the task and do not print or store it in clear text.
  - Error messages never contain the token.
  - CloudCore replaces the token periodically (cloudHub C(tokenRefreshDuration), 12 hours by default);
    read it right before joining edge nodes rather than caching it.
  - Needs the C(get) verb on Secrets in O(namespace), for example the cluster admin kubeconfig on a
    cloud host.
seealso:
  - name: keadm gettoken
    description: The KubeEdge command this module replaces.
    link: https://kubeedge.io/docs/setup/install-with-keadm/
'''

EXAMPLES = r'''
- name: Read the KubeEdge join token on the first cloud host
  edge.cluster.kubeedge_token:
    kubeconfig: /etc/kubernetes/admin.conf
  delegate_to: "{{ groups['cloud'][0] }}"
  run_once: true
  no_log: true
  register: kubeedge_join

- name: Join the edge nodes with it
  ansible.builtin.command:
    argv:
      - keadm
      - join
      - --cloudcore-ipport={{ cloudcore_address }}:10000
      - --token={{ kubeedge_join.token }}
  no_log: true
  changed_when: true
  when: inventory_hostname in groups['edge']

- name: Fail early when CloudCore is not up yet, without waiting
  edge.cluster.kubeedge_token:
    kubeconfig: /etc/kubernetes/admin.conf
    wait: false
  delegate_to: "{{ groups['cloud'][0] }}"
  run_once: true
  no_log: true
  register: kubeedge_join

- name: Read a token from a custom namespace, waiting up to 5 minutes
  edge.cluster.kubeedge_token:
    kubeconfig: /etc/kubernetes/admin.conf
    namespace: edge-system
    secret_name: tokensecret
    wait_timeout: 300
    wait_sleep: 5
  delegate_to: "{{ groups['cloud'][0] }}"
  run_once: true
  no_log: true
  register: kubeedge_join

- name: Report when the token expires (the token itself is not printed)
  ansible.builtin.debug:
    msg: "CA {{ kubeedge_join.ca_hash }}, token expires at {{ kubeedge_join.expires_at }}"
  run_once: true
'''

RETURN = r'''
token:
  description:
    - The join token for C(keadm join --token), C(<ca_hash>.<JWT>).
    - A credential; register it from a task with C(no_log=true).
  returned: success
  type: str
  sample: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.eyJhbGciOi...FAKE.eyJleHAiOjE...FAKE.FAKE-signature"
ca_hash:
  description:
    - The part of the token before the first dot, the SHA-256 (64 hex characters) of the CloudCore CA
      certificate. Edge nodes use it to pin the CA they download from CloudCore.
  returned: success
  type: str
  sample: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
expires_at:
  description:
    - When the token expires, ISO 8601 in UTC, from the C(exp) claim of its JWT.
  returned: success
  type: str
  sample: "2026-01-02T03:04:05Z"
expired:
  description:
    - Whether the token has expired. Only V(true) with O(allow_expired=true); otherwise the module fails.
  returned: success
  type: bool
  sample: false
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
from ansible_collections.edge.cluster.plugins.module_utils.kubeedge import (
    TOKEN_SECRET_KEY,
    TOKEN_SECRET_NAME,
    TOKEN_SECRET_NAMESPACE,
    KubeEdgeTokenError,
    decode_token_data,
    parse_token,
)

try:
    from kubernetes.client import CoreV1Api
except ImportError:  # pragma: no cover - get_api_client reports the missing library
    CoreV1Api = None


class TokenModuleError(Exception):
    """Ends the module with fail_json; the text is safe to show (no token in it)."""

    def __init__(self, msg, secrets=()):
        super(TokenModuleError, self).__init__(msg)
        self.secrets = [s for s in secrets if s]


class KubeEdgeTokenReader(object):
    """Wait for the token Secret, read it and validate the token."""

    def __init__(self, core_api, params, clock=time.monotonic, sleep=time.sleep, now=time.time):
        self.core_api = core_api
        self.namespace = params['namespace']
        self.secret_name = params['secret_name']
        self.wait = params['wait']
        self.wait_timeout = params['wait_timeout']
        self.wait_sleep = params['wait_sleep']
        self.allow_expired = params['allow_expired']
        self.clock = clock
        self.sleep = sleep
        self.now = now

    @property
    def what(self):
        return 'Secret %s/%s' % (self.namespace, self.secret_name)

    def read_secret(self):
        """Return the Secret, polling while it is missing (404) until wait_timeout."""
        start = self.clock()
        deadline = start + (self.wait_timeout if self.wait else 0)
        while True:
            try:
                return self.core_api.read_namespaced_secret(self.secret_name, self.namespace)
            except ApiException as exc:
                if exc.status != 404:
                    raise TokenModuleError(api_error_message(exc, self.what))
            except (TransportError, OSError) as exc:
                raise TokenModuleError(api_error_message(exc, self.what))
            now = self.clock()
            if now >= deadline:
                break
            self.sleep(max(0.0, min(self.wait_sleep, deadline - now)))
        waited = ' after waiting %d s' % round(self.clock() - start) if self.wait else ''
        raise TokenModuleError(
            '%s not found%s: is CloudCore running in namespace %s? CloudCore creates Secret %s '
            'there (data key %s) shortly after it starts. Check the CloudCore pod or service '
            '(kubectl -n %s get pods; journalctl -u cloudcore) and the namespace and secret_name '
            'options.' % (self.what, waited, self.namespace, self.secret_name, TOKEN_SECRET_KEY,
                          self.namespace))

    def run(self):
        secret = self.read_secret()
        data = secret.data or {}
        if TOKEN_SECRET_KEY not in data:
            keys = ', '.join(sorted(data)) or 'none'
            raise TokenModuleError(
                '%s has no data key %s (keys: %s): is it the Secret CloudCore writes its join token '
                'to? Check the secret_name option.' % (self.what, TOKEN_SECRET_KEY, keys))
        raw = data[TOKEN_SECRET_KEY]
        try:
            token = decode_token_data(raw)
        except KubeEdgeTokenError as exc:
            raise TokenModuleError(
                'Data key %s of %s is unusable: %s. CloudCore stores the token base64-encoded; '
                'check what wrote this Secret.' % (TOKEN_SECRET_KEY, self.what, exc), secrets=[raw])
        try:
            info = parse_token(token, now=self.now())
        except KubeEdgeTokenError as exc:
            raise TokenModuleError(
                'The token in %s (data key %s) is not a KubeEdge join token: %s. Expected '
                '<64 hex CA hash>.<JWT header>.<JWT payload>.<JWT signature>; check the CloudCore '
                'version and what wrote this Secret.' % (self.what, TOKEN_SECRET_KEY, exc),
                secrets=[raw, token])
        if info['expired'] and not self.allow_expired:
            raise TokenModuleError(
                'The token in %s expired at %s: CloudCore refreshes it periodically, so it is '
                'probably not running or cannot write the Secret. Check CloudCore, or set '
                'allow_expired=true to return it anyway.' % (self.what, info['expires_at']),
                secrets=[raw, token])
        return dict(changed=False, token=token, ca_hash=info['ca_hash'],
                    expires_at=info['expires_at'], expired=info['expired'])


def argument_spec():
    return auth_arg_spec(
        namespace=dict(type='str', default=TOKEN_SECRET_NAMESPACE),
        secret_name=dict(type='str', default=TOKEN_SECRET_NAME),
        wait=dict(type='bool', default=True),
        wait_timeout=dict(type='int', default=120),
        wait_sleep=dict(type='int', default=2),
        allow_expired=dict(type='bool', default=False),
    )


def run_module(module):
    """Do the work; raise TokenModuleError on any failure."""
    if module.params['wait_timeout'] < 0:
        raise TokenModuleError('wait_timeout must be 0 or more seconds, got %d.' % module.params['wait_timeout'])
    if module.params['wait_sleep'] < 1:
        raise TokenModuleError('wait_sleep must be 1 or more seconds, got %d.' % module.params['wait_sleep'])
    core_api = CoreV1Api(get_api_client(module))
    return KubeEdgeTokenReader(core_api, module.params).run()


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        result = run_module(module)
    except TokenModuleError as exc:
        # Defence in depth: mask the token should any message ever quote it.
        module.no_log_values.update(s for s in exc.secrets if len(s) >= 8)
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
