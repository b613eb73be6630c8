# -*- coding: utf-8 -*-
# Copyright: (c) 2026, edge.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure-Python helpers for KubeEdge join tokens (no cluster, no kubernetes client).

CloudCore keeps the token edge nodes join with in Secret ``kubeedge/tokensecret``,
data key ``tokendata``. Decoded, it reads ``<ca_hash>.<jwt>``:

* ``ca_hash``: 64 hex characters, the SHA-256 of CloudCore's CA certificate (DER);
  ``keadm join`` uses it to pin the CA it downloads from CloudCore.
* ``jwt``: an HS256 JSON Web Token (``header.payload.signature``, each part
  base64url without padding) whose payload carries the ``exp`` claim.

Every error raised here describes *what* is wrong without quoting the token,
so callers can put the message straight into ``fail_json``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import datetime
import json
import math
import re
import time

TOKEN_SECRET_NAMESPACE = 'kubeedge'
TOKEN_SECRET_NAME = 'tokensecret'
TOKEN_SECRET_KEY = 'tokendata'

_HEX64_RE = re.compile(r'^[0-9a-fA-F]{64}$')
_B64URL_RE = re.compile(r'^[A-Za-z0-9_-]+={0,2}$')
_ISO_FORMAT = '%Y-%m-%dT%H:%M:%SZ'


class KubeEdgeTokenError(ValueError):
    """The token (or the Secret data holding it) is unusable; the text says why.

    The message never contains the token or any part of it.
    """


def decode_token_data(data):
    """Decode the base64 value of the Secret's ``tokendata`` key to the token text.

    Secret ``data`` values are standard base64 (what the API returns); surrounding
    whitespace of the decoded token is dropped.
    """
    if data is None or (not isinstance(data, (str, bytes))):
        raise KubeEdgeTokenError('the value is empty')
    raw = data.strip() if isinstance(data, str) else data.decode('ascii', 'replace').strip()
    if not raw:
        raise KubeEdgeTokenError('the value is empty')
    try:
        decoded = base64.b64decode(raw.encode('ascii'), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise KubeEdgeTokenError('the value is not valid base64')
    try:
        token = decoded.decode('utf-8').strip()
    except UnicodeDecodeError:
        raise KubeEdgeTokenError('the base64 value does not decode to text')
    if not token:
        raise KubeEdgeTokenError('the base64 value decodes to an empty token')
    return token


def b64url_decode(part):
    """Decode one JWT part (base64url, padding optional); raise KubeEdgeTokenError."""
    if not part or not _B64URL_RE.match(part):
        raise KubeEdgeTokenError('not base64url')
    stripped = part.rstrip('=')
    if len(stripped) % 4 == 1:
        raise KubeEdgeTokenError('not base64url (impossible length)')
    try:
        return base64.urlsafe_b64decode(stripped + '=' * (-len(stripped) % 4))
    except (binascii.Error, ValueError):
        raise KubeEdgeTokenError('not base64url')


def _json_part(part, name):
    try:
        value = json.loads(b64url_decode(part).decode('utf-8'))
    except KubeEdgeTokenError as exc:
        raise KubeEdgeTokenError('the JWT %s is %s' % (name, exc))
    except (UnicodeDecodeError, ValueError):
        raise KubeEdgeTokenError('the JWT %s is not JSON' % name)
    if not isinstance(value, dict):
        raise KubeEdgeTokenError('the JWT %s is not a JSON object' % name)
    return value


def token_expiry(payload):
    """Return the ``exp`` claim of a decoded JWT payload as an int (Unix seconds)."""
    if 'exp' not in payload:
        raise KubeEdgeTokenError('the JWT payload has no "exp" claim')
    exp = payload['exp']
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        raise KubeEdgeTokenError('the JWT "exp" claim is not a number of seconds')
    if isinstance(exp, float) and not math.isfinite(exp):
        raise KubeEdgeTokenError('the JWT "exp" claim is not a finite number')
    exp = int(exp)
    if exp <= 0:
        raise KubeEdgeTokenError('the JWT "exp" claim is not a positive time')
    try:
        datetime.datetime.fromtimestamp(exp, tz=datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise KubeEdgeTokenError('the JWT "exp" claim is out of range')
    return exp


def expiry_info(exp, now=None):
    """Return ``(expires_at, expired)`` for an ``exp`` in Unix seconds.

    ``expires_at`` is ISO 8601 UTC (``2026-01-02T03:04:05Z``). A token counts as
    expired from the second ``exp`` on (RFC 7519, section 4.1.4).
    """
    if now is None:
        now = time.time()
    expires_at = datetime.datetime.fromtimestamp(exp, tz=datetime.timezone.utc).strftime(_ISO_FORMAT)
    return expires_at, now >= exp


def parse_token(token, now=None):
    """Validate a KubeEdge join token and describe it.

    Returns a dict with ``ca_hash``, ``header``, ``payload``, ``exp`` (int),
    ``expires_at`` (ISO 8601 UTC) and ``expired`` (bool). The signature is only
    checked to be base64url: verifying it needs CloudCore's key.
    """
    if not isinstance(token, str) or not token:
        raise KubeEdgeTokenError('the token is empty')
    parts = token.split('.')
    if len(parts) != 4:
        raise KubeEdgeTokenError(
            'the token has %d dot-separated parts, expected 4: <64 hex CA hash>.<JWT header>.'
            '<JWT payload>.<JWT signature>' % len(parts))
    ca_hash, header_b64, payload_b64, signature_b64 = parts
    if not _HEX64_RE.match(ca_hash):
        if len(ca_hash) != 64:
            raise KubeEdgeTokenError(
                'the CA hash before the first dot has %d characters, expected 64 hex '
                'characters (SHA-256 of the CloudCore CA)' % len(ca_hash))
        raise KubeEdgeTokenError(
            'the CA hash before the first dot is not hexadecimal (expected the SHA-256 of '
            'the CloudCore CA)')
    header = _json_part(header_b64, 'header')
    if not header.get('alg'):
        raise KubeEdgeTokenError('the JWT header has no "alg"')
    payload = _json_part(payload_b64, 'payload')
    try:
        signature = b64url_decode(signature_b64)
    except KubeEdgeTokenError as exc:
        raise KubeEdgeTokenError('the JWT signature is %s' % exc)
    if not signature:
        raise KubeEdgeTokenError('the JWT signature is empty')
    exp = token_expiry(payload)
    expires_at, expired = expiry_info(exp, now=now)
    return dict(ca_hash=ca_hash, header=header, payload=payload, exp=exp,
                expires_at=expires_at, expired=expired)
