"""signedcred: a claim verifies under its key only; any change to its text makes it prove nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from fleetwatch_collector import signedcred
from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.signedcred import AgentClaim, TokenClaim, issue, verify

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
SITE = SiteLabels("xa-an-cu", "h-cai-be", "commune", "Xã An Cư")
AGENT = AgentClaim(
    "a-0123456789abcdef",
    SITE,
    1_760_000_000.25,
    hostname="pc-ke-toan-01",
    certificate_name="pc-ke-toan-01",
    machine_hash="ab" * 32,
    token_id="0badcafe",
)
TOKEN = TokenClaim("0badcafe", SITE, 1_760_000_000.0, 1_760_604_800.0, 500)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_raw(payload: bytes, key: bytes = KEY, prefix: str = signedcred.PREFIX) -> str:
    """Any payload bytes signed as the module signs (to test what a valid MAC over garbage gives)."""
    signed_part = f"{prefix}.{b64(payload)}"
    return f"{signed_part}.{b64(hmac.new(key, signed_part.encode(), hashlib.sha256).digest())}"


@pytest.mark.parametrize(
    "claim",
    [
        AGENT,
        AgentClaim("a-1", None, 0.0),  # any-site agent, no names
        TOKEN,
        TokenClaim("t1", None, 5.0, None, None),  # any site, never expires, unlimited
    ],
)
def test_a_claim_comes_back_as_it_was_issued(claim: signedcred.Claim) -> None:
    text = issue(KEY, claim)
    assert signedcred.is_signed(text)
    assert verify(KEY, text) == claim


def test_text_shape_versioned_prefix_compact_json_and_hmac_sha256() -> None:
    text = issue(KEY, AGENT)
    prefix, payload, mac = text.split(".")
    assert prefix == "fw1"
    assert "=" not in text  # base64url without padding: fits a header and a JSON file as it is
    body = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    assert " " not in body.replace("Xã An Cư", "")  # compact separators
    assert json.loads(body)["id"] == AGENT.agent_id
    expected = hmac.new(KEY, f"{prefix}.{payload}".encode(), hashlib.sha256).digest()
    assert mac == b64(expected)


def test_another_key_proves_nothing() -> None:
    assert verify(OTHER_KEY, issue(KEY, AGENT)) is None


def test_a_changed_payload_proves_nothing() -> None:
    text = issue(KEY, AGENT)
    prefix, payload, mac = text.split(".")
    for position in range(len(payload)):
        changed = "B" if payload[position] != "B" else "C"
        tampered = f"{prefix}.{payload[:position]}{changed}{payload[position + 1 :]}.{mac}"
        assert verify(KEY, tampered) is None, position


def test_a_payload_from_another_claim_with_its_own_mac_proves_nothing() -> None:
    _, payload, _ = issue(KEY, AGENT).split(".")
    _, _, mac = issue(KEY, AgentClaim("a-other", SITE, 1.0)).split(".")
    assert verify(KEY, f"fw1.{payload}.{mac}") is None


def test_a_changed_mac_proves_nothing() -> None:
    text = issue(KEY, AGENT)
    head, _, mac = text.rpartition(".")
    raw = bytearray(base64.urlsafe_b64decode(mac + "="))
    for index in range(len(raw)):
        flipped = bytearray(raw)
        flipped[index] ^= 0x01
        assert verify(KEY, f"{head}.{b64(bytes(flipped))}") is None, index
    assert verify(KEY, f"{head}.{b64(bytes(raw[:-1]))}") is None  # a MAC a byte short


@pytest.mark.parametrize("prefix", ["fw0", "fw2", "FW1", "fwt1", ""])
def test_another_version_prefix_proves_nothing_even_with_a_valid_mac_of_its_own(prefix: str) -> None:
    _, payload, mac = issue(KEY, AGENT).split(".")
    assert verify(KEY, f"{prefix}.{payload}.{mac}") is None  # the MAC covers the prefix
    body = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert verify(KEY, signed_raw(body, prefix=prefix)) is None


def test_every_truncation_proves_nothing() -> None:
    text = issue(KEY, AGENT)
    for length in range(len(text)):
        assert verify(KEY, text[:length]) is None, length


@pytest.mark.parametrize(
    "text",
    [
        "",
        "fw1",
        "fw1..",
        "fw1.a.b.c",
        "fw1.!!!!.????",
        "fw1.eyJ9.",
        "fwt1.0badcafe.secret",  # a plain token
        "Xã.An.Cư",
    ],
)
def test_malformed_texts_prove_nothing(text: str) -> None:
    assert verify(KEY, text) is None


def test_huge_input_is_refused_before_any_work(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_mac(key: bytes, signed_part: str) -> bytes:
        raise AssertionError("a MAC was computed over an oversized text")

    valid = issue(KEY, AGENT)
    monkeypatch.setattr(signedcred, "_mac", no_mac)
    huge = valid[:-1] + "A" * (signedcred.MAX_CHARS + 1)
    assert verify(KEY, huge) is None
    assert verify(KEY, "fw1." + "A" * 10_000_000 + ".AAAA") is None


def test_issue_refuses_what_verify_would_refuse() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        issue(KEY[:31], AGENT)
    with pytest.raises(ValueError, match="exceeds"):
        issue(KEY, AgentClaim("a-1", None, 0.0, hostname="h" * signedcred.MAX_CHARS))


def test_the_largest_claim_the_collector_makes_fits() -> None:
    widest = AgentClaim(
        "a" * 64,
        SiteLabels("s" * 64, "d" * 64, "department", "Ữ" * 85),  # 255 bytes of UTF-8
        1e10,
        "h" * 253,
        "c" * 64,
        "f" * 128,
        "t" * 64,
    )
    assert verify(KEY, issue(KEY, widest)) == widest


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[]",
        b'"text"',
        b'{"k":"a","at":1}',  # no id
        b'{"k":"a","id":"","at":1}',
        b'{"k":"a","id":"a-1"}',  # no enrolled_at
        b'{"k":"a","id":"a-1","at":true}',
        b'{"k":"a","id":"a-1","at":NaN}',
        b'{"k":"a","id":"a-1","at":"1"}',
        b'{"k":"a","id":"a-1","at":1,"s":["only","three","labels"]}',
        b'{"k":"a","id":"a-1","at":1,"h":5}',
        b'{"k":"t","id":"t1","at":1,"n":"500"}',
        b'{"k":"t","id":"t1","at":1,"x":"never"}',
        b'{"k":"z","id":"a-1","at":1}',
        b"\xff\xfe",
    ],
)
def test_a_signed_payload_that_is_no_claim_proves_nothing(payload: bytes) -> None:
    assert verify(KEY, signed_raw(payload)) is None
