"""Count kube-apiserver requests from the test bed's audit log.

The test bed's apiserver writes one Metadata-level event per request to
``run/controlplane/audit.log`` (tests/testbed/audit-policy.yaml), rotated at
200 MB into ``audit-<timestamp>.log`` beside it. A benchmark opens a
``Window`` before the measured run and closes it after; ``Window.events()``
then returns the events received in between, read from where the log stood
when the window opened (and from the backups when the log rotated meanwhile).

Events are filtered by the request's own receive time, so requests that other
users of the shared apiserver make in the same window are only excluded by
user (each benchmark authenticates as its own ServiceAccount, see
tests/bench/cluster.py) or by an explicit predicate.
"""

import datetime
import glob
import json
import os
import time

AUDIT_LOG = os.path.join(os.environ.get("EDGE_CLUSTER_CACHE", "/var/cache/edge-cluster"),
                         "run", "controlplane", "audit.log")


def parse_time(text):
    """'2026-11-25T00:02:03.669726Z' -> aware datetime (UTC)."""
    text = text.rstrip("Z")
    if "." in text:
        head, frac = text.split(".", 1)
        text = "%s.%s" % (head, (frac + "000000")[:6])
        fmt = "%Y-%m-%dT%H:%M:%S.%f"
    else:
        fmt = "%Y-%m-%dT%H:%M:%S"
    return datetime.datetime.strptime(text, fmt).replace(tzinfo=datetime.timezone.utc)


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def read_events(path, offset=0):
    """Yield the JSON events of one audit file from a byte offset (partial last line skipped)."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        for line in handle:
            if not line.endswith(b"\n"):
                break
            try:
                yield json.loads(line)
            except ValueError:
                continue


def in_window(event, start, end):
    stamp = event.get("requestReceivedTimestamp") or event.get("stageTimestamp")
    if not stamp:
        return False
    when = parse_time(stamp)
    return start <= when <= end


class Window(object):
    """The audit events of one measured run."""

    def __init__(self, path=AUDIT_LOG):
        self.path = path
        self.start = self.end = None
        self._inode = None
        self._offset = 0

    def open(self):
        try:
            st = os.stat(self.path)
            self._inode, self._offset = st.st_ino, st.st_size
        except FileNotFoundError:
            self._inode, self._offset = None, 0
        self.start = utcnow()
        return self

    def close(self, settle=1.5):
        """End the window; wait `settle` s so the apiserver has written the last events."""
        self.end = utcnow()
        time.sleep(settle)
        return self

    def _sources(self):
        """(path, offset) pairs holding the window's events."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        if st is not None and st.st_ino == self._inode and st.st_size >= self._offset:
            return [(self.path, self._offset)]
        # Rotated while the window was open: the backups written since, then the new log.
        base, ext = os.path.splitext(self.path)
        backups = sorted(p for p in glob.glob(base + "-*" + ext)
                         if os.path.getmtime(p) >= self.start.timestamp() - 1)
        sources = [(p, 0) for p in backups]
        if st is not None:
            sources.append((self.path, 0))
        return sources

    def events(self):
        if self.start is None or self.end is None:
            raise RuntimeError("open() and close() the window first")
        out = []
        for path, offset in self._sources():
            out.extend(e for e in read_events(path, offset) if in_window(e, self.start, self.end))
        return out


# ---- counting ----------------------------------------------------------------

def username(event):
    return (event.get("user") or {}).get("username", "")


def by_user(events, user):
    return [e for e in events if username(e) == user]


def is_resource(event, resource, namespace=None, name=None, verb=None):
    ref = event.get("objectRef") or {}
    return (ref.get("resource") == resource
            and (namespace is None or ref.get("namespace") == namespace)
            and (name is None or ref.get("name") == name)
            and (verb is None or event.get("verb") == verb))


def names_any(event, names):
    """True when the request is about one of `names` (object name or request URI)."""
    ref = event.get("objectRef") or {}
    if ref.get("name") in names:
        return True
    uri = event.get("requestURI", "")
    return any(n in uri for n in names)


def breakdown(events):
    """{'verb resource': count}, for the tables (sorted by count, then key)."""
    counts = {}
    for e in events:
        ref = e.get("objectRef") or {}
        if ref.get("resource"):
            key = "%s %s" % (e.get("verb", "?"), ref["resource"])
        elif e.get("requestURI", "").startswith(("/api", "/apis", "/openapi", "/version")):
            key = "%s discovery (/api, /apis, /version)" % e.get("verb", "?")
        else:
            key = "%s %s" % (e.get("verb", "?"), e.get("requestURI", "?").split("?")[0])
        if ref.get("subresource"):
            key += "/" + ref["subresource"]
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
