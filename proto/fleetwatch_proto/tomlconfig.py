"""Load TOML into nested frozen dataclasses; unknown keys and wrong types name the option path."""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration file or value is invalid; the message names the option."""


def load_file(cls: type[T], path: Path) -> T:
    """Read a TOML file into ``cls``; a missing or unparsable file is a ConfigError."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path}: not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: invalid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path}: not UTF-8: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror or exc}") from exc
    return from_dict(cls, data, source=str(path))


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
            raise ConfigError(f"{source}: option {path!r}: expected a list, got {raw!r}")
        (item_type, *_rest) = typing.get_args(hint)
        return tuple(_convert(item_type, item, source, f"{path}[{i}]") for i, item in enumerate(raw))
    if origin in (types.UnionType, typing.Union):
        raise ConfigError(f"{source}: option {path!r}: unsupported type {hint}")
    if hint is float and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    if hint in (str, int, float, bool) and (type(raw) is not hint):
        raise ConfigError(
            f"{source}: option {path!r}: expected {hint.__name__}, got {type(raw).__name__} {raw!r}"
        )
    return raw
