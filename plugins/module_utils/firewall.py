# -*- coding: utf-8 -*-
# Copyright: (c) 2026, edge.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which host firewall is in charge, from the states of its systemd units."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

CHOICES = ('auto', 'firewalld', 'ufw', 'iptables', 'none')


def active_firewall(units, wanted='auto'):
    """The firewall to manage: ``wanted`` unless it is 'auto'.

    ``units`` maps a unit name (``firewalld``, ``ufw``, with or without ``.service``) to its
    state, either as module kubeedge_edge_info returns it (``active_state``,
    ``unit_file_state``) or as ``systemctl show`` prints it (``ActiveState``, ``UnitFileState``).
    auto: firewalld when it runs; else ufw when its unit is active (a oneshot that stays active
    after it ran) and enabled; else none.
    """
    if wanted not in CHOICES:
        raise ValueError('firewall %r is not one of %s' % (wanted, ', '.join(CHOICES)))
    if wanted != 'auto':
        return wanted

    def state(name, key):
        unit = (units or {}).get(name) or (units or {}).get(name + '.service') or {}
        snake = {'ActiveState': 'active_state', 'UnitFileState': 'unit_file_state'}[key]
        return unit.get(snake) or unit.get(key) or ''

    if state('firewalld', 'ActiveState') == 'active':
        return 'firewalld'
    if state('ufw', 'ActiveState') == 'active' and state('ufw', 'UnitFileState') == 'enabled':
        return 'ufw'
    return 'none'
