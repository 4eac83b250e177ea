"""Whether each Security Center registration belongs to a product still present, or is stale."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from fleetwatch_agent.probes.antivirus.windows_parse import SecurityCenterProduct
from fleetwatch_agent.probes.antivirus.windows_services import Service, services_of_vendor, vendor_of
from fleetwatch_agent.probes.antivirus.windows_text import name_key

PathCheck = Callable[[str], bool | None]  # True: the file exists; False: it does not; None: cannot tell
# A registration claiming "on" this much older than another one claiming "on" was replaced by it.
REPLACED_AFTER_SECONDS = 3600
# %ProgramFiles% as a 64-bit process sees it, also from a 32-bit agent (WOW64 redirects it).
_WOW64_VARIABLES = {"programfiles": "ProgramW6432", "commonprogramfiles": "CommonProgramW6432"}
_WINDOWS_PATH = re.compile(r"^(?:[A-Za-z]:\\|\\\\[^\\]+\\)")


def expand(path: str, env: Mapping[str, str]) -> str | None:
    """``path`` with its %VARIABLES% expanded the 64-bit way; None when one is not set."""
    lowered = {k.lower(): v for k, v in env.items()}
    missing = False

    def value(match: re.Match[str]) -> str:
        nonlocal missing
        name = match.group(1).lower()
        found = lowered.get(_WOW64_VARIABLES.get(name, "").lower()) or lowered.get(name)
        if found is None:
            missing = True
            return match.group(0)
        return found

    expanded = re.sub(r"%([^%\\/]+)%", value, path.strip().strip('"'))
    if missing:
        return None
    windows = lowered.get("windir", "C:\\Windows").rstrip("\\")
    system32 = windows.lower() + "\\system32\\"
    if "processor_architew6432" in lowered and expanded.lower().startswith(system32):
        expanded = windows + "\\Sysnative\\" + expanded[len(system32) :]  # 32-bit agent on 64-bit Windows
    return expanded


def file_state(
    path: str, env: Mapping[str, str] | None = None, stat: Callable[[str], object] = os.stat
) -> bool | None:
    """Whether the program at ``path`` exists (None: not a file path, a variable unset, or an error)."""
    expanded = expand(path, os.environ if env is None else env)
    if expanded is None or not _WINDOWS_PATH.match(expanded):
        return None  # "windowsdefender://" and the like
    try:
        stat(expanded)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return None  # access denied, network path down: cannot tell
    return True


def program_of(product: SecurityCenterProduct) -> str:
    """The registration's program path to check: the product's, else the reporting one."""
    for path in (product.product_exe, product.reporting_exe):
        if path and (_WINDOWS_PATH.match(path.strip('"')) or path.startswith("%")):
            return path
    return ""


@dataclass(frozen=True)
class Verdict:
    """What the host tells of a registration beyond Security Center's own claim."""

    stale: str = ""  # why the product is no longer present ("" when it is)
    notes: tuple[str, ...] = ()
    services_stopped: bool = False  # the product's services exist and none runs


def _when(unix: int | None) -> str:
    return "an unknown time" if unix is None else f"{datetime.fromtimestamp(unix, UTC):%Y-%m-%d %H:%M} UTC"


def judge(
    registered: Sequence[SecurityCenterProduct],
    *,
    services: Sequence[Service] | None,
    path_exists: PathCheck,
    defender_read: bool,
) -> list[Verdict]:
    """One verdict per registration: its program gone, an older duplicate, replaced, no service left."""
    stale: dict[int, str] = {}
    notes: dict[int, list[str]] = {i: [] for i in range(len(registered))}
    present: dict[int, bool | None] = {}
    for i, product in enumerate(registered):
        if product.is_defender and defender_read:
            continue  # Get-MpComputerStatus answered: Defender is there
        program = program_of(product)
        present[i] = path_exists(program) if program else None
        if present[i] is False:
            stale[i] = f"its program {program} is gone"
    _older_duplicates(registered, stale)
    _replaced(registered, stale)
    stopped: set[int] = set()
    for i, product in enumerate(registered):
        vendor = "" if product.is_defender else vendor_of(product.name)
        if not vendor or services is None:
            continue
        own = services_of_vendor(vendor, services)
        if not own:
            if present.get(i) is not True:
                stale.setdefault(i, f"no service of {vendor} is installed")
            continue
        names = ", ".join(s.name for s in own)
        if any(s.running for s in own):
            notes[i].append(f"service {names} running")
        else:
            notes[i].append(f"service {names} stopped")
            stopped.add(i)
    return [Verdict(stale.get(i, ""), tuple(notes[i]), i in stopped) for i in range(len(registered))]


def _older_duplicates(registered: Sequence[SecurityCenterProduct], stale: dict[int, str]) -> None:
    """Registrations of one product name: all but the newest are stale (an upgrade left them)."""
    groups: dict[str, list[int]] = {}
    for i, product in enumerate(registered):
        groups.setdefault(name_key(product.name), []).append(i)
    for members in groups.values():
        dated = [i for i in members if registered[i].timestamp_unix is not None]
        if len(members) < 2 or not dated:
            continue
        newest = max(dated, key=lambda i: registered[i].timestamp_unix or 0)
        for i in members:
            if i != newest and (registered[i].timestamp_unix or 0) < (registered[newest].timestamp_unix or 0):
                newest_at = _when(registered[newest].timestamp_unix)
                stale.setdefault(i, f"an older registration of the same product (newest from {newest_at})")


def _replaced(registered: Sequence[SecurityCenterProduct], stale: dict[int, str]) -> None:
    """Of several registrations claiming "on", those much older than the newest were replaced by it."""
    claiming = [
        i
        for i, p in enumerate(registered)
        if i not in stale and p.state.understood and p.state.scanner == "on" and p.timestamp_unix is not None
    ]
    if len(claiming) < 2:
        return
    newest = max(claiming, key=lambda i: registered[i].timestamp_unix or 0)
    newest_time = registered[newest].timestamp_unix or 0
    for i in claiming:
        when = registered[i].timestamp_unix or 0
        if i != newest and newest_time - when > REPLACED_AFTER_SECONDS:
            stale[i] = (
                f"last reported at {_when(when)}, before {registered[newest].name} "
                f"(reporting on at {_when(newest_time)}) took over"
            )
