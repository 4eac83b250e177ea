"""Helpers of the dashboard tests: read the committed dashboards, run a real Prometheus, feed the
collector a few scripted agents whose reports carry antivirus and connectivity sections."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from fleetwatch_proto.v1 import fleetwatch_pb2_grpc as pb_grpc
from tests.conftest import REPO_ROOT, free_port
from tests.e2e.support import ManagedProcess, ProcessGroup, auth_metadata, http_get, wait_until

GRAFANA_DIR = REPO_ROOT / "grafana"
DASHBOARDS_DIR = GRAFANA_DIR / "dashboards"
DATASOURCE_PROVISIONING = GRAFANA_DIR / "provisioning" / "datasources" / "fleetwatch.yml"
DASHBOARD_PROVISIONING = GRAFANA_DIR / "provisioning" / "dashboards" / "fleetwatch.yml"
PROMETHEUS_DIR = REPO_ROOT / "deploy" / "prometheus"

Dashboard = dict[str, Any]
Panel = dict[str, Any]

# $name, ${name}, ${name:format} and the deprecated [[name]].
VARIABLE_RE = re.compile(r"\$(\w+)|\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]")
LABEL_VALUES_RE = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\s*\)$", re.DOTALL)


# --- the committed dashboards ---------------------------------------------------------------------


def load_dashboards() -> dict[str, Dashboard]:
    """File name -> parsed JSON of every committed dashboard."""
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS_DIR.glob("*.json"))}


def all_panels(board: Dashboard) -> Iterator[Panel]:
    """Every panel, rows and the panels inside collapsed rows included."""
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def query_panels(board: Dashboard) -> Iterator[Panel]:
    return (p for p in all_panels(board) if p.get("type") != "row")


def variables(board: Dashboard) -> list[dict[str, Any]]:
    variable_list: list[dict[str, Any]] = board.get("templating", {}).get("list", [])
    return variable_list


def used_variables(text: str) -> set[str]:
    """Names of the variables ``text`` refers to (Grafana's built-ins, $__..., included)."""
    return {next(g for g in match.groups() if g) for match in VARIABLE_RE.finditer(text)}


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    ref: str
    expr: str

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref}"


def panel_queries(name: str, board: Dashboard) -> list[PanelQuery]:
    return [
        PanelQuery(name, f"#{panel['id']} {panel.get('title', '')}", target.get("refId", "?"), target["expr"])
        for panel in query_panels(board)
        for target in panel.get("targets", [])
    ]


@dataclass(frozen=True)
class LabelValues:
    """A ``label_values(selector, label)`` variable query."""

    variable: str
    selector: str
    label: str

    def promql(self) -> str:
        """The same question as an instant PromQL query: one series per value of the label."""
        return f"group by ({self.label}) ({self.selector})"


def label_values_query(variable: dict[str, Any]) -> LabelValues:
    query = variable.get("query")
    text = query.get("query", "") if isinstance(query, dict) else str(query)
    match = LABEL_VALUES_RE.match(text.strip())
    if match is None:
        raise ValueError(f"variable {variable['name']}: {text!r} is not label_values(selector, label)")
    return LabelValues(variable["name"], match["selector"].strip(), match["label"])


def substitute(text: str, values: Mapping[str, str], interval: str = "1m") -> str:
    """``text`` with variables replaced as Grafana would, the interval built-ins by ``interval``."""
    builtins = {"__rate_interval": interval, "__range": interval, "__interval": interval}

    def replace(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        if name in builtins:
            return builtins[name]
        if name not in values:
            raise KeyError(f"no value for ${name} in {text!r}")
        return values[name]

    return VARIABLE_RE.sub(replace, text)


def provisioned_datasource_uid() -> str:
    match = re.search(r"^\s*uid:\s*(\S+)\s*$", DATASOURCE_PROVISIONING.read_text(), re.MULTILINE)
    assert match, f"{DATASOURCE_PROVISIONING}: no uid"
    return match.group(1).strip("\"'")


def deploy_job_name() -> str:
    """The scrape job of the collector in deploy/prometheus/prometheus.yml."""
    match = re.search(r"job_name:\s*(\S+)", (PROMETHEUS_DIR / "prometheus.yml").read_text())
    assert match, "deploy/prometheus/prometheus.yml: no job_name"
    return match.group(1).strip("\"'")


# --- a real Prometheus ----------------------------------------------------------------------------


@dataclass
class PrometheusServer:
    process: ManagedProcess
    url: str

    def query(self, expr: str) -> dict[str, Any]:
        """The JSON answer of /api/v1/query for ``expr`` at the current time (errors included)."""
        body = urllib.parse.urlencode({"query": expr}).encode()
        request = urllib.request.Request(f"{self.url}/api/v1/query", data=body, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10.0) as response:
                answer: dict[str, Any] = json.loads(response.read())
        except urllib.error.HTTPError as exc:  # 400/422: the error is in the JSON body
            answer = json.loads(exc.read() or b"{}")
            answer.setdefault("status", "error")
            answer.setdefault("error", f"HTTP {exc.code}")
        return answer

    def result(self, expr: str) -> list[dict[str, Any]]:
        """The result vector of a valid query; fails on a query error."""
        answer = self.query(expr)
        assert answer.get("status") == "success", f"{expr}: {answer.get('errorType')}: {answer.get('error')}"
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result


def fast_rule_copies(destination: Path, interval: str = "1s") -> list[Path]:
    """Copies of deploy/prometheus/rules/*.yml whose groups evaluate every ``interval``."""
    destination.mkdir(parents=True, exist_ok=True)
    copies = []
    for rules in sorted((PROMETHEUS_DIR / "rules").glob("*.yml")):
        text = re.sub(
            r"^(\s*)interval:\s*\S+\s*$", rf"\g<1>interval: {interval}", rules.read_text(), flags=re.M
        )
        copy = destination / rules.name
        copy.write_text(text)
        copies.append(copy)
    assert copies, "no rule files in deploy/prometheus/rules"
    return copies


def start_prometheus(group: ProcessGroup, prometheus: str, tmp: Path, scrape_target: str) -> PrometheusServer:
    """Prometheus on a free loopback port scraping ``scrape_target`` every second with the
    project's rules evaluated every second; returns once it is ready."""
    rules = fast_rule_copies(tmp / "rules")
    config = tmp / "prometheus.yml"
    # JSON strings are YAML strings: no quoting question for paths and addresses.
    config.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  scrape_timeout: 1s\n"
        "  evaluation_interval: 1s\n"
        "rule_files:\n" + "".join(f"  - {json.dumps(str(path))}\n" for path in rules) + "scrape_configs:\n"
        f"  - job_name: {json.dumps(deploy_job_name())}\n"
        "    static_configs:\n"
        f"      - targets: [{json.dumps(scrape_target)}]\n"
    )
    address = f"127.0.0.1:{free_port()}"
    process = group.spawn(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address={address}",
            "--storage.tsdb.retention.time=1h",
        ],
        "prometheus",
    )
    server = PrometheusServer(process, f"http://{address}")
    wait_until(
        lambda: http_get(f"{server.url}/-/ready", timeout=2.0)[0] == 200, "prometheus ready", watch=(process,)
    )
    return server


# --- scripted agents --------------------------------------------------------------------------------

GIB = 1024**3
SITE_TYPE_COMMUNE = pb.SITE_TYPE_COMMUNE


@dataclass(frozen=True)
class ScriptedHost:
    """A workstation whose reports the test writes: full antivirus and connectivity sections."""

    hostname: str
    site: str
    district: str
    site_name: str
    windows: bool
    antivirus: pb.AntivirusState  # the host's state
    threats: bool = False  # a detection in every report after the first
    outages: bool = False  # an ended outage of the gateway in every report after the first
    failing_target: bool = False  # a configured target that times out
    silent: bool = False  # one report with a 1 s interval, then silence: down 3 s later


def host_info(host: ScriptedHost) -> pb.HostInfo:
    return pb.HostInfo(
        hostname=host.hostname,
        os_family="windows" if host.windows else "linux",
        os_name="Windows 10 Pro" if host.windows else "Debian GNU/Linux 12 (bookworm)",
        os_version="10.0.19045" if host.windows else "12",
        kernel="10.0" if host.windows else "6.1.0-18-amd64",
        arch="AMD64" if host.windows else "x86_64",
        agent_version="0.1.0",
        cpu_count=4,
        memory_total_bytes=8 * GIB,
        boot_time_unix=int(time.time()) - 86400,
        site=host.site,
        district=host.district,
        site_type=SITE_TYPE_COMMUNE,
        site_name=host.site_name,
    )


def _antivirus(host: ScriptedHost, now: int) -> pb.Antivirus:
    message = pb.Antivirus(host_state=host.antivirus)
    if host.antivirus == pb.ANTIVIRUS_STATE_NOT_INSTALLED:
        return message
    outdated = host.antivirus == pb.ANTIVIRUS_STATE_OUTDATED
    message.products.add(
        name="Microsoft Defender Antivirus" if host.windows else "ClamAV",
        vendor="Microsoft" if host.windows else "Cisco Talos",
        product_version="4.18.24090.11" if host.windows else "1.0.7",
        engine_version="1.1.24090.11" if host.windows else "1.0.7",
        signature_version="1.419.140.0" if host.windows else "27480",
        signature_updated_unix=now - (10 * 86400 if outdated else 3600),
        realtime_protection=True,
        last_quick_scan_unix=now - 7200,
        last_full_scan_unix=now - 6 * 86400,
        state=host.antivirus,
        centrally_managed=True,
        on_access_scanning=not host.windows,
    )
    return message


def _connectivity(host: ScriptedHost) -> pb.Connectivity:
    message = pb.Connectivity()
    for name, kind, role, received, rtt in (
        ("gateway", pb.PROBE_KIND_ICMP, "gateway", 5, 0.002),
        ("dns-1", pb.PROBE_KIND_DNS, "dns", 1, 0.012),
        ("collector", pb.PROBE_KIND_TCP, "collector", 4, 0.031),
    ):
        sent = 1 if kind == pb.PROBE_KIND_DNS else 5
        message.targets.add(
            name=name,
            kind=kind,
            role=role,
            success=True,
            sent=sent,
            received=received,
            rtt_min_seconds=rtt * 0.8,
            rtt_avg_seconds=rtt,
            rtt_max_seconds=rtt * 1.5,
            jitter_seconds=rtt * 0.1,
        )
    if host.failing_target:
        message.targets.add(
            name="portal",
            kind=pb.PROBE_KIND_HTTP,
            role="custom",
            success=False,
            sent=1,
            received=0,
            error=pb.PROBE_ERROR_TIMEOUT,
            detail="no answer within 5 s",
        )
    return message


def scripted_report(host: ScriptedHost, seq: int, interval_seconds: int) -> pb.Report:
    """Report ``seq`` of ``host``, collected now."""
    now_ms = int(time.time() * 1000)
    now = now_ms // 1000
    report = pb.Report(
        seq=seq,
        collected_unix_ms=now_ms,
        interval_seconds=interval_seconds,
        host=host_info(host),
        resources=pb.Resources(
            cpu_utilization_ratio=0.2 + 0.05 * (seq % 4),
            cpu_count=4,
            memory_total_bytes=8 * GIB,
            memory_available_bytes=5 * GIB,
            swap_total_bytes=2 * GIB,
            swap_used_bytes=GIB // 8,
            boot_time_unix=now - 86400,
            process_count=180,
        ),
        antivirus=_antivirus(host, now),
        connectivity=_connectivity(host),
        spool=pb.SpoolStats(queued_reports=0, dropped_reports_total=0),
    )
    if not host.windows:
        report.resources.load.load1, report.resources.load.load5, report.resources.load.load15 = 0.8, 0.6, 0.5
    report.resources.filesystems.add(
        mountpoint="C:\\" if host.windows else "/",
        device="C:" if host.windows else "/dev/sda1",
        fstype="NTFS" if host.windows else "ext4",
        size_bytes=256 * GIB,
        used_bytes=100 * GIB,
        free_bytes=156 * GIB,
        has_inodes=not host.windows,
        inodes_total=0 if host.windows else 16_000_000,
        inodes_free=0 if host.windows else 15_000_000,
    )
    report.resources.interfaces.add(
        name="Ethernet" if host.windows else "eth0",
        up=True,
        speed_bits_per_second=1_000_000_000,
        receive_bytes=1_000_000 * seq,
        transmit_bytes=200_000 * seq,
        receive_packets=900 * seq,
        transmit_packets=300 * seq,
    )
    for probe in ("resources", "antivirus", "connectivity"):
        report.probes.add(name=probe, success=True, duration_seconds=0.05)
    if seq > 1 and host.threats:
        report.events.add(
            time_unix_ms=now_ms,
            threat=pb.ThreatDetected(
                product=report.antivirus.products[0].name,
                threat="Eicar-Test-Signature",
                path="/home/ketoan/Downloads/eicar.com",
                action="quarantined",
            ),
        )
    if seq > 1 and host.outages:
        report.events.add(
            time_unix_ms=now_ms,
            outage=pb.Outage(target="gateway", start_unix_ms=now_ms - 20_000, end_unix_ms=now_ms - 5_000),
        )
    return report


@dataclass
class ScriptedFleet:
    """Scripted agents enrolled with an any-site token, pushing over real gRPC every second
    (the silent ones once) from a thread, until ``stop`` or ``max_seconds``."""

    address: str
    token: str
    hosts: tuple[ScriptedHost, ...]
    max_seconds: float = 120.0
    errors: list[str] = field(default_factory=list)
    pushes: int = 0
    _identities: dict[str, tuple[str, str]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _channel: grpc.Channel | None = None

    def start(self) -> None:
        self._channel = grpc.insecure_channel(self.address)
        stub = pb_grpc.CollectorStub(self._channel)  # type: ignore[no-untyped-call]
        for host in self.hosts:
            enrolled = stub.Enroll(pb.EnrollRequest(token=self.token, host=host_info(host)), timeout=10.0)
            self._identities[host.hostname] = (enrolled.agent_id, enrolled.secret)
            if host.silent:
                self._push(stub, host, 1, interval_seconds=1)
        self._thread = threading.Thread(target=self._run, args=(stub,), name="scripted-fleet", daemon=True)
        self._thread.start()

    def agent_id(self, hostname: str) -> str:
        return self._identities[hostname][0]

    def push_with_wrong_secret(self) -> grpc.StatusCode:
        """One Push with a known agent id and a wrong secret, as a replayed or forged call."""
        assert self._channel is not None
        stub = pb_grpc.CollectorStub(self._channel)  # type: ignore[no-untyped-call]
        host = next(h for h in self.hosts if not h.silent)
        metadata = auth_metadata(self.agent_id(host.hostname), "not-the-secret")
        try:
            stub.Push(pb.PushRequest(reports=[scripted_report(host, 1, 2)]), metadata=metadata, timeout=10.0)
        except grpc.RpcError as exc:
            code: grpc.StatusCode = exc.code()
            return code
        return grpc.StatusCode.OK

    def _push(self, stub: Any, host: ScriptedHost, seq: int, interval_seconds: int) -> None:
        agent_id, secret = self._identities[host.hostname]
        try:
            response = stub.Push(
                pb.PushRequest(reports=[scripted_report(host, seq, interval_seconds)]),
                metadata=auth_metadata(agent_id, secret),
                timeout=10.0,
            )
            if response.acked_seq != seq:
                self.errors.append(f"{host.hostname}: seq {seq} acknowledged as {response.acked_seq}")
            self.pushes += 1
        except grpc.RpcError as exc:
            self.errors.append(f"{host.hostname}: seq {seq}: {exc.code()}: {exc.details()}")

    def _run(self, stub: Any) -> None:
        deadline = time.monotonic() + self.max_seconds
        seq = 1
        while not self._stop.is_set() and time.monotonic() < deadline:
            for host in self.hosts:
                if not host.silent:
                    self._push(stub, host, seq, interval_seconds=2)
            seq += 1
            self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15.0)
        if self._channel is not None:
            self._channel.close()
