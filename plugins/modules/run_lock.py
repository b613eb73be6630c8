#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, edge.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: run_lock
short_description: Keep two runs of the collection from converging one host at the same time
version_added: 0.2.0
description:
  - Takes or releases a lock file on the managed host that names the run holding it (controller host, process ID of
    C(ansible-playbook) there, start time).
  - Taking it is atomic (the file is created exclusively). When another run holds it, the module reports that run in
    RV(holder) and RV(acquired=false) without failing, so the role can say who holds it and how to proceed.
  - A lock is taken over when it is stale, that is when O(controller) and O(pid) name the same controller as the
    holder and O(live_pids) does not list the holder's process ID (an interrupted run of this controller), when it is
    older than O(max_age) seconds, or with O(force=true).
  - Releasing removes the file only when this run holds it.
  - The lock is bookkeeping, not a change of the host's configuration, so the module never reports C(changed).
author:
  - edge.cluster contributors (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  path:
    description: The lock file; a directory under C(/run) so that a reboot clears it.
    type: path
    default: /run/edge-cluster/run.lock
  state:
    description: V(present) takes the lock, V(absent) releases it.
    type: str
    choices: [present, absent]
    default: present
  controller:
    description: The name of the controller host of this run.
    type: str
    required: true
  pid:
    description: The process ID of this run's C(ansible-playbook) on the controller.
    type: int
    required: true
  live_pids:
    description:
      - Process IDs of C(ansible-playbook) runs alive on the controller now; a holder from the same controller whose
        process ID is not among them is stale.
    type: list
    elements: int
    default: []
  max_age:
    description: Seconds after which a lock of another controller counts as stale.
    type: int
    default: 7200
  force:
    description: Take the lock whoever holds it.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Check mode reports who holds the lock and whether this run could take it, and writes nothing.
  diff_mode:
    support: none
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
    details: Taking a lock this run already holds, or releasing one it does not hold, does nothing.
  platform:
    platforms: posix
notes:
  - The role that uses it releases the lock in an C(always) section; a run that is killed leaves it, and the next run
    from the same controller takes it over.
'''

EXAMPLES = r'''
- name: Take the host's run lock
  edge.cluster.run_lock:
    controller: "{{ lookup('ansible.builtin.pipe', 'hostname') }}"
    pid: 4242
  register: lock

- name: Say who holds it
  ansible.builtin.fail:
    msg: "{{ lock.holder.controller }} (pid {{ lock.holder.pid }}) has been converging this host since {{ lock.holder.since }}"
  when: not lock.acquired

- name: Release it
  edge.cluster.run_lock:
    state: absent
    controller: "{{ lookup('ansible.builtin.pipe', 'hostname') }}"
    pid: 4242
'''

RETURN = r'''
acquired:
  description: Whether this run holds the lock now (V(state=present)), or held it until now (V(state=absent)).
  returned: always
  type: bool
  sample: true
took_over:
  description: Why a stale lock was taken over (V(dead-process), V(too-old), V(forced)); empty when it was not.
  returned: always
  type: str
  sample: dead-process
holder:
  description: The run that holds the lock when it could not be taken (C(controller), C(pid), C(since), C(age)).
  returned: when RV(acquired=false)
  type: dict
  sample: {"controller": "awx-task-1", "pid": 812, "since": "2026-12-02T03:10:00Z", "age": 95}
'''

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule

ISO = '%Y-%m-%dT%H:%M:%SZ'


def read_holder(path):
    """The JSON record of the lock file, {} when it is absent or unreadable."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def stale_reason(holder, params, now):
    """Why the holder's lock may be taken over ('' when it may not)."""
    if params['force']:
        return 'forced'
    if not holder:
        return 'unreadable'
    if holder.get('controller') == params['controller'] and holder.get('pid') not in params['live_pids'] \
            and holder.get('pid') != params['pid']:
        return 'dead-process'
    if now - float(holder.get('epoch', 0) or 0) > params['max_age']:
        return 'too-old'
    return ''


def write_lock(path, record, exclusive):
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, 'w') as f:
        json.dump(record, f)


def main():
    module = AnsibleModule(argument_spec=dict(
        path=dict(type='path', default='/run/edge-cluster/run.lock'),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        controller=dict(type='str', required=True),
        pid=dict(type='int', required=True),
        live_pids=dict(type='list', elements='int', default=[]),
        max_age=dict(type='int', default=7200),
        force=dict(type='bool', default=False),
    ), supports_check_mode=True)
    params = module.params
    path = params['path']
    now = time.time()
    mine = dict(controller=params['controller'], pid=params['pid'])
    holder = read_holder(path)
    held_by_me = all(holder.get(k) == v for k, v in mine.items())

    if params['state'] == 'absent':
        if held_by_me and not module.check_mode:
            try:
                os.unlink(path)
            except OSError as exc:
                module.fail_json(msg='cannot remove the lock file %s: %s' % (path, exc.strerror))
        module.exit_json(changed=False, acquired=held_by_me, took_over='')

    if held_by_me:
        module.exit_json(changed=False, acquired=True, took_over='')
    record = dict(mine, epoch=now, since=time.strftime(ISO, time.gmtime(now)))
    directory = os.path.dirname(path)
    if not module.check_mode and not os.path.isdir(directory):
        try:
            os.makedirs(directory, 0o700)
        except OSError as exc:
            module.fail_json(msg='cannot create %s for the lock file: %s' % (directory, exc.strerror))
    if not os.path.exists(path):
        if module.check_mode:
            module.exit_json(changed=False, acquired=True, took_over='')
        try:
            write_lock(path, record, exclusive=True)
            module.exit_json(changed=False, acquired=True, took_over='')
        except OSError:
            # another run created it between the check and the write
            holder = read_holder(path)
    reason = stale_reason(holder, params, now)
    if reason:
        if not module.check_mode:
            write_lock(path, record, exclusive=False)
        module.exit_json(changed=False, acquired=True, took_over=reason)
    age = int(now - float(holder.get('epoch', now) or now))
    module.exit_json(changed=False, acquired=False, took_over='',
                     holder=dict(controller=holder.get('controller', ''), pid=holder.get('pid'),
                                 since=holder.get('since', ''), age=age))


if __name__ == '__main__':
    main()
