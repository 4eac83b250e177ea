"""The central configuration on disk: the last good version kept in the data folder across restarts.

The file (data_dir/central-config.pb, a serialized AgentConfig) is written to a temporary file,
flushed to disk, then renamed over the old one: a crash leaves the old version or the new one,
never a mix. Only a version that resolved (centralconfig.resolve) is written.
"""

from __future__ import annotations

import logging
import os
import random
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError

from fleetwatch_agent import centralconfig
from fleetwatch_agent.config import AgentConfig
from fleetwatch_proto.tomlconfig import ConfigError, decode
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

log = logging.getLogger(__name__)
FILE_NAME = "central-config.pb"
MAX_REASON_BYTES = 256
# A new decision (applied or refused) is told to the collector by the next cycle, brought forward to
# a random moment within this share of the interval (at most CONFIRM_SPREAD_MAX_SECONDS): agents that
# got the version in the same second (a fleet reconnecting at once) do not all push in the same second.
CONFIRM_SPREAD_RATIO = 0.1
CONFIRM_SPREAD_MAX_SECONDS = 10.0


def read_local(path: Path | None) -> dict[str, Any]:
    """The tables the local file sets, as written (what wins over the central configuration)."""
    if path is None:
        return {}
    try:
        return tomllib.loads(decode(path.read_bytes(), f"config file {path}"))
    except (OSError, tomllib.TOMLDecodeError) as exc:  # load_config reported it already
        raise ConfigError(f"config file {path}: {exc}") from exc


def write_atomically(path: Path, data: bytes) -> None:
    """``data`` in ``path``, whole or not at all: temporary file, fsync, rename, fsync of the folder."""
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    if hasattr(os, "O_DIRECTORY"):
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def short_reason(error: Exception) -> str:
    """A refusal's reason as the wire carries it: one line, at most MAX_REASON_BYTES bytes."""
    text = " ".join(str(error).split())
    return text.encode()[:MAX_REASON_BYTES].decode(errors="ignore")


def confirm_delay(interval_seconds: float, rng: random.Random) -> float:
    """Seconds from a new decision to the cycle that tells the collector (see CONFIRM_SPREAD_RATIO)."""
    return rng.uniform(0.0, min(interval_seconds * CONFIRM_SPREAD_RATIO, CONFIRM_SPREAD_MAX_SECONDS))


class CentralState:
    """The version run, the last refused and why; ``offer`` decides on each version the collector sends."""

    def __init__(
        self,
        data_dir: Path,
        local: Mapping[str, Any],
        save: Callable[[Path, bytes], None] | None = write_atomically,
    ) -> None:
        # ``save`` None: the version applied is kept in memory only (the simulator's agents).
        self.path = data_dir / FILE_NAME
        self.local = local
        self._save = save
        self.version = ""
        self.refused = ("", "")  # (version, reason) until another version runs
        self.message: pb.AgentConfig | None = None

    def load(self) -> AgentConfig | None:
        """The last good version, resolved against today's local file; None without one (or when the
        local file changed so that it no longer resolves: then the local file alone runs)."""
        try:
            message = pb.AgentConfig.FromString(self.path.read_bytes())
            config = centralconfig.resolve(self.local, message)
        except FileNotFoundError:
            return None
        except (OSError, DecodeError, ConfigError) as exc:
            log.error("central configuration in %s not used: %s", self.path, exc)
            return None
        self.version, self.message = message.version, message
        return config

    def offer(self, message: pb.AgentConfig) -> AgentConfig | None:
        """A configuration to run from now on, or None: the same version, or refused (kept in
        ``refused`` for the next reports)."""
        if message.version == self.version or message.version == self.refused[0]:
            return None
        try:
            config = centralconfig.resolve(self.local, message)
        except ConfigError as exc:
            self.refused = (message.version[:64], short_reason(exc))
            log.error(
                "central configuration %s refused, keeping %s: %s",
                message.version,
                self.version or "the local file",
                exc,
            )
            return None
        try:
            if self._save is not None:
                self._save(self.path, message.SerializeToString())
        except OSError as exc:  # not applied: the collector offers it again with the next Push
            log.error(
                "central configuration %s not applied: cannot write %s: %s", message.version, self.path, exc
            )
            return None
        self.version, self.message, self.refused = message.version, message, ("", "")
        log.info("central configuration %s applied", message.version)
        return config

    @property
    def said(self) -> tuple[str, str, str]:
        """What ``stamp`` writes: the version run, the version refused and why. When ``offer`` changes
        it, the collector is to be told (``confirm_delay``)."""
        return (self.version, *self.refused)

    def stamp(self, target: pb.Report | pb.PushRequest) -> None:
        """The version run and the refusal into a report or a request."""
        target.config_version = self.version
        target.config_refused_version, target.config_refused_reason = self.refused
