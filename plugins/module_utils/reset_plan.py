# -*- coding: utf-8 -*-
# Copyright: (c) 2026, edge.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decide, before anything changes, whether a host may be reset and what the reset removes.

Pure Python: the input is what module ``kubeedge_edge_info`` read on the host and what the
cluster says of the host's Node; the output is a plan the reset role only carries out.

A reset is destructive, so the rule is "prove first":

* A host running CloudCore, a kubelet or kube-proxy that is not a SuperEdge edge node of this
  cluster, or a host of the inventory's cloud group is refused, whatever else it holds.
* A host with KubeEdge on it is reset only when it is proven ours: its Node (the name edgecore
  registers) carries an edge label in this cluster, or it holds leftovers only the edgenode role
  writes (its cache directories, sysctl file, bridge CNI config).
* A host with nothing of KubeEdge left is clean: nothing to do (a re-run of a finished reset).
* Containers go only when they belong to edgecore's pods: the pod UIDs edged keeps directories
  for, the pods the cluster binds to the Node, and the sandbox ``keadm join`` runs
  (pod ``edgecore`` in namespace ``kubeedge``); never the rest of the runtime's namespace.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

EDGE_LABEL = 'node-role.kubernetes.io/edge'
POD_UID_LABEL = 'io.kubernetes.pod.uid'
POD_NAME_LABEL = 'io.kubernetes.pod.name'
POD_NAMESPACE_LABEL = 'io.kubernetes.pod.namespace'
SANDBOX_KIND_LABEL = 'io.cri-containerd.kind'
# keadm join copies edgecore out of its installation-package image through a CRI pod
# sandbox with this name and namespace (crictl shows it as edgecore_kubeedge__0).
JOIN_POD = ('edgecore', 'kubeedge')
MQTT_CONTAINER = 'mqtt'
MQTT_IMAGE = 'eclipse-mosquitto'

VERDICT_RESET = 'reset'
VERDICT_CLEAN = 'clean'
VERDICT_REFUSE = 'refuse'


def node_labels(node):
    """The labels of a Node object (dict as the API returns it), {} for none."""
    if not node:
        return {}
    return dict(((node.get('metadata') or {}).get('labels') or {}))


def _present(info, path):
    return bool((info.get('paths') or {}).get(path))


def _unit(info, name):
    return (info.get('units') or {}).get(name) or {}


def _pids(info, name):
    return list((info.get('processes') or {}).get(name) or [])


def _binary(info, name):
    return bool(((info.get('binaries') or {}).get(name) or {}).get('exists'))


def _binary_path(info, name):
    return ((info.get('binaries') or {}).get(name) or {}).get('path') or name


def _unit_found(info, name):
    unit = _unit(info, name)
    return bool(unit.get('exists'))


def _describe_unit(info, name):
    unit = _unit(info, name)
    return '%s (%s)' % (unit.get('unit') or name + '.service', unit.get('active_state') or 'unknown')


def docker_pod_uid(name):
    """The pod UID in a dockershim container name k8s_<container>_<pod>_<namespace>_<uid>_<attempt>."""
    parts = (name or '').lstrip('/').split('_')
    if len(parts) >= 6 and parts[0] == 'k8s':
        return parts[-2]
    return ''


def docker_pod_ref(name):
    """(pod, namespace) of a dockershim container name, ('', '') otherwise."""
    parts = (name or '').lstrip('/').split('_')
    if len(parts) >= 6 and parts[0] == 'k8s':
        return parts[-4], parts[-3]
    return '', ''


def owned_containers(info, pod_uids):
    """Split the runtime containers into edgecore's and the rest.

    Returns a dict: ``containerd`` (ids to delete), ``sandboxes`` (the CRI sandboxes among them),
    ``docker`` (ids), ``kept`` (a count of the containers left alone, per runtime).
    """
    uids = set(u for u in pod_uids if u)
    containers = info.get('containers') or {}
    result = dict(containerd=[], sandboxes=[], docker=[], kept=dict(containerd=0, docker=0))
    for item in containers.get('containerd') or []:
        labels = item.get('labels') or {}
        ref = (labels.get(POD_NAME_LABEL, ''), labels.get(POD_NAMESPACE_LABEL, ''))
        if labels.get(POD_UID_LABEL) in uids or ref == JOIN_POD:
            result['containerd'].append(item['id'])
            if labels.get(SANDBOX_KIND_LABEL) == 'sandbox':
                result['sandboxes'].append(item['id'])
        else:
            result['kept']['containerd'] += 1
    for item in containers.get('docker') or []:
        labels = item.get('labels') or {}
        name = (item.get('name') or '').lstrip('/')
        uid = labels.get(POD_UID_LABEL) or docker_pod_uid(name)
        ref = (labels.get(POD_NAME_LABEL) or docker_pod_ref(name)[0],
               labels.get(POD_NAMESPACE_LABEL) or docker_pod_ref(name)[1])
        mqtt = name == MQTT_CONTAINER and (item.get('image') or '').split('/')[-1].startswith(MQTT_IMAGE)
        if uid in uids or ref == JOIN_POD or mqtt:
            result['docker'].append(item['id'])
        else:
            result['kept']['docker'] += 1
    return result


def blockers(info, cloud_member, superedge_proven):
    """What makes the host not an edge node of ours, whatever else it holds."""
    found = []
    if cloud_member:
        found.append('the host is in the inventory group of the CloudCore hosts')
    cloudcore = []
    if (info.get('cloudcore') or {}).get('config_exists'):
        cloudcore.append('its configuration')
    if _unit_found(info, 'cloudcore'):
        cloudcore.append('unit ' + _describe_unit(info, 'cloudcore'))
    if _pids(info, 'cloudcore'):
        cloudcore.append('a running cloudcore (pid %s)' % ', '.join(str(p) for p in _pids(info, 'cloudcore')))
    if _binary(info, 'cloudcore'):
        cloudcore.append(_binary_path(info, 'cloudcore'))
    if cloudcore:
        found.append('CloudCore: ' + ', '.join(cloudcore))
    if not superedge_proven:
        kubelet = []
        if _unit_found(info, 'kubelet'):
            kubelet.append('unit ' + _describe_unit(info, 'kubelet'))
        if _pids(info, 'kubelet'):
            kubelet.append('a running kubelet (pid %s)' % ', '.join(str(p) for p in _pids(info, 'kubelet')))
        if _pids(info, 'kube-proxy'):
            kubelet.append('a running kube-proxy (pid %s)' % ', '.join(str(p) for p in _pids(info, 'kube-proxy')))
        if kubelet:
            found.append('a Kubernetes node that is not a SuperEdge edge node of this cluster: ' + ', '.join(kubelet))
    return found


def kubeedge_evidence(info, keadm_bin, edgecore_bin):
    """What of KubeEdge's edge side is on the host (descriptions)."""
    edgecore = info.get('edgecore') or {}
    found = []
    if edgecore.get('config_exists'):
        found.append('edgecore configuration (node name %r)' % (edgecore.get('node_name') or ''))
    if _unit_found(info, 'edgecore'):
        found.append('unit ' + _describe_unit(info, 'edgecore'))
    if _pids(info, 'edgecore'):
        found.append('a running edgecore (pid %s)' % ', '.join(str(p) for p in _pids(info, 'edgecore')))
    for name, path in (('keadm', keadm_bin), ('edgecore', edgecore_bin)):
        if _binary(info, name):
            found.append(path)
    return found


def plan(info, node=None, node_error='', node_pod_uids=None, options=None):
    """The reset plan of one host.

    ``info``: the result of module kubeedge_edge_info (``paths`` must include every path of
    ``options['paths']`` and ``options['markers']``).
    ``node``: the Node the host's edgecore names, as the API returns it, or None when absent.
    ``node_error``: why the Node could not be read ('' when it was read).
    ``node_pod_uids``: UIDs of the pods the cluster binds to that Node.
    ``options``: node_name, paths (what the reset removes when present), markers (paths only
    the edgenode role writes), edge_labels, superedge_labels, superedge ('auto', 'true', 'false'),
    superedge_markers, cloud_member, delete_node, keadm_bin, edgecore_bin, edgeadm_bin,
    remove_containers, cni_conflist, cni_bridge_path.
    """
    opts = dict(options or {})
    info = info or {}
    edge_labels = list(opts.get('edge_labels') or [EDGE_LABEL])
    superedge_labels = list(opts.get('superedge_labels') or [])
    labels = node_labels(node)
    node_name = opts.get('node_name') or ''
    superedge_mode = str(opts.get('superedge', 'auto')).lower()

    node_edge = bool(node) and any(k in labels for k in edge_labels)
    node_superedge = bool(node) and any(k in labels for k in superedge_labels)
    superedge_files = [p for p in opts.get('superedge_markers') or [] if _present(info, p)]
    superedge_proven = (superedge_mode != 'false' and node_superedge
                        and (_binary(info, 'edgeadm') or bool(superedge_files)))

    markers = [p for p in opts.get('markers') or [] if _present(info, p)]
    evidence = kubeedge_evidence(info, opts.get('keadm_bin', 'keadm'), opts.get('edgecore_bin', 'edgecore'))
    stop = blockers(info, bool(opts.get('cloud_member')), superedge_proven)

    paths = [p for p in opts.get('paths') or [] if _present(info, p)]
    pod_uids = sorted(set((info.get('edgecore') or {}).get('pod_uids') or []) | set(node_pod_uids or []))
    containers = owned_containers(info, pod_uids) if opts.get('remove_containers', True) else owned_containers({}, [])
    edgecore = info.get('edgecore') or {}
    # keadm's own reset needs a keadm that answers `keadm version` (its form depends on it).
    keadm_reset = _binary(info, 'keadm') and bool((info.get('keadm') or {}).get('version')) and bool(
        edgecore.get('config_exists') or _unit_found(info, 'edgecore') or _pids(info, 'edgecore')
        or _present(info, '/etc/kubeedge'))
    edgeadm_reset = superedge_proven and bool(superedge_files)
    cni_bridge = _present(info, opts.get('cni_conflist', '')) and _present(info, opts.get('cni_bridge_path', ''))
    stop_edgecore = _unit_found(info, 'edgecore') and (
        _unit(info, 'edgecore').get('active_state') in ('active', 'activating', 'reloading')
        or _unit(info, 'edgecore').get('unit_file_state') == 'enabled')
    delete_node = node_name if (opts.get('delete_node', True) and (node_edge or node_superedge)) else ''

    result = dict(
        verdict=VERDICT_RESET, kind='none', node_name=node_name, reasons=[], found=[],
        proof='', node=dict(exists=bool(node), edge=node_edge, superedge=node_superedge,
                            error=node_error or ''),
        remove=dict(paths=paths, containerd=containers['containerd'], sandboxes=containers['sandboxes'],
                    docker=containers['docker'], keadm_reset=keadm_reset, edgeadm_reset=edgeadm_reset,
                    stop_edgecore=stop_edgecore, kill_edgecore=bool(_pids(info, 'edgecore')),
                    cni_bridge=cni_bridge, node=delete_node),
        kept=containers['kept'],
    )
    superedge_found = superedge_files + ([opts.get('edgeadm_bin', 'edgeadm')] if _binary(info, 'edgeadm') else [])
    result['found'] = list(evidence)
    if markers:
        result['found'].append('leftovers of the edgenode role: ' + ', '.join(markers))
    if superedge_found:
        result['found'].append('SuperEdge: ' + ', '.join(superedge_found))

    if stop:
        result['verdict'] = VERDICT_REFUSE
        result['reasons'] = stop
        return _empty(result)

    work = bool(paths or containers['containerd'] or containers['docker'] or keadm_reset or edgeadm_reset
                or stop_edgecore or result['remove']['kill_edgecore'] or cni_bridge)
    if node and not (node_edge or node_superedge) and (work or evidence):
        result['verdict'] = VERDICT_REFUSE
        result['reasons'] = ['Node %s exists in the cluster but carries none of the labels %s: it is not an '
                             'edge node, so this host is not the edge node of that name'
                             % (node_name, ', '.join(edge_labels + superedge_labels))]
        return _empty(result)
    if not work:
        if delete_node:
            result['kind'] = 'node'
            result['proof'] = 'Node %s carries an edge label' % node_name
            return result
        result['verdict'] = VERDICT_CLEAN
        return _empty(result)

    if superedge_proven:
        result['kind'] = 'superedge'
        result['proof'] = 'Node %s carries the SuperEdge edge label' % node_name
    elif node_edge:
        result['kind'] = 'kubeedge'
        result['proof'] = 'Node %s carries the edge label %s' % (
            node_name, ', '.join(k for k in edge_labels if k in labels))
    elif markers:
        result['kind'] = 'leftovers'
        result['proof'] = 'leftovers only the edgenode role writes: ' + ', '.join(markers)
    else:
        result['verdict'] = VERDICT_REFUSE
        why = ('the cluster could not be asked about Node %s (%s)' % (node_name, node_error) if node_error
               else 'no Node %s with an edge label is in the cluster' % node_name if node_name
               else 'edgecore names no node')
        result['reasons'] = ['this host holds %s, but nothing proves it is an edge node of this cluster: %s, '
                             'and none of the edgenode role\'s leftovers (%s) is on it'
                             % (', '.join(evidence + paths) or 'KubeEdge files', why,
                                ', '.join(opts.get('markers') or []))]
        return _empty(result)
    return result


def _empty(result):
    """A plan that removes nothing (refused or clean)."""
    result['remove'] = dict(paths=[], containerd=[], sandboxes=[], docker=[], keadm_reset=False,
                            edgeadm_reset=False, stop_edgecore=False, kill_edgecore=False,
                            cni_bridge=False, node='')
    return result


def summary(result, host):
    """One line per thing the plan removes (or why it removes nothing), for output before acting."""
    rm = result['remove']
    if result['verdict'] == VERDICT_REFUSE:
        found = ' Also found: %s.' % ', '.join(result['found']) if result['found'] else ''
        return ['%s is not reset: %s.%s Nothing on it was changed.' % (host, '; '.join(result['reasons']), found)]
    if result['verdict'] == VERDICT_CLEAN:
        return ['%s holds nothing of KubeEdge: nothing to remove.' % host]
    lines = ['%s is reset (%s).' % (host, result['proof'])]
    if rm['edgeadm_reset']:
        lines.append('run edgeadm reset --force')
    if rm['keadm_reset']:
        lines.append('run keadm reset')
    if rm['stop_edgecore'] or rm['kill_edgecore']:
        lines.append('stop edgecore')
    if rm['containerd']:
        lines.append('remove %d containerd container(s) of edgecore\'s pods: %s'
                     % (len(rm['containerd']), ', '.join(c[:12] for c in rm['containerd'])))
    if rm['docker']:
        lines.append('remove %d docker container(s) of edgecore\'s pods: %s'
                     % (len(rm['docker']), ', '.join(c[:12] for c in rm['docker'])))
    kept = sum(result.get('kept', {}).values())
    if kept:
        lines.append('keep %d container(s) that are not edgecore\'s' % kept)
    if rm['paths']:
        lines.append('remove ' + ', '.join(rm['paths']))
    if rm['cni_bridge']:
        lines.append('delete the bridge of the edgenode role\'s CNI config')
    if rm['node']:
        lines.append('delete Node %s' % rm['node'])
    return lines
