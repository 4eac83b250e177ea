"""What a probe may know of the agent: its data folder and the cursors committed with the spool.

A cursor is a probe's position in something it follows (a log file, a list of detections).
A probe returns new cursor values with its result; the agent stores them in the spool in the
same transaction as the report that carries their effects, so after a crash a probe resumes
exactly after the last report that was kept: nothing is reported twice, nothing skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ProbeContext:
    data_dir: Path
    # Cursor values committed with the newest spooled report, by cursor name. The agent
    # updates this mapping after each commit: a probe reads its cursor here at every
    # collection and never keeps its own copy, so a report that was not kept is redone.
    cursors: Mapping[str, str] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    # host:port of the collectors, for probes that check the way there.
    collector_addresses: tuple[str, ...] = ()
