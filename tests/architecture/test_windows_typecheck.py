"""The agent's Windows-only modules: each imports here, and type-checks both as Windows and as Linux code."""

# Nothing runs on a real Windows here. What is checked instead: every module the naming rule
# marks as Windows code imports on Linux (its pywin32 imports sit behind
# `if sys.platform == "win32":`), and mypy with pywin32's stubs (types-pywin32) accepts it for
# win32, where those branches are analysed, and for Linux, where they are skipped.

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

AGENT = REPO_ROOT / "agent"
PACKAGE = AGENT / "fleetwatch_agent"
# The naming rule: `_windows.py`, `*_windows.py`, `windows_*.py`, `iphlpapi_*.py` (the IP Helper API's
# structures and walks), and all of `winservice/`.
WINDOWS_NAME = re.compile(r"^(?:\w*_windows|windows_\w+|iphlpapi_\w+)\.py$")
WINDOWS_PACKAGES = ("winservice",)


def windows_modules() -> list[Path]:
    return sorted(
        path
        for path in PACKAGE.rglob("*.py")
        if "__pycache__" not in path.parts
        and (
            WINDOWS_NAME.match(path.name)
            or any(p in path.relative_to(PACKAGE).parts for p in WINDOWS_PACKAGES)
        )
    )


def dotted(path: Path) -> str:
    parts = path.relative_to(AGENT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def mypy(platform: str, files: list[Path], cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    """mypy with the project's configuration (strict) for ``platform``; its own cache per platform."""
    cache = REPO_ROOT / ".mypy_cache" / f"platform-{platform}"
    command = [
        sys.executable,
        "-m",
        "mypy",
        "--platform",
        platform,
        "--cache-dir",
        str(cache),
        *map(str, files),
    ]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)


def test_the_naming_rule_finds_the_windows_modules() -> None:
    names = {path.relative_to(PACKAGE).as_posix() for path in windows_modules()}
    assert {
        "probes/antivirus/_windows.py",
        "probes/antivirus/windows_text.py",
        "winservice/shell_windows.py",
        "winservice/acl_windows.py",
        "winservice/scm_windows.py",
        "winservice/controller.py",
        "probes/antivirus/windows_wmi.py",
        "probes/connectivity/netinfo_windows.py",
        "probes/connectivity/iphlpapi_types.py",
        "probes/connectivity/iphlpapi_walk.py",
    } <= names
    assert "platformdefaults.py" not in names and "service.py" not in names


@pytest.mark.parametrize("path", windows_modules(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_every_windows_module_imports_on_linux(path: Path) -> None:
    module = importlib.import_module(dotted(path))
    assert module.__doc__, f"{path.name} says what it is for"


def test_the_pywin32_modules_are_not_installed_here() -> None:
    """Else the import test above would prove nothing about the guards."""
    assert sys.platform != "win32"
    for name in ("win32service", "win32serviceutil", "servicemanager", "win32security", "pywintypes"):
        with pytest.raises(ImportError):
            importlib.import_module(name)


@pytest.mark.parametrize("platform", ["win32", "linux"])
def test_the_windows_modules_type_check(platform: str) -> None:
    result = mypy(platform, windows_modules())
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("Success: no issues found"), result.stdout


def test_the_win32_check_sees_the_guarded_code(tmp_path: Path) -> None:
    """A mistake behind the guard fails the win32 check only: the check reads pywin32's stubs."""
    module = tmp_path / "guarded_windows.py"
    module.write_text(
        '"""A guarded pywin32 call with a wrong name."""\n\n'
        "import sys\n\n"
        'if sys.platform == "win32":\n'
        "    import win32service\n\n"
        "    STATE = win32service.SERVICE_RUNNINGG\n"
    )
    broken = mypy("win32", [module])
    assert broken.returncode == 1
    assert 'Module has no attribute "SERVICE_RUNNINGG"' in broken.stdout, broken.stdout
    assert mypy("linux", [module]).returncode == 0
