# -*- coding: utf-8 -*-
# Copyright: (c) 2026, edge.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the edge.cluster roles: decisions written in Python, with unit tests, instead of Jinja."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.edge.cluster.plugins.module_utils import cloudcore_release as cr
from ansible_collections.edge.cluster.plugins.module_utils import diagnose as dg
from ansible_collections.edge.cluster.plugins.module_utils import edge_host as eh
from ansible_collections.edge.cluster.plugins.module_utils import firewall as fw
from ansible_collections.edge.cluster.plugins.module_utils import node_metadata as nm
from ansible_collections.edge.cluster.plugins.module_utils import ports as pt
from ansible_collections.edge.cluster.plugins.module_utils import proxy as px
from ansible_collections.edge.cluster.plugins.module_utils import redact as rd
from ansible_collections.edge.cluster.plugins.module_utils import reset_plan as rp
from ansible_collections.edge.cluster.plugins.module_utils import superedge as se
from ansible_collections.edge.cluster.plugins.module_utils import versions as vs


def reset_plan(info, node=None, node_error='', node_pod_uids=None, options=None, host=''):
    """The reset plan of one host; see plugins/filter/reset_plan.yml."""
    if not isinstance(info, dict):
        raise AnsibleFilterError('reset_plan: the input must be the result of edge.cluster.kubeedge_edge_info')
    opts = dict(options or {})
    opts.setdefault('superedge_labels', list(se.EDGE_NODE_LABEL_KEYS))
    result = rp.plan(info, node=node or None, node_error=node_error or '',
                     node_pod_uids=list(node_pod_uids or []), options=opts)
    result['summary'] = rp.summary(result, host or opts.get('node_name') or 'this host')
    return result


def active_firewall(units, wanted='auto'):
    """The firewall in charge; see plugins/filter/active_firewall.yml."""
    try:
        return fw.active_firewall(units or {}, wanted)
    except ValueError as exc:
        raise AnsibleFilterError('active_firewall: %s' % to_native(exc))


def superedge_edge_label(version):
    """The edge Node label edgeadm of this version writes; see plugins/filter/superedge_edge_label.yml."""
    try:
        return se.edge_node_label(version)
    except ValueError as exc:
        raise AnsibleFilterError('superedge_edge_label: %s' % to_native(exc))


def non_edge_nodes(nodes):
    """Names of the Nodes that carry no KubeEdge or SuperEdge edge label; see plugins/filter/non_edge_nodes.yml."""
    labels = [rp.EDGE_LABEL] + list(se.EDGE_NODE_LABEL_KEYS)
    names = []
    for node in nodes or []:
        if not any(key in rp.node_labels(node) for key in labels):
            names.append((node.get('metadata') or {}).get('name', ''))
    return names


def cloud_host(groups, explicit=''):
    """The inventory host that reads and writes the cluster; see plugins/filter/cloud_host.yml."""
    if explicit:
        return str(explicit)
    cloud = (groups or {}).get('cloud') or []
    return str(cloud[0]) if cloud else 'localhost'


def join_summary(hosts, hostvars, ok_key='edgenode_joined_ok', why_key='edge_cluster_failure'):
    """Which targeted hosts joined and why the others did not; see plugins/filter/join_summary.yml."""
    joined, failed, why = [], [], {}
    for host in hosts or []:
        hvars = hostvars.get(host) if hasattr(hostvars, 'get') else None
        hvars = hvars or {}
        if hvars.get(ok_key):
            joined.append(host)
            continue
        failed.append(host)
        why[host] = rd.mask(to_native(hvars.get(why_key) or 'unreachable, or stopped before the edgenode role ran'))
    return {'joined': joined, 'failed': failed, 'why': why}


def survey_or(answer, inventory_value):
    """A survey answer, or the inventory's value when the answer is blank; see plugins/filter/survey_or.yml."""
    if answer is None:
        return inventory_value
    if isinstance(answer, str) and answer.strip().lower() in ('', 'inventory'):
        return inventory_value
    return answer


def version_select(entries, version):
    """Entries whose [since, until) holds the version; see plugins/filter/version_select.yml."""
    try:
        return vs.select(entries, version)
    except ValueError as exc:
        raise AnsibleFilterError('version_select: %s' % to_native(exc))


def version_flags(table, version):
    """``--flag=value`` of a version table; see plugins/filter/version_flags.yml."""
    try:
        return vs.flags(table, version)
    except (ValueError, KeyError) as exc:
        raise AnsibleFilterError('version_flags: %s' % to_native(exc))


def upgrade_problem(current, target, what='CloudCore'):
    """Why ``what`` cannot go from ``current`` to ``target`` in one step, or ''; see plugins/filter/upgrade_problem.yml."""
    try:
        return vs.upgrade_problem(current, target, what)
    except ValueError as exc:
        raise AnsibleFilterError('upgrade_problem: %s' % to_native(exc))


def edge_version_problem(release, cloudcore_address, edge_version):
    """Why an edge node must not run ``edge_version`` with that CloudCore, or ''; see
    plugins/filter/edge_version_problem.yml."""
    if not isinstance(release, dict):
        raise AnsibleFilterError('edge_version_problem: the input must be the release of edge.cluster.kubeedge_cloud_info')
    try:
        return cr.edge_version_problem(release, cloudcore_address, edge_version)
    except ValueError as exc:
        raise AnsibleFilterError('edge_version_problem: %s' % to_native(exc))


def node_metadata_in_step(node, labels=None, taints=None):
    """Whether the Node already carries the labels and taints asked for; see plugins/filter/node_metadata_in_step.yml."""
    if isinstance(node, list):
        node = node[0] if len(node) == 1 else None
    try:
        return nm.in_step(node, labels or {}, taints or [])
    except nm.NodeMetadataError as exc:
        raise AnsibleFilterError('node_metadata_in_step: %s' % to_native(exc))


def diagnose_findings(result, side, **kwargs):
    """What looks wrong on a cloud or edge host; see plugins/filter/diagnose_findings.yml."""
    if side == 'edge':
        return dg.edge_findings(result, ports=kwargs.get('ports'), node=kwargs.get('node') or None,
                                release=kwargs.get('release'), cloud_read_error=kwargs.get('cloud_read_error', ''))
    if side == 'cloud':
        return dg.cloud_findings(result, unit=kwargs.get('unit'), method=kwargs.get('method', ''))
    raise AnsibleFilterError("diagnose_findings: side must be 'edge' or 'cloud', got %r" % (side,))


def diagnose_ports(probes):
    """``{port: reachable}`` from wait_for results; see plugins/filter/diagnose_ports.yml."""
    return dg.port_map(probes)


def diagnose_table(findings_by_host):
    """One line per finding and host; see plugins/filter/diagnose_findings.yml."""
    return dg.table(findings_by_host or {})


def proxy_env(http_proxy, https_proxy='', no_proxy=None, direct=None):
    """The proxy environment, CloudCore and the cluster always direct; see plugins/filter/proxy_env.yml."""
    try:
        return px.environment(http_proxy, https_proxy, no_proxy, [d for d in direct or [] if d])
    except px.ProxyError as exc:
        raise AnsibleFilterError('proxy_env: %s' % to_native(exc))


def systemctl_show(text, names):
    """Units' states from one ``systemctl show`` call; see plugins/filter/systemctl_show.yml."""
    try:
        return eh.parse_systemctl_show(text or '', list(names or []))
    except ValueError as exc:
        raise AnsibleFilterError('systemctl_show: %s' % to_native(exc))


def ports_held_by_others(text, ports, own_pids=None, own_process=''):
    """Ports another program listens on, from ``ss -Htlnp``; see plugins/filter/ports_held_by_others.yml."""
    return pt.held_by_others(text, ports, own_pids=own_pids, own_process=own_process)


def redact(text, extra=None):
    """``text`` with keys, tokens and credentials masked; see plugins/filter/redact.yml."""
    return rd.mask(text, extra=list(extra or []))


class FilterModule(object):
    def filters(self):
        return {
            'reset_plan': reset_plan,
            'active_firewall': active_firewall,
            'superedge_edge_label': superedge_edge_label,
            'non_edge_nodes': non_edge_nodes,
            'redact': redact,
            'cloud_host': cloud_host,
            'join_summary': join_summary,
            'survey_or': survey_or,
            'version_select': version_select,
            'version_flags': version_flags,
            'systemctl_show': systemctl_show,
            'upgrade_problem': upgrade_problem,
            'edge_version_problem': edge_version_problem,
            'node_metadata_in_step': node_metadata_in_step,
            'diagnose_findings': diagnose_findings,
            'diagnose_table': diagnose_table,
            'diagnose_ports': diagnose_ports,
            'proxy_env': proxy_env,
            'ports_held_by_others': ports_held_by_others,
        }
