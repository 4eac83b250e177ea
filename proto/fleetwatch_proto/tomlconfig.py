"""Load TOML into nested frozen dataclasses; every error names the file, the line or the option path."""

from __future__ import annotations

import dataclasses
import re
import tomllib
import types
import typing
import unicodedata
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
BOM = "\ufeff"
# tomllib's errors end with "(at line N, column M)" or "(at end of document)".
_AT_LINE = re.compile(r"\(at line (\d+), column (\d+)\)")
_TABLE = re.compile(r"^\s*\[\[?\s*([^\[\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-.\"' ]+?)\s*=")
# Escapes a Windows path turns into control characters without any TOML error: "C:\new", "C:\temp".
_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
BACKSLASH_HINT = (
    'in a "double-quoted" TOML string a backslash starts an escape (\\n, \\t, \\U...): write '
    "Windows paths in single quotes, 'C:\\path\\to', or with forward slashes, \"C:/path/to\""
)
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


class ConfigError(ValueError):
    """A configuration file or value is invalid; the message names the option."""


def load_file(cls: type[T], path: Path) -> T:
    """Read a TOML file into ``cls``; a missing or unparsable file is a ConfigError."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path}: not found") from exc
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror or exc}") from exc
    text = decode(raw, f"config file {path}")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {describe_toml_error(text, exc)}") from exc
    return from_dict(cls, data, source=str(path))


def decode(raw: bytes, source: str) -> str:
    """UTF-8 text without the byte order mark Notepad writes; a ConfigError names the line otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{source}: not UTF-8: byte 0x{raw[exc.start]:02x} on line {line}; save the file as UTF-8"
        ) from exc
    return text.removeprefix(BOM)


def describe_toml_error(text: str, exc: tomllib.TOMLDecodeError) -> str:
    """``invalid TOML`` with the line, the option written there and, for a backslash, what to write."""
    message = str(exc)
    lines = text.splitlines()
    found = _AT_LINE.search(message)
    if found:
        number = int(found.group(1))
    else:  # at end of document: the last line with something on it
        number = max((i + 1 for i, line in enumerate(lines) if line.strip()), default=1)
    line = lines[number - 1] if 0 < number <= len(lines) else ""
    where = f"line {number}"
    option = _option_on_line(lines, number)
    if option:
        where += f", option {option!r}"
    hint = ""
    if "\\" in line and '"' in line:
        hint = f"; {BACKSLASH_HINT}"
    elif line.split("#", 1)[0].rstrip().endswith("="):
        hint = "; the value after '=' is missing"
    return f"invalid TOML at {where}: {message}{hint}"


def _option_on_line(lines: list[str], number: int) -> str:
    """The dotted option path a TOML line sets: its table header above, then its key."""
    key = _KEY.match(lines[number - 1]) if 0 < number <= len(lines) else None
    if key is None:
        return ""
    table = ""
    for line in reversed(lines[: number - 1]):
        header = _TABLE.match(line)
        if header:
            table = header.group(1).replace(" ", "") + "."
            break
    return table + key.group(1).strip().strip("\"'")


def from_dict(cls: type[T], data: dict[str, Any], source: str = "config", prefix: str = "") -> T:
    """Build ``cls`` from ``data``; every key must be a field of the dataclass."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: option {prefix.rstrip('.') or 'root'}: expected a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for key, raw in data.items():
        path = f"{prefix}{key}"
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{source}: unknown option {path!r} (known here: {known})")
        values[key] = _convert(hints[key], raw, source, path)
    for name, spec in fields.items():
        required = spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING
        if required and spec.init and name not in values:
            raise ConfigError(f"{source}: option {prefix}{name!s}: missing; it has no default")
    try:
        instance = cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {prefix.rstrip('.') or 'root'}: {exc}") from exc
    validate = getattr(instance, "validate", None)
    if validate is not None:
        try:
            validate()
        except ValueError as exc:
            raise ConfigError(f"{source}: option {prefix}{exc}") from exc
    return instance


def _describe(raw: Any) -> str:
    if isinstance(raw, bool):
        return f"bool {str(raw).lower()}"
    if isinstance(raw, dict):
        return "a table"
    return f"{type(raw).__name__} {raw!r}"


def _type_hint(hint: Any, raw: Any) -> str:
    """A fix for the usual slips: a quoted number or boolean, a bare value where a list is expected."""
    if isinstance(raw, str) and hint in (int, float):
        try:
            float(raw)
        except ValueError:
            return ""
        return f"; write the number without quotes: {raw.strip()}"
    if isinstance(raw, str) and hint is bool and raw.lower() in ("true", "false", "yes", "no", "on", "off"):
        return "; write true or false, without quotes"
    if hint is int and isinstance(raw, float):
        return "; a whole number is needed"
    return ""


def _check_text(raw: str, source: str, path: str) -> str:
    """A string without control characters: there, they come from backslashes in a Windows path."""
    for char in raw:
        if unicodedata.category(char) == "Cc":
            name = _ESCAPES.get(char) or f"U+{ord(char):04X}"
            hint = f"; {BACKSLASH_HINT}" if char in _ESCAPES else ""
            raise ConfigError(
                f"{source}: option {path!r}: the value contains the control character {name}{hint}"
            )
    return raw


def _convert(hint: Any, raw: Any, source: str, path: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, raw, source, prefix=f"{path}.")  # type: ignore[arg-type]
    if origin is typing.Literal:
        allowed = typing.get_args(hint)
        if raw not in allowed:
            raise ConfigError(f"{source}: option {path!r}: {raw!r} is not one of {list(allowed)}")
        return raw
    if origin in (tuple, list):
        if not isinstance(raw, list):
            example = f"[{raw!r}]".replace("'", '"') if isinstance(raw, str) else "[...]"
            raise ConfigError(
                f"{source}: option {path!r}: expected a list, got {_describe(raw)}; write {example}"
            )
        (item_type, *_rest) = typing.get_args(hint)
        return tuple(_convert(item_type, item, source, f"{path}[{i}]") for i, item in enumerate(raw))
    if origin in (types.UnionType, typing.Union):
        raise ConfigError(f"{source}: option {path!r}: unsupported type {hint}")
    if hint is float and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    if hint in (str, int, float, bool) and (type(raw) is not hint):
        raise ConfigError(
            f"{source}: option {path!r}: expected {hint.__name__} ({_TYPE_NAMES[hint]}), "
            f"got {_describe(raw)}{_type_hint(hint, raw)}"
        )
    if hint is str:
        return _check_text(raw, source, path)
    return raw
