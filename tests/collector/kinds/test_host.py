"""The host kind: probe names and durations validated, one series per probe, queue figures kept."""

from __future__ import annotations

import pytest

from fleetwatch_collector.fleet import FleetState
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.collector.support import NOW_MS, parsed_samples, refused, report, valid_report, value_of


def text_of(fleet: FleetState) -> str:
    return fleet.render()[0].decode()


def _probe_named(name: str) -> pb.Report:
    r = valid_report(2)
    r.probes[0].name = name
    return r


@pytest.mark.parametrize("name", ["Resources", "9probe", "anti-virus", "", "p" * 33, 'x"}', "resources\n"])
def test_probe_name_invalid(name: str) -> None:
    rejection = refused(_probe_named(name))
    assert rejection.reason == "invalid_label"
    assert str(rejection).startswith("reports[1].probes[0].name: ")
    assert "is not a probe name" in str(rejection)


@pytest.mark.parametrize("duration", [-0.001, float("nan"), float("inf")])
def test_probe_duration_invalid(duration: float) -> None:
    r = valid_report(2)
    r.probes[1].duration_seconds = duration
    rejection = refused(r)
    assert rejection.reason == "invalid_value"
    assert (
        str(rejection) == f"reports[1].probes[1].duration_seconds: {duration} is not a number in [0, 86400]"
    )


def test_repeated_probe_name_gives_one_series() -> None:
    """Repeated results of one probe in a report give one series per probe name."""
    fleet = FleetState(clock=lambda: NOW_MS / 1000)
    probes = (
        pb.ProbeResult(name="resources", success=True, duration_seconds=0.1),
        pb.ProbeResult(name="resources", success=False, duration_seconds=0.2),
    )
    fleet.apply("a1", [report(1, probes=probes)])
    keys = [(n, tuple(sorted(lab.items()))) for n, lab, _ in parsed_samples(text_of(fleet))]
    assert len(keys) == len(set(keys)), "duplicate series in the exposition"


def test_probes_and_spool_come_from_the_newest_report_that_has_them() -> None:
    fleet = FleetState(clock=lambda: NOW_MS / 1000)
    first = report(1, probes=(pb.ProbeResult(name="resources", success=True),))
    first.spool.queued_reports = 9
    fleet.apply("a1", [first, report(2, NOW_MS + 15_000)])  # seq 2 ran no probe and sent no spool
    text = text_of(fleet)
    assert value_of(text, "fleetwatch_agent_probe_success", probe="resources") == 1
    assert value_of(text, "fleetwatch_agent_spool_reports") == 9
    third = report(3, NOW_MS + 30_000, probes=(pb.ProbeResult(name="antivirus", success=False),))
    fleet.apply("a1", [third])
    samples = parsed_samples(text_of(fleet))
    names = {lab["probe"] for n, lab, _ in samples if n.startswith("fleetwatch_agent_probe")}
    # Probes run at intervals of their own: each keeps its newest outcome (test_host_probe_runs.py).
    assert names == {"antivirus", "resources"}
