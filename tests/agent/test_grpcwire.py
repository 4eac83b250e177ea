"""gRPC's HTTP/2 framing on bytes: length-prefixed messages, gzip, grpc-timeout, headers, status parsing."""

from __future__ import annotations

import gzip
import random
import zlib

import grpc
import pytest

from fleetwatch_agent.grpcwire import (
    StatusCode,
    WireError,
    content_type_ok,
    decode_message,
    decode_messages,
    encode_message,
    encode_timeout,
    gzip_sizes,
    request_headers,
    response_status,
    user_metadata,
)


def test_status_codes_have_grpcs_names_and_numbers() -> None:
    assert [(c.name, c.value) for c in StatusCode] == [(c.name, c.value[0]) for c in grpc.StatusCode]


def test_a_message_is_flag_length_and_bytes() -> None:
    assert encode_message(b"abc") == b"\x00\x00\x00\x00\x03abc"
    assert encode_message(b"") == b"\x00\x00\x00\x00\x00"
    assert encode_message(b"x" * 70_000)[:5] == b"\x00\x00\x01\x11\x70"


def test_a_compressed_message_is_gzip_with_the_flag_set() -> None:
    payload = b"fleetwatch " * 1000
    framed = encode_message(payload, compress=True)
    assert framed[0] == 1
    assert int.from_bytes(framed[1:5], "big") == len(framed) - 5 < len(payload) // 10
    assert gzip.decompress(framed[5:]) == payload
    assert decode_messages(framed, "gzip") == [payload]


@pytest.mark.parametrize("length", [0, 1, 300, 2047, 2048, 5_000, 40_000, 1_000_000])
def test_compression_sized_to_the_message_reads_back_with_a_standard_inflater(length: int) -> None:
    rng = random.Random(length)
    words = [b"cpu", b"memory", b"/dev/sda1", b"eth0", b"clamav", b"gateway", bytes(rng.randbytes(6))]
    payload = b" ".join(rng.choice(words) for _ in range(length))[:length]
    framed = encode_message(payload, compress=True)
    assert gzip.decompress(framed[5:]) == payload  # Python's (and grpc's) 32 KiB-window inflater
    assert decode_messages(framed, "gzip") == [payload]
    # The smaller window and state cost nothing in size where the message fits the window.
    standard = zlib.compressobj(wbits=31)
    if length <= 16_000:
        assert len(framed) - 5 <= len(standard.compress(payload) + standard.flush()) * 1.01 + 2


def test_the_gzip_window_grows_with_the_message_up_to_zlibs_largest() -> None:
    assert gzip_sizes(0) == (9, 2)
    assert gzip_sizes(1_650) == (12, 5)  # a resources report: 4 KiB
    assert gzip_sizes(1_000_000) == (15, 8)  # zlib's defaults
    assert all(2 ** gzip_sizes(n)[0] - 262 >= n for n in range(0, 32_000, 97))


def test_a_body_of_several_messages_decodes_in_order() -> None:
    body = encode_message(b"one") + encode_message(b"") + encode_message(b"three", compress=True)
    assert decode_messages(body, "gzip") == [b"one", b"", b"three"]
    assert decode_messages(b"") == []


@pytest.mark.parametrize("cut", [1, 4, 5, 7])
def test_a_truncated_body_is_internal(cut: int) -> None:
    body = encode_message(b"abcdef")[:cut]
    with pytest.raises(WireError) as info:
        decode_messages(body)
    assert info.value.code is StatusCode.INTERNAL


def test_a_message_over_the_limit_is_resource_exhausted_from_its_prefix() -> None:
    with pytest.raises(WireError) as info:
        decode_messages(b"\x00\x7f\xff\xff\xff", max_message_bytes=1024)
    assert info.value.code is StatusCode.RESOURCE_EXHAUSTED


def test_a_gzip_bomb_stops_at_the_limit() -> None:
    body = encode_message(b"\x00" * 1_000_000, compress=True)
    with pytest.raises(WireError) as info:
        decode_messages(body, "gzip", max_message_bytes=1000)
    assert info.value.code is StatusCode.RESOURCE_EXHAUSTED


def test_a_compressed_message_needs_a_known_encoding() -> None:
    with pytest.raises(WireError):
        decode_messages(encode_message(b"abc", compress=True), "identity")
    with pytest.raises(WireError):
        decode_messages(b"\x01\x00\x00\x00\x03abc", "gzip")  # not gzip
    with pytest.raises(WireError):
        decode_messages(b"\x02\x00\x00\x00\x00")  # flag neither 0 nor 1


@pytest.mark.parametrize(
    ("seconds", "header"),
    [
        (10.0, "10000000u"),
        (0.25, "250000u"),
        (0.0, "0n"),
        (1e-9, "1n"),
        (1000.0, "1000000m"),
        (200_000.0, "200000S"),
        (10 * 365 * 86400.0, "5256000M"),
        (1e12, "99999999H"),  # the largest value the header can say
    ],
)
def test_grpc_timeout_is_the_finest_unit_within_8_digits(seconds: float, header: str) -> None:
    assert encode_timeout(seconds) == header


def test_grpc_timeout_never_rounds_down() -> None:
    for seconds in (0.1, 0.3, 1.7, 29.999, 86400.5):
        value = encode_timeout(seconds)
        number, unit = int(value[:-1]), value[-1]
        assert len(value) - 1 <= 8
        scale = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "S": 1, "M": 60, "H": 3600}[unit]
        assert number * scale >= seconds * (1 - 1e-12)


def test_request_headers_put_pseudo_headers_first_then_metadata() -> None:
    headers = request_headers(
        "collector:443", "/fleetwatch.v1.Collector/Push", tls=True, timeout=10.0,
        metadata=[("x-fleetwatch-agent-id", "a-1"), ("authorization", "Bearer s")], compressed=True,
    )  # fmt: skip
    names = [k for k, _ in headers]
    assert names[:4] == [":method", ":scheme", ":path", ":authority"]
    assert dict(headers)[":scheme"] == "https"
    assert dict(headers)["content-type"] == "application/grpc"
    assert dict(headers)["te"] == "trailers"
    assert dict(headers)["grpc-encoding"] == "gzip"
    assert dict(headers)["grpc-timeout"] == "10000000u"
    assert headers[-2:] == [("x-fleetwatch-agent-id", "a-1"), ("authorization", "Bearer s")]
    plain = dict(request_headers("h:1", "/s/M", tls=False, timeout=None))
    assert plain[":scheme"] == "http"
    assert "grpc-timeout" not in plain
    assert "grpc-encoding" not in plain


@pytest.mark.parametrize("key", ["X-Upper", ":path", "grpc-status", "content-type", "te"])
def test_metadata_cannot_spoof_protocol_headers(key: str) -> None:
    with pytest.raises(ValueError, match="metadata key"):
        request_headers("h:1", "/s/M", tls=False, timeout=None, metadata=[(key, "v")])


OK_HEADERS = [(":status", "200"), ("content-type", "application/grpc")]


def test_status_comes_from_the_trailers() -> None:
    trailers = [("grpc-status", "7"), ("grpc-message", "not allowed"), ("x-why", "policy")]
    assert response_status(OK_HEADERS, trailers) == (StatusCode.PERMISSION_DENIED, "not allowed")
    assert response_status(OK_HEADERS, [("grpc-status", "0")]) == (StatusCode.OK, "")
    assert user_metadata(trailers) == (("x-why", "policy"),)


def test_trailers_only_carries_the_status_in_the_headers() -> None:
    headers = [*OK_HEADERS, ("grpc-status", "16"), ("grpc-message", "no%20credential"), ("x-a", "1")]
    assert response_status(headers, []) == (StatusCode.UNAUTHENTICATED, "no credential")
    assert user_metadata(headers) == (("x-a", "1"),)


def test_grpc_message_is_percent_decoded_utf8() -> None:
    assert decode_message("Kh%C3%B4ng%20h%E1%BB%A3p%20l%E1%BB%87") == "Không hợp lệ"
    assert decode_message("100%25 sure") == "100% sure"
    assert decode_message("bad %zz escape") == "bad %zz escape"
    assert decode_message("%FF") == "\ufffd"


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("401", StatusCode.UNAUTHENTICATED),
        ("403", StatusCode.PERMISSION_DENIED),
        ("404", StatusCode.UNIMPLEMENTED),
        ("503", StatusCode.UNAVAILABLE),
        ("502", StatusCode.UNAVAILABLE),
        ("500", StatusCode.UNKNOWN),
    ],
)
def test_an_http_error_without_grpc_status_maps_per_the_protocol(status: str, code: StatusCode) -> None:
    assert response_status([(":status", status)], [])[0] is code


def test_missing_or_unknown_statuses() -> None:
    assert response_status(OK_HEADERS, [])[0] is StatusCode.INTERNAL
    assert response_status(OK_HEADERS, [("grpc-status", "99")])[0] is StatusCode.UNKNOWN
    assert response_status(OK_HEADERS, [("grpc-status", "x")])[0] is StatusCode.UNKNOWN


def test_content_type_accepts_grpc_and_its_subtypes_only() -> None:
    assert content_type_ok(OK_HEADERS)
    assert content_type_ok([("content-type", "application/grpc+proto")])
    assert not content_type_ok([("content-type", "text/html")])
    assert not content_type_ok([("content-type", "application/grpcx")])
    assert not content_type_ok([])
