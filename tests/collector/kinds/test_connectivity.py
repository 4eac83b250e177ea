"""Connectivity in the collector: per-target series, failure reasons, outage counters exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.store import Store
from fleetwatch_collector.validate import Limits, Rejection, validate_push
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.collector.support import NOW_MS, check_metrics, full_report, parsed_samples, value_of

NOT_AFTER = 1_767_225_600  # 2026-01-01T00:00:00Z: the portal's certificate


def with_connectivity(r: pb.Report, *, gateway_up: bool = True) -> pb.Report:
    r.connectivity.targets.add(
        name="gateway", kind=pb.PROBE_KIND_ICMP, role="gateway", success=gateway_up, sent=5,
        received=5 if gateway_up else 0, rtt_min_seconds=0.001, rtt_avg_seconds=0.002,
        rtt_max_seconds=0.004, jitter_seconds=0.0005,
        error=pb.PROBE_ERROR_NONE if gateway_up else pb.PROBE_ERROR_TIMEOUT,
        path_diagnosed=not gateway_up, path_hops=1, path_last_hop="10.0.0.1",
    )  # fmt: skip
    target = r.connectivity.targets.add(
        name="portal", kind=pb.PROBE_KIND_HTTP, role="custom", success=False, sent=1, received=1,
        error=pb.PROBE_ERROR_HTTP_STATUS, http_status=503,
    )  # fmt: skip
    target.tls_cert_not_after_unix = NOT_AFTER
    return r


def outage(target: str, start_ms: int, end_ms: int) -> pb.Event:
    return pb.Event(
        time_unix_ms=end_ms, outage=pb.Outage(target=target, start_unix_ms=start_ms, end_unix_ms=end_ms)
    )


def render(fleet: FleetState) -> str:
    return fleet.render()[0].decode()


def test_targets_render_with_their_state_and_measurements(promtool: str) -> None:
    fleet = FleetState(clock=lambda: NOW_MS / 1000)
    fleet.apply("a1", [with_connectivity(full_report(1))])
    text = render(fleet)
    assert value_of(text, "fleetwatch_connectivity_up", target="gateway", kind="icmp", role="gateway") == 1
    assert value_of(text, "fleetwatch_connectivity_rtt_seconds", target="gateway") == 0.002
    assert value_of(text, "fleetwatch_connectivity_loss_ratio", target="gateway") == 0
    assert value_of(text, "fleetwatch_connectivity_up", target="portal", kind="http") == 0
    assert value_of(text, "fleetwatch_connectivity_failure_info", target="portal", reason="http_status") == 1
    assert value_of(text, "fleetwatch_connectivity_http_status_code", target="portal") == 503
    assert (
        value_of(text, "fleetwatch_connectivity_tls_cert_not_after_timestamp_seconds", target="portal")
        == NOT_AFTER
    )
    names = {name for name, _, _ in parsed_samples(text)}
    assert "fleetwatch_connectivity_path_hops" not in names  # no traceroute while the gateway is up
    assert "10.0.0.1" not in text  # addresses from the wire are never label values
    assert check_metrics(promtool, text).returncode == 0


def test_a_failing_target_shows_its_reason_and_path_but_no_latency() -> None:
    fleet = FleetState(clock=lambda: NOW_MS / 1000)
    fleet.apply("a1", [with_connectivity(full_report(1), gateway_up=False)])
    text = render(fleet)
    assert value_of(text, "fleetwatch_connectivity_failure_info", target="gateway", reason="timeout") == 1
    assert value_of(text, "fleetwatch_connectivity_loss_ratio", target="gateway") == 1
    assert value_of(text, "fleetwatch_connectivity_path_hops", target="gateway") == 1
    assert not [
        n
        for n, lab, _ in parsed_samples(text)
        if n == "fleetwatch_connectivity_rtt_seconds" and lab["target"] == "gateway"
    ]


def test_the_certificate_expiry_is_its_time_not_the_time_left() -> None:
    """Time left: this - time() in PromQL, which keeps shrinking while the agent is silent."""
    clock = [NOW_MS / 1000]
    fleet = FleetState(clock=lambda: clock[0])
    fleet.apply("a1", [with_connectivity(full_report(1))])
    name = "fleetwatch_connectivity_tls_cert_not_after_timestamp_seconds"
    text = render(fleet)
    assert value_of(text, name, target="portal") == NOT_AFTER
    assert f'target="portal"}} {NOT_AFTER}\n' in text  # the integer as is, no exponent
    assert not [lab for n, lab, _ in parsed_samples(text) if n == name and lab["target"] == "gateway"]
    clock[0] += 30 * 86400  # a month of silence: the same notAfter
    assert value_of(render(fleet), name, target="portal") == NOT_AFTER


def test_an_older_agent_sending_days_left_gets_its_expiry_from_the_collection_time() -> None:
    """Agents before tls_cert_not_after_unix send only the deprecated days left at check time."""
    fleet = FleetState(clock=lambda: NOW_MS / 1000)
    r = with_connectivity(full_report(1))
    portal = r.connectivity.targets[1]
    portal.ClearField("tls_cert_not_after_unix")
    portal.tls_cert_days_left = 30.5
    fleet.apply("a1", [r])
    text = render(fleet)
    name = "fleetwatch_connectivity_tls_cert_not_after_timestamp_seconds"
    assert value_of(text, name, target="portal") == NOW_MS / 1000 + 30.5 * 86400
    r.seq = 2
    portal.tls_cert_not_after_unix = NOT_AFTER  # both: the time wins
    fleet.apply("a1", [r])
    assert value_of(render(fleet), name, target="portal") == NOT_AFTER


def test_outage_seconds_are_counted_once_across_replays_and_restarts(tmp_path: Path) -> None:
    fleet = FleetState(clock=lambda: NOW_MS / 1000)
    first = full_report(1)
    first.events.append(outage("gateway", NOW_MS - 120_000, NOW_MS - 30_000))
    second = full_report(2)
    second.events.append(outage("gateway", NOW_MS - 20_000, NOW_MS - 10_000))
    fleet.apply("a1", [second, first], oldest_held_seq=1)  # newest first, as agents send
    fleet.apply("a1", [first, second])  # a resend: duplicates
    text = render(fleet)
    assert value_of(text, "fleetwatch_connectivity_outages_total", target="gateway") == 2
    assert value_of(text, "fleetwatch_connectivity_outage_seconds_total", target="gateway") == 100
    store = Store(tmp_path / "collector.sqlite")
    store.save_agents([fleet.snapshot("a1")])
    restarted = FleetState(clock=lambda: NOW_MS / 1000)
    restarted.restore(store.load_agents())
    restarted.apply("a1", [first, second])
    third = full_report(3)
    third.events.append(outage("gateway", NOW_MS - 5_000, NOW_MS))
    restarted.apply("a1", [third])
    store.close()
    text = render(restarted)
    assert value_of(text, "fleetwatch_connectivity_outages_total", target="gateway") == 3
    assert value_of(text, "fleetwatch_connectivity_outage_seconds_total", target="gateway") == 105


def test_target_names_and_outage_targets_are_validated_as_labels() -> None:
    bad = full_report(1)
    bad.connectivity.targets.add(name="Bad Name\n", kind=pb.PROBE_KIND_ICMP)
    with pytest.raises(Rejection) as info:
        validate_push(pb.PushRequest(reports=[bad]), NOW_MS, Limits())
    assert info.value.reason == "invalid_label"
    assert "connectivity.targets[0].name" in str(info.value)
    event = full_report(1)
    event.events.append(outage('x"}', 1, 2))
    with pytest.raises(Rejection, match=r"events\[0\]\.outage\.target"):
        validate_push(pb.PushRequest(reports=[event]), NOW_MS, Limits())
