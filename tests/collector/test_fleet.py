"""Fleet state and exposition: dedup by seq, newest values, up/down, escaping, catalog conformance."""

from __future__ import annotations

from fleetwatch_collector.catalog import BY_NAME, HOST_LABELS
from fleetwatch_collector.fleet import ApplyResult, FleetState
from fleetwatch_collector.textformat import sanitize
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.collector.support import (
    NOW_MS,
    add_antivirus,
    add_connectivity,
    add_network_devices,
    check_metrics,
    families,
    full_report,
    host_info,
    parsed_samples,
    report,
    resources,
    sample_name,
    trap_devices,
    value_of,
)


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def render(fleet: FleetState) -> tuple[str, int, int]:
    """FleetState.render with the body decoded (strictly: it must be UTF-8)."""
    body, up, down = fleet.render()
    return body.decode("utf-8"), up, down


def seqs(*numbers: int) -> list[pb.Report]:
    return [report(n, NOW_MS + n * 15_000) for n in numbers]


def test_out_of_order_batch_is_applied_in_seq_order() -> None:
    fleet = FleetState(clock=Clock())
    result = fleet.apply("a1", seqs(3, 1, 2))
    assert (result.acked_seq, result.applied, result.duplicates) == (3, 3, 0)
    entry = fleet.get("a1")
    assert entry is not None
    assert entry.last_report_ms == NOW_MS + 3 * 15_000


def test_duplicates_across_batches() -> None:
    fleet = FleetState(clock=Clock())
    fleet.apply("a1", seqs(1, 2, 3))
    result = fleet.apply("a1", seqs(2, 5, 3, 4))
    assert (result.acked_seq, result.applied, result.duplicates) == (5, 2, 2)
    replay = fleet.apply("a1", seqs(1, 2))
    assert (replay.acked_seq, replay.applied, replay.duplicates) == (5, 0, 2)


def test_duplicate_seq_within_one_batch_counts_once() -> None:
    """Every copy of a seq after the first, even within one batch, is a duplicate."""
    fleet = FleetState(clock=Clock())
    result = fleet.apply("a1", seqs(2, 1, 2, 2))
    assert (result.acked_seq, result.applied, result.duplicates) == (2, 2, 2)


def test_backlog_below_the_newest_seq_is_applied() -> None:
    """The spool sends its newest report first, then the backlog oldest first: all of it is applied."""
    fleet = FleetState(clock=Clock())
    first = fleet.apply("a1", seqs(100, 1, 2))
    assert (first.acked_seq, first.applied, first.duplicates) == (2, 3, 0)
    second = fleet.apply("a1", seqs(3, 4))
    assert (second.acked_seq, second.applied, second.duplicates) == (4, 2, 0)
    text, _, _ = render(fleet)
    assert value_of(text, "fleetwatch_agent_reports_total") == 5
    assert value_of(text, "fleetwatch_agent_last_report_timestamp_seconds") == (NOW_MS + 1_500_000) / 1000


def test_agents_are_deduplicated_separately() -> None:
    fleet = FleetState(clock=Clock())
    fleet.apply("a1", seqs(1, 2, 3))
    assert fleet.apply("a2", seqs(1, 2)) == ApplyResult(acked_seq=2, applied=2, duplicates=0)
    assert len(fleet) == 2


def test_replay_of_older_batch_changes_nothing() -> None:
    clock = Clock()
    fleet = FleetState(clock=clock)
    old_batch = [full_report(n, NOW_MS + n * 15_000) for n in (1, 2)]
    fleet.apply("a1", old_batch)
    newer = full_report(3, NOW_MS + 45_000)
    newer.resources.cpu_utilization_ratio = 0.75
    fleet.apply("a1", [newer])
    before = render(fleet)
    snapshot = fleet.snapshot("a1")

    clock.now += 10
    old_batch[0].resources.cpu_utilization_ratio = 0.01  # a replay may even carry other values
    result = fleet.apply("a1", old_batch)

    assert (result.acked_seq, result.applied, result.duplicates) == (3, 0, 2)
    assert render(fleet) == before
    assert fleet.snapshot("a1") == snapshot
    entry = fleet.get("a1")
    assert entry is not None
    assert entry.last_seen == clock.now - 10  # a replay does not count as being seen


def test_newest_report_values_are_exposed() -> None:
    fleet = FleetState(clock=Clock())
    batch = []
    for seq, cpu in ((2, 0.9), (1, 0.1), (3, 0.4)):
        r = full_report(seq, NOW_MS + seq * 15_000)
        r.resources.cpu_utilization_ratio = cpu
        r.resources.filesystems[0].used_bytes = seq * 1000
        batch.append(r)
    fleet.apply("a1", batch)
    text, _, _ = render(fleet)
    assert value_of(text, "fleetwatch_host_cpu_utilization_ratio", agent_id="a1") == 0.4
    assert value_of(text, "fleetwatch_host_filesystem_used_bytes", agent_id="a1", mountpoint="/") == 3000
    assert (
        value_of(text, "fleetwatch_agent_last_report_timestamp_seconds", agent_id="a1")
        == (NOW_MS + 45_000) / 1000
    )


def test_later_batch_replaces_values() -> None:
    fleet = FleetState(clock=Clock())
    fleet.apply("a1", [full_report(1)])
    second = full_report(2, NOW_MS + 15_000)
    second.resources.cpu_utilization_ratio = 0.5
    second.probes[0].success = False
    fleet.apply("a1", [second])
    text, _, _ = render(fleet)
    assert value_of(text, "fleetwatch_host_cpu_utilization_ratio") == 0.5
    assert value_of(text, "fleetwatch_agent_probe_success", probe="resources") == 0


def test_report_without_host_keeps_previous_labels() -> None:
    fleet = FleetState(clock=Clock())
    fleet.apply("a1", [report(1, host=host_info("pc-ke-07", site="xa-long-an", os_name="Windows 10 Pro"))])
    fleet.apply("a1", [report(2, NOW_MS + 15_000, res=resources(cpu=0.6))])
    text, _, _ = render(fleet)
    labels = {"agent_id": "a1", "host": "pc-ke-07", "site": "xa-long-an", "site_type": "commune"}
    assert value_of(text, "fleetwatch_host_cpu_utilization_ratio", **labels) == 0.6
    assert value_of(text, "fleetwatch_agent_info", os_name="Windows 10 Pro", **labels) == 1


def test_report_without_resources_keeps_previous_resources() -> None:
    fleet = FleetState(clock=Clock())
    fleet.apply("a1", [full_report(1)])
    fleet.apply("a1", [report(2, NOW_MS + 15_000)])
    text, _, _ = render(fleet)
    assert value_of(text, "fleetwatch_host_cpu_utilization_ratio") == 0.25
    assert value_of(text, "fleetwatch_agent_last_report_timestamp_seconds") == (NOW_MS + 15_000) / 1000


NASTY = {
    "os_name": 'Windows "10"\\Pro\nEdition',
    "site_name": 'Xã "Tân" \\ Mỹ\nChánh',
    "kernel": "6.1\x00-\t-\x7f",
}
NASTY_MOUNTS = ("C:\\", 'D:\\"data"\n', "/mnt/x\x1b")
NASTY_NIC = 'Ethernet "2"\\\n} 1\nfleetwatch_agent_up{agent_id="victim"} 1'


def nasty_report(seq: int = 1) -> pb.Report:
    r = full_report(seq, **NASTY)
    del r.resources.filesystems[:]
    for mount in NASTY_MOUNTS:
        r.resources.filesystems.add(mountpoint=mount, fstype='nt"fs\\', size_bytes=10)
    r.resources.interfaces[0].name = NASTY_NIC
    return r


def test_label_values_are_escaped() -> None:
    fleet = FleetState(clock=Clock())
    fleet.apply("a1", [nasty_report()])
    text, _, _ = render(fleet)
    assert 'os_name="Windows \\"10\\"\\\\Pro\\nEdition"' in text
    assert 'site_name="Xã \\"Tân\\" \\\\ Mỹ\\nChánh"' in text
    assert 'kernel="6.1?-?-?"' in text
    assert 'mountpoint="D:\\\\\\"data\\"\\n"' in text
    assert 'interface="Ethernet \\"2\\"\\\\\\n} 1\\nfleetwatch_agent_up{agent_id=\\"victim\\"} 1"' in text


def test_escaped_render_parses_back_to_sanitized_values() -> None:
    fleet = FleetState(clock=Clock())
    fleet.apply("a1", [nasty_report()])
    text, _, _ = render(fleet)
    samples = parsed_samples(text)
    (info,) = [labels for name, labels, _ in samples if name == "fleetwatch_agent_info"]
    for field, raw in NASTY.items():
        assert info[field] == sanitize(raw)
    mounts = {
        labels["mountpoint"] for name, labels, _ in samples if name.startswith("fleetwatch_host_filesystem")
    }
    assert mounts == {sanitize(m) for m in NASTY_MOUNTS}
    nics = {labels["interface"] for name, labels, _ in samples if name.startswith("fleetwatch_host_network")}
    assert nics == {NASTY_NIC}
    assert not [labels for _, labels, _ in samples if labels.get("agent_id") == "victim"]


def test_escaped_render_passes_promtool(promtool: str) -> None:
    fleet = FleetState(clock=Clock())
    fleet.apply("a1", [nasty_report()])
    fleet.apply("a2", [full_report(1, hostname="pc-ke-02")])
    text, _, _ = render(fleet)
    result = check_metrics(promtool, text)
    assert result.returncode == 0, result.stdout + result.stderr


def agent_lines(text: str, agent_id: str) -> list[str]:
    return [line for line in text.splitlines() if f'agent_id="{agent_id}"' in line]


def test_bad_agent_never_affects_another_agents_lines() -> None:
    alone = FleetState(clock=Clock())
    alone.apply("good", [full_report(1, hostname="pc-good")])
    alone_text, _, _ = render(alone)

    mixed = FleetState(clock=Clock())
    mixed.apply("bad", [nasty_report()])
    mixed.apply("good", [full_report(1, hostname="pc-good")])
    mixed.apply("bad", [nasty_report(2)])
    mixed_text, _, _ = render(mixed)

    assert agent_lines(mixed_text, "good") == agent_lines(alone_text, "good")
    good = [(n, lab, v) for n, lab, v in parsed_samples(mixed_text) if lab.get("agent_id") == "good"]
    assert good == parsed_samples(alone_text)


def test_up_until_down_after_intervals() -> None:
    clock = Clock(5000.0)
    fleet = FleetState(down_after_intervals=3, clock=clock)
    fleet.apply("a1", [report(1, interval_seconds=15)])

    clock.now = 5000.0 + 45
    text, up, down = render(fleet)
    assert (up, down) == (1, 0)
    assert value_of(text, "fleetwatch_agent_up", agent_id="a1") == 1

    clock.now = 5000.0 + 45.001
    text, up, down = render(fleet)
    assert (up, down) == (0, 1)
    assert value_of(text, "fleetwatch_agent_up", agent_id="a1") == 0


def test_new_report_brings_agent_back_up() -> None:
    clock = Clock(5000.0)
    fleet = FleetState(clock=clock)
    fleet.apply("a1", [report(1)])
    clock.now += 600
    assert render(fleet)[1:] == (0, 1)
    fleet.apply("a1", [report(2, NOW_MS + 600_000)])
    assert render(fleet)[1:] == (1, 0)


def test_down_window_follows_newest_interval_and_setting() -> None:
    clock = Clock(0.0)
    fleet = FleetState(down_after_intervals=2, clock=clock)
    fleet.apply("a1", [report(1, interval_seconds=15), report(2, interval_seconds=60)])
    entry = fleet.get("a1")
    assert entry is not None
    assert fleet.is_up(entry, 120.0)
    assert not fleet.is_up(entry, 120.5)


def test_render_counts_up_and_down() -> None:
    clock = Clock(1000.0)
    fleet = FleetState(clock=clock)
    fleet.apply("old", [report(1, interval_seconds=15)])
    clock.now = 1100.0
    fleet.apply("new1", [report(1, interval_seconds=15)])
    fleet.apply("new2", [report(1, interval_seconds=60)])
    clock.now = 1150.0
    text, up, down = render(fleet)
    assert (up, down) == (1, 2)  # new1 (50 s > 45 s) and old are down, new2 (50 s <= 180 s) is up
    assert value_of(text, "fleetwatch_agent_up", agent_id="old") == 0
    assert value_of(text, "fleetwatch_agent_up", agent_id="new1") == 0
    assert value_of(text, "fleetwatch_agent_up", agent_id="new2") == 1


def test_empty_fleet_renders_nothing() -> None:
    assert render(FleetState(clock=Clock())) == ("", 0, 0)


def test_families_without_samples_are_not_emitted() -> None:
    fleet = FleetState(clock=Clock())
    fleet.apply("a1", [report(1, host=host_info())])
    text, _, _ = render(fleet)
    assert [f.name for f in families(text)] == [
        "fleetwatch_agent_up",
        "fleetwatch_agent_last_report_timestamp_seconds",
        "fleetwatch_agent_reports_total",
        "fleetwatch_agent_info",
    ]
    assert "fleetwatch_host_" not in text
    assert "probe" not in text


def full_fleet() -> FleetState:
    clock = Clock()
    fleet = FleetState(clock=clock)
    for i in range(3):
        fleet.apply(f"a{i}", [full_report(1, hostname=f"pc-{i}")])
    r = full_report(1, hostname="pc-x")
    r.resources.filesystems.add(mountpoint="/home", fstype="xfs", size_bytes=5)  # no inodes
    r.resources.interfaces.add(name="eth0", up=False)  # duplicate name: must be skipped
    r.resources.filesystems.add(mountpoint="/", fstype="tmpfs")  # duplicate mountpoint: must be skipped
    fleet.apply("ax", [r])
    clock.now += 3600  # a1, a2 and ax go down; a0 reports again and stays up
    fleet.apply("a0", [add_connectivity(add_antivirus(full_report(2, NOW_MS + 3600_000, hostname="pc-0")))])
    fleet.apply("a0", [add_network_devices(full_report(3, NOW_MS + 3600_000, hostname="pc-0"))])
    trap_devices(fleet, "a0")
    return fleet


def test_every_family_is_in_the_catalog_with_its_type() -> None:
    text, _, _ = render(full_fleet())
    found = families(text)
    assert len(found) == len([s for s in BY_NAME.values() if s.scope == "host"])
    for family in found:
        spec = BY_NAME[family.name]
        assert spec.scope == "host"
        assert family.type == ("gauge" if spec.type == "info" else spec.type), family.name
        assert family.help == spec.help
        for line in family.lines:
            assert sample_name(line) == family.name


def test_each_family_appears_once_and_is_contiguous() -> None:
    text, _, _ = render(full_fleet())
    names = [f.name for f in families(text)]
    assert len(names) == len(set(names))
    assert text.count("# TYPE fleetwatch_agent_up ") == 1
    current = None
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            current = line.split(" ")[2]
        elif not line.startswith("#"):
            assert sample_name(line) == current, line


def test_every_sample_has_the_catalog_labels() -> None:
    text, _, _ = render(full_fleet())
    for name, labels, _ in parsed_samples(text):
        assert tuple(sorted(labels)) == tuple(sorted(BY_NAME[name].labels)), name
        assert set(HOST_LABELS) <= set(labels)


def test_no_duplicate_series_for_repeated_names() -> None:
    text, _, _ = render(full_fleet())
    keys = [(n, tuple(sorted(lab.items()))) for n, lab, _ in parsed_samples(text)]
    assert len(keys) == len(set(keys))
    assert value_of(text, "fleetwatch_host_network_up", agent_id="ax", interface="eth0") == 1  # first wins


def test_full_render_passes_promtool(promtool: str) -> None:
    text, up, down = render(full_fleet())
    assert (up, down) == (1, 3)
    result = check_metrics(promtool, text)
    assert result.returncode == 0, result.stdout + result.stderr
