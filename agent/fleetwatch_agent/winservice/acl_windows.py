"""The agent's folder permissions through win32security: converts to and from acl.py, decides nothing."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from fleetwatch_agent.winservice.acl import (
    ADMINISTRATORS,
    Ace,
    InsecureDirectory,
    SecurityView,
    ensure_private_directory,
    private_dacl,
    problems,
    refusal,
)
from fleetwatch_agent.winservice.scm import describe
from fleetwatch_agent.winservice.status import WindowsOnly

if sys.platform == "win32":
    import pywintypes
    import win32file
    import win32security
    from _win32typing import PyACL, PySID

NOT_WINDOWS = "folder permissions through win32security exist on Windows only"
DWORD = 0xFFFFFFFF


def read_view(path: str) -> SecurityView:
    """Owner, DACL and protection of the file or folder ``path``."""
    if sys.platform == "win32":
        wanted = win32security.OWNER_SECURITY_INFORMATION | win32security.DACL_SECURITY_INFORMATION
        descriptor = win32security.GetNamedSecurityInfo(path, win32security.SE_FILE_OBJECT, wanted)
        control, _revision = descriptor.GetSecurityDescriptorControl()
        owner = win32security.ConvertSidToStringSid(descriptor.GetSecurityDescriptorOwner())
        protected = bool(control & win32security.SE_DACL_PROTECTED)
        dacl = descriptor.GetSecurityDescriptorDacl()
        if dacl is None:  # a NULL DACL (not an empty one): everyone has every access
            return SecurityView(owner, None, protected)
        aces = []
        for index in range(dacl.GetAceCount()):
            entry = dacl.GetAce(index)  # ((type, flags), mask, [object GUIDs,] sid): the SID is last
            (ace_type, flags), mask, sid = entry[0], entry[1], entry[-1]
            aces.append(Ace(win32security.ConvertSidToStringSid(sid), int(mask) & DWORD, ace_type, flags))
        return SecurityView(owner, tuple(aces), protected)
    raise WindowsOnly(NOT_WINDOWS)


if sys.platform == "win32":

    def _sid(sid: str) -> PySID:
        return win32security.ConvertStringSidToSid(sid)

    def _private_acl(directory: bool) -> PyACL:
        acl = win32security.ACL()
        for ace in private_dacl(directory):
            acl.AddAccessAllowedAceEx(win32security.ACL_REVISION, ace.flags, ace.mask, _sid(ace.sid))
        return acl


def create_private_dir(path: str) -> None:
    """Create the folder ``path`` with the private DACL from its first moment (its parents as usual)."""
    if sys.platform == "win32":
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        descriptor = win32security.SECURITY_DESCRIPTOR()
        descriptor.SetSecurityDescriptorOwner(_sid(ADMINISTRATORS), False)
        descriptor.SetSecurityDescriptorDacl(True, _private_acl(True), False)
        protected = win32security.SE_DACL_PROTECTED
        descriptor.SetSecurityDescriptorControl(protected, protected)
        attributes = win32security.SECURITY_ATTRIBUTES()
        attributes.SECURITY_DESCRIPTOR = descriptor
        win32file.CreateDirectory(path, attributes)
        return
    raise WindowsOnly(NOT_WINDOWS)


def reset_private(path: str) -> None:
    """Give the existing folder ``path`` the private DACL and owner; what is inside inherits it."""
    if sys.platform == "win32":
        # SetNamedSecurityInfo propagates the inheritable entries to the folder's files and
        # subfolders, replacing what they had inherited from the parent before.
        what = (
            win32security.OWNER_SECURITY_INFORMATION
            | win32security.DACL_SECURITY_INFORMATION
            | win32security.PROTECTED_DACL_SECURITY_INFORMATION
        )
        owner = _sid(ADMINISTRATORS)
        win32security.SetNamedSecurityInfo(
            path, win32security.SE_FILE_OBJECT, what, owner, None, _private_acl(True), None
        )
        return
    raise WindowsOnly(NOT_WINDOWS)


def api_errors() -> tuple[type[Exception], ...]:
    """What pywin32's calls raise (pywintypes.error, not an OSError)."""
    if sys.platform == "win32":
        return (pywintypes.error,)
    return ()


@contextlib.contextmanager
def _refusing(path: Path) -> Iterator[None]:
    """A failed call (access denied: not elevated) is a refusal with the reason, not a traceback."""
    failures: tuple[type[Exception], ...] = (*api_errors(), OSError)
    try:
        yield
    except failures as exc:
        raise InsecureDirectory(f"{path}: cannot read or set its permissions: {describe(exc)}") from exc


def ensure_private_dir(path: Path) -> None:
    """The service's check at start: create the folder private, or refuse to run with an open one."""
    with _refusing(path):
        ensure_private_directory(path, read=read_view, create=create_private_dir)


def reset_private_dir(path: Path) -> None:
    """`service install`: create the folder private, or make the existing one private."""
    with _refusing(path):
        ensure_private_directory(path, read=read_view, create=create_private_dir, reset=reset_private)


def check_private_file(path: Path) -> None:
    """Raise InsecureDirectory when someone other than SYSTEM and Administrators may open the file."""
    with _refusing(path):
        found = problems(read_view(str(path)), directory=False)
    if found:
        raise InsecureDirectory(refusal(str(path), found))
