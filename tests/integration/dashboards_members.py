"""Collectors' /metrics for the two-collector dashboard test: a small fleet, served over HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# When the signatures were made and the reports collected (Unix seconds): fixed, so the ages
# the dashboards compute differ between two servers only by the moment of the query.
REPORT_TIME = 1_767_225_600.0
DAY = 86400.0


@dataclass(frozen=True)
class Agent:
    agent_id: str
    host: str
    site: str
    district: str
    up: int
    protected: bool
    # What the agent's own counters (threats, outages, dropped reports) reach at the step.
    counted: int

    def labels(self) -> str:
        return (
            f'agent_id="{self.agent_id}",host="{self.host}",site="{self.site}",'
            f'district="{self.district}",site_type="commune"'
        )


FLEET = (
    Agent("a1", "pc-1", "xa-1", "h-1", up=1, protected=True, counted=3),
    Agent("a2", "pc-2", "xa-1", "h-1", up=1, protected=False, counted=5),
    Agent("a3", "pc-3", "xa-2", "h-1", up=0, protected=True, counted=2),
)


def agent_lines(agent: Agent, stepped: bool) -> list[str]:
    """The agent's series as a collector exposes them; its counters at 0 before the step."""
    lab = agent.labels()
    state = "protected" if agent.protected else "outdated"
    count = agent.counted if stepped else 0
    lines = [
        f"fleetwatch_agent_up{{{lab}}} {agent.up}",
        f"fleetwatch_agent_last_report_timestamp_seconds{{{lab}}} {REPORT_TIME}",
        f'fleetwatch_agent_info{{{lab},os_family="linux",os_name="Debian",os_version="12",'
        f'kernel="6.1",arch="x86_64",agent_version="1.0",site_name="Xã"}} 1',
        f'fleetwatch_agent_probe_success{{{lab},probe="antivirus"}} 1',
        f'fleetwatch_agent_probe_duration_seconds{{{lab},probe="antivirus"}} 0.25',
        f"fleetwatch_agent_spool_reports{{{lab}}} 4",
        f"fleetwatch_agent_spool_dropped_reports_total{{{lab}}} {count}",
        f"fleetwatch_antivirus_protected{{{lab}}} {int(agent.protected)}",
        f"fleetwatch_host_cpu_utilization_ratio{{{lab}}} 0.5",
        f"fleetwatch_host_memory_total_bytes{{{lab}}} 8e9",
        f"fleetwatch_host_memory_available_bytes{{{lab}}} 4e9",
    ]
    for name in ("protected", "outdated", "disabled"):
        current = int(name == state)
        lines.append(f'fleetwatch_antivirus_state{{{lab},state="{name}"}} {current}')
        lines.append(f'fleetwatch_antivirus_product_state{{{lab},product="ClamAV",state="{name}"}} {current}')
    product = f'{lab},product="ClamAV"'
    signed = REPORT_TIME - (DAY if agent.protected else 4 * DAY)
    lines += [
        f'fleetwatch_antivirus_product_info{{{product},vendor="Cisco Talos",product_version="1.0.7",'
        'engine_version="1.0.7"} 1',
        f"fleetwatch_antivirus_realtime_protection{{{product}}} {int(agent.protected)}",
        f"fleetwatch_antivirus_on_access_scanning{{{product}}} 1",
        f"fleetwatch_antivirus_signature_updated_timestamp_seconds{{{product}}} {signed}",
        f"fleetwatch_antivirus_signature_version{{{product}}} 27480",
        f'fleetwatch_antivirus_last_scan_timestamp_seconds{{{product},kind="quick"}} {REPORT_TIME - 3600}',
        f"fleetwatch_antivirus_threats_detected_total{{{product}}} {count}",
    ]
    for role, target, kind, up in (
        ("gateway", "10.1.0.1", "icmp", 1),
        ("dns", "10.1.0.53", "dns", 1),
        ("collector", "collector.example", "tcp", 1),
        ("custom", "portal.example", "http", 0),
    ):
        where = f'{lab},target="{target}",kind="{kind}"'
        lines += [
            f'fleetwatch_connectivity_up{{{where},role="{role}"}} {up}',
            f"fleetwatch_connectivity_rtt_seconds{{{where}}} 0.02",
            f"fleetwatch_connectivity_loss_ratio{{{where}}} {0.0 if up else 1.0}",
        ]
        if not up:
            per_target = f'{lab},target="{target}"'
            lines += [
                f'fleetwatch_connectivity_failure_info{{{where},reason="timeout"}} 1',
                f"fleetwatch_connectivity_outages_total{{{per_target}}} {count}",
                f"fleetwatch_connectivity_outage_seconds_total{{{per_target}}} {60 * count}",
            ]
    return lines


def exposition(agents: tuple[Agent, ...], stepped: bool) -> str:
    return "".join(line + "\n" for agent in agents for line in agent_lines(agent, stepped))


@contextmanager
def serving(agents: tuple[Agent, ...], stepped: threading.Event) -> Iterator[str]:
    """A /metrics with ``agents``' series on a loopback port (its address), their counters at 0
    until ``stepped`` is set."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = exposition(agents, stepped.is_set()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
