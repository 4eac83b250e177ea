"""The enrolment credential file: private from creation, refused when too open, secret never printed."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetwatch_agent import credentials
from fleetwatch_agent.credentials import AgentCredential, CredentialError

SECRET = "s3cr3t-Zq9xWm4LtR7vPb2NcY8kHf5Jd1Ga6Eo0"
CREDENTIAL = AgentCredential("a-0123456789abcdef", SECRET, "xa-tan-my-chanh", "h-cai-be", "commune")

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that lets everybody read new files, as on a badly set up host."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@posix_only
def test_save_writes_mode_0600(tmp_path: Path, open_umask: None) -> None:
    """Even with umask 0 the file is readable by the agent's user only."""
    path = credentials.save(tmp_path / "data", CREDENTIAL)
    assert path == tmp_path / "data" / credentials.FILE_NAME
    assert mode_of(path) == 0o600
    assert mode_of(tmp_path / "data") == 0o700


def test_save_then_load_returns_the_credential(tmp_path: Path) -> None:
    """Every field comes back as saved."""
    credentials.save(tmp_path, CREDENTIAL)
    loaded = credentials.load(tmp_path)
    assert loaded == CREDENTIAL
    assert loaded is not None
    assert loaded.secret == SECRET


def test_save_replaces_an_older_credential_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    """Enrolling again overwrites the file atomically."""
    credentials.save(tmp_path, AgentCredential("a-old", "old-secret", "", "", ""))
    credentials.save(tmp_path, CREDENTIAL)
    assert credentials.load(tmp_path) == CREDENTIAL
    assert [p.name for p in tmp_path.iterdir()] == [credentials.FILE_NAME]


def test_missing_file_means_not_enrolled(tmp_path: Path) -> None:
    """No file (or no data folder) is None, not an error."""
    assert credentials.load(tmp_path) is None
    assert credentials.load(tmp_path / "never-created") is None


@posix_only
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_file_others_can_read_is_refused_naming_chmod(tmp_path: Path, mode: int) -> None:
    """The agent refuses to use a secret that other users may have read."""
    path = credentials.save(tmp_path, CREDENTIAL)
    path.chmod(mode)
    with pytest.raises(CredentialError) as info:
        credentials.load(tmp_path)
    message = str(info.value)
    assert "chmod 600" in message
    assert str(path) in message
    assert SECRET not in message


@posix_only
def test_a_stricter_mode_is_accepted(tmp_path: Path) -> None:
    """0400 is fine: only the group and other bits matter."""
    path = credentials.save(tmp_path, CREDENTIAL)
    path.chmod(0o400)
    assert credentials.load(tmp_path) == CREDENTIAL


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "",
        "null",
        "[1, 2, 3]",
        '{"agent_id": "a-1"}',
        json.dumps({**vars(CREDENTIAL), "extra": 1}),
    ],
)
def test_a_file_that_is_not_a_credential_is_an_error(tmp_path: Path, text: str) -> None:
    """Garbage is a CredentialError that names the file and never echoes the secret."""
    path = tmp_path / credentials.FILE_NAME
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(CredentialError) as info:
        credentials.load(tmp_path)
    assert str(path) in str(info.value)
    assert "enrol again" in str(info.value)
    assert SECRET not in str(info.value)


def test_repr_and_str_never_contain_the_secret() -> None:
    """Logging a credential by mistake does not leak it."""
    for text in (repr(CREDENTIAL), str(CREDENTIAL), f"{CREDENTIAL}", f"{CREDENTIAL!r}", repr([CREDENTIAL])):
        assert SECRET not in text
        assert CREDENTIAL.agent_id in text
