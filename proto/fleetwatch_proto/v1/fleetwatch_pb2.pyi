from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SiteType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SITE_TYPE_UNSPECIFIED: _ClassVar[SiteType]
    SITE_TYPE_DEPARTMENT: _ClassVar[SiteType]
    SITE_TYPE_DISTRICT: _ClassVar[SiteType]
    SITE_TYPE_COMMUNE: _ClassVar[SiteType]

class AntivirusState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ANTIVIRUS_STATE_UNSPECIFIED: _ClassVar[AntivirusState]
    ANTIVIRUS_STATE_PROTECTED: _ClassVar[AntivirusState]
    ANTIVIRUS_STATE_OUTDATED: _ClassVar[AntivirusState]
    ANTIVIRUS_STATE_DISABLED: _ClassVar[AntivirusState]
    ANTIVIRUS_STATE_EXPIRED: _ClassVar[AntivirusState]
    ANTIVIRUS_STATE_NOT_INSTALLED: _ClassVar[AntivirusState]
    ANTIVIRUS_STATE_UNKNOWN: _ClassVar[AntivirusState]
    ANTIVIRUS_STATE_STALE: _ClassVar[AntivirusState]

class ProbeKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROBE_KIND_UNSPECIFIED: _ClassVar[ProbeKind]
    PROBE_KIND_ICMP: _ClassVar[ProbeKind]
    PROBE_KIND_TCP: _ClassVar[ProbeKind]
    PROBE_KIND_DNS: _ClassVar[ProbeKind]
    PROBE_KIND_HTTP: _ClassVar[ProbeKind]

class ProbeError(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROBE_ERROR_NONE: _ClassVar[ProbeError]
    PROBE_ERROR_TIMEOUT: _ClassVar[ProbeError]
    PROBE_ERROR_REFUSED: _ClassVar[ProbeError]
    PROBE_ERROR_UNREACHABLE: _ClassVar[ProbeError]
    PROBE_ERROR_DNS_ERROR: _ClassVar[ProbeError]
    PROBE_ERROR_TLS_ERROR: _ClassVar[ProbeError]
    PROBE_ERROR_HTTP_STATUS: _ClassVar[ProbeError]
    PROBE_ERROR_UNSUPPORTED: _ClassVar[ProbeError]
    PROBE_ERROR_OTHER: _ClassVar[ProbeError]

class SnmpError(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SNMP_ERROR_NONE: _ClassVar[SnmpError]
    SNMP_ERROR_TIMEOUT: _ClassVar[SnmpError]
    SNMP_ERROR_AUTH: _ClassVar[SnmpError]
    SNMP_ERROR_NO_SUCH_OBJECT: _ClassVar[SnmpError]
    SNMP_ERROR_MALFORMED: _ClassVar[SnmpError]
    SNMP_ERROR_OTHER: _ClassVar[SnmpError]
SITE_TYPE_UNSPECIFIED: SiteType
SITE_TYPE_DEPARTMENT: SiteType
SITE_TYPE_DISTRICT: SiteType
SITE_TYPE_COMMUNE: SiteType
ANTIVIRUS_STATE_UNSPECIFIED: AntivirusState
ANTIVIRUS_STATE_PROTECTED: AntivirusState
ANTIVIRUS_STATE_OUTDATED: AntivirusState
ANTIVIRUS_STATE_DISABLED: AntivirusState
ANTIVIRUS_STATE_EXPIRED: AntivirusState
ANTIVIRUS_STATE_NOT_INSTALLED: AntivirusState
ANTIVIRUS_STATE_UNKNOWN: AntivirusState
ANTIVIRUS_STATE_STALE: AntivirusState
PROBE_KIND_UNSPECIFIED: ProbeKind
PROBE_KIND_ICMP: ProbeKind
PROBE_KIND_TCP: ProbeKind
PROBE_KIND_DNS: ProbeKind
PROBE_KIND_HTTP: ProbeKind
PROBE_ERROR_NONE: ProbeError
PROBE_ERROR_TIMEOUT: ProbeError
PROBE_ERROR_REFUSED: ProbeError
PROBE_ERROR_UNREACHABLE: ProbeError
PROBE_ERROR_DNS_ERROR: ProbeError
PROBE_ERROR_TLS_ERROR: ProbeError
PROBE_ERROR_HTTP_STATUS: ProbeError
PROBE_ERROR_UNSUPPORTED: ProbeError
PROBE_ERROR_OTHER: ProbeError
SNMP_ERROR_NONE: SnmpError
SNMP_ERROR_TIMEOUT: SnmpError
SNMP_ERROR_AUTH: SnmpError
SNMP_ERROR_NO_SUCH_OBJECT: SnmpError
SNMP_ERROR_MALFORMED: SnmpError
SNMP_ERROR_OTHER: SnmpError

class EnrollRequest(_message.Message):
    __slots__ = ("token", "host", "machine_id")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    MACHINE_ID_FIELD_NUMBER: _ClassVar[int]
    token: str
    host: HostInfo
    machine_id: str
    def __init__(self, token: _Optional[str] = ..., host: _Optional[_Union[HostInfo, _Mapping]] = ..., machine_id: _Optional[str] = ...) -> None: ...

class EnrollResponse(_message.Message):
    __slots__ = ("agent_id", "secret", "site", "district", "site_type", "config")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    DISTRICT_FIELD_NUMBER: _ClassVar[int]
    SITE_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    secret: str
    site: str
    district: str
    site_type: SiteType
    config: AgentConfig
    def __init__(self, agent_id: _Optional[str] = ..., secret: _Optional[str] = ..., site: _Optional[str] = ..., district: _Optional[str] = ..., site_type: _Optional[_Union[SiteType, str]] = ..., config: _Optional[_Union[AgentConfig, _Mapping]] = ...) -> None: ...

class PushRequest(_message.Message):
    __slots__ = ("reports", "config_version", "oldest_held_seq", "config_refused_version", "config_refused_reason")
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    OLDEST_HELD_SEQ_FIELD_NUMBER: _ClassVar[int]
    CONFIG_REFUSED_VERSION_FIELD_NUMBER: _ClassVar[int]
    CONFIG_REFUSED_REASON_FIELD_NUMBER: _ClassVar[int]
    reports: _containers.RepeatedCompositeFieldContainer[Report]
    config_version: str
    oldest_held_seq: int
    config_refused_version: str
    config_refused_reason: str
    def __init__(self, reports: _Optional[_Iterable[_Union[Report, _Mapping]]] = ..., config_version: _Optional[str] = ..., oldest_held_seq: _Optional[int] = ..., config_refused_version: _Optional[str] = ..., config_refused_reason: _Optional[str] = ...) -> None: ...

class PushResponse(_message.Message):
    __slots__ = ("acked_seq", "config", "retry_after_ms")
    ACKED_SEQ_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    acked_seq: int
    config: AgentConfig
    retry_after_ms: int
    def __init__(self, acked_seq: _Optional[int] = ..., config: _Optional[_Union[AgentConfig, _Mapping]] = ..., retry_after_ms: _Optional[int] = ...) -> None: ...

class AgentConfig(_message.Message):
    __slots__ = ("version", "interval_seconds", "targets", "snmp_devices", "probe_intervals", "antivirus_outdated_after_days")
    class ProbeIntervalsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    VERSION_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    SNMP_DEVICES_FIELD_NUMBER: _ClassVar[int]
    PROBE_INTERVALS_FIELD_NUMBER: _ClassVar[int]
    ANTIVIRUS_OUTDATED_AFTER_DAYS_FIELD_NUMBER: _ClassVar[int]
    version: str
    interval_seconds: int
    targets: _containers.RepeatedCompositeFieldContainer[ConnectivityTarget]
    snmp_devices: _containers.RepeatedCompositeFieldContainer[SnmpDevice]
    probe_intervals: _containers.ScalarMap[str, int]
    antivirus_outdated_after_days: int
    def __init__(self, version: _Optional[str] = ..., interval_seconds: _Optional[int] = ..., targets: _Optional[_Iterable[_Union[ConnectivityTarget, _Mapping]]] = ..., snmp_devices: _Optional[_Iterable[_Union[SnmpDevice, _Mapping]]] = ..., probe_intervals: _Optional[_Mapping[str, int]] = ..., antivirus_outdated_after_days: _Optional[int] = ...) -> None: ...

class ConnectivityTarget(_message.Message):
    __slots__ = ("name", "kind", "address")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: ProbeKind
    address: str
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[ProbeKind, str]] = ..., address: _Optional[str] = ...) -> None: ...

class SnmpDevice(_message.Message):
    __slots__ = ("name", "address", "credential_ref")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_REF_FIELD_NUMBER: _ClassVar[int]
    name: str
    address: str
    credential_ref: str
    def __init__(self, name: _Optional[str] = ..., address: _Optional[str] = ..., credential_ref: _Optional[str] = ...) -> None: ...

class Report(_message.Message):
    __slots__ = ("seq", "collected_unix_ms", "interval_seconds", "probes", "host", "resources", "antivirus", "connectivity", "network_devices", "events", "spool", "config_version", "config_refused_version", "config_refused_reason", "totals")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    COLLECTED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PROBES_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    ANTIVIRUS_FIELD_NUMBER: _ClassVar[int]
    CONNECTIVITY_FIELD_NUMBER: _ClassVar[int]
    NETWORK_DEVICES_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    SPOOL_FIELD_NUMBER: _ClassVar[int]
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    CONFIG_REFUSED_VERSION_FIELD_NUMBER: _ClassVar[int]
    CONFIG_REFUSED_REASON_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    seq: int
    collected_unix_ms: int
    interval_seconds: int
    probes: _containers.RepeatedCompositeFieldContainer[ProbeResult]
    host: HostInfo
    resources: Resources
    antivirus: Antivirus
    connectivity: Connectivity
    network_devices: _containers.RepeatedCompositeFieldContainer[NetworkDevice]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    spool: SpoolStats
    config_version: str
    config_refused_version: str
    config_refused_reason: str
    totals: Totals
    def __init__(self, seq: _Optional[int] = ..., collected_unix_ms: _Optional[int] = ..., interval_seconds: _Optional[int] = ..., probes: _Optional[_Iterable[_Union[ProbeResult, _Mapping]]] = ..., host: _Optional[_Union[HostInfo, _Mapping]] = ..., resources: _Optional[_Union[Resources, _Mapping]] = ..., antivirus: _Optional[_Union[Antivirus, _Mapping]] = ..., connectivity: _Optional[_Union[Connectivity, _Mapping]] = ..., network_devices: _Optional[_Iterable[_Union[NetworkDevice, _Mapping]]] = ..., events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., spool: _Optional[_Union[SpoolStats, _Mapping]] = ..., config_version: _Optional[str] = ..., config_refused_version: _Optional[str] = ..., config_refused_reason: _Optional[str] = ..., totals: _Optional[_Union[Totals, _Mapping]] = ...) -> None: ...

class Totals(_message.Message):
    __slots__ = ("threats", "outages", "outage_seconds", "lan_new_devices")
    class ThreatsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class OutagesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class OutageSecondsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    THREATS_FIELD_NUMBER: _ClassVar[int]
    OUTAGES_FIELD_NUMBER: _ClassVar[int]
    OUTAGE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LAN_NEW_DEVICES_FIELD_NUMBER: _ClassVar[int]
    threats: _containers.ScalarMap[str, int]
    outages: _containers.ScalarMap[str, int]
    outage_seconds: _containers.ScalarMap[str, float]
    lan_new_devices: int
    def __init__(self, threats: _Optional[_Mapping[str, int]] = ..., outages: _Optional[_Mapping[str, int]] = ..., outage_seconds: _Optional[_Mapping[str, float]] = ..., lan_new_devices: _Optional[int] = ...) -> None: ...

class ProbeResult(_message.Message):
    __slots__ = ("name", "success", "duration_seconds", "error")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    name: str
    success: bool
    duration_seconds: float
    error: str
    def __init__(self, name: _Optional[str] = ..., success: _Optional[bool] = ..., duration_seconds: _Optional[float] = ..., error: _Optional[str] = ...) -> None: ...

class HostInfo(_message.Message):
    __slots__ = ("hostname", "os_family", "os_name", "os_version", "kernel", "arch", "agent_version", "cpu_count", "memory_total_bytes", "boot_time_unix", "site", "district", "site_type", "site_name")
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    OS_FAMILY_FIELD_NUMBER: _ClassVar[int]
    OS_NAME_FIELD_NUMBER: _ClassVar[int]
    OS_VERSION_FIELD_NUMBER: _ClassVar[int]
    KERNEL_FIELD_NUMBER: _ClassVar[int]
    ARCH_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    CPU_COUNT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    BOOT_TIME_UNIX_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    DISTRICT_FIELD_NUMBER: _ClassVar[int]
    SITE_TYPE_FIELD_NUMBER: _ClassVar[int]
    SITE_NAME_FIELD_NUMBER: _ClassVar[int]
    hostname: str
    os_family: str
    os_name: str
    os_version: str
    kernel: str
    arch: str
    agent_version: str
    cpu_count: int
    memory_total_bytes: int
    boot_time_unix: int
    site: str
    district: str
    site_type: SiteType
    site_name: str
    def __init__(self, hostname: _Optional[str] = ..., os_family: _Optional[str] = ..., os_name: _Optional[str] = ..., os_version: _Optional[str] = ..., kernel: _Optional[str] = ..., arch: _Optional[str] = ..., agent_version: _Optional[str] = ..., cpu_count: _Optional[int] = ..., memory_total_bytes: _Optional[int] = ..., boot_time_unix: _Optional[int] = ..., site: _Optional[str] = ..., district: _Optional[str] = ..., site_type: _Optional[_Union[SiteType, str]] = ..., site_name: _Optional[str] = ...) -> None: ...

class Resources(_message.Message):
    __slots__ = ("cpu_utilization_ratio", "cpu_count", "load", "memory_total_bytes", "memory_available_bytes", "swap_total_bytes", "swap_used_bytes", "filesystems", "interfaces", "boot_time_unix", "process_count")
    CPU_UTILIZATION_RATIO_FIELD_NUMBER: _ClassVar[int]
    CPU_COUNT_FIELD_NUMBER: _ClassVar[int]
    LOAD_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_AVAILABLE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SWAP_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    SWAP_USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    FILESYSTEMS_FIELD_NUMBER: _ClassVar[int]
    INTERFACES_FIELD_NUMBER: _ClassVar[int]
    BOOT_TIME_UNIX_FIELD_NUMBER: _ClassVar[int]
    PROCESS_COUNT_FIELD_NUMBER: _ClassVar[int]
    cpu_utilization_ratio: float
    cpu_count: int
    load: LoadAverage
    memory_total_bytes: int
    memory_available_bytes: int
    swap_total_bytes: int
    swap_used_bytes: int
    filesystems: _containers.RepeatedCompositeFieldContainer[Filesystem]
    interfaces: _containers.RepeatedCompositeFieldContainer[NetworkInterface]
    boot_time_unix: int
    process_count: int
    def __init__(self, cpu_utilization_ratio: _Optional[float] = ..., cpu_count: _Optional[int] = ..., load: _Optional[_Union[LoadAverage, _Mapping]] = ..., memory_total_bytes: _Optional[int] = ..., memory_available_bytes: _Optional[int] = ..., swap_total_bytes: _Optional[int] = ..., swap_used_bytes: _Optional[int] = ..., filesystems: _Optional[_Iterable[_Union[Filesystem, _Mapping]]] = ..., interfaces: _Optional[_Iterable[_Union[NetworkInterface, _Mapping]]] = ..., boot_time_unix: _Optional[int] = ..., process_count: _Optional[int] = ...) -> None: ...

class LoadAverage(_message.Message):
    __slots__ = ("load1", "load5", "load15")
    LOAD1_FIELD_NUMBER: _ClassVar[int]
    LOAD5_FIELD_NUMBER: _ClassVar[int]
    LOAD15_FIELD_NUMBER: _ClassVar[int]
    load1: float
    load5: float
    load15: float
    def __init__(self, load1: _Optional[float] = ..., load5: _Optional[float] = ..., load15: _Optional[float] = ...) -> None: ...

class Filesystem(_message.Message):
    __slots__ = ("mountpoint", "device", "fstype", "size_bytes", "used_bytes", "free_bytes", "has_inodes", "inodes_total", "inodes_free")
    MOUNTPOINT_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    FSTYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    FREE_BYTES_FIELD_NUMBER: _ClassVar[int]
    HAS_INODES_FIELD_NUMBER: _ClassVar[int]
    INODES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    INODES_FREE_FIELD_NUMBER: _ClassVar[int]
    mountpoint: str
    device: str
    fstype: str
    size_bytes: int
    used_bytes: int
    free_bytes: int
    has_inodes: bool
    inodes_total: int
    inodes_free: int
    def __init__(self, mountpoint: _Optional[str] = ..., device: _Optional[str] = ..., fstype: _Optional[str] = ..., size_bytes: _Optional[int] = ..., used_bytes: _Optional[int] = ..., free_bytes: _Optional[int] = ..., has_inodes: _Optional[bool] = ..., inodes_total: _Optional[int] = ..., inodes_free: _Optional[int] = ...) -> None: ...

class NetworkInterface(_message.Message):
    __slots__ = ("name", "up", "speed_bits_per_second", "receive_bytes", "transmit_bytes", "receive_packets", "transmit_packets", "receive_errors", "transmit_errors", "receive_drops", "transmit_drops")
    NAME_FIELD_NUMBER: _ClassVar[int]
    UP_FIELD_NUMBER: _ClassVar[int]
    SPEED_BITS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    RECEIVE_BYTES_FIELD_NUMBER: _ClassVar[int]
    TRANSMIT_BYTES_FIELD_NUMBER: _ClassVar[int]
    RECEIVE_PACKETS_FIELD_NUMBER: _ClassVar[int]
    TRANSMIT_PACKETS_FIELD_NUMBER: _ClassVar[int]
    RECEIVE_ERRORS_FIELD_NUMBER: _ClassVar[int]
    TRANSMIT_ERRORS_FIELD_NUMBER: _ClassVar[int]
    RECEIVE_DROPS_FIELD_NUMBER: _ClassVar[int]
    TRANSMIT_DROPS_FIELD_NUMBER: _ClassVar[int]
    name: str
    up: bool
    speed_bits_per_second: int
    receive_bytes: int
    transmit_bytes: int
    receive_packets: int
    transmit_packets: int
    receive_errors: int
    transmit_errors: int
    receive_drops: int
    transmit_drops: int
    def __init__(self, name: _Optional[str] = ..., up: _Optional[bool] = ..., speed_bits_per_second: _Optional[int] = ..., receive_bytes: _Optional[int] = ..., transmit_bytes: _Optional[int] = ..., receive_packets: _Optional[int] = ..., transmit_packets: _Optional[int] = ..., receive_errors: _Optional[int] = ..., transmit_errors: _Optional[int] = ..., receive_drops: _Optional[int] = ..., transmit_drops: _Optional[int] = ...) -> None: ...

class Antivirus(_message.Message):
    __slots__ = ("products", "host_state", "error")
    PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    HOST_STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    products: _containers.RepeatedCompositeFieldContainer[AntivirusProduct]
    host_state: AntivirusState
    error: str
    def __init__(self, products: _Optional[_Iterable[_Union[AntivirusProduct, _Mapping]]] = ..., host_state: _Optional[_Union[AntivirusState, str]] = ..., error: _Optional[str] = ...) -> None: ...

class AntivirusProduct(_message.Message):
    __slots__ = ("name", "vendor", "product_version", "engine_version", "signature_version", "signature_updated_unix", "realtime_protection", "last_quick_scan_unix", "last_full_scan_unix", "state", "centrally_managed", "on_access_scanning", "detail", "signature_clock_skew_seconds")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VENDOR_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_VERSION_FIELD_NUMBER: _ClassVar[int]
    ENGINE_VERSION_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_VERSION_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_UPDATED_UNIX_FIELD_NUMBER: _ClassVar[int]
    REALTIME_PROTECTION_FIELD_NUMBER: _ClassVar[int]
    LAST_QUICK_SCAN_UNIX_FIELD_NUMBER: _ClassVar[int]
    LAST_FULL_SCAN_UNIX_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CENTRALLY_MANAGED_FIELD_NUMBER: _ClassVar[int]
    ON_ACCESS_SCANNING_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_CLOCK_SKEW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    vendor: str
    product_version: str
    engine_version: str
    signature_version: str
    signature_updated_unix: int
    realtime_protection: bool
    last_quick_scan_unix: int
    last_full_scan_unix: int
    state: AntivirusState
    centrally_managed: bool
    on_access_scanning: bool
    detail: str
    signature_clock_skew_seconds: int
    def __init__(self, name: _Optional[str] = ..., vendor: _Optional[str] = ..., product_version: _Optional[str] = ..., engine_version: _Optional[str] = ..., signature_version: _Optional[str] = ..., signature_updated_unix: _Optional[int] = ..., realtime_protection: _Optional[bool] = ..., last_quick_scan_unix: _Optional[int] = ..., last_full_scan_unix: _Optional[int] = ..., state: _Optional[_Union[AntivirusState, str]] = ..., centrally_managed: _Optional[bool] = ..., on_access_scanning: _Optional[bool] = ..., detail: _Optional[str] = ..., signature_clock_skew_seconds: _Optional[int] = ...) -> None: ...

class Connectivity(_message.Message):
    __slots__ = ("targets", "lan_swept", "lan_devices", "lan_error", "checks_cut", "overruns_total")
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    LAN_SWEPT_FIELD_NUMBER: _ClassVar[int]
    LAN_DEVICES_FIELD_NUMBER: _ClassVar[int]
    LAN_ERROR_FIELD_NUMBER: _ClassVar[int]
    CHECKS_CUT_FIELD_NUMBER: _ClassVar[int]
    OVERRUNS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    targets: _containers.RepeatedCompositeFieldContainer[TargetResult]
    lan_swept: bool
    lan_devices: int
    lan_error: str
    checks_cut: int
    overruns_total: int
    def __init__(self, targets: _Optional[_Iterable[_Union[TargetResult, _Mapping]]] = ..., lan_swept: _Optional[bool] = ..., lan_devices: _Optional[int] = ..., lan_error: _Optional[str] = ..., checks_cut: _Optional[int] = ..., overruns_total: _Optional[int] = ...) -> None: ...

class TargetResult(_message.Message):
    __slots__ = ("name", "kind", "role", "success", "sent", "received", "rtt_min_seconds", "rtt_avg_seconds", "rtt_max_seconds", "jitter_seconds", "error", "http_status", "tls_cert_days_left", "path_hops", "path_last_hop", "path_diagnosed", "path_reached", "detail", "tls_cert_not_after_unix", "address")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    SENT_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    RTT_MIN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RTT_AVG_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RTT_MAX_SECONDS_FIELD_NUMBER: _ClassVar[int]
    JITTER_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    HTTP_STATUS_FIELD_NUMBER: _ClassVar[int]
    TLS_CERT_DAYS_LEFT_FIELD_NUMBER: _ClassVar[int]
    PATH_HOPS_FIELD_NUMBER: _ClassVar[int]
    PATH_LAST_HOP_FIELD_NUMBER: _ClassVar[int]
    PATH_DIAGNOSED_FIELD_NUMBER: _ClassVar[int]
    PATH_REACHED_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    TLS_CERT_NOT_AFTER_UNIX_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: ProbeKind
    role: str
    success: bool
    sent: int
    received: int
    rtt_min_seconds: float
    rtt_avg_seconds: float
    rtt_max_seconds: float
    jitter_seconds: float
    error: ProbeError
    http_status: int
    tls_cert_days_left: float
    path_hops: int
    path_last_hop: str
    path_diagnosed: bool
    path_reached: bool
    detail: str
    tls_cert_not_after_unix: int
    address: str
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[ProbeKind, str]] = ..., role: _Optional[str] = ..., success: _Optional[bool] = ..., sent: _Optional[int] = ..., received: _Optional[int] = ..., rtt_min_seconds: _Optional[float] = ..., rtt_avg_seconds: _Optional[float] = ..., rtt_max_seconds: _Optional[float] = ..., jitter_seconds: _Optional[float] = ..., error: _Optional[_Union[ProbeError, str]] = ..., http_status: _Optional[int] = ..., tls_cert_days_left: _Optional[float] = ..., path_hops: _Optional[int] = ..., path_last_hop: _Optional[str] = ..., path_diagnosed: _Optional[bool] = ..., path_reached: _Optional[bool] = ..., detail: _Optional[str] = ..., tls_cert_not_after_unix: _Optional[int] = ..., address: _Optional[str] = ...) -> None: ...

class NetworkDevice(_message.Message):
    __slots__ = ("name", "sys_name", "sys_descr", "reachable", "uptime_seconds", "interfaces", "error", "error_class", "poll_duration_seconds", "address", "sys_object_id", "interfaces_omitted")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SYS_NAME_FIELD_NUMBER: _ClassVar[int]
    SYS_DESCR_FIELD_NUMBER: _ClassVar[int]
    REACHABLE_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    INTERFACES_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERROR_CLASS_FIELD_NUMBER: _ClassVar[int]
    POLL_DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SYS_OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    INTERFACES_OMITTED_FIELD_NUMBER: _ClassVar[int]
    name: str
    sys_name: str
    sys_descr: str
    reachable: bool
    uptime_seconds: float
    interfaces: _containers.RepeatedCompositeFieldContainer[DeviceInterface]
    error: str
    error_class: SnmpError
    poll_duration_seconds: float
    address: str
    sys_object_id: str
    interfaces_omitted: int
    def __init__(self, name: _Optional[str] = ..., sys_name: _Optional[str] = ..., sys_descr: _Optional[str] = ..., reachable: _Optional[bool] = ..., uptime_seconds: _Optional[float] = ..., interfaces: _Optional[_Iterable[_Union[DeviceInterface, _Mapping]]] = ..., error: _Optional[str] = ..., error_class: _Optional[_Union[SnmpError, str]] = ..., poll_duration_seconds: _Optional[float] = ..., address: _Optional[str] = ..., sys_object_id: _Optional[str] = ..., interfaces_omitted: _Optional[int] = ...) -> None: ...

class DeviceInterface(_message.Message):
    __slots__ = ("index", "name", "alias", "admin_up", "oper_up", "speed_bits_per_second", "in_octets", "out_octets", "in_errors", "out_errors", "in_discards", "out_discards", "type", "in_unicast_packets", "out_unicast_packets", "counter_bits", "oper_status")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    ADMIN_UP_FIELD_NUMBER: _ClassVar[int]
    OPER_UP_FIELD_NUMBER: _ClassVar[int]
    SPEED_BITS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    IN_OCTETS_FIELD_NUMBER: _ClassVar[int]
    OUT_OCTETS_FIELD_NUMBER: _ClassVar[int]
    IN_ERRORS_FIELD_NUMBER: _ClassVar[int]
    OUT_ERRORS_FIELD_NUMBER: _ClassVar[int]
    IN_DISCARDS_FIELD_NUMBER: _ClassVar[int]
    OUT_DISCARDS_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    IN_UNICAST_PACKETS_FIELD_NUMBER: _ClassVar[int]
    OUT_UNICAST_PACKETS_FIELD_NUMBER: _ClassVar[int]
    COUNTER_BITS_FIELD_NUMBER: _ClassVar[int]
    OPER_STATUS_FIELD_NUMBER: _ClassVar[int]
    index: int
    name: str
    alias: str
    admin_up: bool
    oper_up: bool
    speed_bits_per_second: int
    in_octets: int
    out_octets: int
    in_errors: int
    out_errors: int
    in_discards: int
    out_discards: int
    type: int
    in_unicast_packets: int
    out_unicast_packets: int
    counter_bits: int
    oper_status: int
    def __init__(self, index: _Optional[int] = ..., name: _Optional[str] = ..., alias: _Optional[str] = ..., admin_up: _Optional[bool] = ..., oper_up: _Optional[bool] = ..., speed_bits_per_second: _Optional[int] = ..., in_octets: _Optional[int] = ..., out_octets: _Optional[int] = ..., in_errors: _Optional[int] = ..., out_errors: _Optional[int] = ..., in_discards: _Optional[int] = ..., out_discards: _Optional[int] = ..., type: _Optional[int] = ..., in_unicast_packets: _Optional[int] = ..., out_unicast_packets: _Optional[int] = ..., counter_bits: _Optional[int] = ..., oper_status: _Optional[int] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("time_unix_ms", "threat", "outage", "device_seen", "link_change", "probe_failure")
    TIME_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    THREAT_FIELD_NUMBER: _ClassVar[int]
    OUTAGE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_SEEN_FIELD_NUMBER: _ClassVar[int]
    LINK_CHANGE_FIELD_NUMBER: _ClassVar[int]
    PROBE_FAILURE_FIELD_NUMBER: _ClassVar[int]
    time_unix_ms: int
    threat: ThreatDetected
    outage: Outage
    device_seen: DeviceSeen
    link_change: LinkChange
    probe_failure: ProbeFailure
    def __init__(self, time_unix_ms: _Optional[int] = ..., threat: _Optional[_Union[ThreatDetected, _Mapping]] = ..., outage: _Optional[_Union[Outage, _Mapping]] = ..., device_seen: _Optional[_Union[DeviceSeen, _Mapping]] = ..., link_change: _Optional[_Union[LinkChange, _Mapping]] = ..., probe_failure: _Optional[_Union[ProbeFailure, _Mapping]] = ...) -> None: ...

class ThreatDetected(_message.Message):
    __slots__ = ("product", "threat", "path", "action")
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    THREAT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    product: str
    threat: str
    path: str
    action: str
    def __init__(self, product: _Optional[str] = ..., threat: _Optional[str] = ..., path: _Optional[str] = ..., action: _Optional[str] = ...) -> None: ...

class Outage(_message.Message):
    __slots__ = ("target", "start_unix_ms", "end_unix_ms")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    START_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    END_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    target: str
    start_unix_ms: int
    end_unix_ms: int
    def __init__(self, target: _Optional[str] = ..., start_unix_ms: _Optional[int] = ..., end_unix_ms: _Optional[int] = ...) -> None: ...

class DeviceSeen(_message.Message):
    __slots__ = ("mac", "ip", "vendor")
    MAC_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    VENDOR_FIELD_NUMBER: _ClassVar[int]
    mac: str
    ip: str
    vendor: str
    def __init__(self, mac: _Optional[str] = ..., ip: _Optional[str] = ..., vendor: _Optional[str] = ...) -> None: ...

class LinkChange(_message.Message):
    __slots__ = ("device", "interface", "up", "if_index")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    INTERFACE_FIELD_NUMBER: _ClassVar[int]
    UP_FIELD_NUMBER: _ClassVar[int]
    IF_INDEX_FIELD_NUMBER: _ClassVar[int]
    device: str
    interface: str
    up: bool
    if_index: int
    def __init__(self, device: _Optional[str] = ..., interface: _Optional[str] = ..., up: _Optional[bool] = ..., if_index: _Optional[int] = ...) -> None: ...

class ProbeFailure(_message.Message):
    __slots__ = ("probe", "error")
    PROBE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    probe: str
    error: str
    def __init__(self, probe: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class SpoolStats(_message.Message):
    __slots__ = ("queued_reports", "dropped_reports_total", "oldest_queued_unix_ms")
    QUEUED_REPORTS_FIELD_NUMBER: _ClassVar[int]
    DROPPED_REPORTS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    OLDEST_QUEUED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    queued_reports: int
    dropped_reports_total: int
    oldest_queued_unix_ms: int
    def __init__(self, queued_reports: _Optional[int] = ..., dropped_reports_total: _Optional[int] = ..., oldest_queued_unix_ms: _Optional[int] = ...) -> None: ...
