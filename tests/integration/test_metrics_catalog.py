"""/metrics of a collector fed by a simulated fleet and a real host: promtool-valid, true to the catalog."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from fleetwatch_agent import __version__ as agent_version
from fleetwatch_agent import convert
from fleetwatch_agent.hostfacts import read_host_facts
from fleetwatch_agent.probes.resources import ResourcesConfig, make_collector
from fleetwatch_agent.report import CycleReport, Location, ProbeOutcome
from fleetwatch_collector.catalog import BY_NAME, HOST_LABELS, MetricSpec
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from fleetwatch_proto.v1 import fleetwatch_pb2_grpc as pb_grpc
from tests.e2e.support import (
    CollectorProcess,
    ProcessGroup,
    auth_metadata,
    console_script,
    create_token,
    fetch_metrics,
    find_samples,
    parse_samples,
    start_collector,
    wait_until,
    write_token_file,
)

SIMULATED_AGENTS = 20
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
SITE_TYPES = {"department", "district", "commune"}


@dataclass(frozen=True)
class Exposition:
    text: str
    simulation_log: str
    real_agent: str


def push_real_report(collector: CollectorProcess, token: str) -> str:
    """One report with a real resources sample of this host, pushed the way the agent converts it.

    Enrols with ``token`` first (over gRPC, like the agent) and returns the agent id it got."""
    collect = make_collector(ResourcesConfig())
    time.sleep(0.2)  # two CPU samples apart, so the utilisation is a real ratio
    cycle = CycleReport(
        seq=1,
        collected_unix_ms=int(time.time() * 1000),
        interval_seconds=60,  # stays up while the simulated fleet reports
        host=read_host_facts(),
        location=Location("so-y-te", "tp-my-tho", "department", "Sở Y tế"),
        agent_version=agent_version,
        outcomes=(ProbeOutcome("resources", True, 0.01),),
        results={"resources": collect()},
    )
    report = convert.report(cycle)
    with grpc.insecure_channel(collector.grpc_address) as channel:
        stub = pb_grpc.CollectorStub(channel)  # type: ignore[no-untyped-call]
        enrolled = stub.Enroll(pb.EnrollRequest(token=token, host=report.host), timeout=10.0)
        response = stub.Push(
            pb.PushRequest(reports=[report]),
            metadata=auth_metadata(enrolled.agent_id, enrolled.secret),
            timeout=10.0,
        )
    assert response.acked_seq == 1
    return str(enrolled.agent_id)


def all_up(collector: CollectorProcess, expected: int) -> str | None:
    """The /metrics text once ``expected`` agents are listed and all of them are up."""
    text = fetch_metrics(collector.metrics_url)
    up = find_samples(parse_samples(text), "fleetwatch_agent_up")
    return text if len(up) == expected and all(s.value == 1 for s in up) else None


@pytest.fixture(scope="module")
def exposition(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exposition]:
    tmp = tmp_path_factory.mktemp("catalog")
    group = ProcessGroup(tmp / "logs")
    try:
        collector = start_collector(group, tmp / "collector-data")
        # Lab use: an any-site token, so every simulated agent keeps the site it claims.
        token_file = write_token_file(tmp / "token", create_token(tmp / "collector-data"))
        real_agent = push_real_report(collector, token_file.read_text().strip())
        simulation = group.spawn(
            [
                console_script("fleetwatch-sim"),
                "--collector",
                collector.grpc_address,
                "--agents",
                str(SIMULATED_AGENTS),
                "--interval",
                "1",
                "--duration",
                "3",
                "--token-file",
                str(token_file),
            ],
            "simulate",
        )
        # Scraped while the fleet runs: every simulated agent reports within its first interval.
        text = wait_until(
            lambda: all_up(collector, SIMULATED_AGENTS + 1),
            f"{SIMULATED_AGENTS + 1} agents up",
            interval=0.2,
            watch=(collector.process,),
        )
        assert simulation.wait(60) == 0, simulation.describe()
        yield Exposition(text, simulation.stderr(), real_agent)
    finally:
        group.stop_all()


def spec_of(sample_name: str) -> MetricSpec | None:
    """The catalog entry of a sample; histogram samples belong to the histogram's name."""
    if sample_name in BY_NAME:
        return BY_NAME[sample_name]
    for suffix in HISTOGRAM_SUFFIXES:
        if sample_name.endswith(suffix):
            spec = BY_NAME.get(sample_name.removesuffix(suffix))
            if spec is not None and spec.type == "histogram":
                return spec
    return None


def families(text: str) -> list[Metric]:
    return list(text_string_to_metric_families(text))


def test_simulated_fleet_pushed_without_failures(exposition: Exposition) -> None:
    assert " 0 failed" in exposition.simulation_log, exposition.simulation_log


def test_promtool_check_metrics_passes(exposition: Exposition, promtool: str) -> None:
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=exposition.text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert not [line for line in output.splitlines() if "error" in line.lower()], output


def test_every_sample_is_declared_in_the_catalog(exposition: Exposition) -> None:
    problems = []
    for family in families(exposition.text):
        for sample in family.samples:
            spec = spec_of(sample.name)
            if spec is None:
                problems.append(f"{sample.name}: not in the catalog")
                continue
            exposed_type = "gauge" if spec.type == "info" else spec.type
            if family.type != exposed_type:
                problems.append(f"{sample.name}: exposed as {family.type}, catalog says {spec.type}")
            allowed = set(spec.labels) | ({"le"} if sample.name.endswith("_bucket") else set())
            if not set(sample.labels) <= allowed:
                problems.append(f"{sample.name}: labels {sorted(set(sample.labels) - allowed)} not declared")
            if spec.name.startswith("fleetwatch_") and family.documentation != spec.help:
                problems.append(f"{sample.name}: HELP {family.documentation!r} != catalog {spec.help!r}")
    assert not problems, "\n".join(sorted(set(problems)))


def test_the_exposition_covers_host_collector_and_histogram_metrics(exposition: Exposition) -> None:
    names = {s.name for s in parse_samples(exposition.text)}
    for expected in (
        "fleetwatch_host_memory_total_bytes",
        "fleetwatch_host_filesystem_size_bytes",
        "fleetwatch_host_network_receive_bytes_total",
        "fleetwatch_collector_pushes_total",
        "fleetwatch_collector_push_duration_seconds_bucket",
        "process_cpu_seconds_total",
    ):
        assert expected in names


def test_every_host_series_carries_the_site_labels(exposition: Exposition) -> None:
    host_samples = [
        s
        for s in parse_samples(exposition.text)
        if (spec := spec_of(s.name)) is not None and spec.scope == "host"
    ]
    assert host_samples
    for sample in host_samples:
        missing = [label for label in HOST_LABELS if not sample.labels.get(label)]
        assert not missing, f"{sample.name}{sample.labels} lacks {missing}"
        assert sample.labels["site_type"] in SITE_TYPES, sample


def test_every_agent_is_listed_up(exposition: Exposition) -> None:
    samples = parse_samples(exposition.text)
    up = find_samples(samples, "fleetwatch_agent_up")
    assert len(up) == SIMULATED_AGENTS + 1
    assert all(s.value == 1 for s in up)
    assert len({s.labels["agent_id"] for s in up}) == SIMULATED_AGENTS + 1
    real = find_samples(samples, "fleetwatch_agent_up", agent_id=exposition.real_agent)
    assert [s.labels["site"] for s in real] == ["so-y-te"], "an any-site token keeps the claimed site"
    assert find_samples(samples, "fleetwatch_collector_agents", state="up")[0].value == SIMULATED_AGENTS + 1
