# -*- coding: utf-8 -*-
# Copyright: (c) 2026, edge.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure-Python helpers that read the state of a KubeEdge edge host (no Ansible needed).

Used by the ``kubeedge_edge_info`` module, which runs on the edge host itself:

* ``read_edgecore_config`` reads the few keys of ``edgecore.yaml`` a playbook needs,
  with PyYAML when it is installed and otherwise with ``parse_simple_yaml``, a small
  line-based reader for the block-style mappings edgecore and keadm write. The join
  token (``modules.edgeHub.token``) is only ever reported as present or not, and no
  error message quotes the file.
* ``parse_systemctl_show`` splits ``systemctl show --property=... <units>`` output.
* ``parse_keadm_version`` reads ``keadm version``.
* ``parse_docker_ps``, ``parse_docker_labels``, ``parse_ctr_ids`` and
  ``parse_ctr_info`` read the container runtimes' listings.
* ``pids_by_name`` and ``pod_uids`` scan ``/proc`` and edged's pod directories.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover - depends on the host; parse_simple_yaml is the fallback
    yaml = None
    HAS_YAML = False

DEFAULT_ROOT_DIRECTORY = '/var/lib/edged'

# The kernel keeps 15 characters of a process name (TASK_COMM_LEN 16, with the NUL).
COMM_LEN = 15

SYSTEMD_PROPERTIES = ('Id', 'LoadState', 'ActiveState', 'SubState', 'UnitFileState', 'MainPID', 'FragmentPath')
UNIT_SUFFIXES = ('.service', '.socket', '.device', '.mount', '.automount', '.swap', '.target', '.path',
                 '.timer', '.slice', '.scope')
_UNIT_NAME_RE = re.compile(r'^[A-Za-z0-9:_.\\@-]+$')

# keadm version: version.Info{Major:"1", Minor:"13", GitVersion:"v1.13.1", ...}
_GIT_VERSION_RE = re.compile(r'GitVersion:"([^"]*)"')
_BARE_VERSION_RE = re.compile(r'^v?[0-9]+\.[0-9]+\.[0-9]+\S*$')
_SEMVER_RE = re.compile(r'^v?([0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)$')
_PID_RE = re.compile(r'^[0-9]+$')


# ---------------------------------------------------------------- systemd

def unit_name(name):
    """The systemd unit for a name: ``edgecore`` is ``edgecore.service``, ``docker.socket`` stays."""
    return name if name.endswith(UNIT_SUFFIXES) else name + '.service'


def valid_unit_name(name):
    """Whether ``systemctl show`` accepts ``name`` (an invalid name fails the whole call)."""
    return bool(name) and len(unit_name(name)) <= 255 and bool(_UNIT_NAME_RE.match(name))


def absent_unit(name):
    """What is reported for a unit systemd does not know, or when systemctl cannot be asked."""
    return dict(unit=unit_name(name), exists=False, load_state='', active_state='', sub_state='',
                unit_file_state='', main_pid=0, fragment_path='')


def _int(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return 0


def parse_systemctl_show(text, names):
    """Split the output of one ``systemctl show --property=... <units>`` call.

    systemctl prints one block of ``Key=value`` lines per unit, in the order asked,
    with a blank line between blocks. ``names`` are the names as given (``edgecore``);
    the result is keyed by them. Raises ValueError when the number of blocks does
    not match the number of names (the output cannot then be attributed).
    """
    blocks = []
    current = None
    for line in text.splitlines():
        if not line.strip():
            current = None
            continue
        if current is None:
            current = {}
            blocks.append(current)
        key, sep, value = line.partition('=')
        if sep:
            current[key] = value
    if len(blocks) != len(names):
        raise ValueError('systemctl show printed %d unit blocks for %d units' % (len(blocks), len(names)))
    units = {}
    for name, props in zip(names, blocks):
        load_state = props.get('LoadState', '')
        units[name] = dict(
            unit=unit_name(name),
            exists=bool(load_state) and load_state != 'not-found',
            load_state=load_state,
            active_state=props.get('ActiveState', ''),
            sub_state=props.get('SubState', ''),
            unit_file_state=props.get('UnitFileState', ''),
            main_pid=_int(props.get('MainPID')),
            fragment_path=props.get('FragmentPath', ''),
        )
    return units


# ---------------------------------------------------------------- keadm

def parse_keadm_version(text):
    """Read ``keadm version`` output; return dict(version='v1.13.1', semver='1.13.1').

    Both are empty when the output names no version. ``semver`` drops the leading
    ``v``; it is empty when the version is not of the form X.Y.Z[-pre][+build].
    """
    match = _GIT_VERSION_RE.search(text or '')
    if match:
        version = match.group(1).strip()
    else:
        # keadm version -o short prints the bare version
        bare = (text or '').strip()
        version = bare if _BARE_VERSION_RE.match(bare) else ''
    semver = _SEMVER_RE.match(version)
    return dict(version=version, semver=semver.group(1) if semver else '')


# ---------------------------------------------------------------- container runtimes

def parse_docker_labels(text):
    """Parse the ``Labels`` field of ``docker ps --format '{{json .}}'``: ``k=v,k2=v2``.

    A value keeps any ``=`` after the first one. Docker joins labels with commas without
    escaping them, so a piece without ``=`` is taken as the rest of the previous value.
    """
    labels = {}
    last = None
    for piece in (text or '').split(','):
        if '=' not in piece:
            if last is not None:
                labels[last] += ',' + piece
            elif piece:
                labels[piece] = ''
                last = piece
            continue
        key, dummy, value = piece.partition('=')
        labels[key] = value
        last = key
    return labels


def _str_dict(value):
    if not isinstance(value, dict):
        return {}
    return dict((str(k), '' if v is None else str(v)) for k, v in value.items())


def parse_docker_ps(text):
    """Read ``docker ps -a --no-trunc --format '{{json .}}'``: one JSON object per line.

    Returns a list of dict(id, name, image, labels); of several names, the first.
    Raises ValueError when a line is not a JSON object.
    """
    containers = []
    for lineno, line in enumerate((text or '').splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            raise ValueError('line %d of the docker ps output is not JSON' % lineno)
        if not isinstance(item, dict):
            raise ValueError('line %d of the docker ps output is not a JSON object' % lineno)
        labels = item.get('Labels')
        containers.append(dict(
            id=str(item.get('ID') or ''),
            name=str(item.get('Names') or '').split(',', 1)[0],
            image=str(item.get('Image') or ''),
            labels=_str_dict(labels) if isinstance(labels, dict) else parse_docker_labels(labels or ''),
        ))
    return containers


def parse_ctr_ids(text):
    """The container IDs of ``ctr containers ls -q``, one per line."""
    return [line.strip() for line in (text or '').splitlines() if line.strip()]


def parse_ctr_info(text, container_id):
    """Read ``ctr containers info ID`` (JSON); return dict(id, image, labels).

    ``Labels`` may be null. Raises ValueError when the output is not a JSON object.
    """
    try:
        info = json.loads(text)
    except ValueError:
        raise ValueError('ctr containers info %s did not print JSON' % container_id)
    if not isinstance(info, dict):
        raise ValueError('ctr containers info %s did not print a JSON object' % container_id)
    return dict(id=container_id, image=str(info.get('Image') or ''), labels=_str_dict(info.get('Labels')))


# ---------------------------------------------------------------- /proc and edged

def pids_by_name(proc_root, names):
    """Map each process name to the sorted PIDs whose ``<proc_root>/<pid>/comm`` is that name.

    The kernel truncates comm to 15 characters, so ``name[:15]`` is compared. A process
    that ends while the tree is read is skipped. An unreadable ``proc_root`` gives no PIDs.
    """
    result = dict((name, []) for name in names)
    wanted = {}
    for name in result:
        wanted.setdefault(name[:COMM_LEN], []).append(name)
    try:
        entries = os.listdir(proc_root)
    except OSError:
        return result
    for entry in entries:
        if not _PID_RE.match(entry):
            continue
        try:
            with open(os.path.join(proc_root, entry, 'comm'), 'rb') as f:
                comm = f.read()
        except OSError:  # the process ended meanwhile, or it is hidden from us
            continue
        comm = comm.rstrip(b'\n').decode('utf-8', 'replace')
        for name in wanted.get(comm, ()):
            result[name].append(int(entry))
    for pids in result.values():
        pids.sort()
    return result


def pod_uids(root_directory):
    """The sorted directory names under ``<root_directory>/pods`` (edged makes one per pod UID).

    An absent directory gives []; other errors (e.g. permission denied) raise OSError.
    """
    pods = os.path.join(root_directory, 'pods')
    try:
        entries = os.listdir(pods)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(e for e in entries if os.path.isdir(os.path.join(pods, e)))


# ---------------------------------------------------------------- edgecore.yaml

class SimpleYamlError(ValueError):
    """The line reader cannot read the text; the message names a line, never its content."""


class Unreadable(object):
    """A value the line reader does not interpret (a flow collection or an alias)."""

    def __init__(self, kind):
        self.kind = kind

    def __repr__(self):
        return 'Unreadable(%s)' % self.kind


_KEY_RE = re.compile(r'''^(?P<key>"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s'"#{}\[\]&*!|>%@`,-][^#]*?|-[^\s#][^#]*?)'''
                     r'''\s*:(?:[ \t]+(?P<value>.*))?$''')
_ESCAPES = {'0': '\0', 'a': '\a', 'b': '\b', 't': '\t', '\t': '\t', 'n': '\n', 'v': '\v', 'f': '\f', 'r': '\r',
            'e': '\x1b', ' ': ' ', '"': '"', '/': '/', '\\': '\\', 'N': '\x85', '_': '\xa0'}
_HEX_ESCAPES = {'x': 2, 'u': 4, 'U': 8}
_NULLS = ('', '~', 'null', 'Null', 'NULL')
_TRUE = ('true', 'True', 'TRUE')
_FALSE = ('false', 'False', 'FALSE')


def _double_quoted(raw, lineno):
    """Decode the double-quoted scalar at the start of ``raw``; return (value, rest)."""
    out = []
    i = 1
    while i < len(raw):
        c = raw[i]
        if c == '"':
            return ''.join(out), raw[i + 1:]
        if c == '\\':
            if i + 1 >= len(raw):
                break
            e = raw[i + 1]
            if e in _ESCAPES:
                out.append(_ESCAPES[e])
                i += 2
                continue
            if e in _HEX_ESCAPES:
                digits = raw[i + 2:i + 2 + _HEX_ESCAPES[e]]
                if len(digits) == _HEX_ESCAPES[e] and re.match(r'^[0-9A-Fa-f]+$', digits):
                    out.append(chr(int(digits, 16)))
                    i += 2 + len(digits)
                    continue
            raise SimpleYamlError('line %d: a double-quoted string has an invalid escape' % lineno)
        out.append(c)
        i += 1
    raise SimpleYamlError('line %d: a double-quoted string does not end on its line' % lineno)


def _single_quoted(raw, lineno):
    """Decode the single-quoted scalar at the start of ``raw``; return (value, rest)."""
    out = []
    i = 1
    while i < len(raw):
        if raw[i] == "'":
            if raw[i + 1:i + 2] == "'":
                out.append("'")
                i += 2
                continue
            return ''.join(out), raw[i + 1:]
        out.append(raw[i])
        i += 1
    raise SimpleYamlError('line %d: a single-quoted string does not end on its line' % lineno)


def _quoted(raw, lineno):
    value, rest = (_double_quoted if raw[0] == '"' else _single_quoted)(raw, lineno)
    rest = rest.strip()
    if rest and not rest.startswith('#'):
        raise SimpleYamlError('line %d: text follows a quoted string' % lineno)
    return value


def _strip_comment(raw):
    """Drop a ``#`` comment from a plain scalar (YAML needs whitespace before it)."""
    match = re.search(r'\s#', raw)
    return (raw[:match.start()] if match else raw).strip()


def _plain(raw):
    if raw in _NULLS:
        return None
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    return raw


def _key(raw, lineno):
    raw = raw.strip()
    if raw[:1] in ('"', "'"):
        return _quoted(raw, lineno)
    return raw


def _flow_depth(raw):
    """Open brackets minus closed ones (quotes ignored: good enough to find the end)."""
    return raw.count('{') + raw.count('[') - raw.count('}') - raw.count(']')


def parse_simple_yaml(text):
    """Read block-style YAML mappings line by line, for hosts without PyYAML.

    Understands what edgecore and keadm write: nested ``key: value`` mappings
    indented with spaces, plain, single- and double-quoted scalars, comments,
    ``{}``/``[]``, and block scalars (``|``, ``>``) and sequences, whose content is
    skipped (a sequence reads as ``[]``, a block scalar as ``''``). Other flow
    collections and aliases read as ``Unreadable``. Plain scalars stay strings,
    except null (None) and true/false. Raises SimpleYamlError on anything else;
    its message names the line, never the text.
    """
    root = {}
    stack = [[None, root]]   # [indent of the mapping's keys, the mapping]
    pending = None           # (indent, mapping, key) of a key without a value yet
    skip = None              # (indent, in_sequence): skip the lines under a sequence or block scalar
    last = None              # (indent, mapping, key) of the last plain scalar, for continuation lines
    started = False
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith('#'):
            continue
        indent = len(line) - len(line.lstrip(' '))
        if line[indent] == '\t':
            raise SimpleYamlError('line %d: a tab indents it (YAML needs spaces)' % lineno)
        is_item = stripped == '-' or stripped.startswith('- ') or stripped.startswith('-\t')
        if skip is not None:
            if indent > skip[0] or (skip[1] and indent == skip[0] and is_item):
                continue
            skip = None
        if indent == 0 and (stripped == '---' or stripped.startswith('--- ')):
            if started:
                raise SimpleYamlError('line %d: a second YAML document starts' % lineno)
            continue
        if indent == 0 and stripped == '...':
            break
        if indent == 0 and stripped.startswith('%') and not started:
            continue  # a directive
        started = True
        if is_item:
            if pending is None or indent < pending[0]:
                raise SimpleYamlError('line %d: a sequence item where a mapping key was expected' % lineno)
            pending[1][pending[2]] = []
            pending = last = None
            skip = (indent, True)
            continue
        match = _KEY_RE.match(stripped)
        if match is None:
            if last is not None and indent > last[0] and pending is None:
                # a plain scalar continued on the next line
                last[1][last[2]] = '%s %s' % (last[1][last[2]], _strip_comment(stripped))
                continue
            raise SimpleYamlError('line %d: not a "key: value" line' % lineno)
        if pending is not None:
            if indent > pending[0]:
                child = {}
                pending[1][pending[2]] = child
                stack.append([indent, child])
            else:
                pending[1][pending[2]] = None
            pending = None
        last = None
        if stack[0][0] is None:
            stack[0][0] = indent
        popped = False
        while len(stack) > 1 and stack[-1][0] > indent:
            stack.pop()
            popped = True
        if stack[-1][0] < indent and not popped:
            raise SimpleYamlError('line %d: it is indented under a key that already has a value' % lineno)
        if stack[-1][0] != indent:
            raise SimpleYamlError('line %d: its indentation matches no enclosing mapping' % lineno)
        mapping = stack[-1][1]
        key = _key(match.group('key'), lineno)
        raw = (match.group('value') or '').strip()
        if raw[:1] in ('"', "'"):
            mapping[key] = _quoted(raw, lineno)
            continue
        raw = _strip_comment(raw)
        if not raw or (raw.startswith('&') and ' ' not in raw):
            pending = (indent, mapping, key)   # a nested mapping, a sequence, or null
        elif raw[0] in ('|', '>'):
            mapping[key] = ''
            skip = (indent, False)
        elif raw in ('{}', '[]'):
            mapping[key] = {} if raw == '{}' else []
        elif raw[0] in ('{', '['):
            mapping[key] = Unreadable('flow collection')
            if _flow_depth(raw) > 0:
                skip = (indent, False)
        elif raw[0] == '*':
            mapping[key] = Unreadable('alias')
        else:
            mapping[key] = _plain(raw)
            if isinstance(mapping[key], str):
                last = (indent, mapping, key)
    if pending is not None:
        pending[1][pending[2]] = None
    return root


class _NeedsYaml(Exception):
    def __init__(self, path, kind):
        super(_NeedsYaml, self).__init__(path)
        self.path = path
        self.kind = kind


def _lookup(data, path):
    """``data[k1][k2]...`` for the dotted ``path``; None when a level is missing or not a mapping."""
    value = data
    walked = []
    for key in path.split('.'):
        if isinstance(value, Unreadable):
            raise _NeedsYaml('.'.join(walked), value.kind)
        if not isinstance(value, dict):
            return None
        value = value.get(key)
        walked.append(key)
    if isinstance(value, Unreadable):
        raise _NeedsYaml(path, value.kind)
    return value


def _text(value):
    """A scalar as text; None, mappings and lists give ''."""
    if value is None or isinstance(value, (dict, list)):
        return ''
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return str(value)


def empty_edgecore_info():
    """The configuration fields when there is no (readable) edgecore.yaml."""
    return dict(node_name='', cgroup_driver='', runtime_endpoint='', cloudcore_server='', quic_server='',
                root_directory=DEFAULT_ROOT_DIRECTORY, token_present=False, config_error='')


def _yaml_error(exc):
    """Where PyYAML failed, without its snippet of the file (which could hold the token)."""
    mark = getattr(exc, 'problem_mark', None) or getattr(exc, 'context_mark', None)
    where = ' at line %d, column %d' % (mark.line + 1, mark.column + 1) if mark is not None else ''
    return '%s%s' % (type(exc).__name__, where)


def read_edgecore_config(text, have_yaml=HAS_YAML, source='edgecore.yaml'):
    """Read the fields a playbook needs from edgecore.yaml's text (str or bytes).

    Returns node_name, cgroup_driver, runtime_endpoint, cloudcore_server, quic_server,
    root_directory, token_present and config_error ('' or why the text cannot be read).
    PyYAML is used when ``have_yaml`` and it is installed, else ``parse_simple_yaml``.
    The token's value is never returned, and ``config_error`` never quotes the text.
    ``source`` names the file in messages.
    """
    info = empty_edgecore_info()
    if isinstance(text, bytes):
        try:
            text = text.decode('utf-8-sig')
        except UnicodeDecodeError:
            info['config_error'] = '%s is not UTF-8 text' % source
            return info
    if have_yaml and yaml is not None:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            info['config_error'] = '%s is not valid YAML (%s)' % (source, _yaml_error(exc))
            return info
    else:
        try:
            data = parse_simple_yaml(text)
        except SimpleYamlError as exc:
            info['config_error'] = ('%s cannot be read without PyYAML (%s); check the file, or install PyYAML '
                                    '(Debian: python3-yaml) on the host' % (source, exc))
            return info
    if data is None or data == {}:
        info['config_error'] = '%s is empty' % source
        return info
    if not isinstance(data, dict):
        info['config_error'] = '%s does not hold a YAML mapping (it holds a %s)' % (source, type(data).__name__)
        return info
    unreadable = []

    def get(*paths):
        for path in paths:
            try:
                value = _text(_lookup(data, path))
            except _NeedsYaml as exc:
                unreadable.append('%s (%s)' % (exc.path, exc.kind))
                continue
            if value:
                return value
        return ''

    info['node_name'] = get('modules.edged.hostnameOverride')
    info['cgroup_driver'] = get('modules.edged.tailoredKubeletConfig.cgroupDriver', 'modules.edged.cgroupDriver')
    info['runtime_endpoint'] = get('modules.edged.tailoredKubeletConfig.containerRuntimeEndpoint',
                                   'modules.edged.remoteRuntimeEndpoint')
    info['cloudcore_server'] = get('modules.edgeHub.websocket.server')
    info['quic_server'] = get('modules.edgeHub.quic.server')
    info['root_directory'] = get('modules.edged.rootDirectory') or DEFAULT_ROOT_DIRECTORY
    info['token_present'] = bool(get('modules.edgeHub.token').strip())
    if unreadable:
        info['config_error'] = ('%s: without PyYAML, %s cannot be read; install PyYAML (Debian: python3-yaml) '
                                'on the host' % (source, ', '.join(sorted(set(unreadable)))))
    return info


# ---------------------------------------------------------------------------
# Preflight readings: free space, lock holders, clock.
def free_space_mb(path):
    """(checked path, free MiB for root) of ``path`` or, when it does not exist yet, its nearest existing parent."""
    checked = os.path.abspath(path)
    while not os.path.exists(checked) and checked != os.path.dirname(checked):
        checked = os.path.dirname(checked)
    st = os.statvfs(checked)
    return checked, int(st.f_bavail * st.f_frsize // (1024 * 1024))


def parse_proc_locks(text):
    """Entries of /proc/locks as dicts: kind (POSIX, FLOCK, OFDLCK), access (READ, WRITE), pid, device
    (major:minor as ints) and inode. Lines of waiters (``->``) and unreadable lines are skipped."""
    entries = []
    for line in (text or '').splitlines():
        fields = line.split()
        if len(fields) < 6 or '->' in fields[:2]:
            continue
        try:
            kind, access, pid, ident = fields[1], fields[3], int(fields[4]), fields[5]
            major, minor, inode = ident.split(':')
            entries.append(dict(kind=kind, access=access, pid=pid,
                                device=(int(major, 16), int(minor, 16)), inode=int(inode)))
        except (ValueError, IndexError):
            continue
    return entries


def lock_holders(proc_root, path):
    """Processes that hold a lock on ``path`` (fcntl, flock or OFD), from /proc/locks: [{pid, comm}].

    dpkg and apt hold /var/lib/dpkg/lock-frontend and /var/lib/dpkg/lock this way while they run.
    """
    try:
        st = os.stat(path)
    except OSError:
        return []
    device = (os.major(st.st_dev), os.minor(st.st_dev))
    try:
        with open(os.path.join(proc_root, 'locks')) as f:
            entries = parse_proc_locks(f.read())
    except OSError:
        return []
    holders = []
    for pid in sorted(set(e['pid'] for e in entries if e['inode'] == st.st_ino and e['device'] == device)):
        try:
            with open(os.path.join(proc_root, str(pid), 'comm')) as f:
                comm = f.read().strip()
        except OSError:
            comm = ''
        holders.append(dict(pid=pid, comm=comm))
    return holders
