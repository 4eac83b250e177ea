"""The agent's identity from enrolment: a JSON file readable by the agent's user only."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

FILE_NAME = "credential.json"


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


def save(data_dir: Path, credential: AgentCredential) -> Path:
    """Write the credential atomically with mode 0600 from the moment the file exists."""
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
    if os.name == "posix" and mode & 0o077:
        raise CredentialError(f"{path}: mode {mode:o} lets others read the secret; chmod 600 it")
    try:
        return AgentCredential(**json.loads(text))
    except (ValueError, TypeError) as exc:
        raise CredentialError(f"{path}: not a credential file ({exc}); enrol again") from exc
