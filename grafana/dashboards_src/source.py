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


# --- several collectors --------------------------------------------------------------------------
# An agent that moves between the members of a cluster (docs/decisions.md, "Several collectors") is
# shown by both for up to handover_seconds: its series twice, under each member's `instance` (and
# maybe `job`). Every query that sums, counts or joins agents' series first takes one series per
# agent with these (the alerts and recording rules do the same); with one collector they change
# nothing, each agent having one series there.


def per_agent(expr: str) -> str:
    """One series per agent (and its other labels) out of ``expr``: the highest value any member
    shows, so an agent is up, or protected, when a member says so (as FleetwatchAgentDown judges)."""
    return f"max without (instance, job) ({expr})"


def newest_per_agent(expr: str) -> str:
    """One series per agent out of ``expr`` taken from the member with the agent's newest report,
    for series of which an agent has exactly one at 1 (its state): the highest of two members
    could put an agent whose state changed while it moved in two states. Members with the same
    newest time hold the same report, so the same values."""
    return per_agent(
        f"{expr} unless on (agent_id, instance, job) ("
        "fleetwatch_agent_last_report_timestamp_seconds"
        " < on (agent_id) group_left () max by (agent_id) (fleetwatch_agent_last_report_timestamp_seconds))"
    )


def age_per_agent(metric: str, matchers: str) -> str:
    """The age of the times of ``metric`` (see ``age``), one series per agent: the youngest any
    member shows, since a member the agent left keeps the older times of its last report there."""
    return f"min without (instance, job) {age(metric, matchers)}"


def agent_increase(metric: str, matchers: str, window: str) -> str:
    """The increase over ``window`` of an agent's own counter ``metric`` (a total the agent counts
    and every report carries), one series per agent. Members that applied the same report show the
    same total and a member the agent left keeps a lower one, so the highest over the members is
    the agent's counter: taken first, then increase() over it (a subquery at the panel's step).
    increase() per member, then the highest, would lose what the agent counted while it moved: its
    first report at the new member starts a series there that already includes it."""
    return f"increase({per_agent(f'{metric}{{{matchers}}}')}[{window}:$__interval])"


def rate_by(label: str, metric: str, matchers: str) -> str:
    """The per second rate of the counter ``metric`` of the series ``matchers`` select, by ``label``.
    A rate graph: the rate per member, then the highest per series (members that applied the same
    report show the same rate, so the sum does not count it twice); the minutes an agent takes to
    move are a gap in the graph, as any gap in its reports."""
    return f"sum by ({label}) ({per_agent(f'rate({metric}{{{matchers}}}[$__rate_interval])')})"


def table_query(expr: str, ref: str = "A") -> prometheus.Dataquery:
    """An instant query whose labels become the columns of a table."""
    return query(expr, ref=ref, instant=True).format(PromQueryFormat.TABLE)
