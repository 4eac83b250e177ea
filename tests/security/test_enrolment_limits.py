"""Enrolment you can hand out: tokens with a number of uses, enrolment rates per peer and overall, and
a host name enrolled twice at one site flagged (real collector process, loopback)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import grpc.aio

from fleetwatch_proto.metadata import RETRY_AFTER_MS
from tests.e2e.support import ProcessGroup, run_command
from tests.security.support import running_lab


async def refused_enrol(lab: object, token: str, code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    try:
        await lab.enroll(token, "intruder-pc")  # type: ignore[attr-defined]
    except grpc.aio.AioRpcError as error:
        assert error.code() == code, error
        return error
    raise AssertionError("the enrolment was accepted")


def test_tokens_enrol_at_most_their_uses(processes: ProcessGroup, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_lab(processes, tmp_path) as lab:
            good = await lab.enroll(lab.token(), "good-pc")
            data_dir = str(lab.data_dir)
            made = await asyncio.to_thread(
                run_command,
                "fleetwatch-collector",
                "token",
                "create",
                "--site",
                "xa-an-cu",
                "--max-uses",
                "2",
                "--data-dir",
                data_dir,
            )
            assert made.returncode == 0, made.stderr
            assert "at most 2 enrolments" in made.stderr
            token = made.stdout.strip()
            for i in range(2):
                assert (await lab.enroll(token, f"site-pc-{i}")).agent_id
                assert await lab.push(good) == good.seq  # the agent is served meanwhile
            error = await refused_enrol(lab, token, grpc.StatusCode.UNAUTHENTICATED)
            assert "2 enrolments" in (error.details() or "")
            assert await lab.counter("fleetwatch_collector_enrolments_total", result="token_exhausted") == 1
            single = await asyncio.to_thread(
                run_command, "fleetwatch-collector", "token", "create", "--site", "xa-an-cu", "--single-use",
                "--data-dir", data_dir,
            )  # fmt: skip
            assert (await lab.enroll(single.stdout.strip(), "one-pc")).agent_id
            await refused_enrol(lab, single.stdout.strip(), grpc.StatusCode.UNAUTHENTICATED)
            assert await lab.counter("fleetwatch_collector_enrolments_total", result="token_exhausted") == 2
            # A site token's default: 500 uses; `token list` shows uses and limit.
            await asyncio.to_thread(
                run_command,
                "fleetwatch-collector",
                "token",
                "create",
                "--site",
                "xa-an-cu",
                "--data-dir",
                data_dir,
            )
            listing = await asyncio.to_thread(
                run_command, "fleetwatch-collector", "token", "list", "--data-dir", data_dir
            )
            rows = [line.split() for line in listing.stdout.splitlines()[1:]]
            assert ["2", "False", "2"] in [row[-3:] for row in rows], listing.stdout
            assert ["500", "False", "0"] in [row[-3:] for row in rows], listing.stdout
            assert await lab.push(good) == good.seq

    asyncio.run(scenario())


def test_enrolments_are_rate_limited_per_peer_and_flagged_twice_named(
    processes: ProcessGroup, tmp_path: Path
) -> None:
    options = {
        "enrolment": {
            "limit_loopback": True,
            "per_peer_per_second": 0.5,
            "per_peer_burst": 4,
            "max_wait_seconds": 0.2,
        }
    }

    async def scenario() -> None:
        async with running_lab(processes, tmp_path, options) as lab:
            good = await lab.enroll(lab.token(), "good-pc")
            # A burst of guesses: the first ones are judged (unknown token), the rest refused unjudged.
            results: list[str] = []
            for _ in range(12):
                try:
                    await lab.enroll("fwt1.00000000.guessed-secret", "guess-pc")
                    results.append("ok")
                except grpc.aio.AioRpcError as error:
                    results.append(error.code().name)
                    if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                        hints = [v for k, v in error.trailing_metadata() or () if k == RETRY_AFTER_MS]
                        assert hints and int(hints[0]) > 0, error.trailing_metadata()
                assert await lab.push(good) == good.seq  # authenticated Pushes are not held back
            assert results.count("UNAUTHENTICATED") == 3, results  # burst 4, the good agent's one used
            assert results.count("RESOURCE_EXHAUSTED") == 9, results
            assert await lab.counter("fleetwatch_collector_enrolments_total", result="rate_limited") == 9
            assert await lab.counter("fleetwatch_collector_enrolments_total", result="token_unknown") == 3
            # Waiting as told is enough; a host name already enrolled at the site is flagged.
            await asyncio.sleep(2.5)
            twin = await lab.enroll(lab.token(), "good-pc")
            assert twin.agent_id != good.agent_id
            assert await lab.counter("fleetwatch_collector_duplicate_hostname_enrolments_total") == 1
            assert "with the host name of" in lab.collector.process.stderr()

    asyncio.run(scenario())
