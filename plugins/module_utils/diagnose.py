# -*- coding: utf-8 -*-
# Copyright: (c) 2026, edge.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What looks wrong on a cloud or edge host, from what playbooks/diagnose.yml read there.

The inputs are module results of this run (kubeedge_edge_info, kubeedge_cloud_info, wait_for probes);
the output is a list of findings ``{"level": "error"|"warning", "what": "..."}`` per host, and a table
of them. Texts never hold secrets: the inputs carry none (the modules never return the token), and
configuration files pass through redact.mask before they are stored.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.edge.cluster.plugins.module_utils import redact, versions
from ansible_collections.edge.cluster.plugins.module_utils.cloudcore_release import edge_version_problem

EDGE_PORTS = {10000: 'cloudhub websocket', 10002: 'cloudhub https, certificates', 10003: 'stream',
              10004: 'tunnel, for kubectl logs/exec'}


def _error(what):
    return {'level': 'error', 'what': what}


def _warning(what):
    return {'level': 'warning', 'what': what}


def _unit(info, name):
    return (info.get('units') or {}).get(name) or {}


def port_map(probes):
    """``{port: reachable}`` from the results of an ansible.builtin.wait_for loop over ports (registered with
    ``failed_when: false``, so a timeout shows as its message, not as ``failed``). A skipped probe is left out."""
    result = {}
    for probe in probes or []:
        if not isinstance(probe, dict) or probe.get('skipped') or 'item' not in probe:
            continue
        result[int(probe['item'])] = probe.get('state') == 'started' and not probe.get('msg')
    return result


def edge_findings(info, ports=None, node=None, release=None, cloud_read_error=''):
    """Findings of an edge host.

    ``info``: kubeedge_edge_info's result; ``ports``: ``{port: reachable}`` from this host to CloudCore;
    ``node``: its Node as kubeedge_cloud_info lists edge nodes (None: no such Node);
    ``release``: kubeedge_cloud_info's ``release``; ``cloud_read_error``: why the cluster was not read."""
    info = info or {}
    edgecore = info.get('edgecore') or {}
    findings = []
    if not edgecore.get('config_exists'):
        findings.append(_error('no edgecore.yaml: the host was never joined (or was reset)'))
    elif edgecore.get('config_error'):
        findings.append(_error('edgecore.yaml cannot be read: %s' % edgecore['config_error']))
    elif not edgecore.get('token_present') and not edgecore.get('node_name'):
        findings.append(_warning('edgecore.yaml has neither a node name nor a join token'))
    unit = _unit(info, 'edgecore')
    if edgecore.get('config_exists'):
        if not unit.get('exists'):
            findings.append(_error('edgecore.service does not exist'))
        elif unit.get('active_state') != 'active':
            findings.append(_error('edgecore.service is %s/%s (journalctl -u edgecore: edgecore.log)'
                                   % (unit.get('active_state') or '?', unit.get('sub_state') or '?')))
        elif unit.get('unit_file_state') != 'enabled':
            findings.append(_warning('edgecore.service is not enabled: it will not start at boot'))
    for other in ('kubelet',):
        if _unit(info, other).get('active_state') == 'active':
            findings.append(_error('%s runs on this host: edgecore cannot run beside it' % other))
    for port, reachable in sorted((int(p), r) for p, r in (ports or {}).items()):
        if not reachable:
            findings.append(_error('CloudCore port %d (%s) is not reachable from this host'
                                   % (port, EDGE_PORTS.get(port, 'CloudCore'))))
    if cloud_read_error:
        findings.append(_warning('the cluster could not be read: %s' % redact.mask(cloud_read_error)))
    elif edgecore.get('node_name'):
        if node is None:
            findings.append(_error('Node %s does not exist in the cluster' % edgecore['node_name']))
        else:
            if not node.get('ready'):
                findings.append(_error('Node %s is not Ready' % edgecore['node_name']))
            problem = edge_version_problem(release or {}, edgecore.get('cloudcore_server', ''),
                                           node.get('kubeedge_version', ''))
            if problem:
                findings.append(_error(problem.split(': an edge node', 1)[0]))
    return findings


def cloud_findings(cloud, unit=None, method=''):
    """Findings of a cloud host from kubeedge_cloud_info's result (``cloud``, or its failure) and, for a
    CloudCore run as a service, the unit's state (``unit``: kubeedge_edge_info's units entry)."""
    cloud = cloud or {}
    findings = []
    if cloud.get('failed') or 'edge_nodes' not in cloud:
        return [_error('the cluster could not be read: %s' % redact.mask(cloud.get('msg') or 'no answer'))]
    deployment = cloud.get('deployment') or {}
    release = cloud.get('release') or {}
    unit = unit or {}
    if deployment.get('exists'):
        if not deployment.get('ready_replicas'):
            findings.append(_error('Deployment kubeedge/cloudcore has no ready replica'))
    elif unit.get('exists'):
        if unit.get('active_state') != 'active':
            findings.append(_error('cloudcore.service is %s/%s (journalctl -u cloudcore: cloudcore.log)'
                                   % (unit.get('active_state') or '?', unit.get('sub_state') or '?')))
    elif method != 'none':
        findings.append(_error('no CloudCore found: no Deployment kubeedge/cloudcore and no cloudcore.service here'))
    if not (cloud.get('token_secret') or {}).get('exists'):
        findings.append(_error('no join token Secret kubeedge/tokensecret: CloudCore has not started once'))
    cert = cloud.get('server_certificate') or {}
    advertised = release.get('advertise_addresses') or []
    if cert.get('readable') and advertised:
        missing = [a for a in advertised if a not in (cert.get('ip_addresses') or [])]
        if missing:
            findings.append(_error('the server certificate (kubeedge/cloudcoresecret) lacks the advertise address(es) '
                                   '%s: edge nodes dialling them fail the TLS check' % ', '.join(missing)))
    not_ready = [n['name'] for n in cloud.get('edge_nodes') or [] if not n.get('ready')]
    if not_ready:
        findings.append(_warning('edge Nodes not Ready: %s' % ', '.join(not_ready)))
    newer = [n['name'] for n in cloud.get('edge_nodes') or []
             if versions.newer_than(n.get('kubeedge_version'), release.get('version'))]
    if newer:
        findings.append(_error('edge Nodes newer than CloudCore %s: %s' % (release['version'], ', '.join(newer))))
    return findings


def table(findings_by_host):
    """A plain-text table: one line per finding, hosts in order, ``ok`` for a host without any."""
    rows = []
    for host in sorted(findings_by_host):
        findings = findings_by_host[host] or []
        if not findings:
            rows.append((host, 'ok', ''))
        for finding in findings:
            rows.append((host, finding.get('level', '?'), finding.get('what', '')))
    width = max([len(r[0]) for r in rows] + [4])
    lines = ['%-*s  %-7s  %s' % (width, 'host', 'level', 'finding')]
    lines.extend('%-*s  %-7s  %s' % (width, h, lvl, what) for h, lvl, what in rows)
    return lines


def masked(text):
    """A configuration file or log as it may be stored: secrets replaced by redact's marker."""
    return redact.mask(text or '')
