# -*- coding: utf-8 -*-
# Copyright: (c) 2026, edge.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Version ranges of the roles' tables: an entry with ``since`` and/or ``until``
applies to the versions in [since, until)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

_VERSION = re.compile(r'^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:[-+].*)?$')


def parse(version):
    """``'v1.13.1'`` -> ``(1, 13, 1)``; a missing minor or patch counts as 0. ValueError otherwise."""
    match = _VERSION.match(str(version or '').strip())
    if not match:
        raise ValueError('%r is not a version (expected vX.Y.Z)' % (version,))
    return tuple(int(part or 0) for part in match.groups())


def in_range(version, since=None, until=None):
    """True when ``since <= version < until`` (either bound may be absent)."""
    current = parse(version)
    if since not in (None, '') and current < parse(since):
        return False
    if until not in (None, '') and current >= parse(until):
        return False
    return True


def select(entries, version):
    """The entries (dicts with optional ``since``/``until``) whose range holds ``version``, in order."""
    return [entry for entry in entries or [] if in_range(version, entry.get('since'), entry.get('until'))]


def flags(table, version):
    """``--flag=value`` for each entry of ``table`` (``flag``, ``value``, optional ``since``/``until``)
    whose range holds ``version`` and whose value is not empty."""
    argv = []
    for entry in select(table, version):
        value = entry.get('value')
        if value is None or str(value) == '':
            continue
        argv.append('%s=%s' % (entry['flag'], value))
    return argv


def upgrade_problem(current, target, what='CloudCore'):
    """Why ``what`` cannot move from ``current`` to ``target`` in one step, or ``''`` when it can.

    Same version: nothing to do (``''``). A downgrade is refused (KubeEdge documents no way back for
    CloudCore's CRDs and Secrets, and edgecore's database is not migrated down). A jump over a minor
    release is refused: the KubeEdge upgrade guide moves one minor at a time, and releases have changed
    CRD versions in between (devices v1alpha2 -> v1beta1 in 1.15), which the skipped release would
    have converted. Patch releases may be skipped. ``current`` empty or unknown: ``''`` (nothing runs
    yet, an install and not an upgrade)."""
    if current in (None, '', 'unknown'):
        return ''
    cur, tgt = parse(current), parse(target)
    if cur == tgt:
        return ''
    if tgt < cur:
        return ('%s runs %s and %s is older: a downgrade is not supported. Keep %s, or reset and install %s.'
                % (what, current, target, current, target))
    if tgt[0] != cur[0] or tgt[1] > cur[1] + 1:
        step = 'v%d.%d' % (cur[0], cur[1] + 1)
        return ('%s runs %s and %s skips a minor release: upgrade one minor at a time (first to the last %s.x, '
                'then on).' % (what, current, target, step))
    return ''


def newer_than(version, reference):
    """True when ``version`` is newer than ``reference``; False when either is empty or unknown."""
    if version in (None, '', 'unknown') or reference in (None, '', 'unknown'):
        return False
    return parse(version) > parse(reference)
