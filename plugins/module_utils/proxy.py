# -*- coding: utf-8 -*-
# Copyright: (c) 2026, edge.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The proxy environment of the roles' downloads, keadm and the container runtimes.

Edge sites often reach registries and release downloads only through an HTTP(S) proxy, while CloudCore,
the cluster and the host itself must never be reached through it: those addresses are always in
``no_proxy``, whatever the inventory lists.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

ALWAYS_DIRECT = ('localhost', '127.0.0.1', '::1')
_URL = re.compile(r'^(https?|socks5h?)://[^\s/]+(/.*)?$')


class ProxyError(ValueError):
    """A proxy setting a user can correct; the message says which and how."""


def _entries(value):
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(',')
    result = []
    for entry in value:
        entry = str(entry).strip()
        if entry.startswith('[') and ']' in entry:  # [2001:db8::1]:10000 -> 2001:db8::1
            entry = entry[1:entry.index(']')]
        if entry and entry not in result:
            result.append(entry)
    return result


def environment(http_proxy='', https_proxy='', no_proxy=None, direct=()):
    """``{HTTP_PROXY, http_proxy, HTTPS_PROXY, https_proxy, NO_PROXY, no_proxy}`` for the given proxies, or ``{}``
    when neither is set. ``no_proxy`` (a list or a comma-separated string) gets ``direct`` (CloudCore's and the
    cluster's addresses) and ALWAYS_DIRECT added, each once, in that order."""
    http_proxy, https_proxy = str(http_proxy or '').strip(), str(https_proxy or '').strip()
    for name, value in (('http_proxy', http_proxy), ('https_proxy', https_proxy)):
        if value and not _URL.match(value):
            raise ProxyError('%s %r is not a proxy URL: use http://host:port (or https://, socks5://), with '
                             'user:password@ before the host when the proxy asks for it' % (name, value))
    if not http_proxy and not https_proxy:
        return {}
    bypass = ','.join(_entries(list(_entries(no_proxy)) + list(_entries(list(direct))) + list(ALWAYS_DIRECT)))
    env = {}
    if http_proxy:
        env.update(HTTP_PROXY=http_proxy, http_proxy=http_proxy)
    if https_proxy:
        env.update(HTTPS_PROXY=https_proxy, https_proxy=https_proxy)
    env.update(NO_PROXY=bypass, no_proxy=bypass)
    return env
