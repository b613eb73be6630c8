#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, edge.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: kubeedge_edge_info
short_description: Read the state of a KubeEdge edge host, in one call
version_added: 0.1.0
description:
  - Runs on an edge host and reads, in one call, what a join, upgrade, reset or check of the host needs to know.
  - The presence, mode and owner of C(edgecore.yaml), and the few settings a playbook needs from it (node name,
    cgroup driver, container runtime endpoint, CloudCore address, edged's root directory), plus the pod
    directories edged left under that root directory.
  - Whether C(cloudcore.yaml) exists.
  - The state of systemd units (RV(units)), read with one C(systemctl show) call.
  - The PIDs of processes by name (RV(processes)), from C(/proc).
  - Whether binaries and other paths exist, the keadm version and whether the containerd and docker sockets exist.
  - The containers of containerd and docker, when O(containers=true).
  - Replaces the C(stat), C(slurp), C(systemctl show), C(pgrep), C(keadm version), C(ctr containers ls) and
    C(docker ps) tasks of the KubeEdge runbook's checks.
  - The join token in C(edgecore.yaml) (C(modules.edgeHub.token)) never leaves the host; RV(edgecore.token_present)
    says whether there is one. Error messages never quote the file.
  - The module never changes anything.
author:
  - edge.cluster contributors (!UNKNOWN)
options:
  edgecore_config:
    description:
      - Path of edgecore's configuration file.
      - A file that is absent is reported as absent (RV(edgecore.config_exists=false)); one that cannot be read or
        parsed is reported in RV(edgecore.config_error). A directory fails the module.
    type: path
    default: /etc/kubeedge/config/edgecore.yaml
  cloudcore_config:
    description:
      - Path of CloudCore's configuration file, to tell whether CloudCore was set up on this host
        (RV(cloudcore.config_exists)). It is not read.
    type: path
    default: /etc/kubeedge/config/cloudcore.yaml
  binaries:
    description:
      - Binaries whose presence to report (RV(binaries)), as a name and its path.
      - The entry named C(keadm) is the keadm that O(keadm_version) runs.
      - Setting this option replaces the whole default.
    type: dict
    default:
      keadm: /usr/local/bin/keadm
      edgecore: /usr/local/bin/edgecore
      edgeadm: /usr/local/bin/edgeadm
      cloudcore: /usr/local/bin/cloudcore
  paths:
    description:
      - More paths whose presence to report (RV(paths)), files, directories or symbolic links (a dangling link counts
        as present).
    type: list
    elements: path
    default: []
  units:
    description:
      - The systemd units to read (RV(units)). A name without a unit type suffix gets C(.service).
      - All are read with one C(systemctl show) call. An empty list reads none.
    type: list
    elements: str
    default: [edgecore, cloudcore, kubelet, containerd, docker]
  processes:
    description:
      - Names of the processes to look for (RV(processes)), matched exactly against C(/proc/<pid>/comm).
      - The kernel keeps 15 characters of a process name, so only the first 15 characters of a longer name are compared.
    type: list
    elements: str
    default: [edgecore, cloudcore, kubelet, kube-proxy]
  keadm_version:
    description:
      - Whether to run C(keadm version) (the O(binaries) entry C(keadm)) when that file exists, for RV(keadm).
    type: bool
    default: true
  containers:
    description:
      - Whether to list the containers of containerd (with C(ctr)) and docker (with C(docker ps)) in RV(containers).
      - A runtime is only asked when its socket exists and its command is installed.
      - containerd needs one C(ctr containers info) call per container.
    type: bool
    default: false
  containerd_namespace:
    description:
      - The containerd namespace whose containers to list; edgecore's CRI containers live in C(k8s.io).
    type: str
    default: k8s.io
  containerd_socket:
    description:
      - containerd's socket. Its presence is reported in RV(runtimes.containerd_socket); C(ctr) talks to it.
    type: path
    default: /run/containerd/containerd.sock
  docker_socket:
    description:
      - docker's socket. Its presence is reported in RV(runtimes.docker_socket); C(docker) talks to it.
    type: path
    default: /var/run/docker.sock
  reference_time:
    description:
      - The controller's time (Unix seconds) when it sent this task, for example C({{ now(utc=true).timestamp() }}).
      - When given, RV(clock.skew_seconds) is this host's time minus it (the transfer time is part of it).
    type: float
  free_space:
    description:
      - Paths whose free space to report in RV(free_space); a path that does not exist yet is measured at its
        nearest existing parent.
    type: list
    elements: path
    default: []
  lock_files:
    description:
      - Files whose lock holders to report in RV(locks), from C(/proc/locks) (fcntl, flock and OFD locks), for
        example dpkg's C(/var/lib/dpkg/lock-frontend).
    type: list
    elements: path
    default: []
  lock_wait:
    description:
      - Seconds to wait, polling every second, for the files of O(lock_files) to be free before reporting their
        holders (for example while unattended-upgrades holds dpkg's lock). RV(lock_waited) says how long it waited.
    type: int
    default: 0
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Read-only; check mode reads the same and returns the same result.
  diff_mode:
    support: none
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
  platform:
    platforms: posix
    details: Linux hosts; processes are read from C(/proc) and units from systemd.
notes:
  - Run it with C(become=true) so it can read C(edgecore.yaml) (mode C(0600) as keadm writes it) and the runtimes' sockets.
  - Without PyYAML on the host, C(edgecore.yaml) is read by a small line reader that understands the block-style
    YAML edgecore and keadm write. If a needed key is written in another form, RV(edgecore.config_error) says so
    and asks for PyYAML (Debian package C(python3-yaml)).
  - Without C(systemctl), or when systemd does not run, every unit is reported as absent and RV(systemd_error) says why.
  - A failing C(keadm version), C(ctr) or C(docker) is reported in RV(keadm.error), RV(containers.containerd_error)
    or RV(containers.docker_error), not as a module failure.
seealso:
  - module: edge.cluster.kubeedge_cloud_info
  - module: ansible.builtin.stat
  - module: ansible.builtin.service_facts
  - name: keadm join
    description: The KubeEdge command that sets up the edge host this module reads.
    link: https://kubeedge.io/docs/setup/install-with-keadm/
'''

EXAMPLES = r'''
- name: Read the state of the edge host
  edge.cluster.kubeedge_edge_info:
  become: true
  register: edge_host

- name: Show whether it already joined, as which node and to which CloudCore
  ansible.builtin.debug:
    msg: >-
      joined={{ edge_host.edgecore.config_exists and edge_host.edgecore.token_present }}
      node={{ edge_host.edgecore.node_name }} cloudcore={{ edge_host.edgecore.cloudcore_server }}
      edgecore={{ edge_host.units.edgecore.active_state }} keadm={{ edge_host.keadm.version }}

- name: Fail when edgecore's cgroup driver is not the one of the container runtime
  ansible.builtin.assert:
    that: edge_host.edgecore.cgroup_driver == 'systemd'
    fail_msg: "edgecore uses the {{ edge_host.edgecore.cgroup_driver }} cgroup driver"
  when: edge_host.edgecore.config_exists

- name: Before a reset, list what is left of KubeEdge, with the runtime containers edged started
  edge.cluster.kubeedge_edge_info:
    units: [edgecore]
    processes: [edgecore]
    paths:
      - /etc/kubeedge
      - /var/lib/kubeedge
      - /etc/systemd/system/edgecore.service
    containers: true
  become: true
  register: edge_leftovers

- name: Show the containers of pods edged ran
  ansible.builtin.debug:
    msg: "{{ edge_leftovers.containers.containerd | selectattr('labels', 'contains', 'io.kubernetes.pod.uid') | map(attribute='id') | list }}"

- name: Binaries in another place, no keadm run, no units
  edge.cluster.kubeedge_edge_info:
    binaries:
      keadm: /opt/kubeedge/bin/keadm
      edgecore: /opt/kubeedge/bin/edgecore
    keadm_version: false
    units: []
  become: true
'''

RETURN = r'''
edgecore:
  description: What C(edgecore.yaml) says, from O(edgecore_config), and the pod directories edged left.
  returned: always
  type: dict
  contains:
    config_exists:
      description: Whether the file exists (a dangling symbolic link counts as absent).
      type: bool
      sample: true
    config_mode:
      description: The file's permission bits in octal; empty when it is absent.
      type: str
      sample: "0600"
    config_uid:
      description: The file's owner; null when it is absent.
      type: int
      sample: 0
    node_name:
      description: C(modules.edged.hostnameOverride), the name of the edge Node; empty when not set.
      type: str
      sample: edge-1
    cgroup_driver:
      description:
        - C(modules.edged.tailoredKubeletConfig.cgroupDriver), or C(modules.edged.cgroupDriver) of older layouts;
          empty when not set.
      type: str
      sample: systemd
    runtime_endpoint:
      description:
        - C(modules.edged.tailoredKubeletConfig.containerRuntimeEndpoint), or C(modules.edged.remoteRuntimeEndpoint)
          of older layouts; empty when not set.
      type: str
      sample: unix:///run/containerd/containerd.sock
    cloudcore_server:
      description: C(modules.edgeHub.websocket.server), CloudCore's address and port; empty when not set.
      type: str
      sample: 192.0.2.10:10000
    quic_server:
      description: C(modules.edgeHub.quic.server); empty when not set.
      type: str
      sample: 192.0.2.10:10001
    root_directory:
      description: C(modules.edged.rootDirectory), V(/var/lib/edged) when not set or when there is no file.
      type: str
      sample: /var/lib/edged
    token_present:
      description: Whether C(modules.edgeHub.token) is set and not empty. The token itself is never returned.
      type: bool
      sample: true
    config_error:
      description:
        - Empty, or why the existing file cannot be read or parsed (never quoting it). The settings above are then
          empty.
      type: str
      sample: ""
    pod_uids:
      description: The sorted names of the directories in C(pods) under RV(edgecore.root_directory), one per pod UID.
      type: list
      elements: str
      sample: ["0b5a7c1e-6f3d-4c8e-9a21-7d4e2f1b9c30"]
    pods_error:
      description: Why RV(edgecore.pod_uids) could not be listed; empty when it was (also a warning).
      type: str
      sample: ""
cloudcore:
  description: Whether CloudCore was set up on this host.
  returned: always
  type: dict
  contains:
    config_exists:
      description: Whether O(cloudcore_config) exists.
      type: bool
      sample: false
units:
  description:
    - The systemd units of O(units), keyed by the name given there. Each has C(unit) (the unit's name, with
      C(.service) added), C(exists) (whether systemd knows the unit, that is C(LoadState) is not C(not-found)), C(load_state),
      C(active_state), C(sub_state), C(unit_file_state), C(main_pid) (an int, 0 when none) and C(fragment_path)
      (the unit file).
    - When systemd cannot be asked, every unit has C(exists=false) and empty states; RV(systemd_error) says why.
  returned: always
  type: dict
  sample:
    edgecore:
      unit: edgecore.service
      exists: true
      load_state: loaded
      active_state: active
      sub_state: running
      unit_file_state: enabled
      main_pid: 4242
      fragment_path: /etc/systemd/system/edgecore.service
    docker:
      unit: docker.service
      exists: false
      load_state: not-found
      active_state: inactive
      sub_state: dead
      unit_file_state: ""
      main_pid: 0
      fragment_path: ""
systemd_error:
  description: Empty, or why the units could not be read (no C(systemctl), systemd not running, C(systemctl) failed).
  returned: always
  type: str
  sample: ""
processes:
  description: For each name in O(processes), the sorted PIDs of the processes of that name (an empty list when none).
  returned: always
  type: dict
  sample: {"edgecore": [4242], "cloudcore": [], "kubelet": [], "kube-proxy": []}
binaries:
  description: For each entry of O(binaries), a dict with C(path) and C(exists) (bool).
  returned: always
  type: dict
  sample:
    keadm: {"path": "/usr/local/bin/keadm", "exists": true}
    edgecore: {"path": "/usr/local/bin/edgecore", "exists": true}
    edgeadm: {"path": "/usr/local/bin/edgeadm", "exists": false}
    cloudcore: {"path": "/usr/local/bin/cloudcore", "exists": false}
keadm:
  description: The version of the O(binaries) entry C(keadm), from C(keadm version).
  returned: always
  type: dict
  contains:
    version:
      description:
        - The C(GitVersion) keadm reports; empty when keadm is absent, O(keadm_version=false) or it failed.
      type: str
      sample: v1.13.1
    semver:
      description:
        - RV(keadm.version) without its leading C(v), when it is of the form C(X.Y.Z) (with an optional C(-pre) and
          C(+build) part); else empty.
      type: str
      sample: 1.13.1
    error:
      description: Empty, or why the version could not be read (with up to 300 characters of keadm's error output).
      type: str
      sample: ""
paths:
  description: For each path of O(paths), whether it exists (files, directories and symbolic links, even dangling).
  returned: always
  type: dict
  sample: {"/etc/kubeedge": true, "/var/lib/kubeedge": false}
runtimes:
  description: Whether the container runtimes' sockets exist.
  returned: always
  type: dict
  contains:
    containerd_socket:
      description: Whether O(containerd_socket) exists.
      type: bool
      sample: true
    docker_socket:
      description: Whether O(docker_socket) exists.
      type: bool
      sample: false
clock:
  description: This host's time, and its difference to O(reference_time).
  returned: always
  type: dict
  contains:
    now:
      description: This host's time (Unix seconds).
      type: float
      sample: 1764650000.5
    skew_seconds:
      description: This host's time minus O(reference_time); null without O(reference_time).
      type: float
      sample: 0.8
free_space:
  description: Per path of O(free_space), the path measured and the MiB free for root there.
  returned: always
  type: dict
  sample: {"/var/lib/containerd": {"checked": "/var/lib", "free_mb": 20480}}
locks:
  description: Per file of O(lock_files), the processes that hold a lock on it (C(pid), C(comm)); empty when none.
  returned: always
  type: dict
  sample: {"/var/lib/dpkg/lock-frontend": [{"pid": 812, "comm": "unattended-upgr"}]}
lock_waited:
  description: Seconds spent waiting for the files of O(lock_files) to be free (at most O(lock_wait)).
  returned: always
  type: float
  sample: 0.0
containers:
  description: The runtimes' containers; an empty dict unless O(containers=true).
  returned: always
  type: dict
  contains:
    containerd:
      description:
        - The containers in O(containerd_namespace), in C(ctr containers ls) order. Empty when the socket is absent
          or C(ctr) is not installed.
      type: list
      elements: dict
      returned: when O(containers=true)
      contains:
        id:
          description: The container ID.
          type: str
          sample: 3f1c9e0d2b7a4c5e8f6a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a
        image:
          description: The container's image.
          type: str
          sample: docker.io/kubeedge/pause:3.6
        labels:
          description: The container's labels.
          type: dict
          sample: {"io.kubernetes.pod.name": "edgemesh-agent-x7k2p", "io.kubernetes.pod.namespace": "kubeedge"}
      sample: []
    containerd_error:
      description: Empty, or why containerd's containers could not all be listed (a C(ctr) command failed).
      type: str
      returned: when O(containers=true)
      sample: ""
    docker:
      description:
        - All of docker's containers (C(docker ps -a)). Empty when the socket is absent or C(docker) is not installed.
      type: list
      elements: dict
      returned: when O(containers=true)
      contains:
        id:
          description: The full container ID.
          type: str
          sample: 8d2f6e4c1a3b5d7f9e0c2a4b6d8f0e1c3a5b7d9f1e3c5a7b9d0f2e4c6a8b0d1f
        name:
          description: The container's name (the first, when it has several).
          type: str
          sample: k8s_POD_nginx-5d8f_default_0b5a7c1e_0
        image:
          description: The container's image.
          type: str
          sample: kubeedge/pause:3.6
        labels:
          description: The container's labels.
          type: dict
          sample: {"io.kubernetes.pod.namespace": "default"}
      sample: []
    docker_error:
      description: Empty, or why docker's containers could not be listed.
      type: str
      returned: when O(containers=true)
      sample: ""
'''

import os
import stat
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.edge.cluster.plugins.module_utils import edge_host
from ansible_collections.edge.cluster.plugins.module_utils.edge_host import (
    SYSTEMD_PROPERTIES,
    absent_unit,
    empty_edgecore_info,
    free_space_mb,
    lock_holders,
    parse_ctr_ids,
    parse_ctr_info,
    parse_docker_ps,
    parse_keadm_version,
    parse_systemctl_show,
    pids_by_name,
    pod_uids,
    read_edgecore_config,
    unit_name,
    valid_unit_name,
)

PROC_ROOT = '/proc'
# edgecore.yaml is a few KiB; do not read a file that is obviously something else.
MAX_CONFIG_SIZE = 4 * 1024 * 1024
ERROR_LEN = 300
DEFAULT_BINARIES = dict(keadm='/usr/local/bin/keadm', edgecore='/usr/local/bin/edgecore',
                        edgeadm='/usr/local/bin/edgeadm', cloudcore='/usr/local/bin/cloudcore')


def _short(text):
    return (text or '').strip()[:ERROR_LEN]


def _run(module, argv):
    """module.run_command without failing the module when argv[0] cannot be executed."""
    try:
        return module.run_command(argv, handle_exceptions=False, environ_update=dict(LC_ALL='C'))
    except OSError as exc:
        return 127, '', 'cannot run %s: %s' % (argv[0], exc.strerror or exc)


def _command_error(what, rc, out, err):
    return '%s failed (rc %s): %s' % (what, rc, _short(err) or _short(out) or 'no output')


def _not_a_directory(module, option, path, hint):
    if os.path.isdir(path):
        module.fail_json(msg='%s %s is a directory; give the path of the file itself, e.g. %s' % (option, path, hint))


def edgecore_info(module, path):
    """The edgecore dict: the file's presence, mode and owner, its settings and the pod directories."""
    _not_a_directory(module, 'edgecore_config', path, '/etc/kubeedge/config/edgecore.yaml')
    info = dict(config_exists=False, config_mode='', config_uid=None)
    info.update(empty_edgecore_info())
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        st = None
    except OSError as exc:
        st = None
        info.update(config_exists=os.path.lexists(path), config_error='cannot read %s: %s' % (path, exc.strerror))
    if st is not None:
        info.update(config_exists=True, config_mode='%04o' % stat.S_IMODE(st.st_mode), config_uid=st.st_uid)
        if not stat.S_ISREG(st.st_mode):
            info['config_error'] = '%s is not a regular file' % path
        elif st.st_size > MAX_CONFIG_SIZE:
            info['config_error'] = '%s is larger than %d bytes, too large for an edgecore configuration' % (
                path, MAX_CONFIG_SIZE)
        else:
            try:
                with open(path, 'rb') as f:
                    data = f.read(MAX_CONFIG_SIZE + 1)
            except OSError as exc:
                info['config_error'] = 'cannot read %s: %s' % (path, exc.strerror)
            else:
                info.update(read_edgecore_config(data, have_yaml=edge_host.HAS_YAML, source=path))
    info['pods_error'] = ''
    try:
        info['pod_uids'] = pod_uids(info['root_directory'])
    except OSError as exc:
        info['pod_uids'] = []
        info['pods_error'] = 'cannot list the pod directories under %s: %s' % (info['root_directory'], exc.strerror)
        module.warn(info['pods_error'])
    return info


def units_info(module, names):
    """Read the units with one systemctl show call; return (units, systemd_error)."""
    if not names:
        return {}, ''
    absent = dict((name, absent_unit(name)) for name in names)
    systemctl = module.get_bin_path('systemctl')
    if systemctl is None:
        return absent, 'systemctl is not installed: this host does not run systemd'
    argv = [systemctl, 'show', '--property=%s' % ','.join(SYSTEMD_PROPERTIES)] + [unit_name(n) for n in names]
    rc, out, err = _run(module, argv)
    if rc != 0:
        return absent, _command_error('systemctl show', rc, out, err)
    try:
        return parse_systemctl_show(out, names), ''
    except ValueError as exc:
        return absent, str(exc)


def keadm_info(module, path, enabled):
    info = dict(version='', semver='', error='')
    if not enabled or not path or not os.path.exists(path):
        return info
    rc, out, err = _run(module, [path, 'version'])
    if rc != 0:
        info['error'] = _command_error('%s version' % path, rc, out, err)
        return info
    info.update(parse_keadm_version(out))
    if not info['version']:
        info['error'] = '%s version printed no GitVersion' % path
    return info


def containerd_containers(module, socket, namespace):
    """Return (containers, error) from ctr; nothing when the socket or ctr is missing."""
    ctr = module.get_bin_path('ctr')
    if ctr is None or not os.path.exists(socket):
        return [], ''
    base = [ctr, '--address', socket, '-n', namespace, 'containers']
    rc, out, err = _run(module, base + ['ls', '-q'])
    if rc != 0:
        return [], _command_error('ctr containers ls', rc, out, err)
    containers = []
    errors = []
    for container_id in parse_ctr_ids(out):
        rc, out, err = _run(module, base + ['info', container_id])
        if rc != 0:
            if 'not found' in (err or ''):
                continue  # removed since it was listed
            errors.append(_command_error('ctr containers info %s' % container_id, rc, out, err))
            continue
        try:
            containers.append(parse_ctr_info(out, container_id))
        except ValueError as exc:
            errors.append(str(exc))
    return containers, '; '.join(errors)


def docker_containers(module, socket):
    """Return (containers, error) from docker ps; nothing when the socket or docker is missing."""
    docker = module.get_bin_path('docker')
    if docker is None or not os.path.exists(socket):
        return [], ''
    rc, out, err = _run(module, [docker, '--host', 'unix://' + socket, 'ps', '-a', '--no-trunc',
                                 '--format', '{{json .}}'])
    if rc != 0:
        return [], _command_error('docker ps', rc, out, err)
    try:
        return parse_docker_ps(out), ''
    except ValueError as exc:
        return [], str(exc)


def check_options(module):
    params = module.params
    binaries = {}
    for name, path in (params['binaries'] or {}).items():
        if not isinstance(path, str) or not path.strip():
            module.fail_json(msg='binaries: the path of %s must be a non-empty string, for example '
                                 '/usr/local/bin/%s' % (name, name))
        binaries[name] = path
    bad = [u for u in params['units'] if not valid_unit_name(u)]
    if bad:
        module.fail_json(msg='units: %s %s; use names like edgecore or docker.socket'
                             % (', '.join(repr(u) for u in bad), 'is not a valid systemd unit name' if len(bad) == 1
                                else 'are not valid systemd unit names'))
    if any(not p for p in params['processes']):
        module.fail_json(msg='processes: an empty process name matches nothing; remove it')
    if params['containers'] and not params['containerd_namespace']:
        module.fail_json(msg='containerd_namespace must not be empty; edgecore uses k8s.io')
    return binaries


def argument_spec():
    return dict(
        edgecore_config=dict(type='path', default='/etc/kubeedge/config/edgecore.yaml'),
        cloudcore_config=dict(type='path', default='/etc/kubeedge/config/cloudcore.yaml'),
        binaries=dict(type='dict', default=dict(DEFAULT_BINARIES)),
        paths=dict(type='list', elements='path', default=[]),
        units=dict(type='list', elements='str', default=['edgecore', 'cloudcore', 'kubelet', 'containerd', 'docker']),
        processes=dict(type='list', elements='str', default=['edgecore', 'cloudcore', 'kubelet', 'kube-proxy']),
        keadm_version=dict(type='bool', default=True),
        containers=dict(type='bool', default=False),
        containerd_namespace=dict(type='str', default='k8s.io'),
        containerd_socket=dict(type='path', default='/run/containerd/containerd.sock'),
        docker_socket=dict(type='path', default='/var/run/docker.sock'),
        reference_time=dict(type='float'),
        free_space=dict(type='list', elements='path', default=[]),
        lock_files=dict(type='list', elements='path', default=[]),
        lock_wait=dict(type='int', default=0),
    )


def wait_for_locks(paths, wait):
    """Holders of each file's lock, after waiting up to ``wait`` seconds for all of them to be free."""
    start = time.time()
    while True:
        locks = dict((p, lock_holders(PROC_ROOT, p)) for p in paths)
        waited = time.time() - start
        if not any(locks.values()) or waited >= wait:
            return locks, round(waited, 1)
        time.sleep(1)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    now = time.time()
    params = module.params
    binaries = check_options(module)
    _not_a_directory(module, 'cloudcore_config', params['cloudcore_config'], '/etc/kubeedge/config/cloudcore.yaml')
    # one entry per name, in the order given
    unit_names = list(dict.fromkeys(params['units']))
    units, systemd_error = units_info(module, unit_names)
    result = dict(
        changed=False,
        edgecore=edgecore_info(module, params['edgecore_config']),
        cloudcore=dict(config_exists=os.path.exists(params['cloudcore_config'])),
        units=units,
        systemd_error=systemd_error,
        processes=pids_by_name(PROC_ROOT, list(dict.fromkeys(params['processes']))),
        binaries=dict((name, dict(path=path, exists=os.path.exists(path))) for name, path in binaries.items()),
        keadm=keadm_info(module, binaries.get('keadm'), params['keadm_version']),
        paths=dict((p, os.path.lexists(p)) for p in params['paths']),
        runtimes=dict(containerd_socket=os.path.exists(params['containerd_socket']),
                      docker_socket=os.path.exists(params['docker_socket'])),
        containers={},
        clock=dict(now=now, skew_seconds=None if params['reference_time'] is None
                   else round(now - params['reference_time'], 3)),
        free_space=dict((p, dict(zip(('checked', 'free_mb'), free_space_mb(p)))) for p in params['free_space']),
    )
    result['locks'], result['lock_waited'] = wait_for_locks(params['lock_files'], params['lock_wait'])
    if params['containers']:
        containerd, containerd_error = containerd_containers(module, params['containerd_socket'],
                                                             params['containerd_namespace'])
        docker, docker_error = docker_containers(module, params['docker_socket'])
        result['containers'] = dict(containerd=containerd, containerd_error=containerd_error,
                                    docker=docker, docker_error=docker_error)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
