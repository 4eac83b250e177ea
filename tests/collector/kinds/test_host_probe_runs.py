"""Probes at intervals of their own: each probe's newest outcome and run time kept by name across reports."""

from __future__ import annotations

import pytest

from fleetwatch_collector.fleet import FleetState
from fleetwatch_proto.limits import MAX_PROBES
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.collector.support import NOW_MS, check_metrics, parsed_samples, report, value_of

LAST_RUN = "fleetwatch_agent_probe_last_run_timestamp_seconds"
MINUTE_MS = 60_000


def text_of(fleet: FleetState) -> str:
    return fleet.render()[0].decode()


def probe(name: str, success: bool = True, duration: float = 0.1, error: str = "") -> pb.ProbeResult:
    return pb.ProbeResult(name=name, success=success, duration_seconds=duration, error=error)


def probe_values(text: str, name: str) -> dict[str, float]:
    return {lab["probe"]: v for n, lab, v in parsed_samples(text) if n == name}


def fleet_at(now_ms: int) -> FleetState:
    return FleetState(clock=lambda: now_ms / 1000)


def test_a_probe_that_ran_minutes_ago_keeps_its_outcome_and_time() -> None:
    fleet = fleet_at(NOW_MS + 5 * MINUTE_MS)
    first = report(1, NOW_MS, probes=(probe("resources"), probe("antivirus", False, 2.5, "timeout")))
    fleet.apply("a1", [first])
    # Twenty cycles of 15 s that ran the resources probe only.
    for i in range(2, 22):
        fleet.apply("a1", [report(i, NOW_MS + (i - 1) * 15_000, probes=(probe("resources", duration=0.02),))])
    text = text_of(fleet)
    assert probe_values(text, LAST_RUN) == {
        "resources": (NOW_MS + 20 * 15_000) / 1000,
        "antivirus": NOW_MS / 1000,
    }
    assert value_of(text, "fleetwatch_agent_probe_success", probe="antivirus") == 0
    assert value_of(text, "fleetwatch_agent_probe_duration_seconds", probe="antivirus") == 2.5
    assert value_of(text, "fleetwatch_agent_probe_duration_seconds", probe="resources") == 0.02


def test_a_newer_run_replaces_the_outcome_and_the_time() -> None:
    fleet = fleet_at(NOW_MS + MINUTE_MS)
    fleet.apply("a1", [report(1, NOW_MS, probes=(probe("antivirus", False),))])
    fleet.apply("a1", [report(2, NOW_MS + 15_000, probes=())])  # a cycle that ran no probe
    assert value_of(text_of(fleet), LAST_RUN, probe="antivirus") == NOW_MS / 1000
    fleet.apply("a1", [report(3, NOW_MS + 30_000, probes=(probe("antivirus", True),))])
    text = text_of(fleet)
    assert value_of(text, "fleetwatch_agent_probe_success", probe="antivirus") == 1
    assert value_of(text, LAST_RUN, probe="antivirus") == (NOW_MS + 30_000) / 1000


def test_a_backlog_gives_each_probe_the_time_of_the_newest_report_that_carried_it() -> None:
    """A drained spool arrives in one Push, oldest first: each run keeps its own report's time."""
    fleet = fleet_at(NOW_MS + 10 * MINUTE_MS)
    backlog = [
        report(1, NOW_MS, probes=(probe("resources"), probe("connectivity", False))),
        report(2, NOW_MS + 15_000, probes=(probe("resources"),)),
        report(3, NOW_MS + 60_000, probes=(probe("resources"), probe("connectivity", True))),
        report(4, NOW_MS + 75_000, probes=(probe("resources", False),)),
    ]
    fleet.apply("a1", backlog)
    text = text_of(fleet)
    assert probe_values(text, LAST_RUN) == {
        "resources": (NOW_MS + 75_000) / 1000,
        "connectivity": (NOW_MS + 60_000) / 1000,
    }
    assert probe_values(text, "fleetwatch_agent_probe_success") == {"resources": 0, "connectivity": 1}


def test_a_name_repeated_in_one_report_keeps_its_first_outcome() -> None:
    fleet = fleet_at(NOW_MS)
    fleet.apply("a1", [report(1, NOW_MS, probes=(probe("resources", True), probe("resources", False)))])
    text = text_of(fleet)
    assert value_of(text, "fleetwatch_agent_probe_success", probe="resources") == 1
    assert len([n for n, _, _ in parsed_samples(text) if n == LAST_RUN]) == 1


def test_the_probes_kept_are_bounded_the_longest_silent_going_first() -> None:
    """An agent naming a new probe in every report cannot grow the collector's memory or series."""
    fleet = fleet_at(NOW_MS + 100 * MINUTE_MS)
    for i in range(MAX_PROBES + 5):
        fleet.apply("a1", [report(i + 1, NOW_MS + i * 1000, probes=(probe(f"p{i}"),))])
    names = set(probe_values(text_of(fleet), LAST_RUN))
    assert names == {f"p{i}" for i in range(5, MAX_PROBES + 5)}
    assert len(fleet.get("a1").states["host"].runs) == MAX_PROBES  # type: ignore[union-attr]


def test_agents_keep_their_own_probe_runs() -> None:
    fleet = fleet_at(NOW_MS + MINUTE_MS)
    fleet.apply("a1", [report(1, NOW_MS, probes=(probe("antivirus"),))])
    fleet.apply("a2", [report(1, NOW_MS + 1000, probes=(probe("resources"),))])
    text = text_of(fleet)
    by_agent = {(lab["agent_id"], lab["probe"]): v for n, lab, v in parsed_samples(text) if n == LAST_RUN}
    assert by_agent == {("a1", "antivirus"): NOW_MS / 1000, ("a2", "resources"): (NOW_MS + 1000) / 1000}


@pytest.mark.peer("promtool")
def test_the_exposition_with_probe_run_times_passes_promtool(promtool: str) -> None:
    fleet = fleet_at(NOW_MS + MINUTE_MS)
    fleet.apply("a1", [report(1, NOW_MS, probes=(probe("resources"), probe("antivirus", False)))])
    fleet.apply("a1", [report(2, NOW_MS + 15_000, probes=(probe("resources"),))])
    result = check_metrics(promtool, text_of(fleet))
    assert result.returncode == 0, result.stdout + result.stderr
