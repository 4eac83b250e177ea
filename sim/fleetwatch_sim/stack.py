"""The operators' stack on one machine, for the demo and the end-to-end tests: Prometheus and
Alertmanager configurations derived from the shipped ones.

The shipped rules and routing are used as they are, with three changes: every receiver is
the local webhook receiver (no mail, no Telegram), the office-hours muting is dropped (a demo
runs at any hour), and every alert's ``for`` is scaled by ``time_scale`` so a demo shows in
minutes what takes an hour in the field.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

# The repository's deploy/ folder: the simulator is installed from a checkout (make venv).
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DURATION_RE = re.compile(r"^(\d+)(ms|s|m|h|d)$")
UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def scale_duration(text: str, factor: float) -> str:
    """'10m' scaled by 0.1 -> '60s'; never below one second."""
    match = DURATION_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a Prometheus duration this tool can scale")
    seconds = int(match.group(1)) * UNIT_SECONDS[match.group(2)] * factor
    return f"{max(1, round(seconds))}s"


def scaled_rules(rules: dict[str, Any], factor: float, evaluation_interval: str) -> dict[str, Any]:
    """A copy of a rule file with every ``for`` and group ``interval`` scaled."""
    groups = []
    for source in rules.get("groups", []):
        group = dict(source, interval=evaluation_interval)
        group["rules"] = [
            dict(rule, **({"for": scale_duration(rule["for"], factor)} if "for" in rule else {}))
            for rule in source.get("rules", [])
        ]
        groups.append(group)
    return {"groups": groups}


def _drop_muting(route: dict[str, Any]) -> dict[str, Any]:
    route = {k: v for k, v in route.items() if k not in ("mute_time_intervals", "active_time_intervals")}
    if "routes" in route:
        route["routes"] = [_drop_muting(child) for child in route["routes"]]
    return route


def local_alertmanager(
    config: dict[str, Any], webhook_url: str, templates: Path, fast: bool
) -> dict[str, Any]:
    """The shipped routing with every receiver sent to ``webhook_url`` and no office-hours muting."""
    route = _drop_muting(config["route"])
    if fast:
        route.update(group_wait="2s", group_interval="5s", repeat_interval="1h")
    local = {
        "global": {"resolve_timeout": "5m"},
        "templates": [str(templates / "*.tmpl")],
        "route": route,
        "inhibit_rules": config.get("inhibit_rules", []),
        "receivers": [
            {"name": r["name"], "webhook_configs": [{"url": webhook_url, "send_resolved": True}]}
            for r in config["receivers"]
        ],
    }
    return local


def prometheus_config(
    collector: str, alertmanager: str, rule_files: list[Path], interval: str
) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(p) for p in rule_files],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [
            {
                "job_name": "fleetwatch-collector",
                "scrape_timeout": interval,
                "body_size_limit": "100MB",
                "static_configs": [{"targets": [collector]}],
            }
        ],
    }


def write_stack(
    out: Path, collector: str, alertmanager: str, webhook_url: str, time_scale: float, interval: str
) -> None:
    """Write out/prometheus.yml, out/rules/*.yml and out/alertmanager.yml."""
    rules_dir = out / "rules"
    shutil.rmtree(rules_dir, ignore_errors=True)
    rules_dir.mkdir(parents=True)
    rule_files = []
    for source in sorted((DEPLOY / "prometheus" / "rules").glob("*.yml")):
        rules = scaled_rules(yaml.safe_load(source.read_text(encoding="utf-8")), time_scale, interval)
        target = rules_dir / source.name
        target.write_text(yaml.safe_dump(rules, allow_unicode=True, sort_keys=False), encoding="utf-8")
        rule_files.append(target)
    shipped = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text(encoding="utf-8"))
    local = local_alertmanager(shipped, webhook_url, DEPLOY / "alertmanager" / "templates", time_scale < 1)
    (out / "alertmanager.yml").write_text(yaml.safe_dump(local, allow_unicode=True, sort_keys=False))
    prometheus = prometheus_config(collector, alertmanager, rule_files, interval)
    (out / "prometheus.yml").write_text(yaml.safe_dump(prometheus, sort_keys=False))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fleetwatch-stack",
        description="Write Prometheus and Alertmanager configurations for a local stack.",
    )
    parser.add_argument("--out", type=Path, required=True, help="folder to write the configurations to")
    parser.add_argument("--collector", default="127.0.0.1:9464", help="collector /metrics HOST:PORT")
    parser.add_argument("--alertmanager", default="127.0.0.1:9093", help="Alertmanager HOST:PORT")
    parser.add_argument("--webhook", default="http://127.0.0.1:9095/", help="URL of the webhook receiver")
    parser.add_argument(
        "--time-scale", type=float, default=0.1, help="factor on every alert's `for` (default: %(default)s)"
    )
    parser.add_argument(
        "--interval", default="5s", help="scrape and rule evaluation interval (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    if not 0 < args.time_scale <= 1:
        parser.error("--time-scale must be in (0, 1]")
    write_stack(args.out, args.collector, args.alertmanager, args.webhook, args.time_scale, args.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
