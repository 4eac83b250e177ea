"""CommunitySession over real UDP sockets on loopback: answers, retries, timeouts, noise and late answers."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar, cast

import pytest
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api
from pysnmp.proto.api import v2c

from fleetwatch_snmp import ber, errors
from fleetwatch_snmp.community import CommunitySession
from fleetwatch_snmp.credentials import Credential
from fleetwatch_snmp.oids import SYS_DESCR, SYS_NAME, Oid
from fleetwatch_snmp.target import DeviceTarget
from fleetwatch_snmp.values import Answer
from tests.conftest import REPO_ROOT
from tests.snmp.fakeagent import FakeAgent, router_objects

T = TypeVar("T")
V1, V2C = 0, 1
COMMUNITY = "public-test"
PDU_CLASSES = {"get": "GetRequestPDU", "next": "GetNextRequestPDU", "bulk": "GetBulkRequestPDU"}
TOP32 = 2**32 - 1
CLOSED_PORT_TEXT = "no answer: the device's SNMP port is closed"


@dataclass(frozen=True)
class Request:
    """A request as pysnmp reads it off the wire."""

    version: int
    community: bytes
    kind: str  # the pysnmp PDU class name: GetRequestPDU, GetNextRequestPDU, GetBulkRequestPDU
    request_id: int
    oids: list[Oid]
    max_repetitions: int | None


def parse_request(data: bytes) -> Request:
    version = int(api.decodeMessageVersion(data))
    module: ModuleType = api.PROTOCOL_MODULES[version]
    message, rest = decoder.decode(data, asn1Spec=module.Message())
    assert rest == b""
    pdu = module.apiMessage.get_pdu(message)
    kind = type(pdu).__name__
    return Request(
        version,
        bytes(module.apiMessage.get_community(message)),
        kind,
        int(module.apiPDU.get_request_id(pdu)),
        [tuple(oid) for oid, _value in module.apiPDU.get_varbinds(pdu)],
        int(v2c.apiBulkPDU.get_max_repetitions(pdu)) if kind == "GetBulkRequestPDU" else None,
    )


def response(request: Request, values: list[Any], status: int = 0, index: int = 0, **header: Any) -> bytes:
    """A Response to ``request`` built by pysnmp: its OIDs with ``values``; ``header`` fields overridden."""
    fields = {"version": request.version, "community": request.community, "request_id": request.request_id}
    fields.update(header)
    module: ModuleType = api.PROTOCOL_MODULES[fields["version"]]
    pdu = module.GetResponsePDU()
    module.apiPDU.set_defaults(pdu)
    module.apiPDU.set_request_id(pdu, fields["request_id"])
    module.apiPDU.set_error_status(pdu, status)
    module.apiPDU.set_error_index(pdu, index)
    module.apiPDU.set_varbinds(pdu, list(zip(request.oids, values, strict=True)))
    message = module.Message()
    module.apiMessage.set_defaults(message)
    module.apiMessage.set_community(message, fields["community"])
    module.apiMessage.set_pdu(message, pdu)
    encoded: bytes = encoder.encode(message)
    return encoded


def texts(request: Request, text: str) -> list[Any]:
    """One OCTET STRING per asked OID, to tell the answers apart."""
    return [v2c.OctetString(text.encode()) for _oid in request.oids]


Reply = Callable[[Request, int], list[bytes]]  # (request, its number from 1) -> datagrams to send back


class Responder(asyncio.DatagramProtocol):
    """A device stand-in: every request read with pysnmp, kept, and answered with what ``reply`` says."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.requests: list[Request] = []
        self.peer: Any = None
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.peer = addr
        request = parse_request(data)
        self.requests.append(request)
        for datagram in self.reply(request, len(self.requests)):
            self.send(datagram)

    def send(self, datagram: bytes) -> None:
        assert self.transport is not None
        self.transport.sendto(datagram, self.peer)

    @property
    def port(self) -> int:
        assert self.transport is not None
        port: int = self.transport.get_extra_info("sockname")[1]
        return port


def run(
    reply: Reply, body: Callable[[Responder], Awaitable[T]], host: str = "127.0.0.1"
) -> tuple[T, list[Request]]:
    """What ``body`` returned, run with a responder listening on ``host``, and the requests it received."""
    responder = Responder(reply)

    async def main() -> T:
        loop = asyncio.get_running_loop()
        transport, _protocol = await loop.create_datagram_endpoint(lambda: responder, local_addr=(host, 0))
        try:
            return await body(responder)
        finally:
            transport.close()

    return asyncio.run(main()), responder.requests


def target(
    port: int, version: str = "2c", retries: int = 0, timeout: float = 2.0, host: str = "127.0.0.1"
) -> DeviceTarget:
    """A device on loopback; the time an attempt waits is long where an answer is due (a busy machine)."""
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    credential = Credential("test", version, community=COMMUNITY)
    return DeviceTarget("router", address, credential, timeout_seconds=timeout, retries=retries)


async def ask(device: DeviceTarget) -> Answer:
    session = await CommunitySession.open(device)
    try:
        return await session.get([SYS_DESCR, SYS_NAME])
    finally:
        session.close()


def ask_once(reply: Reply, host: str = "127.0.0.1", **options: Any) -> tuple[Answer, list[Request]]:
    """One GET of sysDescr.0 and sysName.0 from a responder that answers with ``reply``."""
    return run(reply, lambda responder: ask(target(responder.port, host=host, **options)), host=host)


def failure(answer: Answer) -> tuple[str, str]:
    """The class and text of an answer's error (which it must have), its variables empty."""
    assert answer.error is not None
    assert (answer.status, answer.index, answer.varbinds) == (0, 0, [])
    return answer.error.error_class, answer.error.text


# --- answers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "kind"), [("1", "get"), ("1", "next"), ("2c", "get"), ("2c", "next"), ("2c", "bulk")]
)
def test_requests_are_answered_with_the_values_of_the_response(version: str, kind: str) -> None:
    module = api.v1 if version == "1" else v2c
    values = [
        module.Gauge32(TOP32) if module is v2c else module.Gauge(TOP32),
        module.OctetString(b"\xff edge"),
    ]
    oids: list[Oid] = [(1, 3, 6, 1, 2, 1, 2, 2, 1, 5, 1), (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1, 1)]

    async def body(responder: Responder) -> Answer:
        session = await CommunitySession.open(target(responder.port, version))
        try:
            if kind == "bulk":
                return await session.bulk(oids, 17)
            return await (session.get(oids) if kind == "get" else session.next(oids))
        finally:
            session.close()

    answer, [request] = run(lambda request, _number: [response(request, values)], body)
    assert answer == Answer(None, 0, 0, [(oids[0], TOP32), (oids[1], b"\xff edge")])
    assert (request.version, request.community) == ((V1 if version == "1" else V2C), COMMUNITY.encode())
    assert (request.kind, request.oids) == (PDU_CLASSES[kind], oids)
    assert request.max_repetitions == (17 if kind == "bulk" else None)


def test_an_error_status_and_index_reach_the_answer() -> None:
    answer, _requests = ask_once(lambda request, _n: [response(request, [v2c.null] * 2, status=2, index=2)])
    assert answer == Answer(None, 2, 2, [(SYS_DESCR, b""), (SYS_NAME, b"")])


def test_every_request_has_a_new_id_and_each_answer_goes_to_its_request() -> None:
    async def body(responder: Responder) -> list[Answer]:
        session = await CommunitySession.open(target(responder.port))
        try:
            return [await session.get([SYS_NAME]) for _ in range(3)]
        finally:
            session.close()

    answers, requests = run(lambda request, n: [response(request, texts(request, f"answer {n}"))], body)
    assert [answer.varbinds for answer in answers] == [
        [(SYS_NAME, f"answer {n}".encode())] for n in (1, 2, 3)
    ]
    ids = [request.request_id for request in requests]
    assert len(set(ids)) == 3
    assert all(0 < request_id <= 2**31 - 1 for request_id in ids)


def test_answers_with_another_request_id_community_or_version_are_ignored() -> None:
    def reply(request: Request, _number: int) -> list[bytes]:
        wrong = texts(request, "wrong")
        return [
            response(request, wrong, request_id=(request.request_id + 1) % 2**31),
            response(request, wrong, community=b"other-community"),
            response(request, wrong, version=V1),
            response(request, wrong, community=COMMUNITY.encode() + b"x"),
            b"\x30\x03\x02\x01\x01",  # unreadable: ignored while a better answer may come
            response(request, texts(request, "right")),
            response(request, texts(request, "after")),
        ]

    answer, requests = ask_once(reply, retries=2)
    assert answer == Answer(None, 0, 0, [(SYS_DESCR, b"right"), (SYS_NAME, b"right")])
    assert len(requests) == 1


@pytest.mark.parametrize("field", [{"community": b"other-community"}, {"version": V1}, {"request_id": 12345}])
def test_only_answers_for_someone_else_are_a_timeout(field: dict[str, Any]) -> None:
    """A device that knows not the community stays silent; an answer that is not ours counts as none."""

    def reply(request: Request, _number: int) -> list[bytes]:
        overrides = dict(field)
        if overrides.get("request_id") == request.request_id:
            overrides["request_id"] += 1
        return [response(request, texts(request, "not ours"), **overrides)]

    answer, requests = ask_once(reply, retries=1, timeout=0.2)
    assert failure(answer) == (errors.TIMEOUT, errors.NO_ANSWER)
    assert len(requests) == 2


# --- retries and timeouts ---------------------------------------------------------------------


@pytest.mark.parametrize(("lost", "retries"), [(1, 1), (1, 3), (2, 2)])
def test_a_retry_after_lost_datagrams_gets_the_answer(lost: int, retries: int) -> None:
    def reply(request: Request, number: int) -> list[bytes]:
        return [] if number <= lost else [response(request, texts(request, f"answer to try {number}"))]

    answer, requests = ask_once(reply, retries=retries, timeout=0.3)
    assert answer.error is None
    assert answer.varbinds[0] == (SYS_DESCR, f"answer to try {lost + 1}".encode())
    assert len(requests) == lost + 1 <= retries + 1
    assert len({request.request_id for request in requests}) == 1  # a retry is the same request


@pytest.mark.parametrize("retries", [0, 1, 3])
def test_no_answer_is_a_timeout_after_every_attempt(retries: int) -> None:
    answer, requests = ask_once(lambda _request, _number: [], retries=retries, timeout=0.15)
    assert failure(answer) == (errors.TIMEOUT, errors.NO_ANSWER)
    assert len(requests) == retries + 1
    assert len({request.request_id for request in requests}) == 1


def echo(request: Request, _number: int) -> list[bytes]:
    """The request sent back as it came (a reflector, not an agent)."""
    return [ber.encode_request(request.version, request.community, ber.GET, request.request_id, request.oids)]


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (lambda _request, _number: [b"\x30\x05\x02\x01"], "truncated"),
        (lambda _request, _number: [b"\x04\x00"], "message: tag 0x04"),  # an empty OCTET STRING
        (echo, "PDU: tag 0xa0"),
    ],
)
def test_only_garbage_is_malformed_with_the_reason(reply: Reply, reason: str) -> None:
    answer, requests = ask_once(reply, retries=1, timeout=0.2)
    error_class, text = failure(answer)
    assert error_class == errors.MALFORMED
    assert text.startswith("unreadable answer: ") and reason in text
    assert len(requests) == 2  # the garbage did not end the wait early


def closed_udp_port(host: str) -> int:
    """A UDP port on ``host`` with nothing listening a moment ago."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


NO_IPV6 = pytest.mark.skipif(not ipv6_loopback(), reason="this host has no IPv6 loopback (::1)")
HOSTS = ["127.0.0.1", pytest.param("::1", marks=NO_IPV6)]


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("retries", [0, 2])
def test_a_closed_port_is_a_timeout_that_says_so(host: str, retries: int) -> None:
    answer = asyncio.run(ask(target(closed_udp_port(host), retries=retries, timeout=0.2, host=host)))
    assert failure(answer) == (errors.TIMEOUT, CLOSED_PORT_TEXT)


@pytest.mark.parametrize("host", HOSTS)
def test_a_device_on_either_loopback_is_answered(host: str) -> None:
    answer, _requests = ask_once(lambda request, _n: [response(request, texts(request, "right"))], host=host)
    assert answer == Answer(None, 0, 0, [(SYS_DESCR, b"right"), (SYS_NAME, b"right")])


# --- late answers -----------------------------------------------------------------------------


@pytest.mark.parametrize("arriving", ["between requests", "during the next request"])
def test_late_answers_to_an_earlier_request_do_not_confuse_the_next(arriving: str) -> None:
    held: list[Request] = []

    def late() -> bytes:
        return response(held[0], texts(held[0], "late answer 1"))

    def reply(request: Request, number: int) -> list[bytes]:
        if number == 1:  # answered too late, below
            held.append(request)
            return []
        during = [late(), late()] if arriving == "during the next request" else []
        return [*during, response(request, texts(request, f"answer {number}"))]

    async def body(responder: Responder) -> list[Answer]:
        session = await CommunitySession.open(target(responder.port, timeout=0.5))
        try:
            first = await session.get([SYS_NAME])
            if arriving == "between requests":
                for _ in range(20):  # more than the session keeps while no request waits
                    responder.send(late())
                await asyncio.sleep(0.1)
            return [first, await session.get([SYS_NAME])]
        finally:
            session.close()

    (first, second), requests = run(reply, body)
    assert failure(first) == (errors.TIMEOUT, errors.NO_ANSWER)
    assert second == Answer(None, 0, 0, [(SYS_NAME, b"answer 2")])
    assert requests[0].request_id != requests[1].request_id


# --- no pysnmp for SNMPv1/v2c -----------------------------------------------------------------

POLL_IN_A_FRESH_PROCESS = """
import asyncio, json, sys
from fleetwatch_snmp.credentials import Credential
from fleetwatch_snmp.poller import Poller
from fleetwatch_snmp.target import DeviceTarget

async def main():
    poller = Poller()
    device = await poller.poll(DeviceTarget("fake", sys.argv[1], Credential("fake", "2c", community="fake")))
    poller.close()
    loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("pysnmp", "pyasn1"))
    print(json.dumps([device.reachable, device.error, [i.name for i in device.interfaces], loaded]))

asyncio.run(main())
"""


def test_polling_a_v2c_device_imports_no_pysnmp() -> None:
    with FakeAgent(router_objects()) as agent:
        command = [sys.executable, "-c", POLL_IN_A_FRESH_PROCESS, agent.address]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, check=False)
    assert done.returncode == 0, done.stderr
    reachable, error, interfaces, loaded = json.loads(done.stdout)
    assert reachable, error
    assert interfaces == ["Gi0/1", "Gi0/2", "Gi0/3"]
    assert loaded == []
