# -*- coding: utf-8 -*-
# Copyright: (c) 2026, edge.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keep DaemonSets off edge nodes by node affinity.

Two layers, both free of any Kubernetes client so they are unit-testable
without a cluster:

* pure functions on the pod ``affinity`` dict (API JSON, camelCase keys):
  ``add_node_exclusion``, ``remove_node_exclusion``, ``has_node_exclusion``,
  ``requires_label``. They never modify their argument.
* ``EdgeAffinityService``: decides which DaemonSets to change and patches
  them through a small ``api`` object (see ``EdgeAffinityService`` for the
  methods it needs). The module plugs in the real Kubernetes client; tests
  plug in a fake that counts requests.

Semantics of the expression ``{key: <node_label>, operator: DoesNotExist}``:

* ``requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`` are
  ORed, so the expression is added to *every* term; a term that only has
  ``matchFields`` gets a ``matchExpressions`` list. With no terms, one term
  holding only the expression is created.
* Everything else (other expressions, ``matchFields``, preferred terms,
  podAffinity, podAntiAffinity) is kept as is. A user expression on the same
  key with another operator (e.g. ``In``) is kept too and ours is still
  added; ``requires_label`` lets the caller detect that such a term can no
  longer match any node.
* Removal takes out exactly ``{key, operator: DoesNotExist}`` and then drops
  the containers that this removal left empty (matchExpressions, the term,
  nodeSelectorTerms, required, nodeAffinity, affinity), walking up only from
  where something was removed. Containers that were already empty are kept.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

DEFAULT_NODE_LABEL = 'node-role.kubernetes.io/edge'
OPERATOR = 'DoesNotExist'
REQUIRED = 'requiredDuringSchedulingIgnoredDuringExecution'


def exclusion_expression(key):
    """The node selector requirement this module manages."""
    return {'key': key, 'operator': OPERATOR}


def _is_ours(expr, key):
    # DoesNotExist takes no values; an empty ``values`` list is the same thing.
    return (isinstance(expr, dict) and expr.get('key') == key
            and expr.get('operator') == OPERATOR and not expr.get('values'))


def _terms(affinity):
    node_affinity = (affinity or {}).get('nodeAffinity') or {}
    required = node_affinity.get(REQUIRED) or {}
    return required.get('nodeSelectorTerms') or []


def has_node_exclusion(affinity, key):
    """True when every required node selector term carries our expression."""
    terms = _terms(affinity)
    return bool(terms) and all(
        any(_is_ours(e, key) for e in (t or {}).get('matchExpressions') or []) for t in terms)


def mentions_node_exclusion(affinity, key):
    """True when at least one required term carries our expression."""
    return any(any(_is_ours(e, key) for e in (t or {}).get('matchExpressions') or [])
               for t in _terms(affinity))


def add_node_exclusion(affinity, key):
    """Return (new_affinity, changed) with ``key DoesNotExist`` in every required term."""
    result = copy.deepcopy(affinity) if affinity else {}
    node_affinity = result.get('nodeAffinity')
    if node_affinity is None:
        node_affinity = result['nodeAffinity'] = {}
    required = node_affinity.get(REQUIRED)
    if required is None:
        required = node_affinity[REQUIRED] = {}
    terms = required.get('nodeSelectorTerms')
    if not terms:
        required['nodeSelectorTerms'] = [{'matchExpressions': [exclusion_expression(key)]}]
        return result, True
    changed = False
    for index, term in enumerate(terms):
        if term is None:
            term = terms[index] = {}
        expressions = term.get('matchExpressions')
        if expressions is None:
            expressions = term['matchExpressions'] = []
        if not any(_is_ours(e, key) for e in expressions):
            expressions.append(exclusion_expression(key))
            changed = True
    return result, changed


def remove_node_exclusion(affinity, key):
    """Return (new_affinity, changed) without ``key DoesNotExist``; None when nothing is left."""
    if not mentions_node_exclusion(affinity, key):
        return copy.deepcopy(affinity), False
    result = copy.deepcopy(affinity)
    node_affinity = result['nodeAffinity']
    required = node_affinity[REQUIRED]
    kept_terms = []
    for term in required['nodeSelectorTerms']:
        expressions = (term or {}).get('matchExpressions') or []
        remaining = [e for e in expressions if not _is_ours(e, key)]
        if len(remaining) == len(expressions):
            kept_terms.append(term)
            continue
        if remaining:
            term['matchExpressions'] = remaining
        else:
            del term['matchExpressions']
        if term:
            kept_terms.append(term)
    # Dropping a term emptied by us is safe: an empty term matches no node,
    # so it never contributed to the OR of the remaining terms.
    if kept_terms:
        required['nodeSelectorTerms'] = kept_terms
        return result, True
    del required['nodeSelectorTerms']
    if not required:
        del node_affinity[REQUIRED]
        if not node_affinity:
            del result['nodeAffinity']
    return (result or None), True


def requires_label(pod_spec, key):
    """True when the pod spec can only land on nodes carrying ``key``.

    That is the case for ``nodeSelector`` on the key, or when every required
    term has ``key In/Exists``: adding ``DoesNotExist`` would then leave no
    node to run on (an edge-only DaemonSet such as edgemesh-agent).
    """
    pod_spec = pod_spec or {}
    if key in (pod_spec.get('nodeSelector') or {}):
        return True
    terms = _terms(pod_spec.get('affinity'))
    if not terms:
        return False

    def needs(expr):
        return expr.get('key') == key and (
            expr.get('operator') == 'Exists' or (expr.get('operator') == 'In' and expr.get('values')))

    return all(any(needs(e) for e in (t or {}).get('matchExpressions') or []) for t in terms)


def pod_affinity_of(daemonset):
    return ((((daemonset.get('spec') or {}).get('template') or {}).get('spec') or {}).get('affinity')) or None


def pod_spec_of(daemonset):
    return ((daemonset.get('spec') or {}).get('template') or {}).get('spec') or {}


def ref(obj):
    """``namespace/name`` of an API object dict."""
    meta = obj.get('metadata') or {}
    return '%s/%s' % (meta.get('namespace'), meta.get('name'))


def build_patch(daemonset, new_affinity):
    """JSON patch (RFC 6902) that writes the computed affinity.

    Why a JSON patch of the whole ``affinity`` rather than a merge patch:
    the new value is computed from the full current object, so replacing it
    loses nothing, while a strategic merge patch replaces ``nodeSelectorTerms``
    as a whole anyway and cannot delete keys without explicit nulls. The
    ``test`` on ``metadata.generation`` makes the API reject the patch (422)
    when the DaemonSet's spec changed after it was read, so a concurrent edit
    is never overwritten; the caller then re-reads and recomputes. Not
    ``resourceVersion``: the DaemonSet controller bumps it with every status
    update, which made patches of busy DaemonSets fail for no reason.
    """
    ops = [{'op': 'test', 'path': '/metadata/generation',
            'value': daemonset['metadata']['generation']}]
    if new_affinity is None:
        ops.append({'op': 'remove', 'path': '/spec/template/spec/affinity'})
    else:
        # "add" replaces an existing member and creates a missing one.
        ops.append({'op': 'add', 'path': '/spec/template/spec/affinity', 'value': new_affinity})
    return ops


LABEL_NAME = re.compile(r'^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$')
LABEL_PREFIX = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')


def is_label_key(key):
    """True when key is a valid Kubernetes label key ([prefix/]name)."""
    prefix, name = key.rpartition('/')[::2]
    if prefix and (len(prefix) > 253 or not LABEL_PREFIX.match(prefix)):
        return False
    return bool(LABEL_NAME.match(name))


class EdgeAffinityError(Exception):
    """A failure the module reports through fail_json; the text says what to do."""


class ApiError(Exception):
    """Raised by an ``api`` adapter; ``status`` is the HTTP status (None: unreachable)."""

    def __init__(self, msg, status=None):
        super(ApiError, self).__init__(msg)
        self.status = status


class EdgeAffinityService(object):
    """Plan and apply the edge exclusion on DaemonSets.

    ``api`` must provide (all objects are API JSON dicts):

    * ``list_nodes(label_selector)`` -> list of Node
    * ``list_pods(namespace)`` -> list of Pod (namespace None: all namespaces)
    * ``list_daemonsets(namespace, label_selector)`` -> list of DaemonSet
    * ``get_daemonset(namespace, name)`` -> DaemonSet, ApiError(status=404) if missing
    * ``patch_daemonset(namespace, name, json_patch)`` -> DaemonSet
    * ``list_replicasets(namespace)`` -> list of ReplicaSet

    Requests per run: discover = 1 node list + 1 pod list + 1 DaemonSet list
    (+ 1 ReplicaSet list when pods on edge nodes belong to ReplicaSets);
    label_selector = 1 DaemonSet list; explicit = 1 GET per target. Plus one
    patch per DaemonSet that changes. Never a request per pod.
    """

    MAX_CONFLICT_RETRIES = 3

    def __init__(self, api, node_label=DEFAULT_NODE_LABEL, state='present', check_mode=False):
        self.api = api
        self.key = node_label
        self.state = state
        self.check_mode = check_mode
        self.warnings = []
        self.diffs = []

    # -- computing -----------------------------------------------------------
    def desired(self, affinity):
        if self.state == 'present':
            return add_node_exclusion(affinity, self.key)
        return remove_node_exclusion(affinity, self.key)

    # -- targets -------------------------------------------------------------
    def explicit_targets(self, targets):
        found, seen = [], set()
        for target in targets:
            if (target['namespace'], target['name']) in seen:
                continue
            seen.add((target['namespace'], target['name']))
            try:
                found.append(self.api.get_daemonset(target['namespace'], target['name']))
            except ApiError as exc:
                if exc.status == 404:
                    raise EdgeAffinityError(
                        'DaemonSet %s/%s not found; check the name or use discover: true'
                        % (target['namespace'], target['name']))
                raise
        return found

    def discover_targets(self, namespace):
        """DaemonSets with pods on edge nodes, plus those already carrying the expression.

        Returns (daemonsets, edge_pods_by_ref, other_workloads, edge_nodes).
        """
        daemonsets = self.api.list_daemonsets(namespace, None)
        carrying = [ds for ds in daemonsets if mentions_node_exclusion(pod_affinity_of(ds), self.key)]
        if self.state == 'absent':
            # After "present" the DaemonSet controller has removed the pods from
            # the edge nodes, so the pods cannot tell us what to undo: undo it
            # wherever the expression is.
            return carrying, {}, [], None

        nodes = self.api.list_nodes(self.key)
        edge_nodes = sorted(n['metadata']['name'] for n in nodes)
        if not edge_nodes:
            self.warnings.append(
                'No node carries the label %s, so no pod runs on an edge node. Label the edge '
                'nodes first (KubeEdge keadm join sets node-role.kubernetes.io/edge) or set '
                'node_label to the label your edge nodes carry.' % self.key)
            return carrying, {}, [], edge_nodes
        edge_set = set(edge_nodes)
        # One list of all pods, filtered here: a constant number of requests
        # however many edge nodes there are (a fieldSelector per node would be
        # one request per edge node).
        pods = [p for p in self.api.list_pods(namespace)
                if (p.get('spec') or {}).get('nodeName') in edge_set]

        by_uid = dict((ds['metadata'].get('uid'), ds) for ds in daemonsets)
        edge_pods = {}
        others = {}
        rs_owned = []
        for pod in pods:
            meta = pod['metadata']
            owner = _controller_of(meta)
            label = '%s@%s' % (meta['name'], pod['spec']['nodeName'])
            if owner and owner.get('kind') == 'DaemonSet' and owner.get('uid') in by_uid:
                edge_pods.setdefault(ref(by_uid[owner['uid']]), []).append(label)
            elif owner and owner.get('kind') == 'ReplicaSet':
                rs_owned.append((pod, owner, label))
            else:
                kind = owner.get('kind') if owner else 'Pod'
                name = owner.get('name') if owner else meta['name']
                _group(others, kind, meta.get('namespace'), name, label)
        if rs_owned:
            replicasets = dict((rs['metadata'].get('uid'), rs) for rs in self.api.list_replicasets(namespace))
            for pod, owner, label in rs_owned:
                rs = replicasets.get(owner.get('uid'))
                parent = _controller_of(rs['metadata']) if rs else None
                if parent and parent.get('kind') == 'Deployment':
                    _group(others, 'Deployment', pod['metadata'].get('namespace'), parent['name'], label)
                else:
                    _group(others, 'ReplicaSet', pod['metadata'].get('namespace'), owner.get('name'), label)

        other_workloads = [others[k] for k in sorted(others)]
        for item in other_workloads:
            item['reason'] = ('not a DaemonSet: pods of a %s are placed by its own spec; give it a '
                              'nodeSelector or node affinity if it must not run on edge nodes' % item['kind'])
        if other_workloads:
            self.warnings.append(
                'Pods of %d workload(s) other than DaemonSets run on edge nodes and were not changed: %s.'
                % (len(other_workloads),
                   ', '.join('%s %s/%s' % (s['kind'], s['namespace'], s['name']) for s in other_workloads)))
        carrying_refs = set(ref(ds) for ds in carrying)
        selected = [ds for ds in daemonsets if ref(ds) in edge_pods or ref(ds) in carrying_refs]
        return selected, edge_pods, other_workloads, edge_nodes

    # -- applying ------------------------------------------------------------
    def process(self, daemonsets, strict=False, edge_pods=None):
        """Change what needs changing; return (entries, changed_refs)."""
        entries, changed_refs = [], []
        for ds in sorted(daemonsets, key=ref):
            name = ref(ds)
            entry = {'namespace': ds['metadata']['namespace'], 'name': ds['metadata']['name']}
            if edge_pods is not None:
                entry['edge_pods'] = sorted(edge_pods.get(name, []))
            if self.state == 'present' and requires_label(pod_spec_of(ds), self.key):
                reason = ('its nodeSelector or node affinity requires the label %s, so it runs on '
                          'edge nodes on purpose; excluding them would leave it no node to run on'
                          % self.key)
                if strict:
                    raise EdgeAffinityError('DaemonSet %s cannot be kept off edge nodes: %s. Remove it '
                                            'from daemonsets.' % (name, reason))
                entry.update(status='skipped', reason=reason)
                self.warnings.append('DaemonSet %s was not changed: %s.' % (name, reason))
                entries.append(entry)
                continue
            before = pod_affinity_of(ds)
            ds, after, changed = self._apply(ds, before)
            entry['status'] = 'changed' if changed else 'unchanged'
            entry['affinity'] = after
            if changed:
                changed_refs.append(name)
                self.diffs.append({'before_header': 'DaemonSet %s affinity' % name,
                                   'after_header': 'DaemonSet %s affinity' % name,
                                   'before': _diff_value(before), 'after': _diff_value(after)})
            entries.append(entry)
        return entries, changed_refs

    def _apply(self, ds, before):
        after, changed = self.desired(before)
        attempt = 0
        while changed and not self.check_mode:
            try:
                self.api.patch_daemonset(ds['metadata']['namespace'], ds['metadata']['name'],
                                         build_patch(ds, after))
                break
            except ApiError as exc:
                attempt += 1
                # A failed JSON-patch "test" is 422 from kube-apiserver; 409 is a write conflict.
                if exc.status not in (409, 422) or attempt >= self.MAX_CONFLICT_RETRIES:
                    raise
            # Changed by someone else since it was read: read it again and recompute.
            ds = self.api.get_daemonset(ds['metadata']['namespace'], ds['metadata']['name'])
            after, changed = self.desired(pod_affinity_of(ds))
        return ds, after, changed

    def run(self, daemonsets=None, label_selector=None, discover=False, namespace=None):
        # Not "skipped": Ansible reads that result key as "the task was skipped".
        result = {'changed': False, 'changed_daemonsets': [], 'daemonsets': []}
        if discover:
            targets, edge_pods, others, edge_nodes = self.discover_targets(namespace)
            result['other_workloads'] = others
            if edge_nodes is not None:
                result['edge_nodes'] = edge_nodes
            entries, changed_refs = self.process(targets, edge_pods=edge_pods)
        elif label_selector is not None:
            targets = self.api.list_daemonsets(namespace, label_selector)
            if not targets:
                self.warnings.append('No DaemonSet matches the label selector %s%s.' % (
                    label_selector, ' in namespace %s' % namespace if namespace else ''))
            entries, changed_refs = self.process(targets)
        else:
            entries, changed_refs = self.process(self.explicit_targets(daemonsets), strict=True)
        result['daemonsets'] = entries
        result['changed_daemonsets'] = changed_refs
        result['changed'] = bool(changed_refs)
        return result


def _controller_of(meta):
    refs = (meta or {}).get('ownerReferences') or []
    for owner in refs:
        if owner.get('controller'):
            return owner
    return refs[0] if refs else None


def _group(groups, kind, namespace, name, pod):
    item = groups.setdefault((kind, namespace or '', name),
                             {'kind': kind, 'namespace': namespace, 'name': name, 'pods': []})
    item['pods'].append(pod)


def _diff_value(affinity):
    # Dicts: the callback renders them as sorted JSON; {} stands for "no affinity".
    return copy.deepcopy(affinity) if affinity else {}
