"""The recording and alert rules pass promtool's checks and their unit tests."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import REPO_ROOT

RULES = sorted((REPO_ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))
RULE_TESTS = sorted((REPO_ROOT / "deploy" / "prometheus" / "tests").glob("*.yml"))


@pytest.mark.parametrize("rules", RULES, ids=lambda p: p.name)
def test_rules_pass_promtool_check(promtool: str, rules: object) -> None:
    result = subprocess.run(
        [promtool, "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("tests", RULE_TESTS, ids=lambda p: p.name)
def test_rule_unit_tests_pass(promtool: str, tests: object) -> None:
    result = subprocess.run(
        [promtool, "test", "rules", str(tests)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_rule_file_has_a_unit_test() -> None:
    tested = set()
    for path in RULE_TESTS:
        for line in path.read_text().splitlines():
            if line.strip().startswith("- ../rules/"):
                tested.add(line.strip()[len("- ../rules/") :])
    assert {p.name for p in RULES} <= tested
