"""The shipped Prometheus configuration is valid for the real promtool."""

from __future__ import annotations

import subprocess

from tests.conftest import REPO_ROOT


def test_prometheus_config_passes_promtool(promtool: str) -> None:
    config = REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml"
    result = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr
