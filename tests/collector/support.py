"""Report builders and text-format readers shared by the collector tests."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fleetwatch_collector.validate import Limits, Rejection, validate_push
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

if TYPE_CHECKING:
    from fleetwatch_collector.fleet import FleetState
    from fleetwatch_collector.store import Store

# A fixed "now" for the pure validation functions: 2025-10-09T08:53:20Z.
NOW_MS = 1_760_000_000_000


def register(store: Store, *agent_ids: str) -> Store:
    """Agent rows as enrolment makes them, for tests that save agents they did not enrol
    (the store writes the state of enrolled agents only)."""
    with store.transaction() as db:
        db.executemany("INSERT OR IGNORE INTO agents (agent_id) VALUES (?)", [(a,) for a in agent_ids])
    return store


def host_info(hostname: str = "pc-ke-01", **fields: object) -> pb.HostInfo:
    values: dict[str, object] = {
        "hostname": hostname,
        "os_family": "linux",
        "os_name": "Debian GNU/Linux 12",
        "os_version": "12",
        "kernel": "6.1.0-18-amd64",
        "arch": "x86_64",
        "agent_version": "0.1.0",
        "site": "xa-tan-my-chanh",
        "district": "tp-my-tho",
        "site_type": pb.SITE_TYPE_COMMUNE,
        "site_name": "Xã Tân Mỹ Chánh",
    }
    values.update(fields)
    return pb.HostInfo(**values)


def resources(cpu: float = 0.25) -> pb.Resources:
    return pb.Resources(
        cpu_utilization_ratio=cpu,
        cpu_count=4,
        load=pb.LoadAverage(load1=0.5, load5=0.25, load15=0.125),
        memory_total_bytes=8 * 2**30,
        memory_available_bytes=3 * 2**30,
        swap_total_bytes=2**30,
        swap_used_bytes=2**20,
        filesystems=[
            pb.Filesystem(
                mountpoint="/",
                device="/dev/sda1",
                fstype="ext4",
                size_bytes=100 * 2**30,
                used_bytes=40 * 2**30,
                free_bytes=55 * 2**30,
                has_inodes=True,
                inodes_total=6_000_000,
                inodes_free=5_000_000,
            )
        ],
        interfaces=[
            pb.NetworkInterface(
                name="eth0",
                up=True,
                speed_bits_per_second=1_000_000_000,
                receive_bytes=123_456,
                transmit_bytes=654_321,
                receive_packets=1_000,
                transmit_packets=900,
                receive_errors=1,
                transmit_errors=2,
                receive_drops=3,
                transmit_drops=4,
            )
        ],
        boot_time_unix=1_759_000_000,
        process_count=212,
    )


def report(
    seq: int,
    collected_unix_ms: int = NOW_MS,
    interval_seconds: int = 15,
    *,
    host: pb.HostInfo | None = None,
    res: pb.Resources | None = None,
    probes: tuple[pb.ProbeResult, ...] = (),
    spool: pb.SpoolStats | None = None,
) -> pb.Report:
    r = pb.Report(seq=seq, collected_unix_ms=collected_unix_ms, interval_seconds=interval_seconds)
    if host is not None:
        r.host.CopyFrom(host)
    if res is not None:
        r.resources.CopyFrom(res)
    r.probes.extend(probes)
    if spool is not None:
        r.spool.CopyFrom(spool)
    return r


def full_report(seq: int, collected_unix_ms: int = NOW_MS, **host_fields: object) -> pb.Report:
    """A report that fills every host family of the catalog."""
    message = report(
        seq,
        collected_unix_ms,
        host=host_info(**host_fields),
        res=resources(),
        probes=(
            pb.ProbeResult(name="resources", success=True, duration_seconds=0.012),
            pb.ProbeResult(name="antivirus", success=False, duration_seconds=1.5, error="wmi timeout"),
        ),
        spool=pb.SpoolStats(queued_reports=3, dropped_reports_total=7, oldest_queued_unix_ms=NOW_MS - 60_000),
    )
    # The central configuration it runs, and a newer one it refused.
    message.config_version, message.config_refused_version = "0123456789abcdef", "fedcba9876543210"
    message.config_refused_reason = "targets[0].kind: not a probe kind"
    return message


def add_antivirus(r: pb.Report) -> pb.Report:
    """Give a report an antivirus section and a threat event: it then fills every antivirus family."""
    collected = r.collected_unix_ms // 1000
    r.antivirus.host_state = pb.ANTIVIRUS_STATE_PROTECTED
    r.antivirus.products.add(
        name="ClamAV",
        vendor="Cisco",
        product_version="1.0.7",
        engine_version="1.0.7",
        signature_version="27450",
        signature_updated_unix=collected - 3600,
        realtime_protection=True,
        on_access_scanning=True,
        last_quick_scan_unix=collected - 600,
        last_full_scan_unix=collected - 86400,
        state=pb.ANTIVIRUS_STATE_PROTECTED,
    )
    threat = pb.ThreatDetected(product="ClamAV", threat="Eicar-Signature", path="/tmp/eicar", action="found")
    r.events.add(time_unix_ms=r.collected_unix_ms, threat=threat)
    return r


def add_connectivity(r: pb.Report) -> pb.Report:
    """Give a report targets (one down with a traceroute, one https), an ended outage and a LAN
    sweep with a new device: it then fills every connectivity and LAN family."""
    r.connectivity.targets.add(
        name="gateway", kind=pb.PROBE_KIND_ICMP, role="gateway", success=True, sent=5, received=4,
        rtt_min_seconds=0.001, rtt_avg_seconds=0.002, rtt_max_seconds=0.004, jitter_seconds=0.0005,
    )  # fmt: skip
    r.connectivity.targets.add(
        name="collector", kind=pb.PROBE_KIND_TCP, role="collector", success=False, sent=3,
        error=pb.PROBE_ERROR_TIMEOUT, path_diagnosed=True, path_hops=2, path_last_hop="10.0.0.1",
    )  # fmt: skip
    portal = r.connectivity.targets.add(
        name="portal", kind=pb.PROBE_KIND_HTTP, role="custom", success=True, sent=1, received=1,
        rtt_min_seconds=0.05, rtt_avg_seconds=0.05, rtt_max_seconds=0.05, http_status=200,
    )  # fmt: skip
    portal.tls_cert_days_left = 80.0
    outage = pb.Outage(
        target="gateway", start_unix_ms=r.collected_unix_ms - 90_000, end_unix_ms=r.collected_unix_ms
    )
    r.events.add(time_unix_ms=r.collected_unix_ms, outage=outage)
    r.connectivity.lan_swept = True
    r.connectivity.lan_devices = 12
    r.events.add(
        time_unix_ms=r.collected_unix_ms, device_seen=pb.DeviceSeen(mac="52:54:00:12:34:56", ip="10.0.0.9")
    )
    return r


def add_network_devices(r: pb.Report) -> pb.Report:
    """Give a report a router that answered (two interfaces, one down), a switch that did not, and a
    LinkChange of the router: it then fills every netdev family but the trap time (``trap_devices``)."""
    router = r.network_devices.add(
        name="router-1", sys_name="rt1", sys_descr="Cisco IOS", reachable=True, uptime_seconds=86400.5,
        poll_duration_seconds=0.12, address="192.0.2.1", sys_object_id="1.3.6.1.4.1.9.1.1",
    )  # fmt: skip
    for index, up in ((1, True), (2, False)):
        router.interfaces.add(
            index=index, name=f"Gi0/{index}", alias="WAN" if up else "LAN", admin_up=True, oper_up=up,
            speed_bits_per_second=10**9, in_octets=10**6, out_octets=2 * 10**6, in_unicast_packets=1000,
            out_unicast_packets=2000, in_errors=1, out_errors=2, in_discards=3, out_discards=4, type=6,
            counter_bits=64, oper_status=1 if up else 2,
        )  # fmt: skip
    r.network_devices.add(
        name="switch-1", reachable=False, error="no answer", error_class=pb.SNMP_ERROR_TIMEOUT,
        poll_duration_seconds=10.0, address="192.0.2.2",
    )  # fmt: skip
    change = pb.LinkChange(device="router-1", interface="Gi0/2", up=False, if_index=2)
    r.events.add(time_unix_ms=r.collected_unix_ms, link_change=change)
    return r


def trap_devices(fleet: FleetState, agent_id: str) -> None:
    """A linkUp trap from the agent's router (``add_network_devices``), as the trap receiver applies it."""
    from fleetwatch_collector.devstate import DeviceTrap
    from fleetwatch_collector.kinds import netdev

    trap = DeviceTrap("link_up", NOW_MS / 1000 + 1, if_index=2)
    assert fleet.update(agent_id, lambda entry: netdev.trap(entry.states["netdev"], "router-1", trap))


# Validation: a Push of these reports refused or accepted under small limits.

SMALL = Limits(
    max_reports_per_push=3,
    max_probes=2,
    max_filesystems=2,
    max_interfaces=2,
    max_products=2,
    max_targets=2,
    max_network_devices=2,
    max_device_interfaces=2,
    max_events=2,
)


def valid_report(seq: int = 1) -> pb.Report:
    """A report using every repeated field once, within SMALL."""
    r = full_report(seq, NOW_MS)
    r.antivirus.products.add(name="Windows Defender", state=pb.ANTIVIRUS_STATE_PROTECTED)
    r.connectivity.targets.add(name="gateway", kind=pb.PROBE_KIND_ICMP, success=True)
    r.network_devices.add(name="router", reachable=True).interfaces.add(index=1, name="Gi0/0")
    r.events.add(time_unix_ms=NOW_MS, outage=pb.Outage(target="gateway"))
    return r


def refused(*reports: pb.Report, limits: Limits = SMALL) -> Rejection:
    """The Rejection validate_push raises for a Push of these reports (a valid one first)."""
    request = pb.PushRequest(reports=[valid_report(1), *reports])
    with pytest.raises(Rejection) as info:
        validate_push(request, NOW_MS, limits)
    return info.value


def accepted(*reports: pb.Report, limits: Limits = SMALL) -> None:
    validate_push(pb.PushRequest(reports=list(reports)), NOW_MS, limits)


@dataclass(frozen=True)
class Family:
    """One family as written in the text: the name on its TYPE line, its type, its sample lines."""

    name: str
    type: str
    help: str
    lines: list[str]


def families(text: str) -> list[Family]:
    """Split a text exposition into families in order of appearance (HELP, TYPE, samples)."""
    result: list[Family] = []
    help_text: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, doc = line[len("# HELP ") :].partition(" ")
            help_text[name] = doc
        elif line.startswith("# TYPE "):
            name, _, kind = line[len("# TYPE ") :].partition(" ")
            result.append(Family(name, kind, help_text.get(name, ""), []))
        elif line and not line.startswith("#"):
            assert result, f"sample line before any TYPE line: {line!r}"
            result[-1].lines.append(line)
    return result


def sample_name(line: str) -> str:
    """The metric name of one sample line."""
    end = min(i for i in (line.find("{"), line.find(" ")) if i >= 0)
    return line[:end]


def parsed_samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Every sample as prometheus_client's parser reads it: (name, labels, value)."""
    return [
        (s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def value_of(text: str, name: str, **labels: str) -> float:
    """The value of the only sample named ``name`` whose labels include ``labels``."""
    found = [
        v
        for n, lab, v in parsed_samples(text)
        if n == name and all(lab.get(k) == x for k, x in labels.items())
    ]
    assert len(found) == 1, f"expected one {name}{labels}, found {found}"
    return found[0]


def check_metrics(promtool: str, text: str) -> subprocess.CompletedProcess[str]:
    """Run `promtool check metrics` with the exposition on standard input."""
    return subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60, check=False
    )
