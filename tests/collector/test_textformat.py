"""Text-format pieces: label escaping and sanitizing, numbers, sample lines."""

from __future__ import annotations

import math

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fleetwatch_collector.textformat import (
    MAX_LABEL_VALUE_CHARS,
    escape,
    label_pairs,
    number,
    sample,
    sanitize,
)


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("C:\\Windows", "C:\\\\Windows"),
        ('say "hi"', 'say \\"hi\\"'),
        ("line1\nline2", "line1\\nline2"),
        ("\\n", "\\\\n"),  # a literal backslash-n stays two characters, not a newline
        ('\\"\n', '\\\\\\"\\n'),
        ("plain Xã Tân Mỹ Chánh", "plain Xã Tân Mỹ Chánh"),
        ("", ""),
    ],
)
def test_escape(raw: str, escaped: str) -> None:
    assert escape(raw) == escaped


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("a\x00b", "a?b"),
        ("tab\there", "tab?here"),
        ("del\x7f", "del?"),
        ("cr\r\nlf", "cr?\nlf"),
        ("\x1b[31mred", "?[31mred"),
        ("\x01\x1f", "??"),
        ('keep "quotes" \\ and\nnewline', 'keep "quotes" \\ and\nnewline'),
        ("Xã Tân Mỹ Chánh 😀", "Xã Tân Mỹ Chánh 😀"),
    ],
)
def test_sanitize(raw: str, clean: str) -> None:
    assert sanitize(raw) == clean


def test_sanitize_caps_length() -> None:
    assert MAX_LABEL_VALUE_CHARS == 256
    assert sanitize("x" * 300) == "x" * 256
    assert sanitize("😀" * 300) == "😀" * 256
    assert sanitize("\t" * 300) == "?" * 256
    assert sanitize("abcdef", limit=3) == "abc"
    assert sanitize("x" * 256) == "x" * 256


def test_label_pairs_sanitizes_then_escapes() -> None:
    pairs = [("os_name", 'Windows "10"\\Pro\n'), ("kernel", "a\tb"), ("arch", "")]
    assert label_pairs(pairs) == 'os_name="Windows \\"10\\"\\\\Pro\\n",kernel="a?b",arch=""'


def test_label_pairs_empty() -> None:
    assert label_pairs([]) == ""


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (3, "3"),
        (-7, "-7"),
        (2**64 - 1, "18446744073709551615"),
        (3.0, "3"),
        (-2.0, "-2"),
        (0.0, "0"),
        (1_759_999_999.0, "1759999999"),
        (0.25, "0.25"),
        (1760000000.123, "1760000000.123"),
        (1e-05, "1e-05"),
        (1e20, "1e+20"),
        (float("nan"), "NaN"),
        (float("inf"), "+Inf"),
        (float("-inf"), "-Inf"),
    ],
)
def test_number(value: float, text: str) -> None:
    assert number(value) == text


@pytest.mark.parametrize("value", [0, 7, 2**53, 0.5, 1e-9, 123456.789, 1e15, 1e300, -3.5])
def test_number_parses_back(value: float) -> None:
    family = next(iter(text_string_to_metric_families(f"# TYPE m gauge\nm {number(value)}\n")))
    assert family.samples[0].value == float(value)


def test_number_special_values_parse_back() -> None:
    text = "# TYPE m gauge\n" + "".join(
        f'm{{v="{i}"}} {number(v)}\n' for i, v in enumerate([math.nan, math.inf, -math.inf])
    )
    values = [s.value for s in next(iter(text_string_to_metric_families(text))).samples]
    assert math.isnan(values[0])
    assert values[1:] == [math.inf, -math.inf]


def test_sample_without_labels() -> None:
    assert sample("fleetwatch_host_cpus", "", 4) == "fleetwatch_host_cpus 4\n"
    assert sample("fleetwatch_host_load1", "", 0.5) == "fleetwatch_host_load1 0.5\n"


def test_sample_with_labels() -> None:
    labels = label_pairs([("agent_id", "a1"), ("mountpoint", "C:\\")])
    assert (
        sample("fleetwatch_host_filesystem_size_bytes", labels, 1024.0)
        == 'fleetwatch_host_filesystem_size_bytes{agent_id="a1",mountpoint="C:\\\\"} 1024\n'
    )
