"""Agents played by the test over gRPC against a collector process; promtool runs the KPI rules on scrapes."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from prometheus_client.parser import text_string_to_metric_families

from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from fleetwatch_proto.v1 import fleetwatch_pb2_grpc as pb_grpc
from tests.conftest import REPO_ROOT
from tests.e2e.support import auth_metadata

KPI_RULES = REPO_ROOT / "deploy" / "prometheus" / "rules" / "kpi.rules.yml"
# The families the KPI rules read.
KPI_INPUTS = ("fleetwatch_antivirus_protected", "fleetwatch_antivirus_state", "fleetwatch_agent_up")
CALL_TIMEOUT_SECONDS = 10.0


def av_report(seq: int, hostname: str, protected: bool, site: str = "unassigned") -> pb.Report:
    """A report with host facts and an antivirus section, collected now."""
    state = pb.ANTIVIRUS_STATE_PROTECTED if protected else pb.ANTIVIRUS_STATE_DISABLED
    report = pb.Report(seq=seq, collected_unix_ms=int(time.time() * 1000), interval_seconds=60)
    report.host.CopyFrom(
        pb.HostInfo(
            hostname=hostname, os_family="windows", agent_version="0.1.0", site=site, district="unassigned"
        )
    )
    report.antivirus.host_state = state
    report.antivirus.products.add(name="Windows Defender", state=state)
    return report


@dataclass
class PlayedAgent:
    """One enrolled agent whose reports the test makes; ``seq`` is the last one sent."""

    agent_id: str
    secret: str
    hostname: str
    protected: bool
    site: str
    seq: int = 0


@dataclass
class FleetClient:
    """Enrols and pushes over one plaintext channel to a collector on loopback."""

    address: str
    channel: grpc.Channel = field(init=False)

    def __post_init__(self) -> None:
        self.channel = grpc.insecure_channel(self.address)
        self.stub = pb_grpc.CollectorStub(self.channel)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        self.channel.close()

    def enrol(
        self,
        token: str,
        hostname: str,
        protected: bool = True,
        site: str = "unassigned",
        machine_id: str = "",
    ) -> PlayedAgent:
        host = pb.HostInfo(hostname=hostname, os_family="windows", site=site, district="unassigned")
        request = pb.EnrollRequest(token=token, host=host, machine_id=machine_id)
        response = self.stub.Enroll(request, timeout=CALL_TIMEOUT_SECONDS)
        return PlayedAgent(response.agent_id, response.secret, hostname, protected, site)

    def push(self, agent: PlayedAgent, count: int = 1) -> pb.PushResponse:
        """The agent's next ``count`` reports in one Push."""
        reports = [
            av_report(agent.seq + i + 1, agent.hostname, agent.protected, agent.site) for i in range(count)
        ]
        response: pb.PushResponse = self.stub.Push(
            pb.PushRequest(reports=reports, oldest_held_seq=agent.seq + 1),
            metadata=auth_metadata(agent.agent_id, agent.secret),
            timeout=CALL_TIMEOUT_SECONDS,
        )
        agent.seq += count
        return response


# ------------------------------------------------------------------------------------------------
# promtool test rules on scraped series


def series_of(text: str, families: Sequence[str] = KPI_INPUTS) -> dict[str, float]:
    """``name{labels}`` -> value of every sample of ``families`` in a /metrics text, as promtool
    input series (with the job and instance labels Prometheus adds)."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in families:
                labels = {**sample.labels, "job": "fleetwatch-collector", "instance": "collector:9464"}
                pairs = ",".join(
                    f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in sorted(labels.items())
                )
                found[f"{sample.name}{{{pairs}}}"] = sample.value
    return found


def input_series(scrapes: Sequence[str]) -> list[dict[str, str]]:
    """Scrape i becomes the samples at minute i: a series gone from a scrape gets a staleness
    marker, as Prometheus writes one when a series leaves its target."""
    steps = [series_of(text) for text in scrapes]
    names = sorted({name for step in steps for name in step})
    result = []
    for name in names:
        values, seen = [], False
        for step in steps:
            if name in step:
                values.append(repr(step[name]))
                seen = True
            else:
                values.append("stale" if seen else "_")
        result.append({"series": name, "values": " ".join(values)})
    return result


def run_kpi_rules(
    promtool: str,
    scrapes: Sequence[str],
    expected: Sequence[tuple[str, int, list[tuple[str, float]]]],
    where: Path,
) -> subprocess.CompletedProcess[str]:
    """Evaluate the shipped KPI rules on the scrapes; ``expected`` is (expression, minute,
    [(labels as written by promtool, value)]). JSON is valid YAML, so no YAML writer is needed."""
    tests = {
        "rule_files": [str(KPI_RULES)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": input_series(scrapes),
                "promql_expr_test": [
                    {
                        "expr": expr,
                        "eval_time": f"{minute}m",
                        "exp_samples": [{"labels": labels, "value": value} for labels, value in samples],
                    }
                    for expr, minute, samples in expected
                ],
            }
        ],
    }
    path = where / "kpi-from-scrapes.test.yml"
    path.write_text(json.dumps(tests, ensure_ascii=False, indent=1), encoding="utf-8")
    return subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
