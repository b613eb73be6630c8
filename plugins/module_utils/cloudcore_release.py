# -*- coding: utf-8 -*-
# Copyright: (c) 2026, edge.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which KubeEdge release CloudCore runs, read from the cluster, and whether an edge node may run a version.

keadm init installs CloudCore as Deployment ``kubeedge/cloudcore``: its image tag is the version, its
ConfigMap's ``cloudcore.yaml`` the advertise addresses. A CloudCore the cloudcore role runs as a systemd
service (binary method) leaves no such object, so the role records it in ConfigMap
``kubeedge/edge-cluster-cloudcore``:

* ``version.<host>``: the version CloudCore runs on that host;
* ``addresses.<host>``: the addresses that host advertises, comma-separated.

One pair of keys per CloudCore host (several share a cluster in HA), so that an edge node is compared
with the CloudCores advertised at the address it joins, and only with those.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.edge.cluster.plugins.module_utils import versions

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover - python3-kubernetes depends on it
    yaml = None
    HAS_YAML = False

RELEASE_RECORD_NAME = 'edge-cluster-cloudcore'
VERSION_KEY_PREFIX = 'version.'
ADDRESSES_KEY_PREFIX = 'addresses.'


def _addresses(values):
    return [str(a).strip() for a in values or [] if str(a).strip()]


def release_from_keadm(version, config_text):
    """The release of a keadm Deployment: ``version`` (its image tag) and the advertise addresses of
    ``config_text`` (the ConfigMap's cloudcore.yaml; unreadable text gives no addresses)."""
    addresses = []
    if config_text and HAS_YAML:
        try:
            config = yaml.safe_load(config_text) or {}
            hub = ((config.get('modules') or {}).get('cloudHub') or {}) if isinstance(config, dict) else {}
            addresses = _addresses(hub.get('advertiseAddress'))
        except (yaml.YAMLError, AttributeError):
            addresses = []
    return dict(version=version or '', advertise_addresses=addresses, source='deployment' if version else '',
                hosts={})


def release_from_record(data):
    """The release the binary method recorded (the ConfigMap's data, None when absent): ``hosts`` (host to
    version), ``host_addresses`` (host to its advertised addresses), and as ``version`` the oldest of them."""
    data = data or {}
    hosts, host_addresses, valid = {}, {}, []
    for key, value in data.items():
        if not key.startswith(VERSION_KEY_PREFIX) or not value:
            continue
        host = key[len(VERSION_KEY_PREFIX):]
        try:
            valid.append((versions.parse(value), value))
        except ValueError:
            continue
        hosts[host] = value
        host_addresses[host] = _addresses((data.get(ADDRESSES_KEY_PREFIX + host) or '').split(','))
    oldest = min(valid)[1] if valid else ''
    union = []
    for host in sorted(host_addresses):
        union.extend(a for a in host_addresses[host] if a not in union)
    return dict(version=oldest, advertise_addresses=union, source='record' if oldest else '', hosts=hosts,
                host_addresses=host_addresses)


def record_data(host, version, addresses):
    """The ConfigMap data one CloudCore host of the binary method writes (merged with the other hosts')."""
    return {VERSION_KEY_PREFIX + host: version, ADDRESSES_KEY_PREFIX + host: ','.join(_addresses(addresses))}


def _host_of(address):
    """``'192.0.2.10:10000'`` -> ``'192.0.2.10'``; ``'[2001:db8::1]:10000'`` -> ``'2001:db8::1'``."""
    address = str(address or '').strip()
    if address.startswith('['):
        return address[1:].split(']', 1)[0]
    if address.count(':') == 1:
        return address.split(':', 1)[0]
    return address


def edge_version_problem(release, cloudcore_address, edge_version):
    """Why an edge node joining CloudCore at ``cloudcore_address`` (host or host:port) must not run
    ``edge_version``, or ``''``. Only a release advertised at that address is compared: a cluster may hold
    another CloudCore's objects (a test bed, a CloudCore being replaced), which say nothing of this one."""
    release = release or {}
    address = _host_of(cloudcore_address)
    if release.get('host_addresses'):
        # binary method: the CloudCores advertised at this address, the oldest of them
        joined = [release['hosts'][h] for h, addrs in release['host_addresses'].items()
                  if address in addrs and h in release.get('hosts', {})]
        cloud_version = min(joined, key=versions.parse) if joined else ''
    else:
        cloud_version = (release.get('version') or '') if address in release.get('advertise_addresses', []) else ''
    if not cloud_version:
        return ''
    if not versions.newer_than(edge_version, cloud_version):
        return ''
    return ('CloudCore at %s runs KubeEdge %s, older than the %s asked for this edge node: an edge node must not be '
            'newer than its CloudCore. Upgrade CloudCore first (playbooks/upgrade.yml upgrades the cloud hosts before '
            'the edge nodes), or ask for %s or older.' % (address, cloud_version, edge_version, cloud_version))
