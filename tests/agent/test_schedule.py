"""Per-probe intervals: the cadence, each probe's interval in cycles, jittered first runs, old configs."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path

import pytest

from fleetwatch_agent import schedule
from fleetwatch_agent.config import AgentConfig, ProbesSection, load_config
from fleetwatch_agent.probes.antivirus import AntivirusConfig
from fleetwatch_agent.probes.connectivity import ConnectivityConfig
from fleetwatch_agent.probes.resources import ResourcesConfig
from fleetwatch_agent.runner import BoundProbe, ProbeRunner, bind_probes
from fleetwatch_proto.tomlconfig import ConfigError


def timed(name: str, interval: float, timeout: float = 1.0) -> BoundProbe:
    return BoundProbe(name, lambda: None, timeout, interval)


def default_plan() -> schedule.Plan:
    config = AgentConfig()
    return schedule.plan(config.agent.interval_seconds, bind_probes(config.probes))


def test_the_default_configuration_reports_every_15s_and_runs_each_probe_at_its_interval() -> None:
    plan = default_plan()
    assert plan.cadence_seconds == 15.0
    assert dict(plan.every) == {"resources": 1, "antivirus": 20, "connectivity": 4}
    assert plan.warnings == ()
    assert not plan.legacy
    assert (
        plan.describe()
        == "a report every 15s; resources every 15s, antivirus every 300s, connectivity every 60s"
    )


def test_the_cadence_is_the_shortest_interval_of_the_enabled_probes() -> None:
    probes = (timed("a", 300), timed("b", 60), timed("c", 0))  # 0: a probe of the tests, every cycle
    assert schedule.cadence_of(0, probes) == 60.0
    assert schedule.cadence_of(0, ()) == schedule.DEFAULT_CADENCE_SECONDS
    assert schedule.cadence_of(0, (timed("c", 0),)) == schedule.DEFAULT_CADENCE_SECONDS
    # A report at least once an hour (the contract's bound) even when every probe runs less often.
    assert schedule.cadence_of(0, (timed("daily", 86400),)) == 3600.0


@pytest.mark.parametrize(
    ("interval", "cadence", "cycles"),
    [
        (15, 15, 1),
        (60, 15, 4),
        (300, 15, 20),
        (40, 15, 2),
        (29.9, 15, 1),
        (5, 15, 1),
        (0, 15, 1),
        (45, 15, 3),
    ],
)
def test_a_probe_interval_is_rounded_down_to_whole_cycles_at_least_one(
    interval: float, cadence: float, cycles: int
) -> None:
    assert schedule.cycles_between(interval, cadence) == cycles


def test_rounding_is_logged_at_start_and_a_probe_never_runs_less_often_than_asked() -> None:
    plan = schedule.plan(0, (timed("resources", 15), timed("connectivity", 40), timed("antivirus", 300)))
    assert plan.every["connectivity"] == 2
    assert plan.warnings == (
        "probe connectivity: interval_seconds 40 is not a multiple of the 15 s cadence: it runs every 30 s",
    )


def test_a_timeout_that_does_not_fit_its_interval_is_warned_about() -> None:
    plan = schedule.plan(0, (timed("resources", 15, timeout=5), timed("slow", 30, timeout=30)))
    assert plan.warnings == (
        "probe slow: timeout_seconds 30 is not below its 30 s interval: its runs may overrun",
    )


def test_an_old_configuration_with_only_agent_interval_runs_every_probe_every_cycle(tmp_path: Path) -> None:
    """Written before probes had intervals, it still means what it meant: everything every 30 s."""
    path = tmp_path / "agent.toml"
    path.write_text("[agent]\ninterval_seconds = 30\n")
    config = load_config(path)
    plan = schedule.plan(config.agent.interval_seconds, bind_probes(config.probes))
    assert plan.legacy
    assert plan.cadence_seconds == 30.0
    assert dict(plan.every) == {"resources": 1, "antivirus": 1, "connectivity": 1}
    # As before: a timeout not below the interval is warned about.
    short = schedule.plan(15, bind_probes(config.probes))
    assert short.warnings == (
        "probe antivirus: timeout_seconds 20 is not below its 15 s interval: its runs may overrun",
    )


def test_probe_intervals_are_read_from_the_configuration(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text("[probes.resources]\ninterval_seconds = 30\n[probes.antivirus]\ninterval_seconds = 600\n")
    config = load_config(path)
    plan = schedule.plan(config.agent.interval_seconds, bind_probes(config.probes))
    assert plan.cadence_seconds == 30.0
    assert dict(plan.every) == {"resources": 1, "antivirus": 20, "connectivity": 2}


@pytest.mark.parametrize("probe", ["resources", "antivirus", "connectivity", "snmp"])
@pytest.mark.parametrize("value", ["0", "-15", "86401", "0.5"])
def test_a_probe_interval_out_of_bounds_is_an_error_naming_the_option(
    tmp_path: Path, probe: str, value: str
) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(f"[probes.{probe}]\ninterval_seconds = {value}\n")
    with pytest.raises(
        ConfigError, match=rf"option probes\.{probe}\.interval_seconds: must be between 1 and 86400"
    ):
        load_config(path)


def test_zero_agent_interval_is_the_default_and_valid(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text("[agent]\ninterval_seconds = 0\n")
    assert load_config(path).agent.interval_seconds == 0 == AgentConfig().agent.interval_seconds


def test_each_probe_runs_once_per_its_interval_from_a_first_cycle_within_it() -> None:
    every = {"resources": 1, "connectivity": 4, "antivirus": 20}
    runs: dict[str, list[int]] = {name: [] for name in every}
    plan = schedule.Schedule(every, random.Random(11))
    for cycle in range(200):
        for name in plan.due(cycle):
            runs[name].append(cycle)
    for name, n in every.items():
        assert 0 <= runs[name][0] < n
        assert all(b - a == n for a, b in zip(runs[name], runs[name][1:], strict=False))
        assert len(runs[name]) == 200 // n


def test_due_probes_keep_the_registry_order() -> None:
    plan = schedule.Schedule({"resources": 1, "antivirus": 1, "connectivity": 1}, random.Random(1))
    assert plan.due(0) == ("resources", "antivirus", "connectivity")


def test_first_runs_are_deterministic_for_a_seed_and_spread_over_the_interval() -> None:
    every = {"antivirus": 20}

    def first(seed: int) -> int:
        plan = schedule.Schedule(every, random.Random(seed))
        return next(cycle for cycle in range(20) if plan.due(cycle))

    assert first(7) == first(7)
    firsts = Counter(first(seed) for seed in range(4130))
    # 4,130 agents started together: every cycle of the 5 minutes gets some, none gets a crowd.
    assert set(firsts) == set(range(20))
    assert max(firsts.values()) < 3 * 4130 / 20


def test_a_probe_whose_cycle_was_skipped_runs_in_the_next_and_keeps_its_grid() -> None:
    plan = schedule.Schedule({"connectivity": 4}, random.Random(0))
    first = next(cycle for cycle in range(4) if plan.due(cycle))
    # A slow cycle made the agent skip the ticks from first + 1 to first + 5.
    assert plan.due(first + 6) == ("connectivity",)
    assert plan.due(first + 7) == ()
    assert plan.due(first + 8) == ("connectivity",)


def test_the_probe_sections_and_intervals_match_the_registry() -> None:
    section = ProbesSection()
    assert section.resources == ResourcesConfig()
    assert (ResourcesConfig().interval_seconds, ConnectivityConfig().interval_seconds) == (15.0, 60.0)
    assert AntivirusConfig().interval_seconds == 300.0
    assert section.snmp.interval_seconds == 60.0


def test_a_cycle_runs_only_the_probes_due() -> None:
    ran: list[str] = []

    def probe(name: str) -> BoundProbe:
        return BoundProbe(name, lambda: ran.append(name) or name, 1.0, 15.0)

    runner = ProbeRunner((probe("resources"), probe("antivirus"), probe("connectivity")))
    outcomes, results = asyncio.run(runner.run_cycle(("connectivity", "resources")))
    assert [o.name for o in outcomes] == ["resources", "connectivity"]  # registry order
    assert sorted(ran) == ["connectivity", "resources"]
    assert results == {"resources": "resources", "connectivity": "connectivity"}
