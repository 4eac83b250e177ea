"""Benchmark: grpc.aio's own CPU per call, the floor under the collector's CPU per Push.

A grpc.aio server with a trivial handler on 127.0.0.1, with the collector's channel arguments
(server.server_options), in a process of its own, driven like ``bench_scale.py --pushes`` drives the
collector: load-generator processes, each with 4 channels and 64 calls in flight, sending a
single-report PushRequest's worth of bytes with an agent's metadata (id and bearer secret). The
server's CPU over the burst, divided by the calls answered, is the floor per call of:

- ``unary``: a unary-unary method (gRPC reads the message, then calls the handler);
- ``stream``: a stream-unary method whose handler reads its one message with ``context.read()``;
- ``gated``: a unary-unary method turned into a stream-unary one by a server interceptor, whose
  handler reads the message under ``asyncio.timeout`` in its own task: the shape of the collector's
  gate (gate.py), without its credential check and call bounds;
- ``bidi``: one message each way on a stream-stream call held open (each of the 64 in flight is one
  long-lived stream, written and read in turn): what a report would cost as a message of a stream
  per agent instead of a call of its own.

The handlers answer a PushResponse's bytes and nothing else. Modes alternate for --rounds rounds.
``--idle N`` then measures what holding an agent costs the server while it is idle: its RSS with N
connections that each made one unary call, and with N connections that each keep one stream open
(one client process, one connection per channel). The section is appended to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from benchlib import append_results, free_port, section_header, stop

HERE = Path(__file__).resolve().parent
METHOD = "/fleetwatch.v1.Collector/Push"
MODES = ("unary", "stream", "gated", "bidi")
REQUEST_BYTES = 1370  # a simulated workstation's single-report PushRequest (scale_load.py)
RESPONSE = b"\x08\x01"  # PushResponse(acked_seq=1)
CHANNELS, IN_FLIGHT = 4, 64  # per load generator, as scale_load.Pusher


# --- the server --------------------------------------------------------------------------------


async def _unary(request: bytes, context: Any) -> bytes:
    return RESPONSE


async def _bidi(requests: Any, context: Any) -> None:
    import grpc.aio

    while (message := await context.read()) is not grpc.aio.EOF:
        assert isinstance(message, bytes)
        await context.write(RESPONSE)


async def _stream(requests: Any, context: Any) -> bytes:
    message = await context.read()
    assert isinstance(message, bytes)
    return RESPONSE


def _gate() -> Any:
    """An interceptor turning the unary method into a stream-unary one, reading as gate.py does."""
    import grpc
    import grpc.aio

    class Gate(grpc.aio.ServerInterceptor):  # type: ignore[misc]
        async def intercept_service(self, continuation: Callable[[Any], Awaitable[Any]], details: Any) -> Any:
            handler = await continuation(details)
            inner = handler.unary_unary

            async def read_then_call(requests: Any, context: Any) -> Any:
                async with asyncio.timeout(30.0):
                    message = await context.read()
                return await inner(message, context)

            return grpc.stream_unary_rpc_method_handler(read_then_call)

    return Gate()


async def serve(mode: str, port: int) -> None:
    import grpc
    import grpc.aio

    from fleetwatch_collector.server import server_options

    interceptors = [_gate()] if mode == "gated" else []
    server = grpc.aio.server(interceptors=interceptors, options=server_options(4 * 1024 * 1024))
    methods = {
        "stream": grpc.stream_unary_rpc_method_handler(_stream),
        "bidi": grpc.stream_stream_rpc_method_handler(_bidi),
    }
    method = methods.get(mode) or grpc.unary_unary_rpc_method_handler(_unary)
    handler = grpc.method_handlers_generic_handler("fleetwatch.v1.Collector", {"Push": method})
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


# --- the load generators -----------------------------------------------------------------------


CLIENT_OPTIONS = [("grpc.enable_retries", 0), ("grpc.use_local_subchannel_pool", 1)]  # a connection each


def _metadata(number: int) -> tuple[tuple[str, str], ...]:
    return (("x-fleetwatch-agent-id", f"floor-{number:04d}"), ("authorization", "Bearer " + "s" * 43))


@dataclass
class Burst:
    ok: int = 0
    failed: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0


def generator(number: int, address: str, mode: str, commands: Any, results: Any) -> None:
    """A load-generator process: for each "burst" command, calls for that many seconds."""
    while (seconds := commands.get()) is not None:
        cpu = psutil.Process().cpu_times()
        began = time.perf_counter()
        burst = asyncio.run((_stream_burst if mode == "bidi" else _burst)(address, seconds, number))
        burst.seconds = time.perf_counter() - began
        after = psutil.Process().cpu_times()
        burst.cpu_seconds = after.user + after.system - cpu.user - cpu.system
        results.put(burst)


async def _burst(address: str, seconds: float, number: int) -> Burst:
    import grpc.aio

    channels = [grpc.aio.insecure_channel(address, options=CLIENT_OPTIONS) for _ in range(CHANNELS)]
    calls = [c.unary_unary(METHOD, request_serializer=None, response_deserializer=None) for c in channels]
    metadata = _metadata(number)
    request = b"r" * REQUEST_BYTES  # never decoded: only its size matters
    burst = Burst()
    deadline = time.monotonic() + seconds
    turn = iter(range(1 << 62))

    async def worker() -> None:
        while time.monotonic() < deadline:
            try:
                await calls[next(turn) % CHANNELS](request, metadata=metadata, timeout=60)
            except grpc.aio.AioRpcError:
                burst.failed += 1
            else:
                burst.ok += 1

    try:
        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    finally:
        for channel in channels:
            await channel.close()
    return burst


async def _stream_burst(address: str, seconds: float, number: int) -> Burst:
    """As _burst, each of the calls in flight being one stream held open, a message each way per turn."""
    import grpc.aio

    channels = [grpc.aio.insecure_channel(address, options=CLIENT_OPTIONS) for _ in range(CHANNELS)]
    opens = [c.stream_stream(METHOD, request_serializer=None, response_deserializer=None) for c in channels]
    request = b"r" * REQUEST_BYTES
    burst = Burst()
    deadline = time.monotonic() + seconds

    async def worker(n: int) -> None:
        call = opens[n % CHANNELS](metadata=_metadata(number), timeout=seconds + 60)
        while time.monotonic() < deadline:
            await call.write(request)
            if await call.read() is grpc.aio.EOF:
                burst.failed += 1
                return
            burst.ok += 1
        await call.done_writing()
        await call.code()

    try:
        await asyncio.gather(*(worker(n) for n in range(IN_FLIGHT)))
    finally:
        for channel in channels:
            await channel.close()
    return burst


@dataclass
class Run:
    rate: float  # calls answered per second
    cpu_per_call: float  # server CPU seconds per call
    busy: float  # server cores busy
    generators_cpu: float
    failed: int


def run_mode(mode: str, generators: int, seconds: float) -> Run:
    """One server of ``mode`` and ``generators`` load generators for ``seconds``."""
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", mode, "--port", str(port)])
    context = multiprocessing.get_context("spawn")  # grpc does not survive fork
    results: Any = context.Queue()
    queues = [context.Queue() for _ in range(generators)]
    processes = [
        context.Process(target=generator, args=(n, f"127.0.0.1:{port}", mode, q, results))
        for n, q in enumerate(queues)
    ]
    try:
        _wait(port, server)
        for process in processes:
            process.start()
        for q in queues:  # a short warm-up: connections made, the server's code paths taken once
            q.put(1.0)
        for _ in queues:
            results.get(timeout=120)
        cpu = _cpu(server)
        for q in queues:
            q.put(seconds)
        bursts = [results.get(timeout=seconds + 120) for _ in queues]
        used = _cpu(server) - cpu
    finally:
        for q in queues:
            q.put(None)
        for process in processes:
            process.join(30)
            if process.is_alive():
                process.kill()
        stop(server)
    ok = sum(b.ok for b in bursts)
    longest = max(b.seconds for b in bursts)
    return Run(ok / longest, used / max(1, ok), used / longest, sum(b.cpu_seconds for b in bursts),
               sum(b.failed for b in bursts))  # fmt: skip


def idle_cost(mode: str, connections: int) -> float:
    """KiB of server RSS per connection while ``connections`` agents of ``mode`` hold it and say nothing."""
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", mode, "--port", str(port)])
    holder = None
    try:
        _wait(port, server)
        before = psutil.Process(server.pid).memory_info().rss
        command = [sys.executable, __file__, "--hold", mode, "--port", str(port), "--idle", str(connections)]
        holder = subprocess.Popen(command, stdout=subprocess.PIPE)
        assert holder.stdout is not None
        if holder.stdout.readline().strip() != b"held":
            raise SystemExit(f"the {mode} holder did not open its {connections} connections")
        time.sleep(2.0)  # what the server allocated for them settles
        after = psutil.Process(server.pid).memory_info().rss
    finally:
        if holder is not None:
            stop(holder)
        stop(server)
    return (after - before) / connections / 1024


async def hold(mode: str, port: int, connections: int) -> None:
    """The holder process: a connection per channel, one call each (or a stream left open), then idle."""
    import grpc.aio

    channels = [
        grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=CLIENT_OPTIONS) for _ in range(connections)
    ]
    request, held = b"r" * REQUEST_BYTES, []

    async def open_one(n: int) -> None:
        channel = channels[n]
        if mode == "bidi":
            call = channel.stream_stream(METHOD, request_serializer=None, response_deserializer=None)()
            await call.write(request)
            await call.read()
            held.append(call)
        else:
            await channel.unary_unary(METHOD, request_serializer=None, response_deserializer=None)(request)

    for start in range(0, connections, 500):
        await asyncio.gather(*(open_one(n) for n in range(start, min(start + 500, connections))))
    print("held", flush=True)
    await asyncio.sleep(3600)


def _raise_file_limit() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _wait(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"the {port} server did not start") from None
            time.sleep(0.1)


def _cpu(process: subprocess.Popen[bytes]) -> float:
    times = psutil.Process(process.pid).cpu_times()
    return float(times.user + times.system)


def report(args: argparse.Namespace, runs: dict[str, list[Run]], idle: dict[str, float]) -> str:
    command = (
        f"python benchmarks/grpc_floor.py --rounds {args.rounds} --generators {args.generators}"
        f" --burst-seconds {args.burst_seconds:g} --idle {args.idle}"
    )
    rows = section_header("grpc_floor", command)
    rows[-2] = "| figure | " + " | ".join(MODES) + " |"
    rows[-1] = "| --- " * (len(MODES) + 1) + "|"

    def row(name: str, make: Callable[[Run], str]) -> str:
        return f"| {name} | " + " | ".join(", ".join(make(r) for r in runs[m]) for m in MODES) + " |"

    rows += [
        row("calls/s, each round", lambda r: f"{r.rate:,.0f}"),
        row("server CPU per call", lambda r: f"{r.cpu_per_call * 1e6:.0f} µs"),
        row("server cores busy", lambda r: f"{r.busy:.2f}"),
        row("load generators' CPU", lambda r: f"{r.generators_cpu:.1f} s"),
        row("failed calls", lambda r: f"{r.failed:,}"),
        "",
        "Median server CPU per call: "
        + ", ".join(f"{m} {statistics.median(r.cpu_per_call for r in runs[m]) * 1e6:.0f} µs" for m in MODES)
        + f"; single core at that cost: {1 / statistics.median(r.cpu_per_call for r in runs['unary']):,.0f}"
        " unary calls/s.",
        "",
    ]
    if idle:
        rows += [
            f"Idle, {args.idle:,} connections (--idle): the server's RSS grows {idle['unary']:.1f} KiB per"
            f" connection that made one unary call, {idle['bidi']:.1f} KiB per connection holding a stream"
            " open.",
            "",
        ]
    return "\n".join(rows) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds, each running every mode once")
    parser.add_argument("--generators", type=int, default=3, help="load-generator processes")
    parser.add_argument("--burst-seconds", type=float, default=20.0)
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument(
        "--idle", type=int, default=5000, help="connections held idle for the memory figure (0: none)"
    )
    parser.add_argument("--serve", choices=MODES, help=argparse.SUPPRESS)  # the server process
    parser.add_argument("--hold", choices=MODES, help=argparse.SUPPRESS)  # the idle connections' process
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve or args.hold:
        _raise_file_limit()
        asyncio.run(serve(args.serve, args.port) if args.serve else hold(args.hold, args.port, args.idle))
        return 0
    runs: dict[str, list[Run]] = {mode: [] for mode in MODES}
    for n in range(args.rounds):
        for mode in MODES:
            runs[mode].append(run_mode(mode, args.generators, args.burst_seconds))
            last = runs[mode][-1]
            print(
                f"round {n + 1} {mode}: {last.rate:,.0f} calls/s, {last.cpu_per_call * 1e6:.0f} µs",
                file=sys.stderr,
            )
    idle = {mode: idle_cost(mode, args.idle) for mode in ("unary", "bidi")} if args.idle else {}
    text = report(args, runs, idle)
    print(text)
    append_results(args.results, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
