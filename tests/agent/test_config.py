"""Agent configuration: the example file matches the defaults, and bad files give errors naming the option."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from fleetwatch_agent.config import AgentConfig, ProbesSection, load_config
from fleetwatch_agent.probes import PROBES
from fleetwatch_proto.tomlconfig import ConfigError
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


def test_site_type_outside_the_contracts_names_the_allowed_values(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[site]\ntype = "village"\n')
    assert "option site.type:" in message
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
    # Regression: the section prefix was once added twice ("option agent.agent.interval_seconds").
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
    # Regression: "$" with re.match also matched before a final newline.
    config_error(tmp_path, text)


def test_file_that_is_not_utf8_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    # Regression: tomllib raises UnicodeDecodeError (not TOMLDecodeError) on such bytes.
    path = tmp_path / "agent.toml"
    path.write_bytes(b'[site]\nname = "S\xf6 Y t\xe9"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("text", "option"),
    [
        ("[collector]\ntimeout_seconds = 0\n", "collector.timeout_seconds"),
        ("[collector]\nkeepalive_seconds = -1\n", "collector.keepalive_seconds"),
        ("[probes.resources]\ntimeout_seconds = -1\n", "probes.resources.timeout_seconds"),
        ("[collector]\nmax_batch_bytes = 1023\n", "collector.max_batch_bytes"),
        ("[collector]\nmax_batch_reports = 501\n", "collector.max_batch_reports"),
        ('[collector]\ncert_file = "client.pem"\n', "collector.cert_file"),
        ('[collector]\nkey_file = "client-key.pem"\n', "collector.cert_file and key_file"),
        ("[spool]\nmax_reports = 0\n", "spool.max_reports"),
    ],
)
def test_values_the_agent_cannot_run_with_are_rejected(tmp_path: Path, text: str, option: str) -> None:
    assert option in config_error(tmp_path, text)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("[spool]\nmax_bytes = 1000\n", "max_bytes"),
        ("[spool]\nmax_age_seconds = 0\n", "max_age_seconds"),
        ("[spool]\nmax_age_seconds = -60\n", "max_age_seconds"),
    ],
)
def test_spool_bounds_must_be_positive(tmp_path: Path, text: str, name: str) -> None:
    message = config_error(tmp_path, text)
    assert "option spool." in message
    assert name in message


def test_removed_max_queued_reports_is_an_unknown_option(tmp_path: Path) -> None:
    # The in-memory queue became the on-disk spool; its bound moved to spool.max_reports.
    message = config_error(tmp_path, "[collector]\nmax_queued_reports = 1000\n")
    assert "unknown option 'collector.max_queued_reports'" in message


def test_new_collector_and_spool_options_are_read(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            '[collector]\naddresses = ["collector.example:443"]\ntls = "on"\n'
            'ca_file = "/etc/fleetwatch/ca.pem"\ncert_file = "/etc/fleetwatch/client.pem"\n'
            'key_file = "/etc/fleetwatch/client-key.pem"\nserver_name = "collector.internal"\n'
            'token_file = "/etc/fleetwatch/token"\nmax_batch_bytes = 65536\n'
            "[spool]\nmax_reports = 100\nmax_bytes = 2048\nmax_age_seconds = 3600\n",
        )
    )
    collector = config.collector
    assert collector.tls == "on"
    assert collector.ca_file == "/etc/fleetwatch/ca.pem"
    assert (collector.cert_file, collector.key_file) == (
        "/etc/fleetwatch/client.pem",
        "/etc/fleetwatch/client-key.pem",
    )
    assert collector.server_name == "collector.internal"
    assert collector.token_file == "/etc/fleetwatch/token"
    assert collector.max_batch_bytes == 65536
    assert (config.spool.max_reports, config.spool.max_bytes) == (100, 2048)
    assert config.spool.max_age_seconds == 3600.0
    assert isinstance(config.spool.max_age_seconds, float)


def test_new_options_default_to_plain_tls_auto_and_a_day_of_spool() -> None:
    config = AgentConfig()
    assert config.collector.tls == "auto"
    collector = config.collector
    assert collector.ca_file == collector.cert_file == collector.server_name == collector.token_file == ""
    assert config.collector.max_batch_bytes == 1024 * 1024
    # A day of reports at the default interval fits the default bounds.
    assert config.spool.max_reports * config.agent.interval_seconds >= 86400
    assert config.spool.max_age_seconds == 86400


def test_tls_mode_names_the_allowed_values(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[collector]\ntls = "yes"\n')
    assert "'collector.tls'" in message
    for allowed in ("auto", "on", "off"):
        assert allowed in message


@pytest.mark.parametrize("key", ["ca_file", "cert_file", "key_file", "server_name", "token_file"])
def test_file_and_name_options_must_be_strings(tmp_path: Path, key: str) -> None:
    assert f"'collector.{key}'" in config_error(tmp_path, f"[collector]\n{key} = 1\n")


def test_the_probes_table_has_one_section_per_probe_of_the_registry() -> None:
    section = ProbesSection()
    assert [f.name for f in dataclasses.fields(section)] == [p.name for p in PROBES]
    for probe in PROBES:
        assert getattr(section, probe.name) == probe.config_type()


def test_a_probe_not_in_the_registry_is_an_unknown_option_listing_the_known_ones(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[probes.snmp]\nenabled = true\n")
    assert "unknown option 'probes.snmp'" in message
    assert all(p.name in message.split("known here:")[1] for p in PROBES)


@pytest.mark.parametrize("probe", [p.name for p in PROBES])
def test_each_probes_section_reports_unknown_keys_by_path(tmp_path: Path, probe: str) -> None:
    assert f"unknown option 'probes.{probe}.nonsense'" in config_error(
        tmp_path, f"[probes.{probe}]\nnonsense = 1\n"
    )
