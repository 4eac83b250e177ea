"""The SNMP notification receiver: v1/v2c communities, v3 users, UDP in, ``TrapEvent``s out, drops counted."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

from pyasn1.codec.ber import decoder as ber_decoder
from pyasn1.type import univ
from pysnmp.carrier.asyncio.dgram import udp, udp6
from pysnmp.carrier.asyncio.dispatch import AsyncioDispatcher
from pysnmp.entity import config, engine
from pysnmp.entity.rfc3413 import ntfrcv
from pysnmp.proto import rfc1902
from pysnmp.proto.api import v2c
from pysnmp.proto.secmod.rfc3414.service import UsmSecurityParameters

from fleetwatch_snmp.credentials import Credential
from fleetwatch_snmp.engines import AUTH_PROTOCOLS, PRIV_PROTOCOLS
from fleetwatch_snmp.traps import TrapEvent, TrapRejection, VarbindValue, to_event

log = logging.getLogger(__name__)

# Every reason rejected() reports (always present, 0 until it happens).
REJECT_REASONS: Final = (
    "bad_community",  # v1/v2c community not configured
    "unknown_user",  # v3 user name not configured (or empty)
    "unknown_engine_id",  # v3 user configured, but not for the engine id the message names
    "wrong_digest",  # v3 authentication failed (wrong auth key or protocol)
    "decryption_error",  # v3 privacy failed (wrong priv key or protocol)
    "not_in_time_window",  # v3 message too old or replayed
    "unsupported_security_level",  # v3 message below its user's level (e.g. noAuth for an authPriv user)
    "unexpected_pdu",  # not a notification (a GET sent to the receiver, a stray response)
    "no_trap_oid",  # a notification without a valid snmpTrapOID.0
    "malformed",  # not SNMP, bad BER, unsupported version, invalid header
    "other",  # dropped by the SNMP engine without a more precise reason
)

# The engine's own statistics (SNMPv2-MIB, SNMP-USER-BASED-SM-MIB, SNMP-MPD-MIB): the one that moves
# while a datagram is processed says why it was dropped.
_COUNTERS: Final = (
    ("__SNMPv2-MIB", "snmpInBadCommunityNames", "bad_community"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnknownUserNames", "unknown_user"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnknownEngineIDs", "unknown_engine_id"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsWrongDigests", "wrong_digest"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsDecryptionErrors", "decryption_error"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsNotInTimeWindows", "not_in_time_window"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnsupportedSecLevels", "unsupported_security_level"),
    ("__SNMP-MPD-MIB", "snmpUnknownPDUHandlers", "unexpected_pdu"),
    ("__SNMPv2-MIB", "snmpInASNParseErrs", "malformed"),
    ("__SNMPv2-MIB", "snmpInBadVersions", "malformed"),
    ("__SNMPv2-MIB", "snmpInGenErrs", "malformed"),
    ("__SNMP-MPD-MIB", "snmpInvalidMsgs", "malformed"),
    ("__SNMP-MPD-MIB", "snmpUnknownSecurityModels", "malformed"),
)

RECEIVE_BUFFER_BYTES: Final = 1 << 20
_VERSIONS: Final = {0: "1", 1: "2c", 3: "3"}  # message processing model -> SNMP version
_IP_ADDRESS: Final = rfc1902.IpAddress.tagSet
_REQUEST: Final = "rfc3412.receiveMessage:request"
_SM_FAILURE: Final = "rfc3412.prepareDataElements:sm-failure"
_USM_USER: Final = "rfc3414.processIncomingMsg"


def _plain(varbinds: Iterable[tuple[Any, Any]]) -> Iterator[tuple[str, VarbindValue]]:
    for oid, value in varbinds:
        yield str(oid), _plain_value(value)


def _plain_value(value: Any) -> VarbindValue:
    try:
        if value.tagSet == _IP_ADDRESS:  # SMIv2's or, in a v1 trap's agent-addr, SMIv1's
            return str(value.prettyPrint())
        if isinstance(value, univ.ObjectIdentifier):
            return str(value)
        if isinstance(value, univ.Integer):
            return int(value)
        if isinstance(value, univ.OctetString):
            return bytes(value.asOctets())
    except Exception:  # a value pyasn1 cannot render is reported as empty
        return None
    return None


def _usm_identity(security_parameters: Any) -> tuple[bytes, bytes] | None:
    """(msgAuthoritativeEngineID, msgUserName) of a v3 message's USM parameters, None if undecodable."""
    try:
        params, _rest = ber_decoder.decode(bytes(security_parameters), asn1Spec=UsmSecurityParameters())
        return bytes(params.getComponentByPosition(0)), bytes(params.getComponentByPosition(3))
    except Exception:
        return None


class _Receiver(ntfrcv.NotificationReceiver):  # type: ignore[misc]
    """pysnmp's receiver, with what a hostile notification raises inside it (a v1 generic-trap out of
    range) kept inside, so the engine finishes the message and cleans up after it."""

    def __init__(self, snmp_engine: Any, callback: Any, on_error: Callable[[], None]) -> None:
        super().__init__(snmp_engine, callback)
        self._on_error = on_error

    def process_pdu(self, *args: Any) -> None:
        try:
            super().process_pdu(*args)
        except Exception:
            log.debug("notification dropped: pysnmp could not process it", exc_info=True)
            self._on_error()


class TrapServer:
    """Receives SNMP notifications on UDP ``host:port`` (port 0: any free port, see ``port``) and calls
    ``on_trap`` in the event loop for every accepted one. Communities of v1/v2c credentials are
    accepted from v1 and v2c senders; v3 users from TRAPs need the sender's ``engine_id``, INFORMs
    (answered) do not. ``rejected()`` counts the rest by reason; nothing a datagram holds raises."""

    def __init__(
        self,
        host: str,
        port: int,
        credentials: Iterable[Credential],
        on_trap: Callable[[TrapEvent], None],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._address = ipaddress.ip_address(host)  # a literal address: no name lookup at start
        self._host = host
        self._port = port
        self._on_trap = on_trap
        self._clock = clock
        communities: dict[str, str] = {}
        users: list[Credential] = []
        for credential in credentials:
            if credential.version == "3":
                users.append(credential)
            else:
                communities.setdefault(credential.community, credential.name)
        self._communities = tuple(communities)
        self._users = tuple(users)
        self._user_names = frozenset(user.user.encode() for user in users)
        self._rejected = dict.fromkeys(REJECT_REASONS, 0)
        self._engine: Any = None
        self._closed = False
        self._receiver: _Receiver | None = None
        self._socket: socket.socket | None = None
        self._bound_port = 0
        self._counters: tuple[tuple[str, Any, str], ...] = ()
        # What the engine reported about the datagram being processed (processing is synchronous).
        self._outcome: str | None = None
        self._sm_failure: dict[str, Any] | None = None
        self._usm_user: dict[str, Any] | None = None

    @property
    def port(self) -> int:
        """The UDP port listened on: the bound one once started (also when 0 was asked for)."""
        return self._bound_port or self._port

    async def start(self) -> None:
        """Bind the socket and start receiving; raises OSError when the address cannot be bound."""
        if self._engine is not None or self._closed:
            raise RuntimeError("a TrapServer starts once")
        loop = asyncio.get_running_loop()
        v6 = self._address.version == 6
        sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
        self._socket = sock
        try:
            # Room for a burst (a site's routers all reporting one power cut); the kernel caps it.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
            sock.bind((self._host, self._port))
            sock.setblocking(False)
            self._bound_port = sock.getsockname()[1]
            # Everything is in place before the first datagram can be read.
            self._engine = self._configured_engine(loop)
            self._receiver = _Receiver(self._engine, self._notification, self._processing_failed)
            transport = (udp6.Udp6AsyncioTransport if v6 else udp.UdpAsyncioTransport)(loop=loop)
            config.add_transport(self._engine, udp6.DOMAIN_NAME if v6 else udp.DOMAIN_NAME, transport)
            await loop.create_datagram_endpoint(lambda: transport, sock=sock)
        except BaseException:
            self.close()
            raise

    def _configured_engine(self, loop: asyncio.AbstractEventLoop) -> Any:
        snmp_engine = engine.SnmpEngine()
        dispatcher = AsyncioDispatcher(loop=loop, timeout=0.5)
        snmp_engine.register_transport_dispatcher(dispatcher)
        # Every datagram goes through _datagram, which hands it to the engine and counts the outcome.
        dispatcher.unregister_recv_callback(None)
        dispatcher.register_recv_callback(self._datagram)
        for index, community in enumerate(self._communities):
            config.add_v1_system(snmp_engine, f"community-{index}", community)
        informs: set[str] = set()
        for user in self._users:
            # TRAPs: keys localized to the sender's engine id; INFORMs: to this engine's id (None), one
            # entry per user name (the first credential naming it).
            engine_ids: list[bytes | None] = [bytes.fromhex(user.engine_id)] if user.engine_id else []
            if user.user not in informs:
                informs.add(user.user)
                engine_ids.append(None)
            for engine_id in engine_ids:
                config.add_v3_user(
                    snmp_engine,
                    user.user,
                    AUTH_PROTOCOLS[user.auth_protocol],
                    user.auth_key or None,
                    PRIV_PROTOCOLS[user.priv_protocol],
                    user.priv_key or None,
                    securityEngineId=engine_id,
                )
        builder = snmp_engine.get_mib_builder()
        self._counters = tuple(
            (name, builder.import_symbols(module, name)[0], reason) for module, name, reason in _COUNTERS
        )
        snmp_engine.observer.register_observer(self._observe, _SM_FAILURE, _USM_USER)
        return snmp_engine

    def close(self) -> None:
        """Stop receiving and release the socket (at once); a closed server cannot be started again."""
        snmp_engine, self._engine, self._closed = self._engine, None, True
        try:
            if snmp_engine is not None:
                if self._receiver is not None:
                    self._receiver.close(snmp_engine)
                snmp_engine.observer.unregister_observer(self._observe)
                snmp_engine.close_dispatcher()
        finally:
            if self._socket is not None:
                self._socket.close()

    def rejected(self) -> dict[str, int]:
        """Notifications dropped so far, by reason (every reason of ``REJECT_REASONS``, 0 included).
        SNMPv3 engine-id discovery probes are answered, not counted."""
        return dict(self._rejected)

    # -- per datagram (called by pysnmp in the event loop) ------------------------------------------

    def _datagram(self, _dispatcher: Any, domain: Any, address: Any, message: bytes) -> None:
        if self._engine is None:  # read just before close()
            return
        self._outcome = self._sm_failure = self._usm_user = None
        before = tuple(int(counter.syntax) for _name, counter, _reason in self._counters)
        try:
            self._engine.message_dispatcher.receive_message(self._engine, domain, address, message)
        except Exception:
            log.debug("datagram from %s dropped: pysnmp could not process it", address, exc_info=True)
            self._outcome = self._outcome or "malformed"
        if self._outcome == "accepted":
            return
        reason = self._outcome or self._reason(before)
        if reason is not None:
            self._rejected[reason] = self._rejected.get(reason, 0) + 1

    def _reason(self, before: tuple[int, ...]) -> str | None:
        for (name, counter, reason), earlier in zip(self._counters, before, strict=True):
            if int(counter.syntax) == earlier:
                continue
            identity = _usm_identity((self._sm_failure or {}).get("securityParameters", b""))
            user_name = identity[1] if identity is not None else None
            if name == "usmStatsUnknownEngineIDs":
                # RFC 3414 4: a noAuthNoPriv message from no user asks for this engine's id (every v3
                # INFORM sender starts with one); it is answered with a Report, nothing is lost.
                level = (self._sm_failure or {}).get("securityLevel")
                if user_name == b"" and level == 1:
                    return None
            if name == "usmStatsUnknownUserNames" and user_name in self._user_names:
                return "unknown_engine_id"
            return reason
        return "other"

    def _processing_failed(self) -> None:
        self._outcome = "malformed"

    def _observe(self, _engine: Any, execpoint: str, variables: dict[str, Any], _ctx: Any) -> None:
        if execpoint == _SM_FAILURE:
            self._sm_failure = {
                "securityParameters": variables.get("securityParameters"),
                "securityLevel": variables.get("securityLevel"),
            }
        elif execpoint == _USM_USER:  # the user entry a v3 message was matched with (protocols, no keys)
            self._usm_user = {
                "userName": bytes(variables.get("userName") or b""),
                "authProtocol": variables.get("authProtocol"),
                "privProtocol": variables.get("privProtocol"),
            }

    def _notification(
        self,
        snmp_engine: Any,
        _state_reference: Any,
        _context_engine_id: Any,
        _context_name: Any,
        varbinds: Any,
        _cb_ctx: Any,
    ) -> None:
        request = snmp_engine.observer.get_execution_context(_REQUEST)
        mp_model = int(request["messageProcessingModel"])
        refusal = self._v3_refusal(int(request["securityLevel"])) if mp_model == 3 else None
        if refusal is not None:
            self._outcome = refusal
            return
        result = to_event(
            _plain(varbinds),
            sender=str(request["transportAddress"][0]),
            version=_VERSIONS.get(mp_model, str(mp_model)),
            inform=request["pdu"].tagSet == v2c.InformRequestPDU.tagSet,
            received_unix=self._clock(),
        )
        if isinstance(result, TrapRejection):
            self._outcome = result.reason
            return
        self._outcome = "accepted"
        try:
            self._on_trap(result)
        except Exception:
            log.exception("on_trap failed for a %s notification from %s", result.kind, result.sender)

    def _v3_refusal(self, security_level: int) -> str | None:
        """Why a v3 notification pysnmp let through must still be refused. For a TRAP (this engine is not
        authoritative) pysnmp neither enforces the user's security level nor refuses an empty user
        name: a noAuthNoPriv message naming no user, or naming an authPriv user and its engine id (both
        sent in clear text), would otherwise be accepted unauthenticated."""
        user = self._usm_user
        if user is None or not user["userName"]:
            return "unknown_user"
        required = 1
        if tuple(user["authProtocol"] or ()) != tuple(config.USM_AUTH_NONE):
            required = 2
        if tuple(user["privProtocol"] or ()) != tuple(config.USM_PRIV_NONE):
            required = 3
        return "unsupported_security_level" if security_level < required else None
