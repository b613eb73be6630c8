# -*- coding: utf-8 -*-
# Copyright: (c) 2026, edge.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who listens on which TCP port, from the output of ``ss -Htlnp``."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

_PROCESS = re.compile(r'users:\(\("([^"]+)",pid=(\d+)')


def listeners(text):
    """One dict per listening socket: ``port`` (int), ``process`` (name, '?' when ss shows none)
    and ``pid`` (int, 0 when unknown). Lines that are not sockets are skipped."""
    found = []
    for line in (text or '').splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        port = fields[3].rsplit(':', 1)[-1]
        if not port.isdigit():
            continue
        match = _PROCESS.search(line)
        found.append({'port': int(port), 'process': match.group(1) if match else '?',
                      'pid': int(match.group(2)) if match else 0})
    return found


def held_by_others(text, ports, own_pids=None, own_process=''):
    """``'<port> (<process> pid <pid>)'`` for each of ``ports`` held by a process that is not ours:
    ours is a listener whose pid is in ``own_pids``, or, when ``own_process`` is set, any process
    of that name. Sorted, without repeats (IPv4 and IPv6 sockets of one process count once)."""
    wanted = set(int(p) for p in ports or [])
    own = set(int(p) for p in own_pids or [] if str(p).isdigit() and int(p) > 0)
    busy = set()
    for sock in listeners(text):
        if sock['port'] not in wanted:
            continue
        if sock['pid'] in own or (own_process and sock['process'] == own_process):
            continue
        busy.add((sock['port'], '%d (%s pid %d)' % (sock['port'], sock['process'], sock['pid'])))
    return [text_ for dummy, text_ in sorted(busy)]
