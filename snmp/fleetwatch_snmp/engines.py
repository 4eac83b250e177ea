"""pysnmp engines of a poller and their configuration: communities, v3 users, targets, UDP sockets.

The configuration is written with ``pysnmp.entity.config`` directly, not through pysnmp's hlapi: the
hlapi package imports pysmi and requests (about 12 MB and 0.2 s more, for MIB compiling the poller
never does).

One engine serves every poll. pysnmp keeps one set of keys per v3 user name in an engine, so two
devices with the same user name but other keys polled at the same time would use each other's keys
(the wrong one would be answered as good): such a poll takes another engine, the first whose entry
for that name is free (no poll using it) or holds the same keys.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from pysnmp.carrier.asyncio.dgram import udp, udp6
from pysnmp.entity import config
from pysnmp.entity.engine import SnmpEngine

from fleetwatch_snmp.credentials import Credential

log = logging.getLogger(__name__)

AUTH_PROTOCOLS = {
    "": config.USM_AUTH_NONE,
    "md5": config.USM_AUTH_HMAC96_MD5,
    "sha": config.USM_AUTH_HMAC96_SHA,
    "sha224": config.USM_AUTH_HMAC128_SHA224,
    "sha256": config.USM_AUTH_HMAC192_SHA256,
    "sha384": config.USM_AUTH_HMAC256_SHA384,
    "sha512": config.USM_AUTH_HMAC384_SHA512,
}
# aes192/aes256: the key extension Cisco and most vendors use (net-snmp's AES192C/AES256C).
PRIV_PROTOCOLS = {
    "": config.USM_PRIV_NONE,
    "des": config.USM_PRIV_CBC56_DES,
    "aes": config.USM_PRIV_CFB128_AES,
    "aes192": config.USM_PRIV_CFB192_AES,
    "aes256": config.USM_PRIV_CFB256_AES,
}
MP_MODELS = {"1": 0, "2c": 1, "3": 3}
UDP = udp.DOMAIN_NAME
UDP6 = udp6.DOMAIN_NAME


def _secrets(credential: Credential) -> tuple[str, ...]:
    return (credential.auth_protocol, credential.auth_key, credential.priv_protocol, credential.priv_key)


@dataclass
class Slot:
    """One engine and what is configured in it, by the keys pysnmp's tables are written under."""

    engine: SnmpEngine
    # v3 user name -> (its keys in this engine, polls using it now)
    users: dict[str, tuple[tuple[str, ...], int]] = field(default_factory=dict)
    _configured_users: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _communities: dict[tuple[str, int], str] = field(default_factory=dict)
    _params: dict[tuple[str, str, int], str] = field(default_factory=dict)
    _targets: dict[tuple[str, tuple[int, ...], tuple[str, int], float, int], str] = field(
        default_factory=dict
    )
    _transports: set[tuple[int, ...]] = field(default_factory=set)

    def target(
        self,
        credential: Credential,
        domain: tuple[int, ...],
        address: tuple[str, int],
        timeout: float,
        retries: int,
    ) -> str:
        """The name of the pysnmp target for this credential and address, configured on first use."""
        mp_model = MP_MODELS[credential.version]
        if credential.version == "3":
            security_name = credential.user
            level = credential.security_level
            if self._configured_users.get(credential.user) != _secrets(credential):
                if credential.user in self._configured_users:
                    config.delete_v3_user(self.engine, credential.user)
                config.add_v3_user(
                    self.engine,
                    credential.user,
                    AUTH_PROTOCOLS[credential.auth_protocol],
                    credential.auth_key or None,
                    PRIV_PROTOCOLS[credential.priv_protocol],
                    credential.priv_key or None,
                )
                self._configured_users[credential.user] = _secrets(credential)
        else:
            level = "noAuthNoPriv"
            community_key = (credential.community, mp_model)
            security_name = self._communities.get(community_key, "")
            if not security_name:
                security_name = f"c{len(self._communities) + 1}"
                config.add_v1_system(self.engine, security_name, credential.community)
                self._communities[community_key] = security_name
        params_key = (security_name, level, mp_model)
        params = self._params.get(params_key, "")
        if not params:
            params = f"p{len(self._params) + 1}"
            config.add_target_parameters(self.engine, params, security_name, level, mp_model)
            self._params[params_key] = params
        if domain not in self._transports:
            transport = udp6.Udp6AsyncioTransport() if domain == UDP6 else udp.UdpAsyncioTransport()
            config.add_transport(self.engine, domain, transport.open_client_mode())
            self._transports.add(domain)
        target_key = (params, domain, address, timeout, retries)
        name = self._targets.get(target_key, "")
        if not name:
            name = f"t{len(self._targets) + 1}"
            # pysnmp's target timeout is in hundredths of a second.
            config.add_target_address(
                self.engine, name, domain, address, params, timeout=timeout * 100, retryCount=retries
            )
            self._targets[target_key] = name
        return name


class Engines:
    """The engines of one poller: one for every poll, more only where v3 keys of one user name clash."""

    def __init__(self, factory: Callable[[], SnmpEngine] = SnmpEngine) -> None:
        self._factory = factory
        self._slots: list[Slot] = []

    def acquire(self, credential: Credential) -> Slot:
        """The slot to poll with ``credential``; ``release`` it when the poll ends."""
        if not self._slots:
            self._slots.append(Slot(self._factory()))
        if credential.version != "3":
            return self._slots[0]
        secrets = _secrets(credential)
        for slot in self._slots:
            holder = slot.users.get(credential.user)
            if holder is None or holder[0] == secrets or holder[1] == 0:
                in_use = holder[1] if holder is not None and holder[0] == secrets else 0
                slot.users[credential.user] = (secrets, in_use + 1)
                return slot
        slot = Slot(self._factory(), {credential.user: (secrets, 1)})
        self._slots.append(slot)
        return slot

    def release(self, credential: Credential, slot: Slot) -> None:
        if credential.version == "3" and credential.user in slot.users:
            secrets, in_use = slot.users[credential.user]
            slot.users[credential.user] = (secrets, max(0, in_use - 1))

    def __len__(self) -> int:
        return len(self._slots)

    def close(self) -> None:
        """Close every engine's sockets (left to the process's end when their event loop is gone)."""
        for slot in self._slots:
            try:
                slot.engine.close_dispatcher()
            except RuntimeError as exc:  # the event loop the sockets belong to is closed
                log.debug("closing an SNMP engine: %s", exc)
        self._slots.clear()
