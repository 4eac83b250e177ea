"""Property tests of the collector's Push path: decoding, validation and exposition never fail on input.

(i)   arbitrary bytes and mutated valid PushRequests: `_decode` + `validate_push` raise Rejection or nothing;
(ii)  PushRequests from strategies (hostile texts, non-finite floats, huge counters, counts up to the limits)
      are refused with Rejection, or render to text that prometheus_client parses back to the same values;
(iii) the render of every accepted example together passes `promtool check metrics`.
Over real gRPC: test_fuzz_push_grpc.py; the strategies: push_strategies.py.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import grpc
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.persist import Persister
from fleetwatch_collector.selfmetrics import CollectorMetrics
from fleetwatch_collector.service import CollectorService
from fleetwatch_collector.store import Store
from fleetwatch_collector.validate import Rejection, validate_push
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.integration.push_strategies import (
    FUZZ_SETTINGS,
    LIMITS,
    NOW_MS,
    VALID,
    mutated,
    push_requests,
)

# ---------------------------------------------------------------------------------------------------
# (i) decoding and validation raise Rejection or nothing


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorService]:
    store = Store(tmp_path_factory.mktemp("fuzz") / "collector.sqlite")
    persister = Persister(store)
    try:
        yield CollectorService(FleetState(), CollectorMetrics(), LIMITS, store, persister)
    finally:
        persister.close()
        store.close()


def decode_and_validate(service: CollectorService, raw: bytes) -> pb.PushRequest | None:
    """The request, or None when refused with Rejection; any other exception fails the test."""
    try:
        request = service._decode(raw)
        validate_push(request, NOW_MS, LIMITS)
    except Rejection as rejection:
        assert rejection.reason, "a Rejection without a reason label"
        assert rejection.code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED)
        event(f"refused: {rejection.reason}")
        return None
    event("accepted")
    return request


def test_valid_request_is_accepted(service: CollectorService) -> None:
    """The base of the mutations is valid, so the mutations start from the accepted path."""
    validate_push(service._decode(VALID), NOW_MS, LIMITS)


@FUZZ_SETTINGS
@given(raw=st.binary(max_size=2048))
def test_arbitrary_bytes_raise_only_rejection(service: CollectorService, raw: bytes) -> None:
    decode_and_validate(service, raw)


@FUZZ_SETTINGS
@given(raw=mutated())
def test_mutated_requests_raise_only_rejection(service: CollectorService, raw: bytes) -> None:
    decode_and_validate(service, raw)


def test_oversized_bytes_are_resource_exhausted(service: CollectorService) -> None:
    with pytest.raises(Rejection) as info:
        service._decode(VALID + b"\x00" * LIMITS.max_message_bytes)
    assert info.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED


# ---------------------------------------------------------------------------------------------------
# (ii) accepted requests render to parseable text with the values sent


def parse(text: bytes) -> list[Sample]:
    decoded = text.decode("utf-8")  # strict: the exposition must be valid UTF-8
    return [s for family in text_string_to_metric_families(decoded) for s in family.samples]


def agent_samples(samples: list[Sample], agent_id: str, name: str) -> list[Sample]:
    return [s for s in samples if s.name == name and s.labels.get("agent_id") == agent_id]


def check_rendered(request: pb.PushRequest, agent_id: str, samples: list[Sample]) -> None:
    """The parsed exposition shows what the request carried, label values byte for byte."""
    newest = max(request.reports, key=lambda r: r.seq)
    (total,) = agent_samples(samples, agent_id, "fleetwatch_agent_reports_total")
    assert total.value == len(request.reports)
    (up,) = agent_samples(samples, agent_id, "fleetwatch_agent_up")
    assert up.labels["host"] == newest.host.hostname
    (info,) = agent_samples(samples, agent_id, "fleetwatch_agent_info")
    if newest.HasField("host"):
        h = newest.host
        expected = {
            "os_family": h.os_family,
            "os_name": h.os_name,
            "os_version": h.os_version,
            "kernel": h.kernel,
            "arch": h.arch,
            "agent_version": h.agent_version,
            "site_name": h.site_name,
            "site": h.site,
            "district": h.district,
        }
        assert {k: info.labels[k] for k in expected} == expected
    if newest.HasField("resources"):
        res = newest.resources
        mounts = {
            s.labels["mountpoint"]
            for s in agent_samples(samples, agent_id, "fleetwatch_host_filesystem_size_bytes")
        }
        assert mounts == {fs.mountpoint for fs in res.filesystems}
        received = {
            s.labels["interface"]: s.value
            for s in agent_samples(samples, agent_id, "fleetwatch_host_network_receive_bytes_total")
        }
        first: dict[str, int] = {}  # twins (same name) are dropped, the first one is shown
        for nic in res.interfaces:
            first.setdefault(nic.name, nic.receive_bytes)
        assert received == first, "counters not exact"
        (cpu,) = agent_samples(samples, agent_id, "fleetwatch_host_cpu_utilization_ratio")
        assert cpu.value == res.cpu_utilization_ratio
    if newest.HasField("antivirus"):
        shown = {
            s.labels["product"] for s in agent_samples(samples, agent_id, "fleetwatch_antivirus_product_info")
        }
        assert shown == {p.name for p in newest.antivirus.products}
    threats = sum(
        s.value for s in agent_samples(samples, agent_id, "fleetwatch_antivirus_threats_detected_total")
    )
    assert threats == sum(1 for r in request.reports for e in r.events if e.HasField("threat"))
    if newest.HasField("spool"):
        (dropped,) = agent_samples(samples, agent_id, "fleetwatch_agent_spool_dropped_reports_total")
        assert dropped.value == newest.spool.dropped_reports_total


def accept(request: pb.PushRequest) -> bool:
    """Validate the request as the collector does: refused (Rejection) or accepted."""
    try:
        validate_push(request, NOW_MS, LIMITS)
    except Rejection as rejection:
        event(f"refused: {rejection.reason}")
        return False
    event("accepted")
    return True


@FUZZ_SETTINGS
@given(request=push_requests())
def test_accepted_requests_render_parseable_text(request: pb.PushRequest) -> None:
    # The bytes as they arrive: the render must also survive a serialization round trip.
    request = pb.PushRequest.FromString(request.SerializeToString())
    if not accept(request):
        return
    fleet = FleetState()
    result = fleet.apply("fuzz-agent", request.reports, request.oldest_held_seq)
    assert result.applied == len(request.reports)
    text, up, down = fleet.render()
    assert (up, down) == (1, 0)
    check_rendered(request, "fuzz-agent", parse(text))


# ---------------------------------------------------------------------------------------------------
# (iii) every accepted example in one fleet passes promtool


def test_combined_render_passes_promtool(promtool: str) -> None:
    fleet = FleetState()
    accepted: list[pb.PushRequest] = []

    @settings(FUZZ_SETTINGS, max_examples=120)
    @given(request=push_requests())
    def collect(request: pb.PushRequest) -> None:
        if accept(request):
            fleet.apply(f"fuzz-{len(accepted)}", request.reports, request.oldest_held_seq)
            accepted.append(request)

    collect()
    assert len(accepted) >= 10, f"only {len(accepted)} examples were accepted: the strategies are off"
    text, _, _ = fleet.render()
    samples = parse(text)
    for i, request in enumerate(accepted):
        check_rendered(request, f"fuzz-{i}", samples)
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, timeout=120, check=False
    )
    errors = result.stderr.decode(errors="replace")[:4000]
    assert result.returncode == 0, f"promtool check metrics failed on {len(accepted)} agents:\n{errors}"
