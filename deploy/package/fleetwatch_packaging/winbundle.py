"""The Windows offline bundle: wheels per Python, install.ps1, uninstall.ps1, the technician's pages."""
# fleetwatch-agent-<version>-windows/
#   install.ps1, uninstall.ps1, README.txt, agent.example.toml, install.md, install.vi.md
#   wheels/cp311/, wheels/cp312/, wheels/cp313/   every wheel for that Python, the project's included
#   SHA256SUMS                                   checked by install.ps1 before it installs anything

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from fleetwatch_packaging.common import PACKAGE_DIR, REPO_ROOT, project, write_sha256sums
from fleetwatch_packaging.winwheels import SUPPORTED_PYTHONS, check_wheels, resolve

SCRIPTS = ("install.ps1", "uninstall.ps1", "README.txt")
# snmp: any workstation can be its site's router poller ([probes.snmp]) without a download.
EXTRAS = ("agent", "snmp")
ZIP_TIME = (2020, 1, 1, 0, 0, 0)  # fixed member times: the same inputs give the same zip


def wheel_folder(python: str) -> str:
    return "cp" + python.replace(".", "")


def build_bundle(
    project_wheel: Path, out: Path, work: Path, pythons: tuple[str, ...] = SUPPORTED_PYTHONS
) -> tuple[Path, Path]:
    """The bundle folder and its zip, both in ``out``."""
    name = f"fleetwatch-agent-{project().version}-windows"
    root = work / name
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    for python in pythons:
        folder = root / "wheels" / wheel_folder(python)
        resolve(project_wheel, list(EXTRAS), python, folder)
        shutil.copyfile(project_wheel, folder / project_wheel.name)
        check_wheels(folder, python)
    for script in SCRIPTS:
        shutil.copyfile(PACKAGE_DIR / "windows" / script, root / script)
    shutil.copyfile(REPO_ROOT / "agent" / "agent.example.toml", root / "agent.example.toml")
    for page in ("install.md", "install.vi.md"):
        shutil.copyfile(REPO_ROOT / "docs" / page, root / page)
    write_sha256sums(root)

    out.mkdir(parents=True, exist_ok=True)
    folder_out = out / name
    if folder_out.exists():
        shutil.rmtree(folder_out)
    shutil.copytree(root, folder_out)
    archive = out / f"{name}.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                info = zipfile.ZipInfo(f"{name}/{path.relative_to(root).as_posix()}", ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                bundle.writestr(info, path.read_bytes())
    return folder_out, archive
