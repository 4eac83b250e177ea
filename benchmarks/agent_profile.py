"""Where the agent's memory and start time go: Python memory by module, and the import-time profile.

Run by ``bench_agent_rss.py --footprint`` in a process of its own (tracemalloc slows and inflates
what it traces, so the measured agent runs without it). Traces from before the first import, imports
what ``fleetwatch-agent run`` imports, binds the probes of ``--config`` and runs one cycle of each, as
the steady agent does, then prints JSON: the memory each module's import allocated itself (its own
imports excluded), the totals by package, the allocation sites holding the most memory, and the
slowest imports by ``python -X importtime``.
"""

from __future__ import annotations

import importlib.abc
import sys
import tracemalloc
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

RUN_PATH = "import fleetwatch_agent.cli, fleetwatch_agent.service"
GROUPS = (
    ("fleetwatch", "agent"),
    ("google", "protobuf"),
    ("grpc", "grpc"),
    ("h2", "h2"),
    ("hpack", "h2"),
    ("hyperframe", "h2"),
    ("psutil", "psutil"),
)


class ImportCost(importlib.abc.MetaPathFinder):
    """Wraps every module's execution to record the traced memory it allocated itself."""

    def __init__(self) -> None:
        self.cost: dict[str, int] = {}
        self._nested: list[int] = []

    def find_spec(self, name: str, path: Sequence[str] | None, target: ModuleType | None = None) -> Any:
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                loader = spec.loader
                # Source and extension modules have a loader object each; built-in and frozen ones
                # share their importer class (not wrapped: they allocate little).
                if loader is not None and not isinstance(loader, type) and hasattr(loader, "exec_module"):
                    setattr(loader, "exec_module", self._wrap(name, loader.exec_module))  # noqa: B010
                return spec
        return None

    def _wrap(self, name: str, run: Callable[[ModuleType], None]) -> Callable[[ModuleType], None]:
        def exec_module(module: ModuleType) -> None:
            self._nested.append(0)
            before = tracemalloc.get_traced_memory()[0]
            try:
                run(module)
            finally:
                total = tracemalloc.get_traced_memory()[0] - before
                inner = self._nested.pop()
                self.cost[name] = total - inner
                if self._nested:
                    self._nested[-1] += total

        return exec_module


def group_of(module: str) -> str:
    return next((label for prefix, label in GROUPS if module.startswith(prefix)), "standard library")


def import_times(top: int) -> list[tuple[str, float, float]]:
    """The slowest imports of the run path: (module, cumulative ms, own ms)."""
    import subprocess

    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", RUN_PATH], capture_output=True, text=True, check=True
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line or "cumulative" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        rows.append((name.strip(), int(cumulative) / 1000, int(own) / 1000))
    return sorted(rows, key=lambda row: -row[1])[:top]


async def one_cycle(config_path: Path) -> list[str]:
    from pathlib import Path

    from fleetwatch_agent.config import load_config
    from fleetwatch_agent.probes.context import ProbeContext
    from fleetwatch_agent.runner import bind_probes, run_cycle

    config = load_config(config_path)
    context = ProbeContext(Path(config.agent.data_dir), collector_addresses=config.collector.addresses)
    outcomes, _ = await run_cycle(bind_probes(config.probes, context))
    return [o.name for o in outcomes]


def main() -> None:
    # Traced from here: only what the run path imports is in the figures (the profile's own modules,
    # argparse, asyncio and json, are imported by the run path anyway).
    cost = ImportCost()
    sys.meta_path.insert(0, cost)
    tracemalloc.start()
    before = set(sys.modules)
    exec(RUN_PATH)
    import argparse
    import asyncio
    import json
    from pathlib import Path

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    probes = asyncio.run(one_cycle(args.config))
    sys.meta_path.remove(cost)
    snapshot = tracemalloc.take_snapshot()
    by_group: dict[str, int] = {}
    for module, size in cost.cost.items():
        by_group[group_of(module)] = by_group.get(group_of(module), 0) + size
    sites = [
        (stat.traceback[0].filename.split("site-packages/")[-1], stat.size)
        for stat in snapshot.statistics("filename")[: args.top]
    ]
    print(
        json.dumps(
            {
                "probes": probes,
                "modules": len(sys.modules),
                "modules_imported": len(set(sys.modules) - before),
                "traced_bytes": tracemalloc.get_traced_memory()[0],
                "by_group": by_group,
                "top_modules": sorted(cost.cost.items(), key=lambda item: -item[1])[: args.top],
                "top_sites": sites,
                "import_times": import_times(args.top),
            }
        )
    )


if __name__ == "__main__":
    main()
