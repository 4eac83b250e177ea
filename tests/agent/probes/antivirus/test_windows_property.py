"""Property: no Windows input yields "protected" unless a present, enabled, fresh product says so."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetwatch_agent.probes.antivirus import _windows as win
from fleetwatch_agent.probes.antivirus import windows_parse as wp
from fleetwatch_agent.probes.antivirus.model import FUTURE_TOLERANCE_SECONDS
from fleetwatch_agent.probes.antivirus.windows_defender import parse_defender_status
from fleetwatch_agent.probes.antivirus.windows_registrations import program_of
from fleetwatch_agent.probes.antivirus.windows_services import SERVICE_PRODUCTS
from fleetwatch_agent.probes.antivirus.windows_text import decode, name_key
from tests.agent.probes.antivirus.windows_support import DAY, NOW, OUTDATED_AFTER, files_check

MS = 1000
JUNK = st.one_of(st.none(), st.integers(-(2**40), 2**40), st.text(max_size=12), st.booleans(), st.floats())
PATHS = [
    "windowsdefender://",
    r"%ProgramFiles%\Windows Defender\MsMpeng.exe",
    r"C:\Program Files (x86)\Kaspersky Lab\KES.12.3.0\avp.exe",
    r"C:\Program Files\ESET\ESET Security\ecmds.exe",
    r"C:\Program Files (x86)\BkavPro\Bka.exe",
    r"%NotSet%\x.exe",
    "",
]
NAMES = [
    "Windows Defender",
    "Microsoft Defender Antivirus",
    "Kaspersky Endpoint Security for Windows",
    "ESET Endpoint Antivirus",
    "Bkav Pro Diệt Virus",
    "BKAV PRO DIỆT VIRUS",
    "CMC Antivirus",
    "Some AV",
]
STATES = [397568, 393472, 397584, 266240, 262144, 266256, 401664, 274432, 397569, 282624]
TIMESTAMPS = [
    "Tue, 14 Nov 2023 22:10:05 GMT",
    "Mon, 04 Sep 2023 02:15:09 GMT",
    "Tue, 14 Nov 2023 21:02:44 GMT",
]


def dates() -> st.SearchStrategy[Any]:
    ms = st.integers(int(NOW - 40 * DAY) * MS, int(NOW + 40 * DAY) * MS)
    near = st.integers(int(NOW - 4 * DAY) * MS, int(NOW + 4 * DAY) * MS)  # around both limits
    return st.one_of(
        ms.map(lambda v: f"/Date({v})/"),
        near.map(lambda v: f"/Date({v})/"),
        st.sampled_from(
            ["/Date(0)/", "/Date(-11644473600000)/", "1601-01-01T07:00:00+07:00", "0001-01-01T00:00:00"]
        ),
        st.integers(int(NOW - 40 * DAY), int(NOW + 40 * DAY)).map(_iso),
        JUNK,
    )


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def perturbed(
    base: dict[str, Any], fields: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[dict[str, Any]]:
    """A valid recorded record with up to three fields changed (to other valid values, junk, or removed)."""
    changes = st.dictionaries(st.sampled_from(sorted(fields)), st.none(), max_size=3).flatmap(
        lambda chosen: st.fixed_dictionaries(
            {k: st.one_of(fields[k], fields[k], fields[k], JUNK, st.just(REMOVED)) for k in chosen}
        )
    )
    return changes.map(lambda c: {k: v for k, v in (base | c).items() if v is not REMOVED})


REMOVED = object()
registration = perturbed(
    {
        "displayName": "Kaspersky Endpoint Security for Windows",
        "instanceGuid": "{2C4D4BC6-0793-4956-A9F9-E252435469C0}",
        "pathToSignedProductExe": PATHS[2],
        "pathToSignedReportingExe": PATHS[2],
        "productState": 266240,
        "timestamp": TIMESTAMPS[0],
    },
    {
        "displayName": st.sampled_from(NAMES),
        "instanceGuid": st.just(wp.DEFENDER_GUID),
        "pathToSignedProductExe": st.sampled_from(PATHS),
        "pathToSignedReportingExe": st.sampled_from(PATHS),
        "productState": st.sampled_from(STATES),
        "timestamp": st.sampled_from(TIMESTAMPS),
    },
)
flag = st.one_of(st.booleans(), st.none(), st.just("True"), st.just(1))
defender_status = perturbed(
    {
        "AMServiceEnabled": True,
        "AntivirusEnabled": True,
        "RealTimeProtectionEnabled": True,
        "AMRunningMode": "Normal",
        "AntivirusSignatureVersion": "1.401.1166.0",
        "AntivirusSignatureLastUpdated": f"/Date({int(NOW - 3600) * MS})/",
        "AntivirusSignatureAge": 0,
    },
    {
        "AMServiceEnabled": flag,
        "AntivirusEnabled": flag,
        "RealTimeProtectionEnabled": flag,
        "AMRunningMode": st.sampled_from(
            ["Normal", "Passive Mode", "SxS Passive Mode", "EDR Block Mode", "Not running", ""]
        ),
        "AntivirusSignatureVersion": st.sampled_from(["1.401.1166.0", "0.0.0.0"]),
        "AntivirusSignatureLastUpdated": dates(),
        "AntivirusSignatureAge": st.one_of(st.integers(-2, 10), st.sampled_from([65535, 4294967295])),
    },
)
service = st.fixed_dictionaries(
    {
        "Name": st.sampled_from(
            [s for p in SERVICE_PRODUCTS for s in p.services] + ["AVP21.3", "AVPN", "x"]
        ).map(lambda n: n.rstrip("*")),
        "State": st.sampled_from(["Running", "Stopped", "Start Pending", ""]),
    },
    optional={"PathName": st.one_of(st.sampled_from(PATHS), JUNK)},
)


def part(value: st.SearchStrategy[Any], error: str) -> st.SearchStrategy[dict[str, str]]:
    """A part as the script prints it: the command's JSON (one object or a list), an error, or missing."""
    listed = st.one_of(value, st.lists(value, max_size=4)).map(lambda v: json.dumps(v, ensure_ascii=False))
    text = listed.map(lambda t: {"text": t})
    return st.one_of(text, text, text, st.just({}), st.just({"error": error}))


@st.composite
def script_outputs(draw: st.DrawFn) -> tuple[dict[str, str], frozenset[str] | None]:
    output: dict[str, str] = {}
    errors = {
        "security_center": "HRESULT 0x8004100e,GetCimInstanceCommand: Invalid namespace ",
        "defender_status": "HRESULT 0x800106ba,Get-MpComputerStatus: general error",
        "services": "HRESULT 0x80041003,Get-CimInstance: Access denied",
    }
    for key, value in (
        ("security_center", registration),
        ("defender_status", defender_status),
        ("services", service),
    ):
        chosen = draw(part(value, errors[key]))
        if "text" in chosen:
            output[key] = chosen["text"]
        elif "error" in chosen:
            output[f"{key}_error"] = chosen["error"]
    present = draw(st.one_of(st.none(), st.frozensets(st.sampled_from(PATHS[1:5]))))
    return output, present


def fresh(status: dict[str, Any], security_center_on: bool) -> bool:
    """Whether Defender says: on (a flag not given may be vouched for by Security Center), normal mode,
    signatures known and fresh."""
    flags = [status.get(k) for k in ("AMServiceEnabled", "AntivirusEnabled", "RealTimeProtectionEnabled")]
    if any(f is False for f in flags) or not (all(f is True for f in flags) or security_center_on):
        return False
    mode = status.get("AMRunningMode")
    if isinstance(mode, str) and mode.strip() and mode.strip().lower() != "normal":
        return False
    updated = wp.date_ms(status.get("AntivirusSignatureLastUpdated"))
    if updated is not None:
        age = NOW - updated / MS
        return -FUTURE_TOLERANCE_SECONDS - 1 <= age <= OUTDATED_AFTER  # 1 s: dates are cut to seconds
    days = wp.age_days(status.get("AntivirusSignatureAge"))
    return days is not None and days * DAY <= OUTDATED_AFTER


def no_status(text: str | None) -> bool:
    """Whether Get-MpComputerStatus gave no record (missing, empty, or not its records)."""
    try:
        return parse_defender_status(text) is None
    except wp.ParseError:
        return True


def claimants(output: dict[str, str], present: frozenset[str] | None) -> set[str]:
    """Names of the products the input says protect: Defender by its own status, or a present registration."""
    exists = files_check(present)
    names: set[str] = set()
    defender_on = False
    for item in wp.as_list(json.loads(output.get("security_center") or "null")):
        if not isinstance(item, dict):
            continue
        (product,) = wp.parse_security_center(json.dumps(item))
        state = product.state
        program = program_of(product)
        claims = state.understood and state.scanner == "on" and not state.definitions_out_of_date
        if claims and (not program or exists(program) is not False):
            # Defender's registration speaks for Defender alone only when its status could not be read.
            if not product.is_defender:
                names.add(name_key(product.name))
            elif no_status(output.get("defender_status")):
                names.add(name_key(wp.DEFENDER_NAME))
        defender_on = defender_on or (claims and product.is_defender)
    defender = output.get("defender_status")
    statuses = wp.as_list(json.loads(defender)) if defender else []
    if any(isinstance(s, dict) and fresh(s, defender_on) for s in statuses):
        names.add(name_key(wp.DEFENDER_NAME))
    return names


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script_outputs())
def test_protected_only_when_a_present_enabled_fresh_product_says_so(
    drawn: tuple[dict[str, str], frozenset[str] | None],
) -> None:
    output, present = drawn
    result = win.build_result(
        0,
        json.dumps(output, ensure_ascii=False),
        "",
        committed_cursor=None,
        now=NOW,
        outdated_after_seconds=OUTDATED_AFTER,
        path_exists=files_check(present),
    )
    protected = [p for p in result.products if p.state == "protected"]
    assert {name_key(p.name) for p in protected} <= claimants(output, present), (output, result)
    assert (result.host_state == "protected") == bool(protected)
    assert all(p.signature_clock_skew_seconds == 0 for p in protected)
    assert all(p.state != "stale" or not p.realtime_protection for p in result.products)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(["cp1258", "cp437", "cp850", "utf-8"]))
def test_any_bytes_decode_and_never_protect(data: bytes, code_page: str) -> None:
    text = decode(data, code_page)
    result = win.build_result(
        0, text, "", committed_cursor=None, now=NOW, outdated_after_seconds=OUTDATED_AFTER
    )
    assert result.host_state != "protected"
