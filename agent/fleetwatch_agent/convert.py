"""The report envelope on the wire: host, sequence, times, probe outcomes; each probe fills its section."""

from __future__ import annotations

import logging
from typing import Any, cast

from fleetwatch_agent.hostfacts import HostFacts
from fleetwatch_agent.probes import PROBES, ProbeDefinition
from fleetwatch_agent.report import CycleReport, Location, Totals
from fleetwatch_agent.wiretext import hostname, text
from fleetwatch_proto.limits import MAX_EVENTS
from fleetwatch_proto.names import SITE_TYPE
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

log = logging.getLogger(__name__)


def host_info(facts: HostFacts, location: Location, agent_version: str) -> pb.HostInfo:
    return pb.HostInfo(
        hostname=hostname(facts.hostname),
        os_family=text(facts.os_family),
        os_name=text(facts.os_name),
        os_version=text(facts.os_version),
        kernel=text(facts.kernel),
        arch=text(facts.arch),
        agent_version=agent_version,
        cpu_count=facts.cpu_count,
        memory_total_bytes=facts.memory_total_bytes,
        boot_time_unix=facts.boot_time_unix,
        site=location.site,
        district=location.district,
        site_type=cast("pb.SiteType", SITE_TYPE.number(location.site_type)),  # the stubs' enum type
        site_name=text(location.site_name),
    )


def report(cycle: CycleReport, registry: tuple[ProbeDefinition[Any, Any], ...] = PROBES) -> pb.Report:
    """The wire message of one cycle: the envelope here, each result's section by its probe's to_wire."""
    message = pb.Report(
        seq=cycle.seq,
        collected_unix_ms=cycle.collected_unix_ms,
        interval_seconds=round(cycle.interval_seconds),
        host=host_info(cycle.host, cycle.location, cycle.agent_version),
    )
    for outcome in cycle.outcomes:
        message.probes.add(
            name=outcome.name,
            success=outcome.success,
            duration_seconds=outcome.duration_seconds,
            error=text(outcome.error),
        )
    for probe in registry:
        result = cycle.results.get(probe.name)
        if result is not None:
            probe.to_wire(result, message)
    if len(message.events) > MAX_EVENTS:
        # The collector refuses a report with more: losing the excess beats losing the report.
        log.warning(
            "report seq=%d: %d events, keeping the first %d", cycle.seq, len(message.events), MAX_EVENTS
        )
        del message.events[MAX_EVENTS:]
    return message


def add_totals(totals: Totals, message: pb.Report) -> Totals:
    """``totals`` with the events of ``message`` added, stamped on it (Report.totals): the counts the
    agent keeps with the report in one spool transaction."""
    threats: list[str] = []
    outages: list[tuple[str, float]] = []
    new_devices = 0
    for event in message.events:
        if event.HasField("threat"):
            threats.append(event.threat.product)
        elif event.HasField("outage"):
            outage = event.outage
            outages.append((outage.target, max(0, outage.end_unix_ms - outage.start_unix_ms) / 1000.0))
        elif event.HasField("device_seen"):
            new_devices += 1
    if threats or outages or new_devices:
        totals = totals.plus(threats, outages, new_devices)
    message.totals.CopyFrom(
        pb.Totals(
            threats=totals.threats,
            outages=totals.outages,
            outage_seconds=totals.outage_seconds,
            lan_new_devices=totals.lan_new_devices,
        )
    )
    return totals
