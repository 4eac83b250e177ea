"""The probe runner: per-probe isolation of failures and timeouts, probe binding, jittered ticks."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fleetwatch_agent.config import ProbesSection, probes_section
from fleetwatch_agent.probes import PROBES, ProbeDefinition
from fleetwatch_agent.probes.antivirus import AntivirusConfig
from fleetwatch_agent.probes.connectivity import ConnectivityConfig
from fleetwatch_agent.probes.context import ProbeContext
from fleetwatch_agent.probes.resources import ResourcesConfig
from fleetwatch_agent.report import ProbeOutcome
from fleetwatch_agent.runner import MAX_ERROR_CHARS, BoundProbe, bind_probes, first_tick, next_tick, run_cycle
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb


def run(probes: tuple[BoundProbe, ...]) -> tuple[tuple[ProbeOutcome, ...], dict[str, object]]:
    return asyncio.run(run_cycle(probes))


def test_failing_and_hanging_probes_do_not_hide_the_good_one() -> None:
    release = threading.Event()

    def broken() -> object:
        raise KeyError("no such counter")

    def hanging() -> object:
        release.wait(10.0)
        return "too late"

    async def cycle() -> tuple[tuple[ProbeOutcome, ...], dict[str, object]]:
        try:
            return await run_cycle(
                (
                    BoundProbe("broken", broken, 1.0),
                    BoundProbe("good", lambda: {"value": 42}, 1.0),
                    BoundProbe("hanging", hanging, 0.05),
                )
            )
        finally:
            release.set()  # let the abandoned worker thread finish

    outcomes, results = asyncio.run(cycle())
    by_name = {o.name: o for o in outcomes}
    assert [o.name for o in outcomes] == ["broken", "good", "hanging"]
    assert by_name["good"].success is True
    assert by_name["good"].error == ""
    assert by_name["broken"].success is False
    assert by_name["broken"].error.startswith("KeyError: ")
    assert "no such counter" in by_name["broken"].error
    assert by_name["hanging"].success is False
    assert "timed out" in by_name["hanging"].error
    assert "0.05s" in by_name["hanging"].error
    assert results == {"good": {"value": 42}}
    assert all(o.duration_seconds >= 0.0 for o in outcomes)


def test_long_error_texts_are_truncated() -> None:
    def verbose() -> object:
        raise RuntimeError("x" * 1000)

    (outcome,), results = run((BoundProbe("verbose", verbose, 1.0),))
    assert outcome.success is False
    assert len(outcome.error) == MAX_ERROR_CHARS
    assert outcome.error.startswith("RuntimeError: xxx")
    assert results == {}


def test_empty_cycle() -> None:
    assert run(()) == ((), {})


NO_ANTIVIRUS = AntivirusConfig(enabled=False)
NO_CONNECTIVITY = ConnectivityConfig(enabled=False)


def test_bind_probes_skips_disabled_probes() -> None:
    section = ProbesSection(
        resources=ResourcesConfig(enabled=False), antivirus=NO_ANTIVIRUS, connectivity=NO_CONNECTIVITY
    )
    assert bind_probes(section) == ()


def test_every_probe_of_the_registry_is_bound_by_default() -> None:
    assert [p.name for p in bind_probes(ProbesSection())] == [d.name for d in PROBES]


def test_bind_probes_builds_enabled_probes_with_their_timeout() -> None:
    section = ProbesSection(
        resources=ResourcesConfig(timeout_seconds=2.5), antivirus=NO_ANTIVIRUS, connectivity=NO_CONNECTIVITY
    )
    (probe,) = bind_probes(section, registry=PROBES)
    assert probe.name == "resources"
    assert probe.timeout_seconds == 2.5
    assert isinstance(probe.collect(), pb.Resources)


@dataclass(frozen=True)
class FakeConfig:
    enabled: bool = True
    timeout_seconds: float = 1.0

    def validate(self) -> None:
        pass


def test_bind_probes_follows_the_registry_order_and_each_config(tmp_path: Path) -> None:
    configs = {"a": FakeConfig(True, 1.0), "b": FakeConfig(False, 2.0), "c": FakeConfig(True, 3.0)}
    context = ProbeContext(tmp_path, cursors={"c.position": "42"})

    def definition(name: str) -> ProbeDefinition[FakeConfig, Any]:
        def make_collector(config: FakeConfig, given: ProbeContext) -> Callable[[], object]:
            return lambda: (name, config, given)

        return ProbeDefinition(name, FakeConfig, make_collector, lambda _r, _m: None, lambda _r, _n: [])

    registry = tuple(definition(name) for name in ("a", "b", "c"))
    section = probes_section(registry)(**configs)
    bound = bind_probes(section, context, registry)
    assert [(p.name, p.timeout_seconds) for p in bound] == [("a", 1.0), ("c", 3.0)]
    assert bound[1].collect() == ("c", configs["c"], context)


@pytest.mark.parametrize("interval", [1.0, 15.0, 3600.0])
def test_first_tick_is_within_one_interval(interval: float) -> None:
    now = 12_345.0
    ticks = [first_tick(now, interval, random.Random(seed)) for seed in range(2000)]
    assert all(now <= t < now + interval for t in ticks)
    # The phases are spread, not clustered: both halves of the interval are used.
    assert min(ticks) < now + interval * 0.1
    assert max(ticks) > now + interval * 0.9


def test_first_tick_is_reproducible_for_a_seed() -> None:
    assert first_tick(100.0, 15.0, random.Random(7)) == first_tick(100.0, 15.0, random.Random(7))


def test_next_tick_keeps_the_cadence_when_on_time() -> None:
    assert next_tick(previous_tick=100.0, now=103.2, interval=15.0) == 115.0


def test_next_tick_skips_missed_ticks() -> None:
    # A cycle that ran from 100 to 147 missed the ticks at 115, 130 and 145.
    assert next_tick(previous_tick=100.0, now=147.0, interval=15.0) == 160.0


def test_next_tick_exactly_on_a_tick_goes_to_the_following_one() -> None:
    assert next_tick(previous_tick=100.0, now=115.0, interval=15.0) == 130.0


def test_next_tick_is_always_after_now_and_on_the_grid() -> None:
    rng = random.Random(3)
    for _ in range(1000):
        previous = rng.uniform(0, 1000)
        interval = float(rng.randint(1, 60))
        now = previous + rng.uniform(0, 10 * interval)
        tick = next_tick(previous, now, interval)
        assert now < tick <= now + interval
        steps = (tick - previous) / interval
        assert steps == pytest.approx(round(steps))
