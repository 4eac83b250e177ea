"""The probe runner: isolation of failures, timeouts and hung calls, probe binding, jittered ticks."""

from __future__ import annotations

import asyncio
import random
import re
import threading
import time
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
from fleetwatch_agent.runner import (
    MAX_ERROR_CHARS,
    BoundProbe,
    DaemonCall,
    ProbeRunner,
    bind_probes,
    first_tick,
    next_tick,
    run_cycle,
)
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
    assert by_name["hanging"].error == "timeout: no result after 0.05s"
    assert results == {"good": {"value": 42}}
    assert all(o.duration_seconds >= 0.0 for o in outcomes)


class Hung:
    """A collect function that blocks until released, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = threading.Event()

    def __call__(self) -> object:
        self.calls += 1
        self.release.wait(30.0)
        return {"late": True}


def test_a_hung_probe_is_skipped_while_it_runs_and_the_others_go_on() -> None:
    hung = Hung()
    ok_calls: list[int] = []
    probes = (
        BoundProbe("stuck", hung, 0.05),
        BoundProbe("good", lambda: ok_calls.append(1) or {"ok": len(ok_calls)}, 1.0),
    )

    async def cycles() -> list[tuple[tuple[ProbeOutcome, ...], dict[str, object]]]:
        runner = ProbeRunner(probes)
        try:
            done = [await runner.run_cycle()]
            await asyncio.sleep(1.1)
            done.append(await runner.run_cycle())
            assert set(runner.stuck()) == {"stuck"}
            hung.release.set()  # the hung call returns at last: its late result is not used
            await asyncio.sleep(0.2)
            done.append(await runner.run_cycle())
            assert runner.stuck() == {}
            return done
        finally:
            hung.release.set()
            runner.close()

    first, second, third = asyncio.run(cycles())
    assert first[0][0] == ProbeOutcome("stuck", False, first[0][0].duration_seconds, first[0][0].error)
    assert first[0][0].error == "timeout: no result after 0.05s"
    # The second cycle does not start the probe again: one stuck thread at most.
    assert second[0][0].success is False
    since = re.fullmatch(r"timeout: still running since (\d+)s", second[0][0].error)
    assert since is not None, second[0][0].error
    assert int(since.group(1)) >= 1
    assert second[0][0].duration_seconds == 0.0
    assert hung.calls == 2  # once hung, once again after it returned (third cycle)
    assert third[0][0].success is True
    assert third[1]["stuck"] == {"late": True}
    # The good probe ran and succeeded every cycle.
    assert [cycle[0][1].success for cycle in (first, second, third)] == [True, True, True]
    assert [cycle[1]["good"] for cycle in (first, second, third)] == [{"ok": 1}, {"ok": 2}, {"ok": 3}]


def probe_threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"probe-{name}"]


def test_probe_threads_are_daemons_so_a_hung_call_never_delays_exit() -> None:
    hung = Hung()

    async def one_cycle() -> None:
        await run_cycle((BoundProbe("stuck", hung, 0.05),))

    before = set(probe_threads("stuck"))  # other tests' hung probes may still wait
    started = time.monotonic()
    try:
        # asyncio.to_thread's executor is joined when the loop shuts down: this would hang 30 s.
        asyncio.run(one_cycle())
        elapsed = time.monotonic() - started
        (thread,) = [t for t in probe_threads("stuck") if t not in before]
        assert thread.daemon
    finally:
        hung.release.set()
    assert elapsed < 5.0


def test_each_probe_runs_in_one_thread_of_its_own_until_the_runner_closes() -> None:
    seen: dict[str, set[int]] = {"a": set(), "b": set()}

    def recording(name: str) -> Callable[[], object]:
        def collect() -> object:
            seen[name].add(threading.get_ident())
            return {}

        return collect

    async def cycles() -> ProbeRunner:
        runner = ProbeRunner((BoundProbe("a", recording("a"), 1.0), BoundProbe("b", recording("b"), 1.0)))
        for _ in range(5):
            outcomes, _ = await runner.run_cycle()
            assert all(o.success for o in outcomes)
        assert [len(probe_threads(name)) for name in ("a", "b")] == [1, 1]
        assert all(t.daemon for t in probe_threads("a") + probe_threads("b"))
        # A new configuration without "b": its thread ends, "a" keeps its own.
        rebuilt = runner.rebuilt((BoundProbe("a", recording("a"), 1.0),))
        await rebuilt.run_cycle()
        rebuilt.close()
        return rebuilt

    asyncio.run(cycles())
    assert len(seen["a"]) == 1 and len(seen["b"]) == 1  # one thread each, for every call
    assert seen["a"] != seen["b"]
    deadline = time.monotonic() + 5.0
    while (probe_threads("a") or probe_threads("b")) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert probe_threads("a") == [] and probe_threads("b") == []


def test_a_hung_probe_keeps_its_thread_across_a_rebuild_and_is_not_started_twice() -> None:
    hung = Hung()
    before = set(probe_threads("stuck"))

    async def cycles() -> tuple[ProbeOutcome, ProbeOutcome]:
        runner = ProbeRunner((BoundProbe("stuck", hung, 0.05),))
        try:
            (first,), _ = await runner.run_cycle()
            runner = runner.rebuilt((BoundProbe("stuck", hung, 0.05),))
            (second,), _ = await runner.run_cycle()
            assert len(set(probe_threads("stuck")) - before) == 1
            return first, second
        finally:
            hung.release.set()
            runner.close()

    first, second = asyncio.run(cycles())
    assert first.error == "timeout: no result after 0.05s"
    assert second.error.startswith("timeout: still running since")
    assert hung.calls == 1


def test_daemon_call_hands_back_the_exception_of_its_function() -> None:
    def broken() -> object:
        raise OSError("device not ready")

    async def call() -> object:
        return await DaemonCall(broken, "io").result(5.0)

    with pytest.raises(OSError, match="device not ready"):
        asyncio.run(call())


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


def test_every_probe_of_the_registry_enabled_by_default_is_bound_by_default() -> None:
    default_on = [d.name for d in PROBES if d.config_type().enabled]
    assert [p.name for p in bind_probes(ProbesSection())] == default_on
    assert "snmp" not in default_on  # workstations do not poll routers


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
    interval_seconds: float = 60.0

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


def test_a_cycle_of_one_due_probe_times_it_out_and_reports_it_alone() -> None:
    hung = Hung()
    probes = (BoundProbe("stuck", hung, 0.05), BoundProbe("good", lambda: {"ok": 1}, 1.0))

    async def cycle() -> tuple[tuple[ProbeOutcome, ...], dict[str, object]]:
        runner = ProbeRunner(probes)
        try:
            return await runner.run_cycle(["stuck"])  # one due probe: awaited without a gather
        finally:
            hung.release.set()
            runner.close()

    outcomes, results = asyncio.run(cycle())
    assert [(o.name, o.success, o.error) for o in outcomes] == [
        ("stuck", False, "timeout: no result after 0.05s")
    ]
    assert results == {}


def test_a_daemon_call_whose_waiter_was_cancelled_settles_quietly_when_its_thread_returns() -> None:
    release = threading.Event()
    problems: list[dict[str, Any]] = []

    async def main() -> bool:
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: problems.append(context))
        call: DaemonCall[bool] = DaemonCall(lambda: release.wait(5.0), "test-call")
        waiter = asyncio.ensure_future(call.result())
        await asyncio.sleep(0.05)
        waiter.cancel()  # the agent stops while the call runs
        with pytest.raises(asyncio.CancelledError):
            await waiter
        running_then = call.running
        release.set()
        for _ in range(100):  # the thread returns and hands its outcome to the loop
            if not call.running:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        return running_then and not call.running

    assert asyncio.run(main()) is True
    assert problems == []  # no "exception never retrieved", no InvalidStateError from a late settle
