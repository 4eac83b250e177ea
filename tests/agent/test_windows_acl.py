"""The folder permissions decision, on ACE lists made by hand from the documented structures."""

# No Windows machine runs these tests: every security descriptor below is written by hand from
# MS-DTYP (ACE types and flags, well-known SIDs) and from what icacls shows for C:\ProgramData,
# in the shape acl_windows.read_view builds from GetNamedSecurityInfo.

from __future__ import annotations

from pathlib import Path

import pytest

from fleetwatch_agent.winservice import acl
from fleetwatch_agent.winservice.acl import (
    ACCESS_DENIED_ACE_TYPE,
    ADMINISTRATORS,
    CONTAINER_INHERIT_ACE,
    FILE_ALL_ACCESS,
    INHERIT_ONLY_ACE,
    INHERITED_ACE,
    OBJECT_INHERIT_ACE,
    SYSTEM,
    Ace,
    InsecureDirectory,
    SecurityView,
    ensure_private_directory,
    private_dacl,
    problems,
)

EVERYONE = "S-1-1-0"
USERS = "S-1-5-32-545"
CREATOR_OWNER = "S-1-3-0"
A_USER = "S-1-5-21-1004336348-1177238915-682003330-1001"
READ_AND_EXECUTE = 0x001200A9
OICI = OBJECT_INHERIT_ACE | CONTAINER_INHERIT_ACE

PRIVATE = SecurityView(ADMINISTRATORS, private_dacl(directory=True), protected=True)
# A folder made with os.makedirs under C:\ProgramData: everything inherited from it.
LIKE_PROGRAM_DATA = SecurityView(
    owner_sid=A_USER,
    dacl=(
        Ace(SYSTEM, FILE_ALL_ACCESS, flags=OICI | INHERITED_ACE),
        Ace(ADMINISTRATORS, FILE_ALL_ACCESS, flags=OICI | INHERITED_ACE),
        Ace(CREATOR_OWNER, FILE_ALL_ACCESS, flags=OICI | INHERIT_ONLY_ACE | INHERITED_ACE),
        Ace(USERS, READ_AND_EXECUTE, flags=OICI | INHERITED_ACE),
        Ace(USERS, 0x00000116, flags=CONTAINER_INHERIT_ACE | INHERITED_ACE),  # create files, write data
    ),
    protected=False,
)


def with_ace(ace: Ace) -> SecurityView:
    assert PRIVATE.dacl is not None
    return SecurityView(PRIVATE.owner_sid, (*PRIVATE.dacl, ace), protected=True)


def test_system_and_administrators_only_is_private() -> None:
    assert problems(PRIVATE, directory=True) == []
    assert [(a.sid, a.mask, a.ace_type, a.flags) for a in private_dacl(directory=True)] == [
        (SYSTEM, FILE_ALL_ACCESS, 0, OICI),
        (ADMINISTRATORS, FILE_ALL_ACCESS, 0, OICI),
    ]
    owned_by_system = SecurityView(SYSTEM, PRIVATE.dacl, protected=True)
    assert problems(owned_by_system, directory=True) == []


def test_users_with_read_access_is_refused() -> None:
    found = problems(with_ace(Ace(USERS, READ_AND_EXECUTE, flags=OICI)), directory=True)
    assert found == ["BUILTIN\\Users (S-1-5-32-545) may read (0x001200a9) on it"]


def test_everyone_is_refused() -> None:
    found = problems(with_ace(Ace(EVERYONE, FILE_ALL_ACCESS)), directory=True)
    assert found == ["Everyone (S-1-1-0) may full control (0x001f01ff) on it"]


def test_access_only_for_what_the_folder_will_hold_is_refused_too() -> None:
    found = problems(with_ace(Ace(USERS, 0x00000002, flags=OICI | INHERIT_ONLY_ACE)), directory=True)
    assert found == ["BUILTIN\\Users (S-1-5-32-545) may write (0x00000002) on its files and subfolders"]


def test_a_folder_inheriting_from_its_parent_is_refused() -> None:
    found = problems(LIKE_PROGRAM_DATA, directory=True)
    assert found[:3] == [
        f"its owner is {A_USER}, who can always change its permissions",
        "it inherits permissions from its parent folder",
        "it has entries inherited from its parent folder (CREATOR OWNER (S-1-3-0), SYSTEM (S-1-5-18), "
        "BUILTIN\\Administrators (S-1-5-32-544), BUILTIN\\Users (S-1-5-32-545))",
    ]
    assert any(f.startswith("CREATOR OWNER (S-1-3-0) may full control") for f in found)
    assert sum(f.startswith("BUILTIN\\Users") for f in found) == 2


def test_inherited_entries_alone_are_refused_even_when_they_name_only_system_and_administrators() -> None:
    assert PRIVATE.dacl is not None
    inherited = tuple(Ace(a.sid, a.mask, a.ace_type, a.flags | INHERITED_ACE) for a in PRIVATE.dacl)
    found = problems(SecurityView(ADMINISTRATORS, inherited, protected=False), directory=True)
    assert found[0] == "it inherits permissions from its parent folder"
    assert len(found) == 2  # and the inherited entries; nobody else has access


def test_a_null_dacl_and_a_foreign_owner_are_refused() -> None:
    assert problems(SecurityView(ADMINISTRATORS, None, protected=False), directory=True) == [
        "it has no DACL at all: everyone has full control"
    ]
    assert problems(SecurityView(A_USER, PRIVATE.dacl, protected=True), directory=True) == [
        f"its owner is {A_USER}, who can always change its permissions"
    ]


def test_deny_entries_take_access_away_and_are_accepted() -> None:
    assert problems(with_ace(Ace(EVERYONE, FILE_ALL_ACCESS, ACCESS_DENIED_ACE_TYPE)), directory=True) == []


def test_a_folder_where_system_lacks_full_control_is_refused() -> None:
    view = SecurityView(ADMINISTRATORS, (Ace(ADMINISTRATORS, FILE_ALL_ACCESS, flags=OICI),), protected=True)
    assert problems(view, directory=True) == ["SYSTEM (S-1-5-18) lacks full control"]


def test_a_file_may_inherit_from_the_private_folder() -> None:
    inherited = (
        Ace(SYSTEM, FILE_ALL_ACCESS, flags=INHERITED_ACE),
        Ace(ADMINISTRATORS, FILE_ALL_ACCESS, flags=INHERITED_ACE),
    )
    assert problems(SecurityView(ADMINISTRATORS, inherited, protected=False), directory=False) == []
    opened = (*inherited, Ace(USERS, READ_AND_EXECUTE, flags=INHERITED_ACE))
    assert problems(SecurityView(ADMINISTRATORS, opened, protected=False), directory=False) == [
        "BUILTIN\\Users (S-1-5-32-545) may read (0x001200a9) on it"
    ]


def test_rights_in_words() -> None:
    assert acl.rights(FILE_ALL_ACCESS) == "full control (0x001f01ff)"
    assert acl.rights(0x10000000) == "full control (0x10000000)"  # GENERIC_ALL
    assert acl.rights(0x00040000) == "change permissions (0x00040000)"  # WRITE_DAC
    assert acl.rights(0x00100000) == "access (0x00100000)"  # SYNCHRONIZE alone


class FakeFolder:
    """A folder's security seen through the three operations acl_windows provides."""

    def __init__(self, tmp_path: Path, view: SecurityView | None) -> None:
        self.path = tmp_path / "fleetwatch"
        self.view = view
        self.calls: list[str] = []
        if view is not None:
            self.path.mkdir()

    def read(self, path: str) -> SecurityView:
        self.calls.append("read")
        assert path == str(self.path) and self.view is not None
        return self.view

    def create(self, path: str) -> None:
        self.calls.append("create")
        Path(path).mkdir()
        self.view = PRIVATE

    def reset(self, path: str) -> None:
        self.calls.append("reset")
        self.view = PRIVATE


def test_a_missing_folder_is_created_private_then_checked(tmp_path: Path) -> None:
    folder = FakeFolder(tmp_path, None)
    ensure_private_directory(folder.path, read=folder.read, create=folder.create)
    assert folder.calls == ["create", "read"]


def test_the_service_refuses_an_open_folder_and_says_how_to_fix_it(tmp_path: Path) -> None:
    folder = FakeFolder(tmp_path, LIKE_PROGRAM_DATA)
    with pytest.raises(InsecureDirectory) as info:
        ensure_private_directory(folder.path, read=folder.read, create=folder.create)
    message = str(info.value)
    assert message.startswith(f"{folder.path}: its owner is {A_USER}")
    assert "BUILTIN\\Users (S-1-5-32-545) may read" in message
    assert "run `fleetwatch-agent service install` again as an administrator" in message
    assert folder.calls == ["read"]  # refused, not repaired


def test_install_resets_an_open_folder(tmp_path: Path) -> None:
    folder = FakeFolder(tmp_path, LIKE_PROGRAM_DATA)
    ensure_private_directory(folder.path, read=folder.read, create=folder.create, reset=folder.reset)
    assert folder.calls == ["reset", "read"]
