"""The kind registry: each kind complete and in its own module, rendering and storing only its own."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import fields, is_dataclass
from typing import Any

import pytest

from fleetwatch_collector.agentstate import AgentEntry
from fleetwatch_collector.catalog import HOST_INDEX
from fleetwatch_collector.docgen import metrics_markdown
from fleetwatch_collector.exposition import Chunks
from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.kinds import KINDS, Kind
from fleetwatch_collector.validate import Limits
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.collector.support import (
    NOW_MS,
    add_antivirus,
    add_connectivity,
    add_network_devices,
    full_report,
    trap_devices,
)

IDS = [kind.name for kind in KINDS]
# Rendered by exposition.py, not by its kind: its value depends on the time of the scrape.
RENDERED_AT_SCRAPE = {"fleetwatch_agent_up"}


def test_kind_names_are_unique_and_host_comes_first() -> None:
    names = [kind.name for kind in KINDS]
    assert len(names) == len(set(names))
    assert names[0] == "host"


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_each_kind_lives_in_its_own_module(kind: Kind[Any]) -> None:
    module = f"fleetwatch_collector.kinds.{kind.name}"
    assert {kind.validate.__module__, kind.take.__module__, kind.render.__module__} == {module}


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_section_is_a_report_message_field(kind: Kind[Any]) -> None:
    if kind.section is None:
        assert kind.name == "host"
        return
    field = pb.Report.DESCRIPTOR.fields_by_name[kind.section]
    assert field.message_type is not None, kind.section


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_state_is_fresh_per_agent_and_holds_its_counters(kind: Kind[Any]) -> None:
    state = kind.new_state()
    assert is_dataclass(state)
    assert state is not kind.new_state()
    assert set(kind.counters) <= {f.name for f in fields(state)}


def test_counter_names_are_unique_across_kinds() -> None:
    """They share one JSON object in the store."""
    names = Counter(name for kind in KINDS for name in kind.counters)
    assert [name for name, n in names.items() if n > 1] == []


def full_entry_fleet() -> FleetState:
    fleet = FleetState(clock=lambda: NOW_MS / 1000)
    fleet.apply("a1", [add_network_devices(add_connectivity(add_antivirus(full_report(1))))])
    trap_devices(fleet, "a1")
    return fleet


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_each_kind_renders_all_and_only_its_own_metrics(kind: Kind[Any]) -> None:
    entry = full_entry_fleet().get("a1")
    assert entry is not None
    chunks = Chunks('agent_id="a1"')
    kind.render(chunks, entry, entry.states[kind.name])
    rendered = {name for name, i in HOST_INDEX.items() if chunks.lines[i]}
    assert rendered == {spec.name for spec in kind.metrics} - RENDERED_AT_SCRAPE


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_each_kind_accepts_a_full_report(kind: Kind[Any]) -> None:
    kind.validate(
        "reports[0]", add_network_devices(add_connectivity(add_antivirus(full_report(1)))), Limits()
    )


def test_counters_survive_the_store_format() -> None:
    entry = full_entry_fleet().get("a1")
    assert entry is not None
    saved = json.loads(entry.counters())
    assert set(saved) == {name for kind in KINDS for name in kind.counters}
    assert saved["threats"] == {"ClamAV": 1}
    restored = AgentEntry("a1")
    restored.restore_counters(entry.counters())
    assert restored.counters() == entry.counters()
    restored.restore_counters("{}")  # a store of an older collector: nothing to restore
    assert restored.counters() == entry.counters()


def test_metrics_doc_has_a_section_per_kind() -> None:
    text = metrics_markdown()
    for kind in KINDS:
        assert text.count(f"\n### {kind.name}\n") == 1, kind.name
