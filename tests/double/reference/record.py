#!/usr/bin/env python3
"""Record the reference facts of one KubeEdge version from its real binaries.

    python3 tests/double/reference/record.py VERSION DIR [KUBELET_VERSION [node|source]] > tests/double/reference/VERSION.json
    python3 tests/double/reference/record.py probe           # the shell probe to run on an edge host
    python3 tests/double/reference/record.py files VERSION.json JOINED.txt RESET.txt

DIR holds the real ``keadm``, ``edgecore`` and ``cloudcore`` of VERSION (built
from KubeEdge's source at that tag on your own machine: nothing of them is
committed). The script only runs them: ``--help`` of every keadm command, an
unknown flag, ``keadm version``, and edgecore/cloudcore with a configuration
file that does not exist (they exit before they touch anything). The output is
facts, not text: command names, each flag's type, shorthand and default, which
flags are deprecated, and exit codes. tests/unit/test_double_reference.py
compares the doubles with these files. KUBELET_VERSION is read off a Node that
the real edgecore of VERSION registered (status.nodeInfo.kubeletVersion): say
"node" after it (the default). Where no Node was joined, "source" records the
value edged of that tag builds for its Node status (its supported Kubernetes
version constant, "-kubeedge-", its own version), read in the tag's source;
the file then says so. Leave both out to record no kubeletVersion.
"""

import json
import os
import re
import subprocess
import sys
import tempfile

# "  -s, --certport string   The port ... (default "10002")" / "      --force   Forced ..."
FLAG = re.compile(r"^\s+(?:-(?P<short>\w), )?--(?P<name>[A-Za-z0-9_.-]+)(?: (?P<type>\S+))?(?:\s{2,}(?P<text>.*))?$")
COMMAND = re.compile(r"^\s{2}(?P<name>[a-z][a-z0-9-]*)\s{2,}\S")
SECTION = re.compile(r"^(?P<title>[A-Z][A-Za-z ]*):\s*$")
DEFAULT = re.compile(r'\(default (?P<value>"(?:[^"\\]|\\.)*"|[^)]*)\)')
TIMEOUT = 20
# Flags an earlier keadm showed and a later one may still accept while hiding
# them from --help (cobra's MarkDeprecated/MarkHidden): probed one by one.
HIDDEN_CANDIDATES = {"join": {"with-mqtt": "bool", "runtimetype": "string"},
                     "reset": {"runtimetype": "string"}}


def run(args, env=None):
    try:
        proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False,
                              timeout=TIMEOUT, env=env, stdin=subprocess.DEVNULL)
        return proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        return None, exc.stdout or "", exc.stderr or ""


def parse_help(text, skip_sections=("Global Flags",)):
    """(commands, flags) of a cobra/pflag help text. Flags of skip_sections (cobra's
    inherited flags) and --help are left out."""
    commands, flags = [], {}
    section, current = None, None
    for line in text.splitlines():
        head = SECTION.match(line)
        if head:
            section, current = head.group("title"), None
            continue
        if section == "Available Commands":
            match = COMMAND.match(line)
            if match:
                commands.append(match.group("name"))
            continue
        if section is None or section in skip_sections or "lags" not in section:
            continue
        match = FLAG.match(line)
        if match:
            name = match.group("name")
            kind = match.group("type")
            text = match.group("text") or ""
            if kind is not None and not re.match(r"^[A-Za-z][\w.\[\]=/-]*$", kind):
                text, kind = (kind + " " + text).strip(), None
            current = name
            flags[name] = {"type": kind or "bool", "_text": text}
            if match.group("short"):
                flags[name]["shorthand"] = match.group("short")
        elif current and line.strip():
            flags[current]["_text"] += " " + line.strip()
    for entry in flags.values():
        text = entry.pop("_text")
        default = DEFAULT.search(text)
        if default:
            value = default.group("value")
            entry["default"] = value[1:-1] if value.startswith('"') and value.endswith('"') else value
        if "DEPRECATED" in text:
            entry["deprecated"] = True
    flags.pop("help", None)
    return sorted(commands), flags


def keadm_tree(keadm, version):
    rc, out, err = run([keadm, "--help"])
    assert rc == 0, "keadm --help failed: %s" % err
    top = parse_help(out)[0]
    subcommands, todo = {}, [[c] for c in top if c != "help"]
    while todo:
        path = todo.pop(0)
        rc, out, err = run([keadm] + path + ["--help"])
        if rc != 0:
            continue
        commands, flags = parse_help(out)
        entry = {"flags": flags}
        if commands:
            entry["commands"] = [c for c in commands if c != "help"]
            todo += [path + [c] for c in entry["commands"]]
        subcommands[" ".join(path)] = entry
    for command, candidates in HIDDEN_CANDIDATES.items():
        hidden = {}
        for name, kind in candidates.items():
            if name in subcommands.get(command, {}).get("flags", {}):
                continue
            rc, out, err = run([keadm, command, "--%s=%s" % (name, "false" if kind == "bool" else "x"), "--help"])
            if rc == 0 and "unknown flag" not in err:
                hidden[name] = {"type": kind, "deprecated": "deprecated" in err.lower()}
        if command in subcommands:
            subcommands[command]["hidden_flags"] = hidden
    rc = run([keadm, "join", "--definitely-not-a-flag"])[0]
    version_out = run([keadm, "version"])[1]
    return {"commands": top, "subcommands": subcommands, "unknown_flag_exit_code": rc,
            "version_output_has_gitversion": 'GitVersion:"%s"' % version in version_out}


def daemon(binary):
    """edgecore or cloudcore: its flags, and what it does with a missing configuration
    file, an unknown flag and --version (each run stops at the flag or config check)."""
    rc, out, err = run([binary, "--help"])
    flags = parse_help(out + "\n" + err, skip_sections=())[1]
    with tempfile.TemporaryDirectory() as tmp:
        missing = os.path.join(tmp, "missing.yaml")
        plain = run([binary, "--config", missing])
        unknown = run([binary, "--definitely-not-a-flag"])
        version = run([binary, "--version", "--config", missing])
    accepted = "unknown flag" not in (version[1] + version[2])
    facts = {"flags": flags, "has_version_flag": "version" in flags, "unknown_flag_exit_code": unknown[0],
             "version_flag": {"accepted": accepted}}
    if accepted:
        facts["version_flag"].update({
            "listed_in_help": "version" in flags,
            "prints_version": version[0] == 0 and bool(re.search(r"v\d+\.\d+", version[1])),
            # the same outcome as without the flag: the flag is ignored and the program starts
            "runs_" + os.path.basename(binary): version[0] == plain[0] and version[0] != 0,
        })
    if os.path.basename(binary) == "edgecore":
        facts["missing_config_exit_code"] = plain[0]
    return facts


# What a real `keadm join` leaves on an edge host, and what `keadm reset` then
# leaves: each path's mode (octal), "absent", and for a directory whether it is
# empty. `probe` prints the shell script; run it on the host right after a
# by-hand join (on a host without /etc/kubeedge) and again after
# `keadm reset --force`, then `files` merges both outputs into the version's file.
FILES = ["/etc/kubeedge", "/etc/kubeedge/ca/rootCA.crt", "/etc/kubeedge/certs/server.crt",
         "/etc/kubeedge/certs/server.key", "/etc/kubeedge/config/edgecore.yaml",
         "/etc/kubeedge/bootstrap-edgecore.conf", "/etc/systemd/system/edgecore.service",
         "/usr/local/bin/edgecore", "/var/lib/kubeedge", "/var/log/kubeedge", "/var/lib/edged"]


def probe_script():
    return ("for p in %s; do if [ -e \"$p\" ]; then e=''; [ -d \"$p\" ] && "
            "{ [ -z \"$(ls -A \"$p\")\" ] && e=' empty' || e=' non-empty'; }; "
            "echo \"$p $(stat -c %%a \"$p\")$e\"; else echo \"$p absent\"; fi; done" % " ".join(FILES))


def parse_probe(text):
    """{path: {"mode": "644"} | {"mode": "755", "empty": bool} | None (absent)} from the probe's output."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts or parts[0] not in FILES:
            continue
        if parts[1] == "absent":
            out[parts[0]] = None
            continue
        entry = {"mode": parts[1]}
        if len(parts) > 2:
            entry["empty"] = parts[2] == "empty"
        out[parts[0]] = entry
    missing = sorted(set(FILES) - set(out))
    assert not missing, "the probe output lacks %s" % missing
    return out


def main(argv):
    if argv[1:2] == ["probe"]:
        print(probe_script())
        return
    if argv[1:2] == ["files"] and len(argv) == 5:
        path = argv[2]
        with open(path, encoding="utf-8") as f:
            facts = json.load(f)
        with open(argv[3], encoding="utf-8") as joined, open(argv[4], encoding="utf-8") as reset:
            facts["keadm"]["join_leaves"] = parse_probe(joined.read())
            facts["keadm"]["reset_leaves"] = parse_probe(reset.read())
        with open(path, "w", encoding="utf-8") as f:
            json.dump(facts, f, indent=1, sort_keys=True)
            f.write("\n")
        return
    if len(argv) not in (3, 4, 5) or (len(argv) == 5 and argv[4] not in ("node", "source")):
        sys.exit(__doc__)
    version, directory, kubelet, how = (argv[1:] + ["-", "node"])[:4]
    facts = {"version": version,
             "recorded_from": "keadm, edgecore and cloudcore %s built from KubeEdge's source (tag %s), "
                              "read by tests/double/reference/record.py" % (version, version),
             "keadm": keadm_tree(os.path.join(directory, "keadm"), version)}
    for name in ("edgecore", "cloudcore"):
        facts[name] = daemon(os.path.join(directory, name))
    if kubelet != "-":
        facts["edgecore"]["node_kubelet_version"] = kubelet
        facts["edgecore"]["node_kubelet_version_read_from"] = how
    json.dump(facts, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv)
