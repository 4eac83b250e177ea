"""Who may open the agent's folder on Windows: the DACL it must have, and what is wrong with another one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

# Well-known SIDs (MS-DTYP 2.4.2.4). Only these two may have any access to the folder.
SYSTEM = "S-1-5-18"
ADMINISTRATORS = "S-1-5-32-544"
TRUSTED = {SYSTEM: "SYSTEM", ADMINISTRATORS: "BUILTIN\\Administrators"}
# Names for messages; any other SID is shown as it is.
KNOWN_NAMES = {
    **TRUSTED,
    "S-1-1-0": "Everyone",
    "S-1-3-0": "CREATOR OWNER",
    "S-1-3-4": "OWNER RIGHTS",
    "S-1-5-4": "INTERACTIVE",
    "S-1-5-11": "Authenticated Users",
    "S-1-5-32-545": "BUILTIN\\Users",
    "S-1-5-32-547": "BUILTIN\\Power Users",
    "S-1-15-2-1": "ALL APPLICATION PACKAGES",
}

# ACE types and flags (winnt.h, MS-DTYP 2.4.4.1). Deny ACEs only take access away.
ACCESS_ALLOWED_ACE_TYPE = 0x0
ACCESS_DENIED_ACE_TYPE = 0x1
DENY_TYPES = frozenset({ACCESS_DENIED_ACE_TYPE, 0x6, 0xA, 0xC})  # plain, object, callback, callback object
OBJECT_INHERIT_ACE = 0x1
CONTAINER_INHERIT_ACE = 0x2
INHERIT_ONLY_ACE = 0x8
INHERITED_ACE = 0x10
# Access masks (winnt.h): what a file or folder ACE may grant.
FILE_ALL_ACCESS = 0x001F01FF
GENERIC_ALL = 0x10000000
READ_BITS = 0x80000000 | 0x00000001 | 0x00000008 | 0x00000080  # GENERIC_READ, data, EA, attributes
WRITE_BITS = 0x40000000 | 0x00000002 | 0x00000004 | 0x00000010 | 0x00000100  # GENERIC_WRITE, data, ...
CONTROL_BITS = 0x00010000 | 0x00040000 | 0x00080000  # DELETE, WRITE_DAC, WRITE_OWNER
# Security descriptor control: the DACL does not take ACEs from the parent folder.
SE_DACL_PROTECTED = 0x1000


@dataclass(frozen=True)
class Ace:
    """One access control entry as GetAce gives it: the trustee's SID string, mask, type, flags."""

    sid: str
    mask: int
    ace_type: int = ACCESS_ALLOWED_ACE_TYPE
    flags: int = 0

    @property
    def grants(self) -> bool:
        return self.ace_type not in DENY_TYPES and self.mask != 0


@dataclass(frozen=True)
class SecurityView:
    """What the decision needs of a security descriptor: owner, DACL (None = a NULL DACL), protection."""

    owner_sid: str
    dacl: tuple[Ace, ...] | None
    protected: bool


class InsecureDirectory(RuntimeError):
    """The agent's folder lets someone other than SYSTEM and Administrators in: the agent refuses to start."""


def private_dacl(directory: bool = True) -> tuple[Ace, ...]:
    """SYSTEM and Administrators with full control; on a folder, inherited by everything inside it."""
    flags = OBJECT_INHERIT_ACE | CONTAINER_INHERIT_ACE if directory else 0
    return (Ace(SYSTEM, FILE_ALL_ACCESS, flags=flags), Ace(ADMINISTRATORS, FILE_ALL_ACCESS, flags=flags))


def name_of(sid: str) -> str:
    known = KNOWN_NAMES.get(sid)
    return f"{known} ({sid})" if known else sid


def rights(mask: int) -> str:
    """The access a mask gives, in words, with the mask itself."""
    if mask & GENERIC_ALL or mask & FILE_ALL_ACCESS == FILE_ALL_ACCESS:
        words = "full control"
    else:
        parts = [
            word
            for word, bits in (
                ("read", READ_BITS),
                ("write", WRITE_BITS),
                ("change permissions", CONTROL_BITS),
            )
            if mask & bits
        ]
        words = " and ".join(parts) or "access"
    return f"{words} (0x{mask:08x})"


def problems(view: SecurityView, *, directory: bool) -> list[str]:
    """Why ``view`` is not private to SYSTEM and Administrators; empty when it is."""
    found: list[str] = []
    if view.owner_sid not in TRUSTED:
        found.append(f"its owner is {name_of(view.owner_sid)}, who can always change its permissions")
    if view.dacl is None:
        return [*found, "it has no DACL at all: everyone has full control"]
    if directory and not view.protected:
        found.append("it inherits permissions from its parent folder")
    inherited = sorted({ace.sid for ace in view.dacl if ace.flags & INHERITED_ACE})
    if directory and inherited:
        found.append(
            f"it has entries inherited from its parent folder ({', '.join(map(name_of, inherited))})"
        )
    for ace in view.dacl:
        if ace.grants and ace.sid not in TRUSTED:
            whom = "its files and subfolders" if ace.flags & INHERIT_ONLY_ACE else "it"
            found.append(f"{name_of(ace.sid)} may {rights(ace.mask)} on {whom}")
    if directory:
        for sid in TRUSTED:
            applies = [a for a in view.dacl if a.sid == sid and a.grants and not a.flags & INHERIT_ONLY_ACE]
            if not any(a.mask & FILE_ALL_ACCESS == FILE_ALL_ACCESS or a.mask & GENERIC_ALL for a in applies):
                found.append(f"{name_of(sid)} lacks full control")
    return found


def refusal(path: str, found: Sequence[str]) -> str:
    """The error that stops the agent, saying what is wrong and how to put it right."""
    return (
        f"{path}: {'; '.join(found)}. The agent keeps its credential there and starts only when SYSTEM "
        "and Administrators alone can open it: run `fleetwatch-agent service install` again as an "
        "administrator to reset its permissions, or set them with icacls (docs/windows.md)"
    )


def check_directory(path: str, view: SecurityView) -> None:
    """Raise InsecureDirectory when ``view`` of the folder ``path`` is not private."""
    found = problems(view, directory=True)
    if found:
        raise InsecureDirectory(refusal(path, found))


def ensure_private_directory(
    path: Path,
    *,
    read: Callable[[str], SecurityView],
    create: Callable[[str], None],
    reset: Callable[[str], None] | None = None,
) -> None:
    """Create ``path`` private, or find it private already; with ``reset``, make an existing one private."""
    # The service checks (no ``reset``): a folder someone opened up is a refusal, not something
    # to repair silently. `service install`, an administrator's explicit act, resets.
    if not path.exists():
        create(str(path))  # born private: no moment when the parent's permissions apply
    elif reset is not None:
        reset(str(path))
    check_directory(str(path), read(str(path)))
