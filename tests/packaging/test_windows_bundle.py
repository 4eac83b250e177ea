"""The Windows offline bundle: binary win_amd64 wheels for each supported Python, scripts calling what exists.

Resolving needs the package index (pip, as configured); installing from the bundle needs nothing: the
offline resolution below uses the bundle's folder alone. PowerShell cannot run here, so install.ps1
and uninstall.ps1 are checked as text: every agent command they run is parsed by the agent's own
parser, the configuration they write is loaded by the agent's own loader, their parameters are in
the technician's pages. They were never run on a real Windows machine.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name, parse_wheel_filename

from fleetwatch_agent import cli
from fleetwatch_agent.config import load_config
from tests.conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "deploy" / "package"))
from fleetwatch_packaging import winbundle, winwheels

WINDOWS = REPO_ROOT / "deploy" / "package" / "windows"
SCRIPTS = ("install.ps1", "uninstall.ps1")
PAGES = (REPO_ROOT / "docs" / "install.md", REPO_ROOT / "docs" / "install.vi.md")
# What the agent needs on Windows whatever else changes: the service (pywin32) and the core.
PLACEHOLDER = "C:\\value"  # a variable's value in a script, for the parser
ESSENTIAL = ("pywin32", "h2", "protobuf", "psutil", "pysnmp", "cryptography", "fleetwatch")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle")
    command = [sys.executable, str(REPO_ROOT / "deploy" / "package" / "build.py"), "windows",
               "--output", str(out), "--work", str(tmp_path_factory.mktemp("work"))]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr
    (folder,) = (p for p in out.iterdir() if p.is_dir())
    return folder


def python_folders(bundle: Path) -> dict[str, Path]:
    return {
        python: bundle / "wheels" / winbundle.wheel_folder(python) for python in winwheels.SUPPORTED_PYTHONS
    }


@pytest.mark.parametrize("python", winwheels.SUPPORTED_PYTHONS)
def test_every_wheel_is_a_binary_for_windows_amd64_or_pure_python(bundle: Path, python: str) -> None:
    folder = python_folders(bundle)[python]
    wheels = sorted(folder.glob("*.whl"))
    names = {canonicalize_name(parse_wheel_filename(w.name)[0]) for w in wheels}
    assert set(ESSENTIAL) <= names, sorted(names)
    assert not [p.name for p in folder.iterdir() if p.suffix != ".whl"]  # no sdist: nothing to compile
    cp = winbundle.wheel_folder(python)
    for wheel in wheels:
        tags = parse_wheel_filename(wheel.name)[3]
        assert all(t.platform in ("win_amd64", "any") for t in tags), wheel.name
        compiled = [t for t in tags if t.platform == "win_amd64"]
        # A compiled wheel is for this Python exactly, or for the stable ABI of an older one.
        assert all(t.abi in (cp, "abi3", "none") for t in compiled), wheel.name
        assert all(t.abi != cp or t.interpreter == cp for t in compiled), wheel.name
        assert tags & winwheels.accepted_tags(python), wheel.name


@pytest.mark.parametrize("python", winwheels.SUPPORTED_PYTHONS)
def test_bundle_resolves_offline_and_holds_nothing_unneeded(
    bundle: Path, python: str, tmp_path: Path
) -> None:
    folder = python_folders(bundle)[python]
    report = tmp_path / "report.json"
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": "", "PIP_NO_INDEX": "1"}
    command = [
        sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--no-index",
        "--find-links", str(folder), "--only-binary=:all:", "--platform", "win_amd64",
        "--python-version", python, "--implementation", "cp", "--target", str(tmp_path / "target"),
        "--report", str(report), f"fleetwatch[{','.join(winbundle.EXTRAS)}]",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False, env=env)
    assert done.returncode == 0, done.stderr
    chosen = {
        canonicalize_name(item["metadata"]["name"]) for item in json.loads(report.read_text())["install"]
    }
    present = {canonicalize_name(parse_wheel_filename(w.name)[0]) for w in folder.glob("*.whl")}
    # pip evaluates `sys_platform == "win32"` on this Linux machine: pywin32 is the only wheel it leaves out.
    assert present - chosen == {"pywin32"}, present - chosen
    assert chosen <= present


def test_checksums_and_zip_hold_the_same_files(bundle: Path) -> None:
    lines = (bundle / "SHA256SUMS").read_text().splitlines()
    sums = {name: digest for digest, name in (line.split("  ", 1) for line in lines if line)}
    files = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()} - {"SHA256SUMS"}
    assert set(sums) == files
    from fleetwatch_packaging.common import sha256

    assert all(sha256(bundle / name) == digest for name, digest in sums.items())
    with zipfile.ZipFile(bundle.parent / f"{bundle.name}.zip") as archive:
        members = {name.split("/", 1)[1] for name in archive.namelist()}
        assert members == files | {"SHA256SUMS"}
        assert archive.testzip() is None


def test_windows_markers_select_pywin32_that_pip_on_linux_skips() -> None:
    requires = [
        "pywin32>=306; sys_platform == 'win32'",
        "uvloop; sys_platform != 'win32'",
        "scapy>=2.5; extra == 'agent'",
        "colorama; os_name == 'nt' and python_version >= '3.12'",
    ]

    def chosen(python: str) -> list[str]:
        return [r.name for r in winwheels.needed(requires, ["agent"], winwheels.windows_environment(python))]

    assert chosen("3.11") == ["pywin32", "scapy"]
    assert chosen("3.13") == ["pywin32", "scapy", "colorama"]


# --- the scripts, as text -------------------------------------------------------------------------


def script(name: str) -> str:
    return (WINDOWS / name).read_text(encoding="ascii")  # PowerShell 5.1 reads a BOM-less file as ANSI


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_is_strict_ascii_and_stops_on_errors(name: str) -> None:
    text = script(name)
    assert "Set-StrictMode -Version Latest\n" in text
    assert "$ErrorActionPreference = 'Stop'\n" in text
    assert text.count("{") == text.count("}") and text.count("(") == text.count(")")
    assert "Invoke-Expression" not in text and "iex " not in text


def agent_calls(text: str) -> list[list[str]]:
    """The arguments of every `Invoke-Agent ...` call; a variable becomes a placeholder value."""
    calls = []
    for line in text.splitlines():
        match = re.search(r"Invoke-Agent((?: +[^ #]+)+)\s*$", line)
        if match and not line.lstrip().startswith("function"):
            words = match.group(1).split()
            calls.append([PLACEHOLDER if word.startswith("$") else word.strip("'\"") for word in words])
    return calls


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_agent_command_in_the_scripts_exists_in_the_cli(name: str) -> None:
    calls = agent_calls(script(name))
    assert calls
    parser = cli._parser()
    for arguments in calls:
        try:
            parser.parse_args(arguments)
        except SystemExit:
            pytest.fail(f"{name}: fleetwatch-agent {' '.join(arguments)} is refused by the agent's parser")
    commands = {tuple(a[:2]) if a[0] == "service" else (a[0],) for a in calls}
    expected = {
        "install.ps1": {
            ("enroll",),
            ("service", "install"),
            ("service", "start"),
            ("service", "remove"),
            ("check",),
        },
        "uninstall.ps1": {("service", "remove")},
    }
    assert commands == expected[name]


def test_the_agent_parser_check_refuses_an_unknown_command() -> None:
    with pytest.raises(SystemExit):
        cli._parser().parse_args(["service", "reinstall"])
    assert agent_calls("$code = Invoke-Agent service install --config $config\n") == [
        ["service", "install", "--config", PLACEHOLDER]
    ]


def parameters(text: str) -> list[str]:
    block = re.search(r"^param\((.*?)^\)", text, re.M | re.S)
    assert block, "no param( ) block"
    return re.findall(r"\$([A-Z][A-Za-z]+)\b(?!:)", block.group(1))


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_parameters_are_documented_in_both_pages(name: str) -> None:
    names = parameters(script(name))
    assert names
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        missing = [n for n in names if f"-{n}" not in text]
        assert not missing, f"{page.name} does not document {name} {missing}"
        assert name in text


def test_the_config_install_writes_is_a_valid_agent_config(tmp_path: Path) -> None:
    text = script("install.ps1")
    template = re.search(r"^\$ConfigTemplate = @'\n(.*?)\n'@$", text, re.M | re.S)
    assert template

    def toml(value: str) -> str:  # install.ps1's ConvertTo-TomlString
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    data_dir = "C:\\ProgramData\\fleetwatch"
    values = {
        "__DATA_DIR__": toml(data_dir),
        "__SITE__": toml("xa-tan-my-chanh"),
        "__ADDRESSES__": ", ".join(toml(a) for a in ("collector.example:50051", "standby.example:50051")),
        "__CA_FILE__": toml(data_dir + "\\ca.pem"),
        "__TOKEN_FILE__": toml(data_dir + "\\enroll.token"),
    }
    config = template.group(1)
    for placeholder, value in values.items():
        assert placeholder in config and f"'{placeholder}'" in text  # the script replaces each one
        config = config.replace(placeholder, value)
    path = tmp_path / "agent.toml"
    path.write_text(config, encoding="utf-8")
    loaded = load_config(path)
    assert loaded.agent.data_dir == data_dir
    assert loaded.collector.addresses == ("collector.example:50051", "standby.example:50051")
    assert loaded.collector.token_file == data_dir + "\\enroll.token"
    assert loaded.collector.ca_file == data_dir + "\\ca.pem"
    assert loaded.site.slug == "xa-tan-my-chanh"


def test_install_asks_pip_for_the_extras_the_bundle_carries() -> None:
    text = script("install.ps1")
    assert f"'fleetwatch[{','.join(winbundle.EXTRAS)}]'" in text
    assert "--no-index" in text and "--only-binary=:all:" in text
    assert {f"'{p}'" for p in winwheels.SUPPORTED_PYTHONS} <= set(re.findall(r"'3\.\d+'", text))
