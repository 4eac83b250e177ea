"""Every fleetwatch command the documentation shows is accepted as written, and names real sites."""

from __future__ import annotations

import argparse
import itertools
import re
import shlex
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fleetwatch_agent import cli as agent_cli
from fleetwatch_collector import cli as collector_cli
from fleetwatch_proto.sites import load_inventory
from fleetwatch_sim import cli as sim_cli
from tests.conftest import REPO_ROOT
from tests.e2e.support import console_script

DOCUMENTS = sorted(
    {
        *REPO_ROOT.glob("*.md"),
        *REPO_ROOT.glob("*/README.md"),
        *REPO_ROOT.glob("deploy/*/README.md"),
        *REPO_ROOT.glob("docs/*.md"),
    }
    - {REPO_ROOT / "docs" / "metrics.md"}
)
PROGRAMS = (
    "fleetwatch-agent",
    "fleetwatch-collector",
    "fleetwatch-sim",
    "fleetwatch-stack",
    "fleetwatch-receiver",
)
# Placeholders of synopses, and what stands for them here.
PLACEHOLDERS = {
    "HOST:PORT": "127.0.0.1:50051",
    "FILE|demo": "demo",
    "FILE": "file.toml",
    "DIR": "dir",
    "TOKEN_ID": "tok-1",
    "AGENT_ID": "agent-1",
    "SLUG": "xa-tan-my-chanh",
    "URL": "http://127.0.0.1:9095/",
    "S": "10",
    "N": "5",
    "F": "file.token",
}


PARSERS: dict[str, Callable[[], argparse.ArgumentParser]] = {
    "fleetwatch-agent": agent_cli._parser,
    "fleetwatch-collector": collector_cli._parser,
    "fleetwatch-sim": sim_cli._parser,
}


def shell_lines(document: Path) -> Iterator[str]:
    """The command lines of a document's sh code blocks, continuation lines joined."""
    in_block = False
    pending = ""
    for line in document.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            in_block = stripped in ("```sh", "```bash", "```shell") and not in_block
            continue
        if not in_block:
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        yield pending + stripped
        pending = ""


def commands(line: str) -> Iterator[list[str]]:
    """The fleetwatch invocations of one line: comments and redirections dropped, optional
    [parts] kept, synopsis alternatives ("token list | token revoke ID") expanded."""
    line = re.sub(r"\s+#.*$", "", line)
    line = re.sub(r"\s*2?>\s*\S+", "", line)
    for program in PROGRAMS:
        if not line.startswith(program + " ") and line != program:
            continue
        rest = line[len(program) :]
        for alternative in rest.split(" | "):
            text = alternative.replace("[", " ").replace("]", " ")
            words = shlex.split(text)
            yield [program, *(PLACEHOLDERS.get(w, w) for w in words)]


def documented() -> list[tuple[str, list[str]]]:
    found = []
    for document in DOCUMENTS:
        for line in shell_lines(document):
            for command in commands(line):
                found.append((f"{document.relative_to(REPO_ROOT)}: {shlex.join(command)}", command))
    return found


DOCUMENTED = documented()


def test_the_documentation_shows_commands_of_every_main_program() -> None:
    programs = {command[0] for _where, command in DOCUMENTED}
    assert {"fleetwatch-agent", "fleetwatch-collector", "fleetwatch-sim"} <= programs
    assert len(DOCUMENTED) >= 15


@pytest.mark.parametrize(("where", "command"), DOCUMENTED, ids=[w for w, _c in DOCUMENTED])
def test_documented_command_is_accepted(where: str, command: list[str]) -> None:
    program, *argv = command
    if program in ("fleetwatch-stack", "fleetwatch-receiver"):
        # Their parsing is all in main(): --help after the arguments parses them, then exits 0.
        result = subprocess.run([console_script(program), *argv, "--help"], capture_output=True, text=True,
                                timeout=30, check=False)  # fmt: skip
        assert result.returncode == 0, f"{where}\n{result.stderr}"
        return
    parser = PARSERS[program]()
    try:
        parser.parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"{where}: refused by the command's parser (exit {exc.code})")


@pytest.mark.parametrize(("where", "command"), DOCUMENTED, ids=[w for w, _c in DOCUMENTED])
def test_documented_sites_are_in_the_inventory(where: str, command: list[str]) -> None:
    inventory = load_inventory()
    for option, value in itertools.pairwise(command):
        if option == "--site":
            assert inventory.site(value) is not None, f"{where}: site {value!r} is not in the inventory"


def test_documented_token_command_runs(tmp_path: Path) -> None:
    """The first command an operator types, as the README writes it, with a fresh data folder."""
    (where, command) = next(
        (w, c)
        for w, c in DOCUMENTED
        if c[:3] == ["fleetwatch-collector", "token", "create"] and "--site" in c
    )
    result = subprocess.run([console_script(command[0]), *command[1:], "--data-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, f"{where}\n{result.stderr}"
    assert result.stdout.strip().startswith("fwt1.")
