"""The remote write loop against a scripted receiver: batches, retries, refusals, give-up, shutdown."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from types import ModuleType

import cramjam

from fleetwatch_collector.config import RemoteWriteSection
from fleetwatch_collector.remotewrite.encode import Labels, Sample
from fleetwatch_collector.remotewrite.writer import RemoteWriter
from fleetwatch_collector.selfmetrics import CollectorMetrics

SERIES: Labels = (("__name__", "fleetwatch_host_cpus"), ("agent_id", "a1"))
Answer = tuple[int, str] | Exception


class ScriptedSender:
    """Answers from ``script`` in turn (the last one repeats); keeps every body it was given."""

    def __init__(self, *script: Answer) -> None:
        self.script = list(script) or [(204, "")]
        self.bodies: list[bytes] = []
        self.closed = threading.Event()

    def post(self, body: bytes) -> tuple[int, str]:
        self.bodies.append(body)
        answer = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self) -> None:
        self.closed.set()


def section(**options: object) -> RemoteWriteSection:
    values: dict[str, object] = {
        "url": "http://127.0.0.1:9/api/v1/write",
        "min_backoff_seconds": 0.01,
        "max_backoff_seconds": 0.02,
    }
    values.update(options)
    return RemoteWriteSection(**values)  # type: ignore[arg-type]


def samples(count: int) -> list[Sample]:
    return [(SERIES, 1_760_000_000_000 + i * 1000, float(i)) for i in range(count)]


def value(metrics: CollectorMetrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    return found or 0.0


def run(
    sender: ScriptedSender,
    queued: list[Sample],
    until: Callable[[CollectorMetrics], bool],
    **options: object,
) -> CollectorMetrics:
    """Start a writer, queue ``queued``, wait for ``until`` (5 s at most), stop it."""
    metrics = CollectorMetrics()

    async def scenario() -> None:
        writer = RemoteWriter(section(**options), metrics, sender)
        writer.start()
        assert writer.queue.offer(queued)
        for _ in range(500):
            if until(metrics):
                break
            await asyncio.sleep(0.01)
        await writer.stop(1.0)

    asyncio.run(scenario())
    return metrics


def sent(metrics: CollectorMetrics) -> float:
    return value(metrics, "fleetwatch_collector_remote_write_samples_total", result="sent")


def test_batches_are_sent_and_counted(prompb: ModuleType) -> None:
    sender = ScriptedSender((204, ""))
    metrics = run(sender, samples(7), lambda m: sent(m) == 7, batch_samples=3)
    assert sent(metrics) == 7
    assert len(sender.bodies) == 3  # 3 + 3 + 1
    timestamps = []
    for body in sender.bodies:
        request = prompb.WriteRequest.FromString(bytes(cramjam.snappy.decompress_raw(body)))
        timestamps += [s.timestamp for series in request.timeseries for s in series.samples]
    assert timestamps == [1_760_000_000_000 + i * 1000 for i in range(7)]  # in order, each once
    assert value(metrics, "fleetwatch_collector_remote_write_requests_total", result="success") == 3
    assert value(metrics, "fleetwatch_collector_remote_write_last_success_timestamp_seconds") > 0
    assert value(metrics, "fleetwatch_collector_remote_write_queue_samples") == 0
    assert sender.closed.is_set()


def test_server_errors_and_lost_connections_are_retried() -> None:
    sender = ScriptedSender(
        (503, "unavailable"), ConnectionRefusedError(111, "refused"), (429, ""), (200, "")
    )
    metrics = run(sender, samples(4), lambda m: sent(m) == 4)
    assert sent(metrics) == 4
    assert len(sender.bodies) == 4
    assert len(set(sender.bodies)) == 1  # the same request each time
    assert value(metrics, "fleetwatch_collector_remote_write_requests_total", result="error") == 3


def test_too_old_samples_are_counted_and_never_retried() -> None:
    sender = ScriptedSender((500, "too old sample"), (204, ""))
    rejected = "fleetwatch_collector_remote_write_samples_total"
    metrics = run(sender, samples(5), lambda m: value(m, rejected, result="rejected") == 5)
    assert value(metrics, rejected, result="rejected") == 5
    assert len(sender.bodies) == 1
    assert sent(metrics) == 0


def test_a_request_failing_too_long_is_given_up() -> None:
    sender = ScriptedSender((500, "disk full"))
    dropped = "fleetwatch_collector_remote_write_samples_total"
    metrics = run(
        sender, samples(6), lambda m: value(m, dropped, result="dropped") == 6, max_retry_seconds=0.1
    )
    assert value(metrics, dropped, result="dropped") == 6
    assert 2 <= len(sender.bodies) < 100  # retried with a backoff, then given up
    assert sent(metrics) == 0


def test_samples_still_queued_at_shutdown_are_dropped_and_counted() -> None:
    sender = ScriptedSender(ConnectionResetError(104, "reset"))
    errors = "fleetwatch_collector_remote_write_requests_total"
    metrics = run(
        sender,
        samples(10),
        lambda m: value(m, errors, result="error") >= 3,
        batch_samples=2,
        max_retry_seconds=3600,
    )
    total = "fleetwatch_collector_remote_write_samples_total"
    assert value(metrics, total, result="dropped") == 10
    assert sent(metrics) == 0
    assert sender.closed.is_set()
