"""A real Prometheus for the dashboard tests: scraping the collector, evaluating the project's rules."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import REPO_ROOT, free_port
from tests.e2e.support import ManagedProcess, ProcessGroup, http_get, wait_until

PROMETHEUS_DIR = REPO_ROOT / "deploy" / "prometheus"


def deploy_job_name() -> str:
    """The scrape job of the collector in deploy/prometheus/prometheus.yml."""
    match = re.search(r"job_name:\s*(\S+)", (PROMETHEUS_DIR / "prometheus.yml").read_text())
    assert match, "deploy/prometheus/prometheus.yml: no job_name"
    return match.group(1).strip("\"'")


@dataclass
class PrometheusServer:
    process: ManagedProcess
    url: str

    def query(self, expr: str) -> dict[str, Any]:
        """The JSON answer of /api/v1/query for ``expr`` at the current time (errors included)."""
        body = urllib.parse.urlencode({"query": expr}).encode()
        request = urllib.request.Request(f"{self.url}/api/v1/query", data=body, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10.0) as response:
                answer: dict[str, Any] = json.loads(response.read())
        except urllib.error.HTTPError as exc:  # 400/422: the error is in the JSON body
            answer = json.loads(exc.read() or b"{}")
            answer.setdefault("status", "error")
            answer.setdefault("error", f"HTTP {exc.code}")
        return answer

    def result(self, expr: str) -> list[dict[str, Any]]:
        """The result vector of a valid query; fails on a query error."""
        answer = self.query(expr)
        assert answer.get("status") == "success", f"{expr}: {answer.get('errorType')}: {answer.get('error')}"
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def result_when(
        self, expr: str, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 40.0
    ) -> list[dict[str, Any]]:
        """The result of ``expr`` once ``done`` holds for it (rates and recording rules need a few
        scrapes), or the last one when ``timeout`` seconds have passed."""
        deadline = time.monotonic() + timeout
        result = self.result(expr)
        while not done(result) and time.monotonic() < deadline:
            time.sleep(0.5)
            result = self.result(expr)
        return result


def fast_rule_copies(destination: Path, interval: str = "1s") -> list[Path]:
    """Copies of deploy/prometheus/rules/*.yml whose groups evaluate every ``interval``."""
    destination.mkdir(parents=True, exist_ok=True)
    copies = []
    for rules in sorted((PROMETHEUS_DIR / "rules").glob("*.yml")):
        text = re.sub(
            r"^(\s*)interval:\s*\S+\s*$", rf"\g<1>interval: {interval}", rules.read_text(), flags=re.M
        )
        copy = destination / rules.name
        copy.write_text(text)
        copies.append(copy)
    assert copies, "no rule files in deploy/prometheus/rules"
    return copies


def start_prometheus(
    group: ProcessGroup, prometheus: str, tmp: Path, scrape_target: str, *more_targets: str
) -> PrometheusServer:
    """Prometheus on a free loopback port scraping ``scrape_target`` (and ``more_targets``, the
    members of a cluster, in the same job) every second with the project's rules evaluated every
    second; returns once it is ready."""
    targets = ", ".join(json.dumps(target) for target in (scrape_target, *more_targets))
    rules = fast_rule_copies(tmp / "rules")
    config = tmp / "prometheus.yml"
    # JSON strings are YAML strings: no quoting question for paths and addresses.
    config.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  scrape_timeout: 1s\n"
        "  evaluation_interval: 1s\n"
        "rule_files:\n" + "".join(f"  - {json.dumps(str(path))}\n" for path in rules) + "scrape_configs:\n"
        f"  - job_name: {json.dumps(deploy_job_name())}\n"
        "    static_configs:\n"
        f"      - targets: [{targets}]\n"
    )
    address = f"127.0.0.1:{free_port()}"
    process = group.spawn(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address={address}",
            "--storage.tsdb.retention.time=1h",
        ],
        "prometheus",
    )
    server = PrometheusServer(process, f"http://{address}")
    wait_until(
        lambda: http_get(f"{server.url}/-/ready", timeout=2.0)[0] == 200, "prometheus ready", watch=(process,)
    )
    return server
