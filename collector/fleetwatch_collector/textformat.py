"""Prometheus text-format pieces: label value sanitizing and escaping, sample lines, numbers."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import TypeVar

from fleetwatch_proto.limits import CONTROL_CHARACTERS, MAX_TEXT_BYTES

T = TypeVar("T")
# Validated texts are at most MAX_TEXT_BYTES of UTF-8, so never longer than this in characters.
MAX_LABEL_VALUE_CHARS = MAX_TEXT_BYTES
_find_control = CONTROL_CHARACTERS.search


def _replace_control(match: re.Match[str]) -> str:
    return "\n" if match.group() == "\n" else "?"  # a newline is escaped instead


def sanitize(value: str, limit: int = MAX_LABEL_VALUE_CHARS) -> str:
    """A label value safe to group on: control characters (but newline) become '?', length capped."""
    value = value[:limit]
    # Validated input has no control character: one search, as fast as a sub() with a literal.
    return value if _find_control(value) is None else CONTROL_CHARACTERS.sub(_replace_control, value)


def escape(value: str) -> str:
    """Escape a label value for the text format: backslash, double quote, newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def label_pairs(pairs: Iterable[tuple[str, str]]) -> str:
    """'a="x",b="y"' from (name, value) pairs; values are sanitized and escaped."""
    return ",".join(f'{name}="{escape(sanitize(value))}"' for name, value in pairs)


def distinct(items: Iterable[T], key: Callable[[T], str]) -> list[T]:
    """Items whose label value, once sanitized, no earlier item has: Prometheus drops twin series."""
    seen: set[str] = set()
    result = []
    for item in items:
        value = sanitize(key(item))
        if value not in seen:
            seen.add(value)
            result.append(item)
    return result


def number(value: float) -> str:
    """A sample value as Prometheus writes it: integers without a fraction, +Inf, -Inf, NaN."""
    if isinstance(value, int):
        return str(value)
    if value.is_integer():  # the commonest case first; False for NaN and the infinities
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def sample(name: str, labels: str, value: float) -> str:
    """One sample line, ending in a newline."""
    return f"{name}{{{labels}}} {number(value)}\n" if labels else f"{name} {number(value)}\n"
