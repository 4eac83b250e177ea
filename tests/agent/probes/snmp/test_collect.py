"""One snmp collection with a fake poller: link changes across polls, committed like the agent does."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetwatch_agent.probes.context import ProbeContext
from fleetwatch_agent.probes.snmp import SnmpConfig, wire
from fleetwatch_agent.probes.snmp.collect import PlannedDevice, PollLoop, make_collect
from fleetwatch_agent.probes.snmp.model import LinkChange, SnmpResult
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.agent.probes.snmp.devices_support import FakePoller, device, planned, unreachable

NOW = 1_760_000_000.0
CONFIG = SnmpConfig(timeout_seconds=2.0, deadline_seconds=1.0, request_timeout_seconds=0.5)


class Agent:
    """What the agent does around the probe: one collect function, cursors committed with kept reports."""

    def __init__(self, poller: FakePoller, names: list[str], config: SnmpConfig = CONFIG) -> None:
        self.cursors: dict[str, str] = {}
        self.now = NOW
        self.poller = poller
        self.made = 0
        self.thread_of_poller = ""

        def make_poller() -> FakePoller:
            asyncio.get_running_loop()  # made on the loop it will poll on
            self.made += 1
            self.thread_of_poller = threading.current_thread().name
            return poller

        self.polls = PollLoop(make_poller)
        context = ProbeContext(Path("."), cursors=self.cursors, clock=lambda: self.now)
        self.collect = make_collect(
            config, context, planned(names), self.polls, secrets=("s3cret-community",)
        )

    def cycle(self, keep: bool = True) -> SnmpResult:
        """One collection; its report is spooled (cursors committed) unless ``keep`` is False."""
        self.now += 15
        result = self.collect()
        if keep:
            self.cursors.update(result.cursors)
        return result


@pytest.fixture
def agents() -> Iterator[list[Agent]]:
    made: list[Agent] = []
    yield made
    for agent in made:
        agent.polls.close()


def new_agent(agents: list[Agent], script: dict[str, list[pb.NetworkDevice]], **kwargs: object) -> Agent:
    agent = Agent(FakePoller(script, **kwargs), list(script))  # type: ignore[arg-type]
    agents.append(agent)
    return agent


def test_a_changed_oper_state_is_one_link_change_at_the_time_of_its_poll(agents: list[Agent]) -> None:
    agent = new_agent(
        agents,
        {
            "r1": [
                device("r1", {"Gi0/0": True, "Gi0/1": True}),
                device("r1", {"Gi0/0": True, "Gi0/1": False}),
                device("r1", {"Gi0/0": True, "Gi0/1": False}),
                device("r1", {"Gi0/0": True, "Gi0/1": True}),
            ]
        },
    )
    first = agent.cycle()
    assert first.link_changes == ()
    assert [d.name for d in first.devices] == ["r1"] and first.devices[0].reachable
    second = agent.cycle()
    assert second.link_changes == (LinkChange("r1", "Gi0/1", False, 2, int(agent.now * 1000)),)
    assert agent.cycle().link_changes == ()
    assert agent.cycle().link_changes == (LinkChange("r1", "Gi0/1", True, 2, int(agent.now * 1000)),)
    assert agent.made == 1, "one poller for the agent's life"
    assert agent.poller.polled == ["r1"] * 4
    assert agent.thread_of_poller == "snmp-poller"


def test_a_change_whose_report_was_not_kept_comes_again_with_the_next_one(agents: list[Agent]) -> None:
    agent = new_agent(
        agents,
        {"r1": [device("r1", {"wan": True}), device("r1", {"wan": False}), device("r1", {"wan": False})]},
    )
    agent.cycle()
    dropped = agent.cycle(keep=False)  # e.g. the agent stopped before spooling it
    assert [c.up for c in dropped.link_changes] == [False]
    kept = agent.cycle()
    assert [(c.interface, c.up) for c in kept.link_changes] == [("wan", False)]


def test_a_device_that_does_not_answer_keeps_its_states_until_it_does(agents: list[Agent]) -> None:
    agent = new_agent(
        agents,
        {
            "r1": [
                device("r1", {"wan": True, "lan": True}),
                unreachable("r1"),
                device("r1", {"wan": False, "lan": True}),
            ]
        },
    )
    agent.cycle()
    silent = agent.cycle()
    assert silent.link_changes == () and not silent.devices[0].reachable
    back = agent.cycle()
    assert [(c.interface, c.up, c.if_index) for c in back.link_changes] == [("wan", False, 1)]


def test_an_interface_seen_first_makes_no_change_and_other_devices_are_apart(agents: list[Agent]) -> None:
    agent = new_agent(
        agents,
        {
            "r1": [device("r1", {"wan": True}), device("r1", {"wan": True, "lan": False})],
            "r2": [device("r2", {"wan": True}), device("r2", {"wan": False})],
        },
    )
    agent.cycle()
    result = agent.cycle()
    assert [(c.device, c.interface, c.up) for c in result.link_changes] == [("r2", "wan", False)]
    assert [d.name for d in result.devices] == ["r1", "r2"]


def test_the_cursor_of_a_device_no_longer_configured_is_cleared(agents: list[Agent]) -> None:
    agent = new_agent(agents, {"r1": [device("r1", {"wan": True})]})
    agent.cursors["snmp-links:old-router"] = "1:1"
    result = agent.cycle()
    assert result.cursors["snmp-links:old-router"] == ""
    assert result.cursors["snmp-links:r1"] == "1:1"


def test_a_device_still_polling_at_the_budget_is_cut_and_the_others_reported(agents: list[Agent]) -> None:
    agent = new_agent(
        agents, {"r1": [device("r1", {"wan": True})], "r2": [device("r2", {"wan": True})]}, hang={"r2"}
    )
    result = agent.cycle()
    r1, r2 = result.devices
    assert r1.reachable and not r2.reachable
    assert wire.error_class_name(r2) == "timeout"
    assert "cut at the probe's budget" in r2.error
    assert (r2.name, r2.address) == ("r2", "127.0.0.1:1161")
    assert result.devices_cut == 1
    assert "(1.8 s, 90% of timeout_seconds)" in r2.error


def test_a_poller_failure_is_kept_to_its_device_and_logged_without_secret(
    agents: list[Agent], caplog: pytest.LogCaptureFixture
) -> None:
    agent = new_agent(
        agents, {"r1": [device("r1", {"wan": True})], "r2": [device("r2", {"wan": True})]}, fail={"r1"}
    )
    r1, r2 = agent.cycle().devices
    assert (r1.reachable, wire.error_class_name(r1)) == (False, "other")
    assert r1.error == "RuntimeError: poller bug for r1 (community ***)"
    assert r2.reachable
    assert "snmp poll of r1 failed: RuntimeError: poller bug for r1 (community ***)" in caplog.text
    assert "s3cret" not in caplog.text


def test_a_secret_in_a_pollers_error_text_is_redacted(agents: list[Agent]) -> None:
    leaky = pb.NetworkDevice(name="r1", reachable=False, error="community s3cret-community refused")
    result = new_agent(agents, {"r1": [leaky]}).cycle()
    assert result.devices[0].error == "community *** refused"


def test_a_device_not_polled_is_reported_with_the_reason() -> None:
    poller = FakePoller({})
    polls = PollLoop(lambda: poller)
    try:
        skipped = PlannedDevice("r9", "192.0.2.9", None, "not polled: loopback only")
        collect = make_collect(CONFIG, ProbeContext(Path("."), clock=lambda: NOW), [skipped], polls)
        (r9,) = collect().devices
    finally:
        polls.close()
    assert (r9.name, r9.address, r9.reachable, r9.error) == (
        "r9",
        "192.0.2.9",
        False,
        "not polled: loopback only",
    )
    assert poller.polled == []


def test_the_result_goes_on_the_wire_with_its_events(agents: list[Agent]) -> None:
    agent = new_agent(agents, {"r1": [device("r1", {"wan": True}), device("r1", {"wan": False})]})
    agent.cycle()
    result = agent.cycle()
    report = pb.Report(seq=7, collected_unix_ms=int(agent.now * 1000))
    wire.to_wire(result, report)
    assert [d.name for d in report.network_devices] == ["r1"]
    (event,) = report.events
    assert event.time_unix_ms == int(agent.now * 1000)
    assert (event.link_change.device, event.link_change.interface, event.link_change.up) == (
        "r1",
        "wan",
        False,
    )
    assert event.link_change.if_index == 1


def test_close_stops_the_loop_and_closes_the_poller(agents: list[Agent]) -> None:
    agent = new_agent(agents, {"r1": [device("r1", {"wan": True})]})
    agent.cycle()
    agent.polls.close()
    for _ in range(100):
        if agent.poller.closed and not any(t.name == "snmp-poller" for t in threading.enumerate()):
            break
        threading.Event().wait(0.05)
    assert agent.poller.closed


def test_a_poller_that_could_not_be_made_is_made_at_the_next_collection_on_the_same_loop() -> None:
    attempts: list[str] = []
    poller = FakePoller({"r1": [device("r1", {"wan": True})]})

    def make_poller() -> FakePoller:
        attempts.append(threading.current_thread().name)
        if len(attempts) == 1:
            raise OSError("no socket left")
        return poller

    polls = PollLoop(make_poller, name="snmp-poller-retry")
    collect = make_collect(CONFIG, ProbeContext(Path("."), clock=lambda: NOW), planned(["r1"]), polls)
    try:
        with pytest.raises(OSError, match="no socket left"):
            collect()
        assert collect().devices[0].reachable
    finally:
        polls.close()
    assert attempts == ["snmp-poller-retry", "snmp-poller-retry"]
    assert sum(1 for t in threading.enumerate() if t.name == "snmp-poller-retry") <= 1
