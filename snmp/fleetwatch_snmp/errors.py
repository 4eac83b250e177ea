"""Why a poll failed: pysnmp error indications, error statuses and exceptions -> `SnmpError` classes and text.

Pure: pysnmp's error indications are recognised by their class names, so this module needs no pysnmp.
The class names are the short names of the `SnmpError` enum (``fleetwatch_proto.names.SNMP_ERROR``).
"""

from __future__ import annotations

from collections.abc import Iterable

from fleetwatch_proto.names import SNMP_ERROR

TIMEOUT = "timeout"
AUTH = "auth"
NO_SUCH_OBJECT = "no_such_object"
MALFORMED = "malformed"
OTHER = "other"

# SNMPv2 error-status values (RFC 3416), by number.
ERROR_STATUS_NAMES = (
    "noError", "tooBig", "noSuchName", "badValue", "readOnly", "genErr", "noAccess", "wrongType",
    "wrongLength", "wrongEncoding", "wrongValue", "noCreation", "inconsistentValue", "resourceUnavailable",
    "commitFailed", "undoFailed", "authorizationError", "notWritable", "inconsistentName",
)  # fmt: skip
NO_SUCH_NAME = 2
AUTHORIZATION_ERROR = 16
NO_ANSWER = "no answer (a wrong community or privacy key looks the same)"

# pysnmp error indications (pysnmp.proto.errind) by class name: (class, text for people).
_TIMEOUT = ("RequestTimedOut",)
_AUTH = {
    "WrongDigest": "wrong digest: check auth_key and auth_protocol",
    "UnknownUserName": "unknown user: check user",
    "UnsupportedSecurityLevel": "the user does not support this security level: check the protocols",
    "NotInTimeWindow": "not in the time window (the device's engine boots/time did not match)",
    "UnknownEngineID": "unknown engine id",
    "AuthenticationFailure": "authentication failure",
    "AuthenticationError": "authentication error: check auth_key and auth_protocol",
    "UnknownSecurityName": "unknown security name",
    "UnknownCommunityName": "unknown community name",
    "DecryptionError": "decryption failed: check priv_key and priv_protocol",
    "UnsupportedAuthProtocol": "authentication protocol not supported",
    "UnsupportedPrivProtocol": "privacy protocol not supported",
}
_MALFORMED = ("DeserializationError", "ParseError", "InvalidMsg", "EmptyResponse", "OidNotIncreasing")


class PollError(Exception):
    """A failed poll: its class (a short `SnmpError` name) and a short text without any secret."""

    def __init__(self, error_class: str, text: str) -> None:
        if SNMP_ERROR.number(error_class) == 0:
            raise ValueError(f"{error_class!r} is not an SnmpError class")
        super().__init__(text)
        self.error_class = error_class
        self.text = text

    @property
    def number(self) -> int:
        """The `SnmpError` enum value."""
        return SNMP_ERROR.number(self.error_class)


def from_indication(indication: object) -> PollError:
    """The class of a pysnmp error indication (an ``errind.ErrorIndication`` or a subclass)."""
    names = [cls.__name__ for cls in type(indication).__mro__]
    description = str(indication) or names[0]
    for name in names:
        if name in _TIMEOUT:
            return PollError(TIMEOUT, NO_ANSWER)
        if name in _AUTH:
            return PollError(AUTH, f"authentication refused: {_AUTH[name]}")
        if name in _MALFORMED:
            return PollError(MALFORMED, f"unreadable answer: {description}")
    return PollError(OTHER, description)


def from_status(status: int, index: int = 0) -> PollError:
    """The class of an error status in a response PDU (``index`` counts variables from 1, 0 = none)."""
    name = status_name(status)
    where = f" at variable {index}" if index else ""
    if status == AUTHORIZATION_ERROR:
        return PollError(AUTH, f"access refused ({name}{where}): the credential may not read these objects")
    if status == NO_SUCH_NAME:
        return PollError(NO_SUCH_OBJECT, f"the device has no such object ({name}{where})")
    return PollError(OTHER, f"the device answered with error status {name}{where}")


def status_name(status: int) -> str:
    return ERROR_STATUS_NAMES[status] if 0 <= status < len(ERROR_STATUS_NAMES) else f"error status {status}"


def from_exception(exc: BaseException) -> PollError:
    """The class of an exception raised while polling (pysnmp, pyasn1, socket errors)."""
    if isinstance(exc, PollError):
        return exc
    if isinstance(exc, TimeoutError):
        return PollError(TIMEOUT, "no answer in time")
    names = [cls.__name__ for cls in type(exc).__mro__]
    detail = f"{names[0]}: {exc}" if str(exc) else names[0]
    if "PyAsn1Error" in names:
        return PollError(MALFORMED, f"unreadable answer: {detail}")
    if isinstance(exc, OSError):
        return PollError(OTHER, f"socket error: {exc.strerror or detail}")
    return PollError(OTHER, detail)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``***`` (longest first, so no part of one is left)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
