# -*- coding: utf-8 -*-
# Copyright: (c) 2026, edge.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers for kubeadm-style bootstrap tokens (edge.cluster.bootstrap_token).

Everything here is pure Python without a cluster: duration parsing, token
generation, the Secret layout kubeadm uses, the decision whether an existing
token can be reused, and the discovery CA hash
``sha256:<hex of SHA-256 of the CA certificate's DER SubjectPublicKeyInfo>``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import calendar
import hashlib
import re
import secrets
import time

try:
    import yaml  # the kubernetes client depends on PyYAML
    HAS_YAML = True
except ImportError:  # pragma: no cover - get_api_client reports the missing kubernetes library
    HAS_YAML = False

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - the pure-Python DER walk takes over
    HAS_CRYPTOGRAPHY = False

SECRET_NAMESPACE = 'kube-system'
SECRET_TYPE = 'bootstrap.kubernetes.io/token'
SECRET_NAME_PREFIX = 'bootstrap-token-'
MANAGED_BY_LABEL = 'edge.cluster/managed-by'
MANAGED_BY_VALUE = 'bootstrap_token'
PURPOSE_LABEL = 'edge.cluster/purpose'
DEFAULT_GROUP = 'system:bootstrappers:kubeadm:default-node-token'
USAGES = ('signing', 'authentication')

TOKEN_ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz'
TOKEN_ID_LEN = 6
TOKEN_SECRET_LEN = 16
TOKEN_ID_RE = re.compile(r'^[a-z0-9]{6}$')
TOKEN_SECRET_RE = re.compile(r'^[a-z0-9]{16}$')
# k8s.io/cluster-bootstrap/token/api BootstrapGroupPattern.
GROUP_RE = re.compile(r'^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$')
# A label value: at most 63 characters, alphanumeric at both ends.
PURPOSE_RE = re.compile(r'^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$')

_DURATION_UNITS = {'s': 1, 'm': 60, 'h': 3600, 'd': 86400}
_DURATION_PART = re.compile(r'(\d+(?:\.\d+)?)([smhd])')
_RFC3339 = re.compile(r'^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$')
_PEM_CERT = re.compile(br'-----BEGIN CERTIFICATE-----\s*(.+?)\s*-----END CERTIFICATE-----', re.S)


class BootstrapTokenError(Exception):
    """A problem the user can fix; the text never contains a token secret."""


# ------------------------------------------------------------------ durations

def parse_duration(value, name='duration'):
    """Return the number of seconds (int) in ``value``.

    Accepts ``0``, a bare number of seconds (``3600``) or one or more
    ``<number><unit>`` parts with units s, m, h and d, for example ``24h``,
    ``90m``, ``1h30m`` or ``1.5h``. Raises BootstrapTokenError otherwise.
    """
    text = str(value).strip().lower() if value is not None else ''
    if re.match(r'^\d+$', text):
        return int(text)
    pos = 0
    total = 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise BootstrapTokenError(
            '%s: %r is not a duration. Use 0 or a number followed by s, m, h or d, '
            'optionally combined: for example 24h, 90m, 1h30m, 2d or 3600 (seconds).' % (name, value))
    return int(round(total))


def format_duration(seconds):
    """``5400`` -> ``1h30m``; for messages."""
    seconds = int(seconds)
    if seconds <= 0:
        return '0s'
    parts = []
    for unit, size in (('d', 86400), ('h', 3600), ('m', 60), ('s', 1)):
        if seconds >= size:
            parts.append('%d%s' % (seconds // size, unit))
            seconds %= size
    return ''.join(parts)


def format_rfc3339(epoch):
    """Epoch seconds -> ``2026-01-02T03:04:05Z``."""
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(int(epoch)))


def parse_rfc3339(text):
    """RFC 3339 timestamp (``Z`` or a numeric offset) -> epoch seconds (int)."""
    match = _RFC3339.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise BootstrapTokenError('%r is not an RFC 3339 timestamp' % (text,))
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    epoch = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    zone = match.group(8)
    if zone not in ('Z', 'z'):
        sign = 1 if zone[0] == '+' else -1
        epoch -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return epoch


# --------------------------------------------------------------------- tokens

def random_string(length, choice=secrets.choice):
    return ''.join(choice(TOKEN_ALPHABET) for dummy in range(length))


def generate_token(choice=secrets.choice):
    """Return ``(token_id, token_secret)`` like ``kubeadm token generate``."""
    return random_string(TOKEN_ID_LEN, choice), random_string(TOKEN_SECRET_LEN, choice)


def secret_name(token_id):
    return SECRET_NAME_PREFIX + token_id


def validate_purpose(purpose):
    if not isinstance(purpose, str) or not PURPOSE_RE.match(purpose):
        raise BootstrapTokenError(
            'purpose %r is not usable as a label value: use at most 63 letters, digits, '
            '"-", "_" or ".", starting and ending with a letter or digit.' % (purpose,))


def validate_groups(groups):
    for group in groups:
        if not GROUP_RE.match(group or ''):
            raise BootstrapTokenError(
                'group %r is not a bootstrap group: the kube-apiserver only accepts groups matching '
                '%s, for example %s.' % (group, GROUP_RE.pattern, DEFAULT_GROUP))


def selector(purpose):
    """Label selector of the tokens this module manages for ``purpose``."""
    return '%s=%s,%s=%s' % (MANAGED_BY_LABEL, MANAGED_BY_VALUE, PURPOSE_LABEL, purpose)


def secret_string_data(token_id, token_secret, expires_at, usages, groups, description):
    """The Secret data kubeadm writes (strings, before base64), ``expires_at`` in epoch seconds or None."""
    data = {'token-id': token_id, 'token-secret': token_secret}
    if description:
        data['description'] = description
    if expires_at is not None:
        data['expiration'] = format_rfc3339(expires_at)
    for usage in usages:
        data['usage-bootstrap-%s' % usage] = 'true'
    if groups:
        data['auth-extra-groups'] = ','.join(groups)
    return data


def encode_data(string_data):
    return dict((k, base64.b64encode(v.encode('utf-8')).decode('ascii')) for k, v in string_data.items())


def decode_data(data):
    """Secret.data (base64 values) -> str values; undecodable values become None."""
    out = {}
    for key, value in (data or {}).items():
        try:
            out[key] = base64.b64decode(value or '', validate=True).decode('utf-8')
        except (binascii.Error, ValueError, UnicodeDecodeError):
            out[key] = None
    return out


def describe_existing(name, data, deleting=False):
    """Summarise an existing Secret of ours for the reuse decision.

    ``data`` holds decoded strings. Returns a dict with ``name``, ``token_id``,
    ``token_secret``, ``expires_at`` (epoch or None = never), ``usages``,
    ``groups`` and ``problem`` (None when the token is well-formed).
    """
    info = dict(name=name, token_id=data.get('token-id'), token_secret=data.get('token-secret'),
                expires_at=None, usages=sorted(u for u in USAGES if data.get('usage-bootstrap-%s' % u) == 'true'),
                groups=sorted(g for g in (data.get('auth-extra-groups') or '').split(',') if g),
                problem=None)
    if deleting:
        info['problem'] = 'being deleted'
    elif not TOKEN_ID_RE.match(info['token_id'] or ''):
        info['problem'] = 'malformed token-id'
    elif name != secret_name(info['token_id']):
        info['problem'] = 'token-id does not match the Secret name'
    elif not TOKEN_SECRET_RE.match(info['token_secret'] or ''):
        info['problem'] = 'malformed token-secret'
    elif data.get('expiration'):
        try:
            info['expires_at'] = parse_rfc3339(data['expiration'])
        except BootstrapTokenError:
            info['problem'] = 'unreadable expiration'
    elif 'expiration' in data:
        info['problem'] = 'unreadable expiration'
    return info


def reuse_problem(existing, now, ttl, min_remaining, usages, groups):
    """Why ``existing`` (from describe_existing) cannot be reused; None when it can.

    A token is reused when it is well-formed, has exactly the requested
    usages and groups, never expires if and only if ``ttl`` is 0, expires no
    later than ``now + ttl`` (a token is never stretched beyond the asked
    lifetime) and stays valid for at least ``min_remaining`` seconds.
    """
    if existing['problem']:
        return existing['problem']
    if existing['usages'] != sorted(usages):
        return 'different usages'
    if existing['groups'] != sorted(groups):
        return 'different groups'
    expires_at = existing['expires_at']
    if ttl == 0:
        return None if expires_at is None else 'expires, but ttl=0 asks for a token that never expires'
    if expires_at is None:
        return 'never expires, but ttl asks for an expiring token'
    if expires_at <= now:
        return 'expired'
    if expires_at > now + ttl:
        return 'expires later than ttl allows'
    if expires_at - now < min_remaining:
        return 'expires in less than min_remaining'
    return None


def pick_reusable(candidates, now, ttl, min_remaining, usages, groups):
    """The reusable candidate that lives longest (ties: by name), or None."""
    usable = [c for c in candidates if reuse_problem(c, now, ttl, min_remaining, usages, groups) is None]
    if not usable:
        return None
    return sorted(usable, key=lambda c: (-(c['expires_at'] or float('inf')), c['name']))[0]


# ------------------------------------------------------------------- CA hash

def _der_tlv(buf, pos, end):
    """Read one DER TLV at ``pos``; return (tag, content_start, content_end)."""
    if pos + 2 > end:
        raise BootstrapTokenError('truncated DER element')
    tag = buf[pos]
    if tag & 0x1f == 0x1f:
        raise BootstrapTokenError('unsupported DER high tag number')
    length = buf[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7f
        if count == 0 or count > 4:
            raise BootstrapTokenError('unsupported DER length encoding')
        if pos + count > end:
            raise BootstrapTokenError('truncated DER length')
        length = int(binascii.hexlify(bytes(buf[pos:pos + count])), 16)
        pos += count
    if pos + length > end:
        raise BootstrapTokenError('DER element runs past its container')
    return tag, pos, pos + length


def spki_from_der_pure(der):
    """The raw DER SubjectPublicKeyInfo of an X.509 certificate, by walking its DER.

    Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL,
    serialNumber INTEGER, signature SEQUENCE, issuer SEQUENCE, validity SEQUENCE,
    subject SEQUENCE, subjectPublicKeyInfo SEQUENCE, ... }, ... }
    """
    buf = bytearray(der)
    tag, start, end = _der_tlv(buf, 0, len(buf))
    if tag != 0x30 or end != len(buf):
        raise BootstrapTokenError('not a DER certificate (outer SEQUENCE)')
    tag, pos, tbs_end = _der_tlv(buf, start, end)
    if tag != 0x30:
        raise BootstrapTokenError('not a DER certificate (tbsCertificate)')
    expected = [(0x02, 'serialNumber'), (0x30, 'signature'), (0x30, 'issuer'), (0x30, 'validity'),
                (0x30, 'subject'), (0x30, 'subjectPublicKeyInfo')]
    tag, cstart, cend = _der_tlv(buf, pos, tbs_end)
    if tag == 0xa0:  # [0] EXPLICIT version
        pos = cend
    for want, field in expected:
        tag, cstart, cend = _der_tlv(buf, pos, tbs_end)
        if tag != want:
            raise BootstrapTokenError('not a DER certificate (%s)' % field)
        if field == 'subjectPublicKeyInfo':
            return bytes(buf[pos:cend])
        pos = cend
    raise BootstrapTokenError('not a DER certificate')  # pragma: no cover - loop always returns


def spki_from_der_cryptography(der):
    cert = x509.load_der_x509_certificate(bytes(der))
    return cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)


def spki_from_der(der, use_cryptography=None):
    """SubjectPublicKeyInfo DER of a certificate: ``cryptography`` when importable, else the DER walk."""
    if use_cryptography is None:
        use_cryptography = HAS_CRYPTOGRAPHY
    if use_cryptography:
        try:
            return spki_from_der_cryptography(der)
        except ValueError as exc:
            raise BootstrapTokenError('not a usable X.509 certificate (%s)' % exc)
    return spki_from_der_pure(der)


def certificates_from_bytes(data):
    """All certificates (DER) in PEM ``data``; a single DER certificate is accepted too."""
    if isinstance(data, str):
        data = data.encode('utf-8')
    blocks = _PEM_CERT.findall(data)
    if blocks:
        ders = []
        for block in blocks:
            try:
                ders.append(base64.b64decode(re.sub(br'\s+', b'', block), validate=True))
            except (binascii.Error, ValueError):
                raise BootstrapTokenError('a PEM CERTIFICATE block is not valid base64')
        return ders
    if data[:1] == b'\x30':
        return [data]
    raise BootstrapTokenError('no PEM certificate (-----BEGIN CERTIFICATE-----) found')


def ca_cert_hashes(data, use_cryptography=None):
    """``['sha256:<hex>', ...]``, one per distinct certificate in ``data`` (order kept)."""
    hashes = []
    for der in certificates_from_bytes(data):
        digest = 'sha256:' + hashlib.sha256(spki_from_der(der, use_cryptography)).hexdigest()
        if digest not in hashes:
            hashes.append(digest)
    return hashes


def ca_from_kubeconfig_yaml(text):
    """``certificate-authority-data`` of the first cluster of a kubeconfig (cluster-info), as bytes or None."""
    if not HAS_YAML:  # pragma: no cover
        return None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    clusters = doc.get('clusters') if isinstance(doc, dict) else None
    for entry in clusters if isinstance(clusters, list) else []:
        cluster = entry.get('cluster') if isinstance(entry, dict) else None
        data = cluster.get('certificate-authority-data') if isinstance(cluster, dict) else None
        if data:
            try:
                return base64.b64decode(data)
            except (binascii.Error, ValueError, TypeError):
                return None
    return None
