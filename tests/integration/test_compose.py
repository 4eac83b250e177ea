"""The Docker Compose installation in deploy/compose: valid for Compose, consistent with the shipped files."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from fleetwatch_collector.config import load_config
from tests.conftest import REPO_ROOT

COMPOSE_DIR = REPO_ROOT / "deploy" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
SHIPPED_DATASOURCE = REPO_ROOT / "grafana" / "provisioning" / "datasources" / "fleetwatch.yml"
DASHBOARD_PROVIDER = REPO_ROOT / "grafana" / "provisioning" / "dashboards" / "fleetwatch.yml"
SHIPPED_ALERTMANAGER = REPO_ROOT / "deploy" / "alertmanager" / "alertmanager.yml"


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return data


def service(name: str) -> dict[str, Any]:
    services: dict[str, dict[str, Any]] = compose()["services"]
    return services[name]


def mounts(name: str) -> dict[str, str]:
    """Container path -> source of each volume of a service: a host path (resolved) or a volume name."""
    result = {}
    for volume in service(name).get("volumes", []):
        if isinstance(volume, dict):
            source, target = volume.get("source", ""), volume["target"]
        else:
            source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            source = str((COMPOSE_DIR / source).resolve())
        result[target] = source
    return result


def mounted_from(name: str, container_path: str) -> Path:
    """The host path a container path of a service comes from, through the mount that holds it."""
    path = PurePosixPath(container_path)
    for target, source in sorted(mounts(name).items(), key=lambda m: -len(m[0])):
        if path == PurePosixPath(target) or PurePosixPath(target) in path.parents:
            return Path(source) / path.relative_to(target)
    pytest.fail(f"{container_path} of service {name} is in no mount")


def run(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=False, timeout=120, cwd=cwd)


@pytest.fixture
def docker_compose() -> str:
    """The docker client, when it has the Compose plugin.

    Skipped even under FLEETWATCH_REQUIRE_PEERS=1: Compose is an optional way to install, and CI
    machines need not have Docker. The checks below that need no Docker always run.
    """
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("docker is not installed (Docker Compose is optional: the other compose checks ran)")
    version = run(docker, "compose", "version")
    if version.returncode != 0:
        reason = (version.stderr.strip().splitlines() or ["no output"])[0]
        pytest.skip(f"`docker compose version` failed ({reason}): Docker Compose is optional")
    return docker


def test_compose_config_is_valid(docker_compose: str) -> None:
    result = run(docker_compose, "compose", "-f", str(COMPOSE_FILE), "config", "--quiet")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_mounted_host_path_exists() -> None:
    declared = set(compose().get("volumes") or {})
    checked = 0
    for name in compose()["services"]:
        for target, source in mounts(name).items():
            if source.startswith("/"):
                assert Path(source).exists(), f"{name}: {source} (mounted at {target}) does not exist"
                assert Path(source).is_relative_to(REPO_ROOT), f"{name}: {source} is outside the repository"
                checked += 1
            else:
                assert source in declared, f"{name}: volume {source!r} is not declared under volumes:"
    assert checked >= 10
    build = service("collector")["build"]
    context = (COMPOSE_DIR / build["context"]).resolve()
    assert context == REPO_ROOT
    assert (context / build["dockerfile"]).is_file()


def test_images_are_pinned() -> None:
    images = [s["image"] for s in compose()["services"].values() if "image" in s]
    dockerfile = (COMPOSE_DIR / "Dockerfile").read_text()
    images += re.findall(r"^FROM\s+(\S+)", dockerfile, re.M)
    assert len(images) == 4
    for image in images:
        name, _, tag = image.rpartition(":")
        assert name and "/" not in tag, f"{image}: no tag"
        assert tag != "latest", f"{image}: pin a version"
        assert re.search(r"\d", tag), f"{image}: the tag names no version"
    assert "python:3.11-slim" in images


def test_ports_are_published_on_loopback_but_grpc() -> None:
    published = {
        (name, str(port)) for name, s in compose()["services"].items() for port in s.get("ports", [])
    }
    grpc = {("collector", "50051:50051")}
    assert grpc <= published
    for name, port in published - grpc:
        assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond 127.0.0.1"


def test_collector_image_holds_what_the_package_needs() -> None:
    """Dockerfile copies, and Dockerfile.dockerignore lets through, every source the wheel builds from."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    needed = {"pyproject.toml", project["project"]["readme"]}
    needed |= {p.split("/")[0] for p in project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]}
    dockerfile = (COMPOSE_DIR / "Dockerfile").read_text()
    ignored = (COMPOSE_DIR / "Dockerfile.dockerignore").read_text().splitlines()
    for name in needed:
        assert re.search(rf"^COPY .*\b{re.escape(name)}\b", dockerfile, re.M), f"Dockerfile: no COPY {name}"
        assert f"!{name}" in ignored or f"!{name}/" in ignored, f"Dockerfile.dockerignore leaves out {name}"
    assert "pip install --no-cache-dir '.[collector]'" in dockerfile
    command = re.search(r"^CMD (\[.*\])$", dockerfile, re.M)
    assert command, "Dockerfile: no CMD"
    assert yaml.safe_load(command.group(1)) == [
        "fleetwatch-collector",
        "run",
        "--config",
        "/etc/fleetwatch/collector.toml",
    ]


def test_collector_config_loads_and_matches_the_ports() -> None:
    config_path = mounted_from("collector", "/etc/fleetwatch/collector.toml")
    assert config_path == COMPOSE_DIR / "collector.toml"
    config = load_config(config_path)
    config.server.validate()
    assert config.server.grpc_listen == "0.0.0.0:50051"
    assert config.server.http_listen == "0.0.0.0:9464"
    assert mounts("collector")[config.server.data_dir] == "collector-data"
    # Plaintext beyond loopback is the lab default only, and collector.toml says so loudly.
    assert config.tls.allow_insecure and not config.tls.cert_file
    text = config_path.read_text()
    assert "LAB ONLY" in text
    assert "fleetwatch-collector tls init" in text
    for path in re.findall(r"^# *\w+_file = \"(/[^\"]+)\"", text, re.M):
        assert mounted_from("collector", path).parent == COMPOSE_DIR / "tls", path


def test_prometheus_config_passes_promtool(promtool: str, tmp_path: Path) -> None:
    config = COMPOSE_DIR / "prometheus.yml"
    assert mounted_from("prometheus", "/etc/prometheus/prometheus.yml") == config
    result = run(promtool, "check", "config", "--syntax-only", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    # The full check loads the rules too: a copy with the container's rule paths made host paths.
    data = yaml.safe_load(config.read_text())
    rule_files = [str(mounted_from("prometheus", pattern)) for pattern in data["rule_files"]]
    assert rule_files == [str(REPO_ROOT / "deploy" / "prometheus" / "rules" / "*.yml")]
    data["rule_files"] = rule_files
    copy = tmp_path / "prometheus.yml"
    copy.write_text(yaml.safe_dump(data))
    result = run(promtool, "check", "config", str(copy))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 2 rule files found" in result.stdout + result.stderr


def test_prometheus_scrapes_as_the_shipped_config_does() -> None:
    """Same job and limits as deploy/prometheus/prometheus.yml; targets are the compose services."""
    ours = yaml.safe_load((COMPOSE_DIR / "prometheus.yml").read_text())
    shipped = yaml.safe_load((REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    assert ours["global"] == shipped["global"]
    (job,), (shipped_job,) = ours["scrape_configs"], shipped["scrape_configs"]
    assert {k: v for k, v in job.items() if k != "static_configs"} == {
        k: v for k, v in shipped_job.items() if k != "static_configs"
    }
    http_port = load_config(COMPOSE_DIR / "collector.toml").server.http_listen.rpartition(":")[2]
    assert job["static_configs"] == [{"targets": [f"collector:{http_port}"]}]
    (alertmanagers,) = ours["alerting"]["alertmanagers"]
    assert alertmanagers["static_configs"] == [{"targets": ["alertmanager:9093"]}]


def test_alertmanager_gets_the_shipped_config_templates_and_secrets() -> None:
    assert mounted_from("alertmanager", "/etc/fleetwatch/alertmanager.yml") == SHIPPED_ALERTMANAGER
    (script,) = service("alertmanager")["command"]
    # The placeholder of the 0.25 config becomes bot_token_file: the sed must still find it.
    old, new = re.findall(r"sed 's\|([^|]+)\|([^|]+)\|'", script)[0]
    text = SHIPPED_ALERTMANAGER.read_text()
    assert old in text, f"{old!r} is no longer in alertmanager.yml: update compose.yaml"
    rendered = text.replace(old, new)
    assert "__TELEGRAM_BOT_TOKEN__" not in rendered
    config = re.search(r"--config\.file=(\S+)", script)
    assert config
    config_dir = PurePosixPath(config.group(1)).parent
    for pattern in yaml.safe_load(rendered)["templates"]:
        templates = mounted_from("alertmanager", str(config_dir / pattern)).parent
        assert templates == REPO_ROOT / "deploy" / "alertmanager" / "templates"
        assert list(templates.glob(PurePosixPath(pattern).name))
    secret_files = re.findall(r"_file:\s*(\S+)", rendered)
    assert len(secret_files) >= 3
    for path in secret_files:
        assert mounted_from("alertmanager", path).parent == COMPOSE_DIR / "secrets", path


def test_grafana_datasource_is_the_shipped_one_reaching_prometheus_by_name() -> None:
    (ours,) = yaml.safe_load((COMPOSE_DIR / "grafana" / "datasources" / "fleetwatch.yml").read_text())[
        "datasources"
    ]
    (shipped,) = yaml.safe_load(SHIPPED_DATASOURCE.read_text())["datasources"]
    assert ours.pop("url") == "http://prometheus:9090"
    shipped.pop("url")
    assert ours == shipped
    assert ours["uid"] == "fleetwatch-prometheus"
    provisioned = mounted_from("grafana", "/etc/grafana/provisioning/datasources/fleetwatch.yml")
    assert provisioned == COMPOSE_DIR / "grafana" / "datasources" / "fleetwatch.yml"


def test_grafana_finds_the_dashboards_where_the_provider_looks() -> None:
    provider = mounted_from("grafana", "/etc/grafana/provisioning/dashboards/fleetwatch.yml")
    assert provider == DASHBOARD_PROVIDER
    (dashboards,) = yaml.safe_load(DASHBOARD_PROVIDER.read_text())["providers"]
    folder = mounted_from("grafana", dashboards["options"]["path"])
    assert folder == REPO_ROOT / "grafana" / "dashboards"
    assert len(list(folder.glob("*.json"))) >= 5


@pytest.mark.parametrize("folder", ["secrets", "tls"])
def test_secret_folders_keep_their_files_out_of_git(folder: str) -> None:
    git = shutil.which("git")
    if git is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    where = COMPOSE_DIR / folder
    for name in ("smtp_password", "server-key.pem", "ca-key.pem"):
        assert run(git, "check-ignore", "--quiet", str(where / name)).returncode == 0, f"{folder}/{name}"
    for name in (".gitignore", "README.md"):
        assert (where / name).is_file()
        assert run(git, "check-ignore", "--quiet", str(where / name)).returncode == 1, f"{folder}/{name}"
