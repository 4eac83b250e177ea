"""The snmp lines of `fleetwatch-agent check`: each device reachable or why not, interfaces, link changes."""

from __future__ import annotations

from fleetwatch_agent.probes.snmp.model import SnmpResult
from fleetwatch_agent.probes.snmp.wire import NetworkDevice, error_class_name


def _device_line(device: NetworkDevice) -> str:
    about = f"{device.name} ({device.address})" if device.address else device.name
    if not device.reachable:
        reason = error_class_name(device) or "error"
        detail = f": {device.error}" if device.error else ""
        return f"  - {about}: UNREACHABLE ({reason}{detail}), after {device.poll_duration_seconds:.1f} s"
    up = sum(1 for nic in device.interfaces if nic.oper_up)
    counted = f"{len(device.interfaces)} interfaces ({up} up, {len(device.interfaces) - up} not up)"
    if device.interfaces_omitted:
        counted += f", {device.interfaces_omitted} more left out by max_interfaces or the report's cap"
    name = f" sysName {device.sys_name}," if device.sys_name else ""
    line = f"  - {about}: reachable,{name} {counted}, polled in {device.poll_duration_seconds:.2f} s"
    if device.error:
        line += f"; {error_class_name(device) or 'error'}: {device.error}"
    return line


def lines(result: SnmpResult, now: float) -> list[str]:
    """A count line, then one line per device and one per link change; never a credential."""
    reachable = sum(1 for device in result.devices if device.reachable)
    out = [
        f"snmp: {len(result.devices)} devices, {reachable} reachable, {len(result.devices) - reachable} not"
    ]
    out.extend(_device_line(device) for device in result.devices)
    if result.devices_cut:
        out.append(
            f"  ! {result.devices_cut} device(s) cut at the probe's budget (timeout_seconds too short)"
        )
    for change in result.link_changes:
        state = "up" if change.up else "down"
        out.append(f"  ! {change.device} {change.interface} (ifIndex {change.if_index}) went {state}")
    return out
