"""Host facts: the machine identity sent at enrolment, the agent id, the OS name from os-release fields."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from fleetwatch_agent.hostfacts import (
    derive_agent_id,
    machine_identity,
    os_release_name,
    read_host_facts,
    read_machine_id,
    windows_machine_guid,
)
from fleetwatch_proto.limits import AGENT_ID_RE, MACHINE_ID_RE


def machine_id_file(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content)
    return path


def test_agent_id_is_stable_and_a_valid_id(tmp_path: Path) -> None:
    path = machine_id_file(tmp_path, "machine-id", "0123456789abcdef0123456789abcdef\n")
    agent_id = derive_agent_id((path,))
    assert agent_id == derive_agent_id((path,))
    assert AGENT_ID_RE.match(agent_id)
    assert agent_id.startswith("a-")
    assert len(agent_id) == 18


def test_surrounding_whitespace_does_not_change_the_id(tmp_path: Path) -> None:
    plain = machine_id_file(tmp_path, "a", "0123456789abcdef")
    padded = machine_id_file(tmp_path, "b", "  0123456789abcdef\n\n")
    assert derive_agent_id((plain,)) == derive_agent_id((padded,))


def test_different_machine_ids_give_different_agent_ids(tmp_path: Path) -> None:
    first = machine_id_file(tmp_path, "a", "0123456789abcdef0123456789abcdef")
    second = machine_id_file(tmp_path, "b", "fedcba9876543210fedcba9876543210")
    assert derive_agent_id((first,)) != derive_agent_id((second,))


def test_missing_or_empty_files_fall_through_to_the_next(tmp_path: Path) -> None:
    real = machine_id_file(tmp_path, "dbus-machine-id", "0123456789abcdef")
    empty = machine_id_file(tmp_path, "empty", "\n")
    missing = tmp_path / "absent"
    assert derive_agent_id((missing, empty, real)) == derive_agent_id((real,))


def test_without_any_machine_id_the_fallback_is_stable_and_valid(tmp_path: Path) -> None:
    paths = (tmp_path / "absent", machine_id_file(tmp_path, "empty", ""))
    fallback = derive_agent_id(paths)
    assert fallback == derive_agent_id(paths)
    assert AGENT_ID_RE.match(fallback)
    assert fallback != derive_agent_id((machine_id_file(tmp_path, "id", "0123456789abcdef"),))


def test_os_release_prefers_pretty_name() -> None:
    fields = {"NAME": "Debian GNU/Linux", "PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)", "VERSION_ID": "12"}
    assert os_release_name(fields) == ("Debian GNU/Linux 12 (bookworm)", "12")


def test_os_release_falls_back_to_name_then_linux() -> None:
    assert os_release_name({"NAME": "Alpine Linux", "PRETTY_NAME": ""}) == ("Alpine Linux", "")
    assert os_release_name({}) == ("Linux", "")


def test_read_host_facts_on_this_host() -> None:
    facts = read_host_facts()
    assert facts.os_family == "linux"
    assert facts.hostname
    assert "." not in facts.hostname
    assert facts.cpu_count >= 1
    assert facts.memory_total_bytes > 0
    assert facts.os_name


def test_machine_identity_is_a_digest_of_the_machine_id_never_the_id(tmp_path: Path) -> None:
    raw = "0123456789abcdef0123456789abcdef"
    path = machine_id_file(tmp_path, "machine-id", raw + "\n")
    identity = machine_identity("", (path,))
    assert MACHINE_ID_RE.fullmatch(identity)
    assert raw not in identity
    assert identity == machine_identity("", (path,))
    assert read_machine_id((tmp_path / "absent", path)) == raw


def test_agent_id_option_overrides_the_machine_id(tmp_path: Path) -> None:
    path = machine_id_file(tmp_path, "machine-id", "0123456789abcdef")
    assert machine_identity("pc-cloned-07", (path,)) != machine_identity("", (path,))
    cloned = machine_identity("pc-cloned-07", (path,))
    assert machine_identity("pc-cloned-07", (tmp_path / "absent",)) == cloned


def test_no_machine_id_means_no_identity(tmp_path: Path) -> None:
    paths = (tmp_path / "absent", machine_id_file(tmp_path, "empty", "\n"))
    assert read_machine_id(paths) == ""
    assert machine_identity("", paths) == ""


def test_windows_machine_guid_is_read_from_the_64_bit_registry_view(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[tuple[object, ...]] = []

    class Key:
        def __enter__(self) -> Key:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

    def open_key(*args: object) -> Key:
        opened.append(args)
        return Key()

    guid = "6f1c2b9e-0d4a-4c61-9a4e-3b2f8d7c1e05"
    fake = types.SimpleNamespace(
        HKEY_LOCAL_MACHINE="HKLM",
        KEY_READ=0x20019,
        KEY_WOW64_64KEY=0x0100,
        REG_SZ=1,
        OpenKey=open_key,
        QueryValueEx=lambda key, name: (guid + "\n", 1) if name == "MachineGuid" else (None, 0),
    )
    monkeypatch.setitem(sys.modules, "winreg", fake)
    monkeypatch.setattr(sys, "platform", "win32")
    assert windows_machine_guid() == guid
    assert read_machine_id() == guid
    assert opened == [("HKLM", r"SOFTWARE\Microsoft\Cryptography", 0, 0x20019 | 0x0100)] * 2

    def missing(*args: object) -> Key:
        raise FileNotFoundError(2, "The system cannot find the file specified")

    monkeypatch.setattr(fake, "OpenKey", missing)
    assert windows_machine_guid() == ""
