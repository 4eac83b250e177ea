"""The Prometheus data source, the chained district → site → host (or device) variables, query builders."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, prometheus
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

# The Prometheus data source of grafana/provisioning/datasources/fleetwatch.yml.
DATASOURCE_UID = "fleetwatch-prometheus"
DATASOURCE_NAME = "Prometheus (fleetwatch)"
# Every panel and query points at the data source variable, whose default is the provisioned one.
DATASOURCE = models.DataSourceRef(type_val="prometheus", uid="${datasource}")

# Label matchers of the chained variables; every host series carries district, site and host,
# every network device series district, site and device.
SITE_FILTER = 'district=~"$district", site=~"$site"'
HOST_FILTER = 'district=~"$district", site=~"$site", host=~"$host"'
DEVICE_FILTER = 'district=~"$district", site=~"$site", device=~"$device"'
# The series the variables take their values from: the agents', or the network devices'.
AGENTS = "fleetwatch_agent_up"
DEVICES = "fleetwatch_netdev_up"


# --- variables -----------------------------------------------------------------------------------


def datasource_variable() -> dashboard.DatasourceVariable:
    return (
        dashboard.DatasourceVariable("datasource")
        .label("Nguồn dữ liệu / Data source")
        .type("prometheus")
        .current(models.VariableOption(selected=True, text=DATASOURCE_NAME, value=DATASOURCE_UID))
        .multi(False)
        .include_all(False)
    )


def label_variable(
    name: str, label: str, matchers: str = "", *, multi: bool = True, metric: str = AGENTS
) -> dashboard.QueryVariable:
    """A variable over the values of ``name`` among the series of ``metric`` (the agents, or the
    network devices) selected by ``matchers``."""
    selector = f"{metric}{{{matchers}}}" if matchers else metric
    variable = (
        dashboard.QueryVariable(name)
        .label(label)
        .query(f"label_values({selector}, {name})")
        .datasource(DATASOURCE)
        .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(models.VariableSort.ALPHABETICAL_ASC)
    )
    if multi:
        variable = (
            variable.multi(True)
            .include_all(True)
            .all_value(".*")
            .current(models.VariableOption(selected=True, text="All", value="$__all"))
        )
    else:
        variable = variable.multi(False).include_all(False)
    return variable


def district_variable(metric: str = AGENTS) -> dashboard.QueryVariable:
    return label_variable("district", "Huyện / District", metric=metric)


def site_variable(metric: str = AGENTS) -> dashboard.QueryVariable:
    return label_variable("site", "Điểm / Site", 'district=~"$district"', metric=metric)


def host_variable() -> dashboard.QueryVariable:
    return label_variable("host", "Máy / Host", SITE_FILTER, multi=False)


def device_variable() -> dashboard.QueryVariable:
    return label_variable("device", "Thiết bị / Device", SITE_FILTER, multi=False, metric=DEVICES)


# --- queries -------------------------------------------------------------------------------------


def query(expr: str, legend: str = "", ref: str = "A", *, instant: bool = False) -> prometheus.Dataquery:
    """A PromQL query on the data source variable; range unless ``instant``."""
    target = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE)
    if legend:
        target = target.legend_format(legend)
    return target.instant() if instant else target.range()


def age(metric: str, matchers: str) -> str:
    """The age of the times (Unix seconds) of ``metric``, a ``*_timestamp_seconds`` series:
    computed at query time, so it keeps growing between reports and while an agent is silent."""
    return f"(time() - {metric}{{{matchers}}})"


def rate_by(label: str, metric: str, matchers: str) -> str:
    """The per second rate of the counter ``metric`` of the series ``matchers`` select, by ``label``."""
    return f"sum by ({label}) (rate({metric}{{{matchers}}}[$__rate_interval]))"


def table_query(expr: str, ref: str = "A") -> prometheus.Dataquery:
    """An instant query whose labels become the columns of a table."""
    return query(expr, ref=ref, instant=True).format(PromQueryFormat.TABLE)
