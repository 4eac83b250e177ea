"""The agent's side of a confirmation: what changes its word, how the next cycle is spread, and the
probes rebuilt for a new configuration keeping a hung call."""

from __future__ import annotations

import asyncio
import random
import threading
from pathlib import Path

from fleetwatch_agent.centralstate import CONFIRM_SPREAD_MAX_SECONDS, CentralState, confirm_delay
from fleetwatch_agent.runner import BoundProbe, ProbeRunner
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb


def test_the_confirmation_is_spread_over_a_tenth_of_the_interval_at_most_ten_seconds() -> None:
    rng = random.Random(7)
    short = [confirm_delay(10.0, rng) for _ in range(2000)]
    assert 0.0 <= min(short) < 0.05 and 0.95 < max(short) <= 1.0
    long = [confirm_delay(3600.0, rng) for _ in range(2000)]
    assert max(long) <= CONFIRM_SPREAD_MAX_SECONDS and max(long) > CONFIRM_SPREAD_MAX_SECONDS * 0.95
    assert len(set(short)) == len(short)  # not one moment for everyone


def test_only_a_new_decision_changes_what_the_agent_says(tmp_path: Path) -> None:
    state = CentralState(tmp_path, {}, save=None)
    good = pb.AgentConfig(version="v1", interval_seconds=30)
    bad = pb.AgentConfig(version="v2")
    bad.targets.add(name="resolver", kind=pb.PROBE_KIND_DNS, address="127.0.0.1")  # no dns_name
    assert state.said == ("", "", "")
    assert state.offer(good) is not None
    assert state.said == ("v1", "", "")
    assert state.offer(good) is None and state.said == ("v1", "", "")  # offered again: nothing new
    assert state.offer(bad) is None
    version, refused, reason = state.said
    assert (version, refused) == ("v1", "v2") and reason
    assert state.offer(bad) is None and state.said == (version, refused, reason)


def test_a_rebuilt_runner_keeps_the_hung_call_and_its_age() -> None:
    release = threading.Event()
    calls: list[int] = []

    def hung() -> object:
        calls.append(1)
        release.wait(30.0)
        return None

    clock = [100.0]

    async def scenario() -> tuple[str, str, dict[str, float]]:
        runner = ProbeRunner(
            (BoundProbe("stuck", hung, 0.05), BoundProbe("ok", lambda: {}, 1.0)), lambda: clock[0]
        )
        await runner.run_cycle()
        clock[0] += 42.0
        rebuilt = runner.rebuilt((BoundProbe("stuck", hung, 0.05), BoundProbe("other", lambda: {}, 1.0)))
        outcomes, _ = await rebuilt.run_cycle()
        errors = {o.name: o.error for o in outcomes}
        return errors["stuck"], errors["other"], rebuilt.stuck()

    try:
        stuck, other, ages = asyncio.run(scenario())
    finally:
        release.set()
    assert stuck == "timeout: still running since 42s" and other == ""
    assert ages == {"stuck": 42.0} and len(calls) == 1
