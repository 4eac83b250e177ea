"""The fleetwatch Grafana dashboards as code; `python grafana/build.py` writes them to grafana/dashboards/."""

from __future__ import annotations

from collections.abc import Callable

from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards_src import antivirus, collector, connectivity, host, overview, routers

# File name (without .json) -> the function building the dashboard; the file name is the uid.
DASHBOARDS: dict[str, Callable[[], Dashboard]] = {
    overview.UID: overview.build,
    antivirus.UID: antivirus.build,
    connectivity.UID: connectivity.build,
    host.UID: host.build,
    routers.UID: routers.build,
    collector.UID: collector.build,
}
