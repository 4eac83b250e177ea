"""[cluster]: its options and errors, the key file, the shared revoked file read again when it changes."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from fleetwatch_collector.cluster import RevokedList, append_revoked, load_key, parse_revoked
from fleetwatch_collector.config import ClusterSection, CollectorConfig, load_config
from fleetwatch_collector.sitedir import Reload
from fleetwatch_proto.tomlconfig import ConfigError

A, B = "collector-1.example:50051", "collector-2.example:50051"


def config_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "collector.toml"
    path.write_text("[cluster]\n" + text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def test_defaults_are_a_single_collector() -> None:
    cluster = CollectorConfig().cluster
    assert cluster == ClusterSection((), "", "", 300.0, "")


def test_a_cluster_as_written(tmp_path: Path) -> None:
    path = tmp_path / "collector.toml"
    path.write_text(
        f'[cluster]\nmembers = ["{A}", "{B}"]\nself = "{B}"\nkey_file = "k"\nhandover_seconds = 60\n'
        'revoked_file = "r"\n',
        encoding="utf-8",
    )
    assert load_config(path).cluster == ClusterSection((A, B), B, "k", 60.0, "r")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f'members = ["{A}", "{B}"]\n', "cluster.self: required with members"),
        (f'members = ["{A}", "{B}"]\nself = "collector-3.example:50051"\n', "is not one of members"),
        ('self = "collector-1.example:50051"\n', "cluster.self"),
        (f'members = ["{A}", "{A}"]\nself = "{A}"\n', "cluster.members: every entry once"),
        (f'members = ["{A}", " "]\nself = "{A}"\n', "cluster.members"),
        ("handover_seconds = 0\n", "cluster.handover_seconds: must be positive"),
        (f'members = "{A}"\n', "option 'cluster.members': expected a list"),
        ("peers = []\n", "unknown option 'cluster.peers'"),
    ],
)
def test_errors_name_the_option(tmp_path: Path, text: str, message: str) -> None:
    assert message in config_error(tmp_path, text)


def key_file(tmp_path: Path, data: bytes, mode: int = 0o600) -> str:
    path = tmp_path / "cluster.key"
    path.write_bytes(data)
    path.chmod(mode)
    return str(path)


def test_key_as_it_is_in_the_file(tmp_path: Path) -> None:
    data = os.urandom(40) + b"\n"
    assert load_key(key_file(tmp_path, data)) == data


@pytest.mark.parametrize(
    ("data", "mode", "message"),
    [
        (b"x" * 31, 0o600, "31 bytes, at least 32"),
        (b"x" * 64, 0o640, "mode 640, which lets others read the key; chmod 600 it"),
        (b"x" * 64, 0o604, "mode 604"),
    ],
)
@pytest.mark.skipif(os.name != "posix", reason="file modes")
def test_bad_key_files_are_refused(tmp_path: Path, data: bytes, mode: int, message: str) -> None:
    with pytest.raises(ConfigError, match=r"cluster\.key_file") as info:
        load_key(key_file(tmp_path, data, mode))
    assert message in str(info.value)


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cluster.key_file: cannot read .*missing"):
        load_key(str(tmp_path / "missing"))


def test_parse_revoked() -> None:
    text = "# revoked agents\n\na-1\n  a-2   # stolen laptop\na-1\n"
    assert parse_revoked(text) == {"a-1", "a-2"}
    with pytest.raises(ValueError, match="line 2: 'not an id' is not an agent id"):
        parse_revoked("a-1\nnot an id\n")


def rewrite(path: Path, text: str) -> None:
    """A new version of the file, seen as changed even within the file system's time resolution."""
    tmp = path.with_suffix(".new")
    tmp.write_text(text)
    os.replace(tmp, path)  # a new inode, as an editor or a copy tool writes it


def test_revoked_list_follows_its_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "revoked.txt"
    revoked = RevokedList(path)  # missing at the start: nobody is revoked yet
    assert revoked.ids == frozenset()
    assert revoked.check() is Reload.UNCHANGED
    rewrite(path, "a-1\n")
    assert revoked.check() is Reload.RELOADED
    assert "a-1" in revoked and "a-2" not in revoked
    assert revoked.check() is Reload.UNCHANGED
    with caplog.at_level(logging.ERROR):
        rewrite(path, "a-1\na-2\nbroken line\n")
        assert revoked.check() is Reload.FAILED
    assert "keeping the previous list" in caplog.text and "line 3" in caplog.text
    assert revoked.ids == {"a-1"}, "a bad file must keep the old list"
    assert revoked.check() is Reload.UNCHANGED  # logged once per bad version
    path.unlink()
    assert revoked.check() is Reload.FAILED
    assert revoked.ids == {"a-1"}, "a vanished file must keep the old list"
    rewrite(path, "a-1\na-2\n")
    assert revoked.check() is Reload.RELOADED
    assert revoked.ids == {"a-1", "a-2"}


def test_a_bad_revoked_file_at_the_start_refuses_to_start(tmp_path: Path) -> None:
    path = tmp_path / "revoked.txt"
    path.write_bytes(b"a-1\n\xff\n")
    with pytest.raises(ConfigError, match=r"cluster\.revoked_file"):
        RevokedList(path)


def test_no_revoked_file() -> None:
    revoked = RevokedList(None)
    assert revoked.check(force=True) is Reload.UNCHANGED
    assert "a-1" not in revoked


def test_append_revoked(tmp_path: Path) -> None:
    path = tmp_path / "revoked.txt"
    assert append_revoked(path, "a-1", A)
    assert append_revoked(path, "a-2")
    assert not append_revoked(path, "a-1"), "listed once"
    path.write_text(path.read_text() + "a-3  # added by hand, no newline")
    assert append_revoked(path, "a-4")
    assert parse_revoked(path.read_text()) == {"a-1", "a-2", "a-3", "a-4"}
    assert f"on {A}" in path.read_text().splitlines()[0]
    path.write_text("not an id\n")
    with pytest.raises(ConfigError, match="fix it first"):
        append_revoked(path, "a-5")
