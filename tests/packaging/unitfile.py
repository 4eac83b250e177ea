"""Reading systemd unit files, and running a command with the part of a unit's sandbox that needs no systemd.

Where systemd is not PID 1 (containers, CI), the tests still run the installed programs the way the
units do: as the unit's User= and Group= with its SupplementaryGroups=, NoNewPrivileges=, an empty
CapabilityBoundingSet=, its UMask=, a clean environment, and MemoryDenyWriteExecute= through
prctl(PR_SET_MDWE) where the kernel has it (Linux 6.3 and later). The mount namespace
(ProtectSystem=, TemporaryFileSystem=), the seccomp filter and the cgroup limits need systemd itself;
`systemd-analyze verify` checks those lines instead.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

# Run by /usr/bin/python3 before the command: umask, then W^X memory, then exec.
_LAUNCHER = """
import ctypes, os, sys
os.umask(int(sys.argv[1], 8))
libc = ctypes.CDLL(None, use_errno=True)
PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
    if ctypes.get_errno() != 22:  # EINVAL: a kernel before 6.3 has no PR_SET_MDWE; go on without it
        sys.exit("prctl(PR_SET_MDWE): " + os.strerror(ctypes.get_errno()))
os.execv(sys.argv[2], sys.argv[2:])
"""
CLEAN_ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8")


def parse(text: str) -> dict[str, dict[str, list[str]]]:
    """Section -> key -> every value assigned, in order (comments and blank lines left out)."""
    sections: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        header = re.fullmatch(r"\[(.+)\]", line)
        if header:
            section = header.group(1)
            continue
        key, _, value = line.partition("=")
        sections[section][key.strip()].append(value.strip())
    return sections


def service(path: Path) -> dict[str, list[str]]:
    return parse(path.read_text())["Service"]


def last(values: dict[str, list[str]], key: str, default: str = "") -> str:
    return values[key][-1] if values.get(key) else default


def size_bytes(value: str) -> int:
    """A systemd size (96M, 1G, 512K, plain bytes)."""
    units = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
    match = re.fullmatch(r"(\d+)([KMG]?)", value)
    assert match, f"not a size: {value}"
    return int(match.group(1)) * units[match.group(2)]


def sandboxed(unit: dict[str, list[str]], command: list[str], env: tuple[str, ...] = ()) -> list[str]:
    """``command`` as the unit would run it, minus what needs systemd (see the module's docstring)."""
    groups = " ".join(unit.get("SupplementaryGroups", [])).split()
    assert last(unit, "NoNewPrivileges") == "yes"
    assert last(unit, "CapabilityBoundingSet") == "", "the unit grants capabilities: emulate them too"
    return [
        "/usr/bin/python3", "-c", _LAUNCHER, last(unit, "UMask", "0022"),
        "/usr/bin/setpriv", f"--reuid={last(unit, 'User')}", f"--regid={last(unit, 'Group')}",
        f"--groups={','.join(groups)}" if groups else "--clear-groups",
        "--no-new-privs", "--bounding-set=-all", "--inh-caps=-all",
        "/usr/bin/env", "-i", *CLEAN_ENV, *env, *command,
    ]  # fmt: skip
