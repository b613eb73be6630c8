# -*- coding: utf-8 -*-
# Copyright: (c) 2026, edge.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The labels and taints an inventory asks for on a Node, kept in step without touching anybody else's.

What the collection put on a Node is recorded in the Node's annotation ``OWNER_ANNOTATION`` (JSON:
``{"labels": [keys], "taints": ["key:effect", ...]}``). A label or taint the inventory no longer asks for
is removed only when that record names it; labels and taints set by others (kubelet/edgecore, other
tools, an operator's ``kubectl label``) are never removed. Asking for a label or taint that is already
there with the same value takes it over (it is recorded from then on).

A taint is identified by its key and effect, as Kubernetes does; its value may change in place.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible_collections.edge.cluster.plugins.module_utils.affinity import is_label_key

OWNER_ANNOTATION = 'edge.cluster/managed-node-metadata'
TAINT_EFFECTS = ('NoSchedule', 'PreferNoSchedule', 'NoExecute')
_LABEL_VALUE = re.compile(r'^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$')


class NodeMetadataError(ValueError):
    """An input a user can correct; the message says which and how."""


def _text(value):
    if value is None:
        return ''
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return str(value)


def check_labels(labels):
    """``{key: value}`` as strings; NodeMetadataError on a key or value Kubernetes would refuse."""
    result = {}
    for key, value in (labels or {}).items():
        key, value = _text(key), _text(value)
        if not is_label_key(key):
            raise NodeMetadataError('label key %r is not valid: an optional DNS prefix and "/", then up to 63 letters, '
                                    'digits, "-", "_" or ".", starting and ending with a letter or digit' % key)
        if not _LABEL_VALUE.match(value):
            raise NodeMetadataError('label %s has the value %r, which is not valid: up to 63 letters, digits, "-", "_" '
                                    'or ".", starting and ending with a letter or digit (or empty)' % (key, value))
        result[key] = value
    return result


def check_taints(taints):
    """Taints as ``{key, value, effect}`` dicts; NodeMetadataError on a bad key, value, effect or a duplicate."""
    result, seen = [], set()
    for taint in taints or []:
        if not isinstance(taint, dict):
            raise NodeMetadataError('each taint must be a dict with key, value (optional) and effect, got %r' % (taint,))
        key, value, effect = _text(taint.get('key')), _text(taint.get('value')), _text(taint.get('effect'))
        if not is_label_key(key):
            raise NodeMetadataError('taint key %r is not valid: it has the form of a label key' % key)
        if not _LABEL_VALUE.match(value):
            raise NodeMetadataError('taint %s has the value %r, which is not valid: it has the form of a label value'
                                    % (key, value))
        if effect not in TAINT_EFFECTS:
            raise NodeMetadataError('taint %s has the effect %r: use one of %s' % (key, effect, ', '.join(TAINT_EFFECTS)))
        if (key, effect) in seen:
            raise NodeMetadataError('taint %s:%s is listed twice: a Node holds one taint per key and effect'
                                    % (key, effect))
        seen.add((key, effect))
        entry = {'key': key, 'effect': effect}
        if value:
            entry['value'] = value
        result.append(entry)
    return result


def _tid(taint):
    return '%s:%s' % (taint.get('key', ''), taint.get('effect', ''))


def owned_of(annotations):
    """What the record in ``annotations`` says the collection put on the Node (an unreadable record: nothing)."""
    try:
        record = json.loads((annotations or {}).get(OWNER_ANNOTATION) or '{}')
    except ValueError:
        record = {}
    if not isinstance(record, dict):
        record = {}
    labels = [str(k) for k in record.get('labels') or [] if isinstance(k, str)]
    taints = [str(t) for t in record.get('taints') or [] if isinstance(t, str)]
    return {'labels': sorted(set(labels)), 'taints': sorted(set(taints))}


def plan(node_labels, node_taints, node_annotations, labels, taints):
    """What to change on a Node whose metadata is given, so that it carries ``labels`` and ``taints``.

    Returns ``changed``, the merge ``patch`` (``metadata.labels`` with None for a removal, the record
    annotation, ``spec.taints`` as a whole list when it changes), what is ``added``/``removed``, and the
    ``before``/``after`` of what the collection manages (for a diff)."""
    labels, taints = check_labels(labels), check_taints(taints)
    node_labels = dict(node_labels or {})
    node_taints = [dict(t) for t in node_taints or []]
    owned = owned_of(node_annotations)

    set_labels = dict((k, v) for k, v in labels.items() if node_labels.get(k) != v)
    drop_labels = sorted(k for k in owned['labels'] if k not in labels and k in node_labels)

    wanted = dict((_tid(t), t) for t in taints)
    new_taints, kept = [], set()
    for taint in node_taints:
        tid = _tid(taint)
        if tid in wanted:
            want = wanted[tid]
            merged = dict(taint)
            if want.get('value'):
                merged['value'] = want['value']
            else:
                merged.pop('value', None)
            new_taints.append(merged)
            kept.add(tid)
        elif tid in owned['taints']:
            continue  # ours, no longer asked for
        else:
            new_taints.append(taint)
    new_taints.extend(t for t in taints if _tid(t) not in kept)
    added_taints = sorted(_tid(t) for t in taints
                          if not any(_tid(c) == _tid(t) and c.get('value', '') == t.get('value', '') for c in node_taints))
    drop_taints = sorted(tid for tid in owned['taints'] if tid not in wanted and any(_tid(t) == tid for t in node_taints))

    record = {'labels': sorted(labels), 'taints': sorted(wanted)}
    patch = {}
    meta = {}
    if set_labels or drop_labels:
        meta['labels'] = dict(set_labels, **dict((k, None) for k in drop_labels))
    if record != owned:
        meta['annotations'] = {OWNER_ANNOTATION: json.dumps(record, sort_keys=True, separators=(',', ':'))}
    if meta:
        patch['metadata'] = meta
    if new_taints != node_taints:
        patch['spec'] = {'taints': new_taints}

    managed_keys = sorted(set(labels) | set(owned['labels']))
    managed_tids = set(wanted) | set(owned['taints'])
    before = {'labels': dict((k, node_labels[k]) for k in managed_keys if k in node_labels),
              'taints': sorted((t for t in node_taints if _tid(t) in managed_tids), key=_tid)}
    after_labels = dict(before['labels'], **set_labels)
    for key in drop_labels:
        after_labels.pop(key, None)
    after = {'labels': after_labels,
             'taints': sorted((t for t in new_taints if _tid(t) in managed_tids), key=_tid)}
    return {'changed': bool(patch), 'patch': patch,
            'added': {'labels': sorted(set_labels), 'taints': added_taints},
            'removed': {'labels': drop_labels, 'taints': drop_taints},
            'before': before, 'after': after}


def in_step(node, labels, taints):
    """True when ``node`` (a Node as kubeedge_cloud_info lists it: ``labels``, ``taints``,
    ``managed_metadata``) already carries ``labels`` and ``taints`` and holds nothing recorded that is no
    longer asked for; False for no Node (None or empty)."""
    if not node:
        return False
    record = node.get('managed_metadata') or {}
    annotations = {OWNER_ANNOTATION: json.dumps({'labels': list(record.get('labels') or []),
                                                 'taints': list(record.get('taints') or [])})}
    return not plan(node.get('labels'), node.get('taints'), annotations, labels, taints)['changed']
