"""Fixtures of the SNMP tests: the real peers of tests/snmp/peers.py."""

from tests.snmp.peers import snmpd, snmpsim

__all__ = ["snmpd", "snmpsim"]
