"""Limits and name patterns of the contract: the agent shapes its messages by them, the collector checks."""

from __future__ import annotations

import re
from collections.abc import Collection

# Site and district slugs: label values alerts group on, ASCII only.
SLUG_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$")
# Agent ids, assigned at enrolment or set in the agent's configuration.
AGENT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# Machine identities sent at enrolment: a hex digest, never the raw machine id.
MACHINE_ID_RE = re.compile(r"^[0-9a-f]{32,128}$")
# Host names: RFC 1123 characters (and "_", which Windows allows), at most 253 bytes.
HOSTNAME_RE = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9._-]{0,252})$")
HOSTNAME_MAX_BYTES = 253
# Connectivity target names (a label value).
TARGET_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
# Central configuration versions (a label value): the collector's are 16 hex digits.
CONFIG_VERSION_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Probe names (a label value).
PROBE_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# Network device names (NetworkDevice.name, LinkChange.device; the `device` label).
DEVICE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
# Any other label-like text: at most this many bytes of UTF-8, none of these characters.
MAX_TEXT_BYTES = 256
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Highest sequence number: SQLite integers are signed 64-bit.
MAX_SEQ = 2**63 - 1
# Collection interval bounds, in seconds.
MIN_INTERVAL_SECONDS = 1
MAX_INTERVAL_SECONDS = 3600

# Most entries of each repeated field in one report (the collector's defaults; the agent
# never sends more).
MAX_REPORTS_PER_PUSH = 500
MAX_PROBES = 32
MAX_FILESYSTEMS = 64
MAX_INTERFACES = 64
MAX_PRODUCTS = 16
MAX_TARGETS = 64
MAX_NETWORK_DEVICES = 16
MAX_DEVICE_INTERFACES = 512
# Interfaces of all the devices of one report together: what one agent's routers may cost the
# collector (up to 16 KiB each, about 3 KiB with real names; docs/security.md). A site's 1-3
# routers have 24-90 interfaces each, fewer after the pollers' default filters.
MAX_REPORT_DEVICE_INTERFACES = 256
MAX_EVENTS = 256
# Distinct label values of one event counter per agent (products with threats, targets with outages):
# beyond, the rest are counted under OTHER_KEY. An agent's Totals maps hold at most one more key.
MAX_COUNTED_KEYS = 64
OTHER_KEY = "other"
MAX_TOTALS_KEYS = MAX_COUNTED_KEYS + 1


def counted_key(counted: Collection[str], key: str) -> str:
    """The key to count ``key`` under, given the keys ``counted`` so far: itself, or OTHER_KEY once
    MAX_COUNTED_KEYS distinct keys are counted (bounded series)."""
    return key if key in counted or len(counted) < MAX_COUNTED_KEYS else OTHER_KEY
