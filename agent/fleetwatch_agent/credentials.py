"""The agent's identity from enrolment: a JSON file only the agent's user (on Windows: SYSTEM) may read."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from fleetwatch_agent.platformdefaults import CREDENTIAL_FILE_NAME, is_windows

FILE_NAME = CREDENTIAL_FILE_NAME


class CredentialError(RuntimeError):
    """The credential file is missing, unreadable or too open; the message says what to do."""


@dataclass(frozen=True)
class AgentCredential:
    agent_id: str
    secret: str
    site: str
    district: str
    site_type: str

    def __repr__(self) -> str:  # never print the secret
        return f"AgentCredential(agent_id={self.agent_id!r}, site={self.site!r})"


def _private_on_windows(path: Path, *, folder: bool) -> None:
    """Windows has no file modes: a DACL for SYSTEM and Administrators keeps others out (acl.py)."""
    from fleetwatch_agent.winservice import acl_windows
    from fleetwatch_agent.winservice.acl import InsecureDirectory

    try:
        (acl_windows.ensure_private_dir if folder else acl_windows.check_private_file)(path)
    except InsecureDirectory as exc:
        raise CredentialError(str(exc)) from exc


def save(data_dir: Path, credential: AgentCredential) -> Path:
    """Write the credential atomically with mode 0600 (Windows: in a private folder) from the start."""
    if is_windows():
        _private_on_windows(data_dir, folder=True)  # created private; the file inherits its DACL
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = data_dir / FILE_NAME
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    if hasattr(os, "fchmod"):  # a left-over tmp file keeps its mode through O_CREAT
        os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(asdict(credential), handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path


def load(data_dir: Path) -> AgentCredential | None:
    """The saved credential, None when the agent is not enrolled."""
    path = data_dir / FILE_NAME
    try:
        mode = path.stat().st_mode & 0o777
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CredentialError(f"{path}: {exc.strerror}") from exc
    if is_windows():
        _private_on_windows(path, folder=False)
    elif os.name == "posix" and mode & 0o077:
        raise CredentialError(f"{path}: mode {mode:o} lets others read the secret; chmod 600 it")
    try:
        return AgentCredential(**json.loads(text))
    except (ValueError, TypeError) as exc:
        raise CredentialError(f"{path}: not a credential file ({exc}); enrol again") from exc
