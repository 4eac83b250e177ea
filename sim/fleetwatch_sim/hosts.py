"""Plausible, varying resource samples for simulated workstations (random walks, growing counters)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from fleetwatch_agent.hostfacts import HostFacts
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

GIB = 1024**3


@dataclass
class SimulatedHost:
    """One simulated workstation; ``sample(dt)`` advances its state by ``dt`` seconds."""

    agent_id: str
    facts: HostFacts
    rng: random.Random
    cpu: float = 0.1
    memory_used: float = 0.5
    disk_used: float = 0.4
    counters: list[int] = field(default_factory=lambda: [0] * 8)

    @classmethod
    def create(cls, agent_id: str, hostname: str, rng: random.Random, now: int) -> SimulatedHost:
        windows = rng.random() < 0.8
        facts = HostFacts(
            hostname=hostname,
            os_family="windows" if windows else "linux",
            os_name=rng.choice(("Windows 10 Pro", "Windows 11 Pro")) if windows else "Ubuntu 22.04.4 LTS",
            os_version="10.0.19045" if windows else "22.04",
            kernel="10.0" if windows else "5.15.0-105-generic",
            arch="AMD64" if windows else "x86_64",
            cpu_count=rng.choice((2, 4, 4, 8)),
            memory_total_bytes=rng.choice((4, 8, 8, 16)) * GIB,
            boot_time_unix=now - rng.randint(600, 30 * 86400),
        )
        return cls(agent_id, facts, rng, cpu=rng.uniform(0.02, 0.3), memory_used=rng.uniform(0.3, 0.8))

    def _walk(self, value: float, step: float, low: float, high: float) -> float:
        return min(high, max(low, value + self.rng.gauss(0.0, step)))

    def sample(self, dt: float, disk_fill: float | None = None) -> pb.Resources:
        """The resources probe's result (the Resources message itself) after ``dt`` more seconds;
        ``disk_fill`` (0..1) drives the system disk from its level to full, as a scenario asks."""
        rng = self.rng
        self.cpu = self._walk(self.cpu, 0.05, 0.01, 1.0)
        self.memory_used = self._walk(self.memory_used, 0.02, 0.15, 0.97)
        self.disk_used = self._walk(self.disk_used, 0.0005, 0.05, 0.9)
        disk_used = (
            self.disk_used if disk_fill is None else self.disk_used + (0.995 - self.disk_used) * disk_fill
        )
        rx_rate, tx_rate = rng.uniform(2e3, 2e5), rng.uniform(1e3, 5e4)
        increments = (rx_rate, tx_rate, rx_rate / 800, tx_rate / 600, 0, 0, 0, 0)
        for i, rate in enumerate(increments):
            self.counters[i] += int(rate * dt)
        if rng.random() < 0.001:
            self.counters[4] += 1  # the odd receive error
        memory_total = self.facts.memory_total_bytes
        disk_total = 256 * GIB
        windows = self.facts.os_family == "windows"
        sample = pb.Resources(
            cpu_utilization_ratio=round(self.cpu, 4),
            cpu_count=self.facts.cpu_count,
            memory_total_bytes=memory_total,
            memory_available_bytes=int(memory_total * (1 - self.memory_used)),
            swap_total_bytes=2 * GIB,
            swap_used_bytes=int(2 * GIB * max(0.0, self.memory_used - 0.7)),
            boot_time_unix=self.facts.boot_time_unix,
            process_count=rng.randint(120, 260),
        )
        if not windows:
            sample.load.CopyFrom(pb.LoadAverage(load1=self.cpu * 4, load5=self.cpu * 3, load15=self.cpu * 2))
        sample.filesystems.add(
            mountpoint="C:\\" if windows else "/",
            device="C:" if windows else "/dev/sda1",
            fstype="NTFS" if windows else "ext4",
            size_bytes=disk_total,
            used_bytes=int(disk_total * disk_used),
            free_bytes=int(disk_total * (1 - disk_used)),
        )
        rx_bytes, tx_bytes, rx_packets, tx_packets, rx_errors, tx_errors, rx_drops, tx_drops = self.counters
        sample.interfaces.add(
            name="Ethernet",
            up=True,
            speed_bits_per_second=1_000_000_000,
            receive_bytes=rx_bytes,
            transmit_bytes=tx_bytes,
            receive_packets=rx_packets,
            transmit_packets=tx_packets,
            receive_errors=rx_errors,
            transmit_errors=tx_errors,
            receive_drops=rx_drops,
            transmit_drops=tx_drops,
        )
        return sample
