"""Prometheus text-format pieces: label value sanitizing and escaping, sample lines, numbers."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

MAX_LABEL_VALUE_CHARS = 256
# C0 controls but newline (escaped instead), DEL and C1 controls.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")
# Every control character, newline included: refused in label-like input.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def sanitize(value: str, limit: int = MAX_LABEL_VALUE_CHARS) -> str:
    """A label value safe to group on: control characters (but newline) become '?', length capped."""
    return _CONTROL.sub("?", value[:limit])


def escape(value: str) -> str:
    """Escape a label value for the text format: backslash, double quote, newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def label_pairs(pairs: Iterable[tuple[str, str]]) -> str:
    """'a="x",b="y"' from (name, value) pairs; values are sanitized and escaped."""
    return ",".join(f'{name}="{escape(sanitize(value))}"' for name, value in pairs)


def number(value: float) -> str:
    """A sample value as Prometheus writes it: integers without a fraction, +Inf, -Inf, NaN."""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def sample(name: str, labels: str, value: float) -> str:
    """One sample line, ending in a newline."""
    return f"{name}{{{labels}}} {number(value)}\n" if labels else f"{name} {number(value)}\n"
