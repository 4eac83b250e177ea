"""Signed credentials: agent secrets and enrolment tokens any collector holding the cluster key can verify.

Text: ``fw1.<payload>.<mac>``, both parts base64url without padding; the payload is compact JSON,
the MAC is HMAC-SHA256 under the cluster key over ``fw1.<payload>`` (so the version is signed too).
Nothing is decoded before the MAC verified, and texts longer than MAX_CHARS are refused unread.
The payload is readable by whoever holds the text (the agent, or an installer for a token): it
carries identity, never a secret. Pure: no I/O, no clock (expiry is the caller's).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from fleetwatch_collector.agentstate import SiteLabels

PREFIX = "fw1"
MIN_KEY_BYTES = 32
# The largest payload this module makes is about 1.4 KiB of text (a 64-character agent id, a
# 256-byte site name, a 253-byte host name, a certificate name, a machine digest).
MAX_CHARS = 4096
_MAC_BYTES = 32
_PART = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class AgentClaim:
    """Who an agent is, as the member that enrolled it recorded it."""

    agent_id: str
    site: SiteLabels | None  # None: labels claimed by the agent (an any-site token)
    enrolled_at: float  # the enrolling member's clock; a newer claim replaces an older one
    hostname: str = ""
    certificate_name: str = ""  # client certificate name it enrolled with under mutual TLS
    machine_hash: str = ""  # hex SHA-256 of the machine id digest it enrolled with ("" = none)
    token_id: str = ""


@dataclass(frozen=True)
class TokenClaim:
    """A site enrolment token: any member enrols with it; uses are counted by each member."""

    token_id: str
    site: SiteLabels | None  # None: any site
    created: float
    expires: float | None  # None: never
    max_uses: int | None  # None: unlimited


Claim = AgentClaim | TokenClaim


def is_signed(text: str) -> bool:
    """Whether ``text`` has the signed form's prefix (it may still be forged or malformed)."""
    return text.startswith(PREFIX + ".")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, signed_part: str) -> bytes:
    return hmac.new(key, signed_part.encode("ascii"), hashlib.sha256).digest()


def _site_fields(site: SiteLabels | None) -> list[str] | None:
    return None if site is None else [site.site, site.district, site.site_type, site.site_name]


def _payload(claim: Claim) -> dict[str, Any]:
    if isinstance(claim, AgentClaim):
        fields: dict[str, Any] = {
            "k": "a",
            "id": claim.agent_id,
            "s": _site_fields(claim.site),
            "at": claim.enrolled_at,
            "h": claim.hostname,
            "c": claim.certificate_name,
            "m": claim.machine_hash,
            "t": claim.token_id,
        }
        return {key: value for key, value in fields.items() if value != ""}
    return {
        "k": "t",
        "id": claim.token_id,
        "s": _site_fields(claim.site),
        "at": claim.created,
        "x": claim.expires,
        "n": claim.max_uses,
    }


def issue(key: bytes, claim: Claim) -> str:
    """The signed text of ``claim`` under ``key`` (at least MIN_KEY_BYTES)."""
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"a cluster key needs at least {MIN_KEY_BYTES} bytes")
    body = json.dumps(_payload(claim), separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    signed_part = f"{PREFIX}.{_b64(body.encode('utf-8'))}"
    text = f"{signed_part}.{_b64(_mac(key, signed_part))}"
    if len(text) > MAX_CHARS:
        raise ValueError(f"signed credential of {len(text)} characters exceeds {MAX_CHARS}")
    return text


def verify(key: bytes, text: str) -> Claim | None:
    """The claim ``text`` carries if ``key`` signed it; None for anything else (forged, altered,
    truncated, another version, too long, malformed)."""
    if len(text) > MAX_CHARS or not text.isascii():
        return None
    parts = text.split(".")
    if len(parts) != 3 or parts[0] != PREFIX or not all(_PART.fullmatch(p) for p in parts[1:]):
        return None
    try:
        mac = _unb64(parts[2])
    except (binascii.Error, ValueError):
        return None
    if len(mac) != _MAC_BYTES or not hmac.compare_digest(mac, _mac(key, f"{parts[0]}.{parts[1]}")):
        return None
    try:
        data = json.loads(_unb64(parts[1]).decode("utf-8"))
        return _claim(data)
    except (binascii.Error, ValueError, TypeError, KeyError):
        return None  # signed with the key, yet not a claim this version reads


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise TypeError(key)
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TypeError("not a number")
    return float(value)


def _site(value: Any) -> SiteLabels | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 4 or not all(isinstance(v, str) for v in value):
        raise TypeError("s")  # [site, district, site_type, site_name]
    return SiteLabels(*value)


def _claim(data: Any) -> Claim:
    if not isinstance(data, dict):
        raise TypeError("payload")
    identifier = _text(data, "id")
    if not identifier:
        raise ValueError("id")
    if data["k"] == "a":
        return AgentClaim(
            identifier,
            _site(data.get("s")),
            _number(data["at"]),
            _text(data, "h"),
            _text(data, "c"),
            _text(data, "m"),
            _text(data, "t"),
        )
    if data["k"] == "t":
        expires, max_uses = data.get("x"), data.get("n")
        if max_uses is not None and (not isinstance(max_uses, int) or isinstance(max_uses, bool)):
            raise TypeError("n")
        return TokenClaim(
            identifier,
            _site(data.get("s")),
            _number(data["at"]),
            None if expires is None else _number(expires),
            max_uses,
        )
    raise ValueError("k")
