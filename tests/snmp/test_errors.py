"""Failures -> SnmpError classes: pysnmp's error indications, error statuses, exceptions; secrets scrubbed."""

from __future__ import annotations

import socket

import pytest
from pyasn1.error import PyAsn1Error
from pysnmp.error import PySnmpError
from pysnmp.proto import errind

from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from fleetwatch_snmp import errors
from fleetwatch_snmp.errors import PollError


@pytest.mark.parametrize(
    ("indication", "error_class"),
    [
        (errind.requestTimedOut, "timeout"),
        (errind.wrongDigest, "auth"),
        (errind.unknownUserName, "auth"),
        (errind.unsupportedSecurityLevel, "auth"),
        (errind.notInTimeWindow, "auth"),
        (errind.decryptionError, "auth"),
        (errind.authenticationFailure, "auth"),
        (errind.parseError, "malformed"),
        (errind.oidNotIncreasing, "malformed"),
        (errind.emptyResponse, "malformed"),
        (errind.noSuchContext, "other"),
        ("badResponse", "other"),
    ],
)
def test_error_indications(indication: object, error_class: str) -> None:
    assert errors.from_indication(indication).error_class == error_class


def test_the_classes_are_the_contract_enum() -> None:
    assert PollError("timeout", "x").number == pb.SNMP_ERROR_TIMEOUT
    assert PollError("auth", "x").number == pb.SNMP_ERROR_AUTH
    assert PollError("no_such_object", "x").number == pb.SNMP_ERROR_NO_SUCH_OBJECT
    assert PollError("malformed", "x").number == pb.SNMP_ERROR_MALFORMED
    assert PollError("other", "x").number == pb.SNMP_ERROR_OTHER
    with pytest.raises(ValueError, match="not an SnmpError class"):
        PollError("none", "x")


def test_texts_are_for_people() -> None:
    assert "wrong digest" in errors.from_indication(errind.wrongDigest).text
    assert "community" in errors.from_indication(errind.requestTimedOut).text
    assert "unknown user" in errors.from_indication(errind.unknownUserName).text


@pytest.mark.parametrize(
    ("status", "error_class", "text"),
    [
        (16, "auth", "authorizationError at variable 2"),
        (2, "no_such_object", "noSuchName at variable 2"),
        (5, "other", "error status genErr at variable 2"),
        (1, "other", "tooBig"),
        (99, "other", "error status 99"),
    ],
)
def test_error_statuses(status: int, error_class: str, text: str) -> None:
    error = errors.from_status(status, 2)
    assert error.error_class == error_class
    assert text in error.text


@pytest.mark.parametrize(
    ("exception", "error_class"),
    [
        (TimeoutError(), "timeout"),
        (PyAsn1Error("bad tag"), "malformed"),
        (ConnectionRefusedError(111, "Connection refused"), "other"),
        (socket.gaierror(-2, "Name or service not known"), "other"),
        (PySnmpError("Bad IPv4/UDP transport address"), "other"),
        (PollError("auth", "kept"), "auth"),
    ],
)
def test_exceptions(exception: BaseException, error_class: str) -> None:
    assert errors.from_exception(exception).error_class == error_class


def test_secrets_are_scrubbed_longest_first() -> None:
    assert errors.scrub("key abc and abcdef", ["abc", "abcdef", ""]) == "key *** and ***"
