"""Scripted agents for the dashboard tests: reports with antivirus, connectivity and routers over gRPC."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import grpc

from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from fleetwatch_proto.v1 import fleetwatch_pb2_grpc as pb_grpc
from tests.e2e.support import auth_metadata
from tests.integration.dashboards_routers import add_network_devices

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
    router_address: str = ""  # polls its site's devices (dashboards_routers.py); its router's address


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
    if host.router_address:
        add_network_devices(report, host.site, host.router_address)
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
