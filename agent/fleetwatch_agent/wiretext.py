"""Free text and host names shaped to the contract's limits (fleetwatch_proto.limits) for the wire."""

from __future__ import annotations

from fleetwatch_proto.limits import CONTROL_CHARACTERS, HOSTNAME_MAX_BYTES, HOSTNAME_RE, MAX_TEXT_BYTES


def text(value: str) -> str:
    """A text field the collector accepts: no control characters, at most MAX_TEXT_BYTES of UTF-8."""
    # errors="replace": names the OS gave as undecodable bytes (surrogates) become "?".
    encoded = CONTROL_CHARACTERS.sub("?", value).encode("utf-8", errors="replace")
    return encoded[:MAX_TEXT_BYTES].decode("utf-8", errors="ignore")


def _inner(character: str) -> bool:
    """Whether HOSTNAME_RE allows ``character`` after the first position."""
    return HOSTNAME_RE.fullmatch("a" + character) is not None


def hostname(value: str) -> str:
    """A hostname matching HOSTNAME_RE: other characters become "-", leading ones it refuses are dropped."""
    cleaned = "".join(c if _inner(c) else "-" for c in value)
    while cleaned and not HOSTNAME_RE.fullmatch(cleaned[0]):
        cleaned = cleaned[1:]
    cleaned = cleaned[:HOSTNAME_MAX_BYTES]
    return cleaned if HOSTNAME_RE.fullmatch(cleaned) else "unknown"
