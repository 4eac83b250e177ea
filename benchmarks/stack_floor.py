"""The agent's stack without the agent: what its memory and CPU per cycle cannot go below.

Imports what the agent is built on (asyncio, its gRPC client over h2 -- the agent's h2channel, which
stands for the library it replaced --, protobuf with the generated contract, psutil, sqlite3, tomllib,
logging) and every ``--interval`` seconds does a resources cycle's work in the plainest way, in one
thread: the psutil reads, a Report message, one row written to SQLite (WAL, synchronous=FULL) and
deleted without an fsync of its own (as the agent's spool does), and one Push to the collector (empty,
gzip and without a credential: the collector refuses it, after a full round trip). Started by
``bench_agent_rss.py --footprint``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sqlite3
import tempfile
import time
import tomllib
from pathlib import Path

import psutil

from fleetwatch_agent.h2channel import Channel, RpcError
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

log = logging.getLogger("stack_floor")
PUSH = "/fleetwatch.v1.Collector/Push"


def resources() -> pb.Resources:
    memory = psutil.virtual_memory()
    message = pb.Resources(
        cpu_count=psutil.cpu_count() or 1,
        memory_total_bytes=memory.total,
        memory_available_bytes=memory.available,
        swap_total_bytes=psutil.swap_memory().total,
        boot_time_unix=int(psutil.boot_time()),
        process_count=len(psutil.pids()),
    )
    psutil.cpu_times()
    for part in psutil.disk_partitions():
        usage = psutil.disk_usage(part.mountpoint)
        message.filesystems.add(mountpoint=part.mountpoint, size_bytes=usage.total, used_bytes=usage.used)
    stats = psutil.net_if_stats()
    for name, io in psutil.net_io_counters(pernic=True).items():
        up = stats[name].isup if name in stats else False
        message.interfaces.add(name=name, up=up, receive_bytes=io.bytes_recv, transmit_bytes=io.bytes_sent)
    return message


async def run(address: str, interval: float, db: sqlite3.Connection) -> None:
    channel = Channel(address, None)
    empty = pb.PushRequest().SerializeToString()
    seq = 0
    while True:
        seq += 1
        report = pb.Report(seq=seq, collected_unix_ms=int(time.time() * 1000), interval_seconds=int(interval))
        report.resources.CopyFrom(resources())
        with db:
            db.execute("INSERT INTO reports VALUES (?, ?)", (seq, report.SerializeToString()))
        try:
            await channel.unary(PUSH, empty, timeout=10, compressed=True)
        except RpcError as exc:
            log.debug("push: %s", exc.code.name)
        db.execute("PRAGMA synchronous=NORMAL")
        with db:
            db.execute("DELETE FROM reports WHERE seq = ?", (seq,))
        db.execute("PRAGMA synchronous=FULL")
        await asyncio.sleep(interval)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--collector", required=True, help="host:port")
    parser.add_argument("--interval", type=float, default=15.0)
    args = parser.parse_args()
    tomllib.loads("[a]\nb = 1\n")  # parsed once, as the agent parses its configuration
    with tempfile.TemporaryDirectory(prefix="fw-floor-") as tmp:
        db = sqlite3.connect(Path(tmp) / "spool.sqlite", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("CREATE TABLE reports (seq INTEGER PRIMARY KEY, body BLOB)")
        db.isolation_level = "DEFERRED"
        asyncio.run(run(args.collector, args.interval, db))


if __name__ == "__main__":
    main()
