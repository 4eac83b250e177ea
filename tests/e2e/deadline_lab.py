"""A namespace lab with 20 targets behind one uplink, and a real agent (and collector) in front of it."""
# Layout (tests/integration/netns.py): agent <-> router <-> server. The server holds the target addresses on
# its loopback: 10.199.50.N (live) and 10.199.60.N (the router drops everything to those: dead, silently),
# each with a DNS server on port 53 and a web server on port 8080 (tests/integration/netns_servers.py). Names
# web-N.lab resolve to 10.199.50.N through the DNS server on the server's link address, which the agent
# namespace's system resolver asks. The router is the uplink: ``uplink_dies`` makes it drop everything it
# forwards, without a word.
#
# The collector only enrols the agent and is stopped before the agent starts: every report stays in the
# agent's spool, where the tests read them with their times.

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.conftest import require_program
from tests.e2e.outage_lab import GRPC_PORT, SITE, Lab
from tests.e2e.support import agent_toml, console_script, create_token
from tests.integration.netns_extra import serve, use_resolver
from tests.integration.netns_servers import DNS_SERVER, HTTP_SERVER

LIVE = "10.199.50"
DEAD = "10.199.60"
WEB_PORT = 8080
TARGETS = 20


def target_table(name: str, kind: str, address: str) -> str:
    return f'\n[[probes.connectivity.targets]]\nname = "{name}"\nkind = "{kind}"\naddress = "{address}"\n'


def address_of(kind: str, network: str, n: int, named: bool = False) -> str:
    """The address option of target number ``n`` of that kind on ``network`` (LIVE or DEAD)."""
    host = f"web-{n}.lab" if named else f"{network}.{n}"
    return {"icmp": host, "tcp": f"{host}:{WEB_PORT}", "dns": host, "http": f"http://{host}:{WEB_PORT}/"}[
        kind
    ]


@dataclass
class TargetsLab(Lab):
    """outage_lab.Lab with the 20-target network and a [probes.connectivity] section of the test's own."""

    interval: float = 15.0
    connectivity: str = ""  # options and target tables of [probes.connectivity]
    resolver_options: str = "timeout:5 attempts:2"  # glibc's defaults

    def build(self) -> None:
        """Addresses, routes and servers of the server namespace; the agent's resolver."""
        server = self.network.address("server", "router")
        for network in (LIVE, DEAD):
            for n in range(1, TARGETS + 1):
                self.network.ip("server", "addr", "add", f"{network}.{n}/32", "dev", "lo")
            self.network.ip("router", "route", "add", f"{network}.0/24", "via", server)
        iptables = require_program("iptables", "apt-get install iptables")
        self.network.run("router", iptables, "-A", "FORWARD", "-d", f"{DEAD}.0/24", "-j", "DROP")
        names = {f"web-{n}.lab": [f"{LIVE}.{n}"] for n in range(1, TARGETS + 1)}
        names["portal.lab"] = ["192.0.2.10"]
        binds = [[server, 53]] + [[f"{net}.{n}", 53] for net in (LIVE, DEAD) for n in range(1, TARGETS + 1)]
        serve(self.network, "server", DNS_SERVER, json.dumps({"bind": binds, "names": names}))
        serve(self.network, "server", HTTP_SERVER, json.dumps([["0.0.0.0", WEB_PORT]]))
        use_resolver(self.network, "agent", server, options=self.resolver_options)

    def spooled_reports(self) -> list[pb.Report]:
        """The agent's spooled reports; none before its spool exists."""
        if not (self.agent_dir / "spool.sqlite").exists():
            return []
        try:
            return super().spooled_reports()
        except sqlite3.OperationalError:  # the agent has not made its tables yet
            return []

    def uplink_dies(self) -> None:
        iptables = require_program("iptables", "apt-get install iptables")
        self.network.run("router", iptables, "-I", "FORWARD", "1", "-j", "DROP")

    def uplink_returns(self) -> None:
        iptables = require_program("iptables", "apt-get install iptables")
        self.network.run("router", iptables, "-D", "FORWARD", "1")

    def enroll(self) -> None:
        """Write the agent's configuration and enrol it; the collector is stopped afterwards."""
        token = create_token(self.collector_dir, SITE)
        self.config.write_text(
            agent_toml(self.agent_dir, f"127.0.0.1:{GRPC_PORT}", interval=self.interval)
            + "\n[probes.resources]\nenabled = false\n\n[probes.antivirus]\nenabled = false\n\n"
            + "[probes.connectivity]\nenabled = true\ngateway = false\ncollector = false\n"
            + 'dns_name = "portal.lab"\n'
            + self.connectivity,
            encoding="utf-8",
        )
        command = [console_script("fleetwatch-agent"), "enroll", "--collector", f"127.0.0.1:{GRPC_PORT}"]
        self.network.run("agent", *command, "--token", token, "--config", str(self.config))


def connectivity_of(report: pb.Report) -> tuple[pb.ProbeResult | None, dict[str, pb.TargetResult]]:
    """The connectivity probe's outcome and its targets by name."""
    outcome = next((p for p in report.probes if p.name == "connectivity"), None)
    return outcome, {t.name: t for t in report.connectivity.targets}
