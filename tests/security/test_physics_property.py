"""Property: whatever numbers a report carries, an accepted report renders only finite, in-range values
(ratios in 0..1, durations, round trips and times not negative, counters not negative), and the
whole exposition passes `promtool check metrics`."""

from __future__ import annotations

import math
import subprocess
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.validate import Limits, Rejection, validate_push
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

NOW_MS = int(time.time() * 1000)
LIMITS = Limits()
SETTINGS = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
ANY_FLOAT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-9, 0.5, 1.0, 1.0000001, -1.0, 86400.0, 86400.5, 1e300]),
)
ANY_I64 = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, -1, NOW_MS, NOW_MS - 60_000, NOW_MS + 600_000, 18 * 10**15]),
)
ANY_U32 = st.integers(0, 2**32 - 1)
SMALL_U32 = st.one_of(st.integers(0, 8), ANY_U32)


@st.composite
def reports(draw: st.DrawFn) -> pb.Report:
    collected = draw(st.integers(NOW_MS - 86_400_000, NOW_MS + 60_000))
    report = pb.Report(
        seq=draw(st.one_of(st.integers(1, 10**6), st.integers(1, 2**63 - 1))),
        collected_unix_ms=collected,
        interval_seconds=60,
    )
    report.host.hostname = "pc-1"
    for i in range(draw(st.integers(0, 3))):
        report.probes.add(name=f"probe{i}", success=draw(st.booleans()), duration_seconds=draw(ANY_FLOAT))
    if draw(st.booleans()):
        report.resources.cpu_utilization_ratio = draw(ANY_FLOAT)
        report.resources.load.load1 = draw(ANY_FLOAT)
    for i in range(draw(st.integers(0, 3))):
        target = report.connectivity.targets.add(
            name=f"t{i}",
            kind=draw(st.integers(0, 5)),
            success=draw(st.booleans()),
            sent=draw(SMALL_U32),
            received=draw(SMALL_U32),
            rtt_min_seconds=draw(ANY_FLOAT),
            rtt_avg_seconds=draw(ANY_FLOAT),
            rtt_max_seconds=draw(ANY_FLOAT),
            jitter_seconds=draw(ANY_FLOAT),
            tls_cert_not_after_unix=draw(ANY_I64),
            http_status=draw(st.sampled_from([0, 200, 503])),
        )
        if draw(st.booleans()):
            target.tls_cert_days_left = draw(ANY_FLOAT)
    for i in range(draw(st.integers(0, 3))):
        start, end = draw(ANY_I64), draw(ANY_I64)
        report.events.add(
            time_unix_ms=draw(st.one_of(st.just(collected), ANY_I64)),
            outage=pb.Outage(target=f"t{i}", start_unix_ms=start, end_unix_ms=end),
        )
    if draw(st.booleans()):
        product = report.antivirus.products.add(name="av", state=draw(st.integers(0, 8)))
        product.signature_updated_unix = draw(ANY_I64)
        product.last_full_scan_unix = draw(ANY_I64)
    return report


def accepted(report: pb.Report) -> bool:
    try:
        validate_push(pb.PushRequest(reports=[report]), NOW_MS, LIMITS, NOW_MS - 86_400_000 * 8)
    except Rejection:
        return False
    return True


def check_values(text: str) -> None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, value = sample.name, sample.value
            assert math.isfinite(value), sample
            if name.endswith("_ratio"):
                assert 0.0 <= value <= 1.0, sample
            if name.endswith(("_seconds", "_seconds_total", "_total", "_bytes")):
                assert value >= 0.0, sample


@SETTINGS
@given(report=reports())
def test_an_accepted_report_renders_only_finite_in_range_values(report: pb.Report) -> None:
    if not accepted(report):
        return
    fleet = FleetState()
    fleet.apply("agent-1", [report])
    text, _, _ = fleet.render()
    check_values(text.decode())


def test_accepted_reports_together_pass_promtool(promtool: str) -> None:
    fleet = FleetState()
    count = 0

    @settings(SETTINGS, max_examples=200)
    @given(report=reports())
    def collect(report: pb.Report) -> None:
        nonlocal count
        if accepted(report):
            fleet.apply(f"agent-{count}", [report])
            count += 1

    collect()
    assert count >= 10, f"only {count} reports accepted: the strategy is off"
    text, _, _ = fleet.render()
    check_values(text.decode())
    check = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, timeout=60, check=False
    )
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
