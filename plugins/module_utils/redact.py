# -*- coding: utf-8 -*-
# Copyright: (c) 2026, edge.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mask what must never reach output in a text that may quote configuration or a command's error.

A failure message can quote part of a file (a YAML error in a truncated edgecore.yaml shows the
token line), a command line, or a kubeconfig. Before such a text is stored or printed it goes
through mask(): PEM blocks, KubeEdge join tokens and JSON Web Tokens, bearer credentials and the
values of secret-bearing keys are replaced by a marker; the rest stays readable.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

MARK = '<redacted>'

# A PEM block, or the start of one cut off by truncation.
_PEM = re.compile(r'-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|$)', re.S)
# <64 hex>.<JWT>: a KubeEdge join token; a JWT alone (header starts with eyJ, '{"' in base64url).
_KUBEEDGE_TOKEN = re.compile(r'\b[0-9a-fA-F]{64}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*')
_JWT = re.compile(r'\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*')
_BEARER = re.compile(r'(?i)(\bbearer\s+)\S+')
# key: value, key=value, "key": "value" for keys that hold secrets (YAML, flags, JSON).
_SECRET_KEYS = (r'token|tokendata|password|passwd|secret|psk|client-key-data|client_key_data|'
                r'private[-_]?key|ca[-_.]?key|tls[-_]?key|key[-_]?data')
_KEY_VALUE = re.compile(
    r'(?i)(["\']?(?:--)?(?:[a-z0-9_.-]*[-_.])?(?:' + _SECRET_KEYS + r')["\']?\s*[:=]\s*)'
    r'(?!<redacted>)("[^"\n]*"|\'[^\'\n]*\'|[^\s,;}\]]+)')


def mask(text, extra=()):
    """``text`` with its secrets replaced by ``<redacted>``; ``extra`` are literal strings to mask too."""
    if text is None:
        return ''
    out = text if isinstance(text, str) else str(text)
    for secret in sorted((s for s in extra or () if s and len(str(s)) >= 4), key=len, reverse=True):
        out = out.replace(str(secret), MARK)
    out = _PEM.sub(MARK, out)
    out = _KUBEEDGE_TOKEN.sub(MARK, out)
    out = _JWT.sub(MARK, out)
    out = _BEARER.sub(lambda m: m.group(1) + MARK, out)
    out = _KEY_VALUE.sub(lambda m: m.group(1) + MARK, out)
    return out
