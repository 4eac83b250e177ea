"""Rendering kept across reports: a kind's text used again, the chunks kept per agent, the snapshot's
host bytes. Each must give exactly what rendering or serializing afresh gives."""

from __future__ import annotations

import copy
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from fleetwatch_collector.agentstate import AgentEntry, SiteLabels
from fleetwatch_collector.catalog import PER_HOST
from fleetwatch_collector.dedup import AppliedSeqs
from fleetwatch_collector.exposition import (
    HEADERS,
    SPANS,
    UP,
    Chunks,
    render_agent,
    render_fleet,
    render_rows,
)
from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.kinds import KINDS
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.collector.support import (
    NOW_MS,
    add_antivirus,
    add_connectivity,
    add_network_devices,
    full_report,
    report,
    resources,
    value_of,
)

SITE = SiteLabels("xa-my-phong", "tp-my-tho", "commune")


def fresh(entry: AgentEntry) -> tuple[bytes, tuple[bytes, ...]]:
    """``entry`` rendered without anything kept from earlier renderings."""
    alone = copy.copy(entry)
    alone.rendered = {}
    return render_agent(alone)


def rich(seq: int, collected: int, *, events: bool = True, hostname: str = "pc-ke-01") -> pb.Report:
    """A report filling every family; its sections the same whatever ``seq`` and ``collected``."""
    r = add_network_devices(add_connectivity(add_antivirus(full_report(seq, NOW_MS, hostname=hostname))))
    r.collected_unix_ms = collected
    if not events:
        r.ClearField("events")
    return r


# One step of an agent's life: what its next report carries, or what else happens to it.
STEP = st.sampled_from(
    [
        "same",  # every section as before, no event
        "same_with_events",  # the same sections, and a threat, an outage and a new LAN device counted
        "host_only",  # a report without the antivirus, connectivity and resources sections
        "cpu",  # resources changed
        "rtt",  # a target's round trip changed
        "signatures",  # the antivirus product's signature version changed
        "renamed",  # the host name (a label of every series) changed
        "relabelled",  # bound to another site
    ]
)


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(STEP, min_size=1, max_size=8))
def test_kept_text_is_what_rendering_afresh_gives(steps: list[str]) -> None:
    fleet = FleetState(clock=lambda: NOW_MS / 1000)
    fleet.apply("agent-1", [rich(1, NOW_MS)], site=SITE)
    hostname, site = "pc-ke-01", SITE
    for seq, step in enumerate(steps, start=2):
        collected = NOW_MS + seq * 15_000
        r = rich(seq, collected, events=step == "same_with_events", hostname=hostname)
        if step == "host_only":
            for section in ("antivirus", "connectivity", "resources"):
                r.ClearField(section)
        elif step == "cpu":
            r.resources.cpu_utilization_ratio = 0.5 + seq / 100
        elif step == "rtt":
            r.connectivity.targets[0].rtt_avg_seconds = seq / 1000
        elif step == "signatures":
            r.antivirus.products[0].signature_version = str(27450 + seq)
        elif step == "renamed":
            hostname = f"pc-ke-{seq:02d}"
            r.host.hostname = hostname
        elif step == "relabelled":
            site = SiteLabels(f"xa-{seq}", "tp-my-tho", "commune")
        fleet.apply("agent-1", [r], site=site)
        entry = fleet.get("agent-1")
        assert entry is not None
        assert render_agent(entry) == fresh(entry)
        assert fleet.render()[0] == b"".join(render_fleet_of(entry))


def render_fleet_of(entry: AgentEntry) -> list[bytes]:
    """The body of a fleet of this one agent, rendered afresh (the up line included)."""
    prefix, chunks = fresh(entry)
    return list(render_rows([chunks], [prefix + b"1\n"]))


def test_counters_changed_by_events_show_with_the_same_sections() -> None:
    fleet = FleetState(clock=lambda: NOW_MS / 1000)
    fleet.apply("agent-1", [rich(1, NOW_MS, events=False)])
    fleet.apply("agent-1", [rich(2, NOW_MS + 15_000)])  # same sections; a threat, an outage, a device
    text = fleet.render()[0].decode()
    assert value_of(text, "fleetwatch_antivirus_threats_detected_total", product="ClamAV") == 1
    assert value_of(text, "fleetwatch_connectivity_outages_total", target="gateway") == 1
    assert value_of(text, "fleetwatch_connectivity_outage_seconds_total", target="gateway") == 90
    assert value_of(text, "fleetwatch_lan_new_devices_total") == 1


def test_a_certificate_in_days_left_follows_the_collection_time() -> None:
    fleet = FleetState(clock=lambda: NOW_MS / 1000)
    name = b"fleetwatch_connectivity_tls_cert_not_after_timestamp_seconds{"
    seen = []
    for seq in (1, 2):
        r = rich(seq, NOW_MS + seq * 60_000, events=False)  # the same sections, a later report
        fleet.apply("agent-1", [r])
        line = next(x for x in fleet.render()[0].split(b"\n") if x.startswith(name))
        seen.append(float(line.rsplit(b" ", 1)[1]))
    assert seen[1] - seen[0] == 60.0


def dated(seq: int, collected: int) -> pb.Report:
    """``rich`` without events, its https target's certificate given as a date, not in days left."""
    r = rich(seq, collected, events=False)
    portal = r.connectivity.targets[2]
    portal.ClearField("tls_cert_days_left")
    portal.tls_cert_not_after_unix = NOW_MS // 1000 + 80 * 86400
    return r


def test_the_same_sections_are_rendered_once() -> None:
    fleet = FleetState(clock=lambda: NOW_MS / 1000)
    fleet.apply("agent-1", [dated(1, NOW_MS)])
    entry = fleet.get("agent-1")
    assert entry is not None
    kept = {name: chunks for name, (_, _, chunks) in entry.rendered.items()}
    assert set(kept) == {"resources", "antivirus", "connectivity"}
    fleet.apply("agent-1", [dated(2, NOW_MS + 15_000)])
    for name, chunks in kept.items():  # the very same bytes objects: nothing rendered again
        assert all(a is b for a, b in zip(entry.rendered[name][2], chunks, strict=True)), name
    fleet.apply("agent-1", [rich(3, NOW_MS + 30_000, events=False)])  # days left: rendered again
    assert entry.rendered["connectivity"][2] != kept["connectivity"]
    # ... and the kept key holds the new section, not the one it replaced (memory).
    assert entry.rendered["resources"][1] is entry.states["resources"].section


def test_each_kind_renders_into_its_own_families_only() -> None:
    fleet = FleetState(clock=lambda: NOW_MS / 1000)
    fleet.apply("agent-1", [rich(1, NOW_MS)])
    entry = fleet.get("agent-1")
    assert entry is not None
    for kind, span in zip(KINDS, SPANS, strict=True):
        chunks = Chunks('agent_id="agent-1"')
        kind.render(chunks, entry, entry.states[kind.name])
        outside = [
            PER_HOST[i].name
            for i, lines in enumerate(chunks.lines)
            if lines and i not in range(len(PER_HOST))[span]
        ]
        assert outside == [], kind.name
        assert any(chunks.lines[span]), kind.name  # the full report fills each kind


ROWS = st.lists(
    st.lists(st.sampled_from([b"", b"x 1\n", b"y 2\n"]), min_size=len(HEADERS), max_size=len(HEADERS)),
    max_size=4,
)


@settings(max_examples=100, deadline=None)
@given(rows=ROWS, up=st.lists(st.sampled_from([b"up 1\n", b"up 0\n"]), max_size=3))
def test_chunks_kept_per_key_render_as_chunks_kept_per_family(
    rows: list[list[bytes]], up: list[bytes]
) -> None:
    families = [[row[i] for row in rows if row[i]] for i in range(len(HEADERS))]
    assert list(render_rows(rows, up)) == list(render_fleet(families, up))
    if not any(row[i] for row in rows for i in range(len(HEADERS)) if i != UP) and not up:
        assert list(render_rows(rows, up)) == []  # no family without samples, no header alone


def test_the_snapshot_serializes_the_host_it_shows() -> None:
    fleet = FleetState(clock=lambda: NOW_MS / 1000)
    fleet.apply("agent-1", [report(1, NOW_MS, host=pb.HostInfo(hostname="pc-1", os_name="Debian"))])
    entry = fleet.get("agent-1")
    assert entry is not None
    assert fleet.snapshot("agent-1").host == entry.host.SerializeToString()
    fleet.apply("agent-1", [report(2, NOW_MS, res=resources())])  # no host: the same one
    assert pb.HostInfo.FromString(fleet.snapshot("agent-1").host).os_name == "Debian"
    fleet.apply("agent-1", [report(3, NOW_MS, host=pb.HostInfo(hostname="pc-1", os_name="Windows"))])
    assert pb.HostInfo.FromString(fleet.snapshot("agent-1").host).os_name == "Windows"
    entry.host = pb.HostInfo(hostname="pc-1", os_name="set otherwise")
    assert pb.HostInfo.FromString(fleet.snapshot("agent-1").host).os_name == "set otherwise"


@settings(max_examples=100, deadline=None)
@given(watermark=st.integers(0, 2**63), above=st.sets(st.integers(1, 2**63), max_size=3))
def test_applied_seqs_are_written_as_json_writes_them(watermark: int, above: set[int]) -> None:
    applied = AppliedSeqs(watermark, above)
    assert applied.dumps() == json.dumps([watermark, sorted(above)])
    assert AppliedSeqs.loads(applied.dumps()) == applied
