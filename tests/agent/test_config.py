"""Agent configuration: the example file matches the defaults, and bad files give errors naming the option."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetwatch_agent.config import AgentConfig, load_config
from fleetwatch_agent.tomlconfig import ConfigError
from tests.conftest import REPO_ROOT

EXAMPLE = REPO_ROOT / "agent" / "agent.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text, encoding="utf-8")
    return path


def config_error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return str(info.value)


def test_example_file_equals_the_defaults() -> None:
    assert load_config(EXAMPLE) == AgentConfig()


def test_no_path_gives_the_defaults() -> None:
    assert load_config(None) == AgentConfig()


def test_values_from_the_file_replace_defaults_and_lists_become_tuples(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            '[agent]\nid = "pc-042"\n'
            '[site]\nslug = "xa-tan-my-chanh"\ndistrict = "tp-my-tho"\ntype = "district"\n'
            '[collector]\naddresses = ["10.0.0.1:50051", "collector.example:443"]\n'
            '[probes.resources]\nenabled = false\nignore_interfaces = ["lo", "veth*"]\n',
        )
    )
    assert config.agent.id == "pc-042"
    assert config.agent.interval_seconds == AgentConfig().agent.interval_seconds
    assert config.site.type == "district"
    assert config.collector.addresses == ("10.0.0.1:50051", "collector.example:443")
    assert config.probes.resources.enabled is False
    assert config.probes.resources.ignore_interfaces == ("lo", "veth*")


def test_unknown_top_level_key_is_named(tmp_path: Path) -> None:
    message = config_error(tmp_path, "colector = 1\n")
    assert "'colector'" in message
    assert "collector" in message.split("known here:")[1]


def test_unknown_nested_key_names_the_full_path(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[probes.resources]\nfoo = 1\n")
    assert "'probes.resources.foo'" in message


@pytest.mark.parametrize(
    ("text", "option"),
    [
        ('[agent]\ninterval_seconds = "15"\n', "'agent.interval_seconds'"),
        ("[collector]\nmax_batch_reports = 10.5\n", "'collector.max_batch_reports'"),
        ("[collector]\nmax_batch_reports = true\n", "'collector.max_batch_reports'"),
        ('[probes.resources]\nenabled = "yes"\n', "'probes.resources.enabled'"),
        ('[collector]\naddresses = "127.0.0.1:50051"\n', "'collector.addresses'"),
        ('[collector]\naddresses = ["127.0.0.1:50051", 7]\n', "'collector.addresses[1]'"),
    ],
)
def test_wrong_type_names_the_option(tmp_path: Path, text: str, option: str) -> None:
    assert option in config_error(tmp_path, text)


def test_a_section_that_is_not_a_table_is_rejected(tmp_path: Path) -> None:
    assert "probes" in config_error(tmp_path, "probes = 1\n")


def test_literal_violation_names_allowed_values(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[site]\ntype = "village"\n')
    assert "'site.type'" in message
    assert "'village'" in message
    for allowed in ("department", "district", "commune"):
        assert allowed in message


def test_int_is_accepted_for_a_float_option(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[agent]\ninterval_seconds = 30\n"))
    assert config.agent.interval_seconds == 30.0
    assert isinstance(config.agent.interval_seconds, float)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[agent\nid = \n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert "invalid TOML" in str(info.value)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("text", "option"),
    [
        ("[agent]\ninterval_seconds = 0\n", "agent.interval_seconds"),
        ("[agent]\ninterval_seconds = 3601\n", "agent.interval_seconds"),
        ('[agent]\nid = "-leading-dash"\n', "agent.id"),
        ('[site]\nslug = "Xa-Tan-My"\n', "site.slug"),
        ('[site]\nslug = "xã-tân-mỹ"\n', "site.slug"),
        ('[site]\ndistrict = "h cai be"\n', "site.district"),
        ('[collector]\naddresses = ["nohost"]\n', "collector.addresses"),
        ('[collector]\naddresses = [":50051"]\n', "collector.addresses"),
        ('[collector]\naddresses = ["host:port"]\n', "collector.addresses"),
        ("[collector]\naddresses = []\n", "collector.addresses"),
        ("[collector]\nmax_batch_reports = 0\n", "collector.max_batch_reports"),
    ],
)
def test_validation_rejects_bad_values_naming_the_option(tmp_path: Path, text: str, option: str) -> None:
    assert option in config_error(tmp_path, text)


@pytest.mark.parametrize(
    ("text", "option"),
    [
        ("[agent]\ninterval_seconds = 0\n", "agent.interval_seconds"),
        ('[site]\nslug = "Xa-Tan-My"\n', "site.slug"),
        ('[collector]\naddresses = ["nohost"]\n', "collector.addresses"),
    ],
)
def test_validation_error_names_the_option_path_once(tmp_path: Path, text: str, option: str) -> None:
    # BUG (source): the section's validate() message already starts with "agent.",
    # and from_dict prefixes the section again: "option agent.agent.interval_seconds".
    message = config_error(tmp_path, text)
    assert f"option {option}:" in message


@pytest.mark.parametrize(
    "text",
    [
        '[site]\nslug = "xa-tan-my\\n"\n',
        '[site]\ndistrict = "h-cai-be\\n"\n',
        '[agent]\nid = "pc-042\\n"\n',
    ],
)
def test_trailing_newline_is_not_a_valid_slug_or_id(tmp_path: Path, text: str) -> None:
    # BUG (source): SLUG_RE and AGENT_ID_RE end in "$", which also matches before a final
    # newline, and are applied with re.match, so "xa-tan-my\n" passes as a slug.
    config_error(tmp_path, text)


def test_file_that_is_not_utf8_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    # BUG (source): tomllib raises UnicodeDecodeError (not TOMLDecodeError) on bytes that
    # are not UTF-8; load_file lets it escape as a bare traceback without the file name.
    path = tmp_path / "agent.toml"
    path.write_bytes(b'[site]\nname = "S\xf6 Y t\xe9"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("text", "option"),
    [
        ("[collector]\nmax_queued_reports = 0\n", "collector.max_queued_reports"),
        ("[collector]\ntimeout_seconds = 0\n", "collector.timeout_seconds"),
        ("[probes.resources]\ntimeout_seconds = -1\n", "probes.resources.timeout_seconds"),
    ],
)
def test_values_the_agent_cannot_run_with_are_rejected(tmp_path: Path, text: str, option: str) -> None:
    # BUG (source): these are accepted; max_queued_reports = 0 then crashes AgentService
    # in Outbox() with a message that names no option, a zero push deadline fails every
    # push, and a non-positive probe timeout makes the probe time out on every cycle.
    assert option in config_error(tmp_path, text)
