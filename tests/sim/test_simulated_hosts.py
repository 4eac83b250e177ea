"""Simulated workstations: plausible samples whose counters never go backwards."""

from __future__ import annotations

import random

import pytest

from fleetwatch_agent.probes.resources.wire import Resources
from fleetwatch_sim.hosts import SimulatedHost

NOW = 1_700_000_000


def check_plausible(sample: Resources, host: SimulatedHost) -> None:
    assert 0.0 <= sample.cpu_utilization_ratio <= 1.0
    assert sample.cpu_count == host.facts.cpu_count >= 1
    assert sample.memory_total_bytes == host.facts.memory_total_bytes
    assert 0 <= sample.memory_available_bytes <= sample.memory_total_bytes
    assert 0 <= sample.swap_used_bytes <= sample.swap_total_bytes
    assert sample.boot_time_unix == host.facts.boot_time_unix < NOW
    assert sample.process_count > 0
    (fs,) = sample.filesystems
    assert 0 <= fs.used_bytes <= fs.size_bytes
    assert fs.used_bytes + fs.free_bytes <= fs.size_bytes
    if host.facts.os_family == "windows":
        assert not sample.HasField("load")
    else:
        assert sample.HasField("load")
        assert min(sample.load.load1, sample.load.load5, sample.load.load15) >= 0.0


@pytest.mark.parametrize("seed", range(10))
def test_samples_are_plausible_and_counters_never_decrease(seed: int) -> None:
    host = SimulatedHost.create("sim-x", "pc-x", random.Random(seed), NOW)
    previous = None
    for _ in range(300):
        sample = host.sample(15.0)
        check_plausible(sample, host)
        (nic,) = sample.interfaces
        counters = (
            nic.receive_bytes,
            nic.transmit_bytes,
            nic.receive_packets,
            nic.transmit_packets,
            nic.receive_errors,
            nic.transmit_errors,
            nic.receive_drops,
            nic.transmit_drops,
        )
        if previous is not None:
            assert all(now >= before for now, before in zip(counters, previous, strict=True))
        previous = counters
    assert previous is not None
    assert previous[0] > 0  # traffic did flow


def test_same_seed_gives_the_same_samples() -> None:
    first = SimulatedHost.create("sim-x", "pc-x", random.Random(5), NOW)
    second = SimulatedHost.create("sim-x", "pc-x", random.Random(5), NOW)
    assert first.facts == second.facts
    assert [first.sample(15.0) for _ in range(5)] == [second.sample(15.0) for _ in range(5)]


def test_values_vary_between_samples() -> None:
    host = SimulatedHost.create("sim-x", "pc-x", random.Random(9), NOW)
    samples = [host.sample(15.0) for _ in range(20)]
    assert len({s.cpu_utilization_ratio for s in samples}) > 1
    assert len({s.memory_available_bytes for s in samples}) > 1
