# -*- coding: utf-8 -*-
# Copyright: (c) 2026, edge.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One client factory for every edge.cluster module that talks to a cluster.

Modules add ``K8S_AUTH_ARG_SPEC`` to their argument_spec, document the options
with the ``edge.cluster.k8s_auth`` doc fragment and call ``get_api_client``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import traceback

from ansible.module_utils.basic import env_fallback, missing_required_lib

K8S_IMP_ERR = None
try:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    # Re-exported: modules catch ApiException from here.
    from kubernetes.client.rest import ApiException  # pylint: disable=unused-import
    HAS_K8S = True
except ImportError:  # pragma: no cover - exercised only without the library
    K8S_IMP_ERR = traceback.format_exc()
    HAS_K8S = False

    class ApiException(Exception):  # type: ignore[no-redef]
        """Placeholder so callers can always name ApiException."""

        status = None
        reason = None
        body = None


try:
    # Connection failures below the API (refused, reset, TLS) surface as this.
    from urllib3.exceptions import HTTPError as TransportError  # pylint: disable=unused-import
except ImportError:  # pragma: no cover - urllib3 comes with kubernetes
    class TransportError(Exception):  # type: ignore[no-redef]
        """Placeholder when urllib3 is missing."""


K8S_AUTH_ARG_SPEC = dict(
    kubeconfig=dict(type='path', fallback=(env_fallback, ['K8S_AUTH_KUBECONFIG'])),
    context=dict(type='str', fallback=(env_fallback, ['K8S_AUTH_CONTEXT'])),
    host=dict(type='str', fallback=(env_fallback, ['K8S_AUTH_HOST'])),
    api_key=dict(type='str', no_log=True, fallback=(env_fallback, ['K8S_AUTH_API_KEY'])),
    validate_certs=dict(type='bool', aliases=['verify_ssl'],
                        fallback=(env_fallback, ['K8S_AUTH_VERIFY_SSL'])),
    ca_cert=dict(type='path', aliases=['ssl_ca_cert'],
                 fallback=(env_fallback, ['K8S_AUTH_SSL_CA_CERT'])),
)


class ClusterConnectionError(Exception):
    """The options do not lead to a usable API client; the text says why."""


def auth_arg_spec(**extra):
    """Return a copy of the shared connection options merged with ``extra``."""
    spec = dict((k, dict(v)) for k, v in K8S_AUTH_ARG_SPEC.items())
    spec.update(extra)
    return spec


def _default_kubeconfig():
    env = os.environ.get('KUBECONFIG')
    if env:
        return env.split(os.pathsep)[0]
    return os.path.expanduser('~/.kube/config')


def build_configuration(params):
    """Turn the connection options into a kubernetes.client.Configuration.

    Precedence follows kubernetes.core: ``host``/``api_key`` given explicitly
    override what the kubeconfig says; without ``host`` a kubeconfig is
    required (the option, then $KUBECONFIG, then ~/.kube/config), and without
    any kubeconfig the in-cluster service account is tried.
    """
    if not HAS_K8S:
        raise ClusterConnectionError(missing_required_lib('kubernetes'))
    configuration = k8s_client.Configuration()
    kubeconfig = params.get('kubeconfig')
    host = params.get('host')
    context = params.get('context')

    if kubeconfig or not host:
        path = kubeconfig or _default_kubeconfig()
        if os.path.exists(path):
            try:
                k8s_config.load_kube_config(config_file=path, context=context,
                                            client_configuration=configuration,
                                            persist_config=False)
            except k8s_config.ConfigException as exc:
                raise ClusterConnectionError(
                    'Cannot use kubeconfig %s%s: %s. Check the file and the context name '
                    '(kubectl config get-contexts --kubeconfig %s).'
                    % (path, ' (context %s)' % context if context else '', exc, path))
        elif kubeconfig:
            raise ClusterConnectionError(
                'kubeconfig %s does not exist on the host running this module. Copy the '
                'cluster admin kubeconfig there or set the kubeconfig option to its path.' % path)
        elif not host:
            try:
                k8s_config.load_incluster_config(client_configuration=configuration)
            except k8s_config.ConfigException:
                raise ClusterConnectionError(
                    'No cluster connection: no kubeconfig at %s, no host option, and not '
                    'running inside a pod. Set kubeconfig (or K8S_AUTH_KUBECONFIG) to the '
                    'admin kubeconfig of the cloud cluster.' % path)

    if host:
        configuration.host = host
    api_key = params.get('api_key')
    if api_key:
        # The kubeconfig loader installs a hook that re-reads its own token
        # before each request: drop it so the explicit token wins.
        configuration.refresh_api_key_hook = None
        configuration.api_key = {'BearerToken': 'Bearer %s' % api_key}
    if params.get('validate_certs') is not None:
        configuration.verify_ssl = params['validate_certs']
    if params.get('ca_cert'):
        if not os.path.exists(params['ca_cert']):
            raise ClusterConnectionError('ca_cert %s does not exist on the host running this module: copy the cluster '
                                         'CA there, or remove ca_cert to use the CA of the kubeconfig.' % params['ca_cert'])
        configuration.ssl_ca_cert = params['ca_cert']
    return configuration


def get_api_client(module=None, params=None):
    """Return a kubernetes ApiClient for the module's connection options.

    With ``module`` every failure ends in ``module.fail_json`` with an
    actionable message; with only ``params`` a ClusterConnectionError is raised.
    """
    if module is not None:
        if not HAS_K8S:
            module.fail_json(msg=missing_required_lib('kubernetes'), exception=K8S_IMP_ERR)
        params = module.params
    try:
        configuration = build_configuration(params or {})
    except ClusterConnectionError as exc:
        if module is None:
            raise
        module.fail_json(msg=str(exc))
    return k8s_client.ApiClient(configuration)


def api_error_message(exc, what):
    """Describe an ApiException (or connection error) for a user.

    ``what`` names the object, e.g. "Secret kubeedge/tokensecret".
    """
    status = getattr(exc, 'status', None)
    if status is None or status == 0:
        return ('Cannot reach the Kubernetes API while reading %s: %s. Check that the '
                'kube-apiserver is up and that host/kubeconfig point at it.' % (what, exc))
    detail = getattr(exc, 'reason', '') or ''
    body = getattr(exc, 'body', None)
    if body:
        try:
            detail = json.loads(body).get('message', detail)
        except (ValueError, TypeError, AttributeError):
            pass
    hints = {
        401: 'the credentials were rejected: check the token or client certificate in the kubeconfig',
        403: 'the user lacks RBAC permission for it: use an admin kubeconfig or grant the verb',
        404: 'it does not exist',
    }
    hint = hints.get(status, 'the API answered HTTP %s' % status)
    return '%s: %s (%s).' % (what, detail, hint)
