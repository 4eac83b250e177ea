"""Credentials over real gRPC: every refusal has its exact status and counter, and touches no other agent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import pytest

from fleetwatch_collector import enrolment
from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_proto.metadata import AGENT_ID as AGENT_ID_METADATA
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.e2e.support import auth_metadata, run_command, value_of
from tests.integration.support import GIB, GOOD, GOOD_HOST, Harness, agent_series, report, running_collector

OTHER = "other"  # a second enrolled agent, the one whose credential is misused
CAI_BE_01 = SiteLabels("xa-an-cu", "h-cai-be", "commune", "Xã An Cư")
CAI_BE_02 = SiteLabels("xa-an-huu", "h-cai-be", "commune", "Xã An Hữu")
Scenario = Callable[[Harness], Awaitable[None]]


async def _untouched(data_dir: Path, scenario: Scenario) -> None:
    async with running_collector(data_dir, agents=(GOOD, OTHER)) as h:
        good = h.agent_id(GOOD)
        assert (await h.push([report(1, 3 * GIB)], oldest_held_seq=1)).acked_seq == 1
        before = agent_series(await h.samples(), good)
        assert before, "the good agent's series are missing"
        await scenario(h)
        assert agent_series(await h.samples(), good) == before, "the scenario changed the good agent's series"
        assert (await h.push([report(2, 5 * GIB)])).acked_seq == 2, "the good agent cannot push any more"


def good_agent_untouched(tmp_path: Path, scenario: Scenario) -> None:
    """The good agent pushes, ``scenario`` runs, the good agent's series are unchanged and it still pushes."""
    asyncio.run(_untouched(tmp_path, scenario))


async def enrol_refused(h: Harness, token: str, code: grpc.StatusCode, result: str) -> str:
    """An Enroll that fails with ``code``, counted once under enrolments_total{result}, enrolling nobody."""
    before = await h.counter("fleetwatch_collector_enrolments_total", result=result)
    agents_before = len(enrolment.list_agents(h.server.store))
    details = (await h.refused(h.enroll(token), code)).details() or ""
    assert await h.counter("fleetwatch_collector_enrolments_total", result=result) == before + 1, result
    assert len(enrolment.list_agents(h.server.store)) == agents_before, "a refused Enroll created an agent"
    return details


def test_push_without_credential_is_unauthenticated(tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        intruder = [report(1, GIB, hostname="intruder-host")]
        await h.refused_with_counter(
            h.push(intruder, None), grpc.StatusCode.UNAUTHENTICATED, "unauthenticated", AGENT_ID_METADATA
        )
        # A valid agent id without its Bearer secret is no credential either.
        only_id = ((AGENT_ID_METADATA, h.agent_id(OTHER)),)
        await h.refused_with_counter(
            h.push(intruder, metadata=only_id), grpc.StatusCode.UNAUTHENTICATED, "unauthenticated", "Bearer"
        )
        basic = ((AGENT_ID_METADATA, h.agent_id(OTHER)), ("authorization", f"Basic {h.agents[OTHER].secret}"))
        await h.refused_with_counter(
            h.push(intruder, metadata=basic), grpc.StatusCode.UNAUTHENTICATED, "unauthenticated", "Bearer"
        )
        assert "intruder-host" not in await h.text()

    good_agent_untouched(tmp_path, scenario)


@pytest.mark.parametrize("case", ["wrong-secret", "unknown-agent", "good-agents-secret"])
def test_bad_credential_is_unauthenticated(tmp_path: Path, case: str) -> None:
    async def scenario(h: Harness) -> None:
        other = h.agents[OTHER]
        agent_id, secret = {
            "wrong-secret": (other.agent_id, other.secret[:-2] + "xx"),
            "unknown-agent": ("a-0123456789abcdef", other.secret),
            # A stolen secret of one agent does not authenticate another agent id.
            "good-agents-secret": (other.agent_id, h.agents[GOOD].secret),
        }[case]
        await h.refused_with_counter(
            h.push([report(1, GIB, hostname="intruder-host")], metadata=auth_metadata(agent_id, secret)),
            grpc.StatusCode.UNAUTHENTICATED,
            "bad_credential",
            "enrol again",
        )
        assert "intruder-host" not in await h.text()
        assert h.agent_id(OTHER) not in await h.text(), "a refused Push made the agent known"

    good_agent_untouched(tmp_path, scenario)


def test_agent_revoked_by_the_cli_is_refused_at_its_next_push(tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        other = h.agent_id(OTHER)
        assert (await h.push([report(1, GIB, hostname="other-host")], OTHER)).acked_seq == 1
        shown = agent_series(await h.samples(), other)
        result = await asyncio.to_thread(
            run_command, "fleetwatch-collector", "agent", "revoke", other, "--data-dir", str(tmp_path)
        )
        assert result.returncode == 0, result.stderr
        assert f"agent {other} revoked" in result.stdout
        details = await h.refused_with_counter(
            h.push([report(2, 2 * GIB, hostname="other-host")], OTHER),
            grpc.StatusCode.PERMISSION_DENIED,
            "revoked",
        )
        assert other in details, details
        assert agent_series(await h.samples(), other) == shown, "a revoked agent's report was applied"
        listing = await asyncio.to_thread(
            run_command, "fleetwatch-collector", "agent", "list", "--data-dir", str(tmp_path)
        )
        assert f"{other}  *  True" in listing.stdout, listing.stdout
        # An unknown agent id is an operator error with a message, not a traceback.
        missing = await asyncio.to_thread(
            run_command, "fleetwatch-collector", "agent", "revoke", "a-nobody", "--data-dir", str(tmp_path)
        )
        assert missing.returncode == 2 and "a-nobody" in missing.stderr, missing.stderr

    good_agent_untouched(tmp_path, scenario)


def test_expired_token_does_not_enrol(tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        now = time.time()
        token = enrolment.create_token(h.server.store, CAI_BE_01, now, expires=now - 1)
        details = await enrol_refused(h, token, grpc.StatusCode.UNAUTHENTICATED, "token_expired")
        assert "expired" in details, details

    good_agent_untouched(tmp_path, scenario)


def test_revoked_token_does_not_enrol_but_its_agents_keep_working(tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        now = time.time()
        token = enrolment.create_token(h.server.store, CAI_BE_01, now, None)
        first = await h.enroll(token)
        token_id = token.split(".")[1]
        result = await asyncio.to_thread(
            run_command, "fleetwatch-collector", "token", "revoke", token_id, "--data-dir", str(tmp_path)
        )
        assert result.returncode == 0, result.stderr
        details = await enrol_refused(h, token, grpc.StatusCode.UNAUTHENTICATED, "token_revoked")
        assert token_id in details, details
        metadata = auth_metadata(first.agent_id, first.secret)
        assert (await h.push([report(1, GIB, hostname="site-host")], metadata=metadata)).acked_seq == 1

    good_agent_untouched(tmp_path, scenario)


@pytest.mark.parametrize(
    ("make_token", "result"),
    [
        (lambda good: "", "token_malformed"),
        (lambda good: "not a token", "token_malformed"),
        (lambda good: "fwt1.only-two", "token_malformed"),
        (lambda good: "fwt2." + good.split(".", 1)[1], "token_malformed"),
        (lambda good: good + ".extra", "token_malformed"),
        (lambda good: "fwt1.00000000.secret", "token_unknown"),
        (lambda good: good[:-3] + "xyz", "token_unknown"),  # a known token id with a wrong secret
    ],
    ids=["empty", "text", "two-parts", "other-version", "four-parts", "unknown-id", "wrong-secret"],
)
def test_bad_tokens_do_not_enrol(tmp_path: Path, make_token: Callable[[str], str], result: str) -> None:
    async def scenario(h: Harness) -> None:
        good_token = enrolment.create_token(h.server.store, CAI_BE_01, time.time(), None)
        assert not good_token.endswith("xyz")
        await enrol_refused(h, make_token(good_token), grpc.StatusCode.UNAUTHENTICATED, result)
        assert (await h.enroll(good_token)).site == CAI_BE_01.site, "the good token stopped working"

    good_agent_untouched(tmp_path, scenario)


def test_enroll_with_an_invalid_host_is_invalid_argument(tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        token = enrolment.create_token(h.server.store, None, time.time(), None)
        host = report(1, GIB, hostname="bad\nhost").host
        before = await h.counter("fleetwatch_collector_enrolments_total", result="invalid_request")
        error = await h.refused(h.enroll(token, host), grpc.StatusCode.INVALID_ARGUMENT)
        assert "hostname" in (error.details() or ""), error.details()
        assert (
            await h.counter("fleetwatch_collector_enrolments_total", result="invalid_request") == before + 1
        )

    good_agent_untouched(tmp_path, scenario)


def test_site_token_binds_the_labels_whatever_the_payload_claims(tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        victim = h.enrol("victim", CAI_BE_01)
        intruder = h.enrol("intruder", CAI_BE_02)
        own = report(1, 3 * GIB, hostname="victim-pc", site=CAI_BE_01.site)
        assert (await h.push([own], "victim")).acked_seq == 1
        victim_before = agent_series(await h.samples(), victim.agent_id)
        # The intruder claims the victim's hostname and site in its HostInfo, with its own credential.
        claim = report(1, GIB, hostname="victim-pc", site=CAI_BE_01.site)
        claim.resources.memory_total_bytes = 2 * GIB
        assert (await h.push([claim], "intruder")).acked_seq == 1
        samples = await h.samples()
        assert agent_series(samples, victim.agent_id) == victim_before, "the claim changed the victim"
        up = [s.labels for s in samples if s.name == "fleetwatch_agent_up"]
        intruder_up = [labels for labels in up if labels["agent_id"] == intruder.agent_id]
        assert [(x["site"], x["district"], x["site_type"]) for x in intruder_up] == [
            (CAI_BE_02.site, CAI_BE_02.district, CAI_BE_02.site_type)
        ], "the intruder's series must carry the site of its own token"
        info = value_of(
            samples, "fleetwatch_agent_info", agent_id=intruder.agent_id, site_name=CAI_BE_02.site_name
        )
        assert info == 1
        at_victim_site = [x["agent_id"] for x in up if x["site"] == CAI_BE_01.site]
        assert at_victim_site == [victim.agent_id], "the intruder shows at the victim's site"

    good_agent_untouched(tmp_path, scenario)


def test_replayed_bytes_are_acknowledged_without_effect(tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        other = h.agent_id(OTHER)
        raw = pb.PushRequest(
            reports=[report(seq, seq * GIB, hostname="other-host") for seq in (1, 2)], oldest_held_seq=1
        ).SerializeToString()
        assert pb.PushResponse.FromString(await h.push_raw(raw, OTHER)).acked_seq == 2
        shown = agent_series(await h.samples(), other)
        assert value_of(await h.samples(), "fleetwatch_agent_reports_total", agent_id=other) == 2
        applied = await h.counter("fleetwatch_collector_reports_applied_total")
        duplicates = await h.counter("fleetwatch_collector_reports_duplicate_total")
        ok = await h.counter("fleetwatch_collector_pushes_total", code="OK")
        # The very same bytes again, as a replaying man in the middle (or a retrying agent) sends them.
        assert pb.PushResponse.FromString(await h.push_raw(raw, OTHER)).acked_seq == 2
        assert agent_series(await h.samples(), other) == shown, "a replay changed the agent's series"
        assert await h.counter("fleetwatch_collector_reports_applied_total") == applied
        assert await h.counter("fleetwatch_collector_reports_duplicate_total") == duplicates + 2
        assert await h.counter("fleetwatch_collector_pushes_total", code="OK") == ok + 1
        assert not [s for s in await h.samples() if s.name == "fleetwatch_collector_rejected_total"]

    good_agent_untouched(tmp_path, scenario)


def test_the_store_keeps_no_secret(tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        token = enrolment.create_token(h.server.store, CAI_BE_01, time.time(), None)
        await h.enroll(token)
        files = b"".join(p.read_bytes() for p in tmp_path.glob("collector.sqlite*"))
        secrets = [token.split(".")[2], *(a.secret for a in h.agents.values())]
        assert h.agent_id(GOOD).encode() in files, "the store files hold no agent at all"
        assert GOOD_HOST.encode() in files
        leaked = [s for s in secrets if s.encode() in files]
        assert not leaked, "secrets stored in clear text"

    good_agent_untouched(tmp_path, scenario)
