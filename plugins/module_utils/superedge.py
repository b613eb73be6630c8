# -*- coding: utf-8 -*-
# Copyright: (c) 2026, edge.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SuperEdge facts more than one role needs, defined once."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# The label `edgeadm join` puts on the edge nodes it joins: superedge.io/edge-node up to
# v0.6.0 (the runbook's), superedge.io/node-edge from v0.6.1 on (edgeadm's EdgeNodeLabelKey).
EDGE_NODE_LABELS = (
    ('0.4.0', 'superedge.io/edge-node'),
    ('0.6.1', 'superedge.io/node-edge'),
)
EDGE_NODE_LABEL_KEYS = tuple(key for _since, key in EDGE_NODE_LABELS)

_VERSION_RE = re.compile(r'^v?(\d+)\.(\d+)\.(\d+)')


def version_tuple(version):
    """(major, minor, patch) of 'v0.9.0' or '0.9.0'; ValueError for anything else."""
    match = _VERSION_RE.match(str(version or '').strip())
    if not match:
        raise ValueError('%r is not a version like v0.9.0' % (version,))
    return tuple(int(part) for part in match.groups())


def edge_node_label(version):
    """The edge label edgeadm of this version writes (the oldest for older versions)."""
    wanted = version_tuple(version)
    key = EDGE_NODE_LABELS[0][1]
    for since, label in EDGE_NODE_LABELS:
        if version_tuple(since) <= wanted:
            key = label
    return key
