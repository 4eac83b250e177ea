"""Field options in house style: thresholds, value mappings, table cell overrides and links."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models import dashboard as models

# Seconds after which antivirus signatures count as old (the agent's "outdated" needs more).
OLD_SIGNATURE_SECONDS = 3 * 86400


def steps(base: str, *rest: tuple[float, str]) -> dashboard.ThresholdsConfig:
    """Absolute thresholds: ``base`` colour below the first value, then each (value, colour)."""
    return (
        dashboard.ThresholdsConfig()
        .mode(models.ThresholdsMode.ABSOLUTE)
        .steps([models.Threshold(color=base), *(models.Threshold(value=v, color=c) for v, c in rest)])
    )


# Shares that should be 1: red below 90 %, orange below 98 %.
SHARE_GOOD_HIGH = steps("red", (0.9, "orange"), (0.98, "green"))
# Counts of problems: green at 0, red from 1.
PROBLEMS = steps("green", (1, "red"))
NEUTRAL = steps("blue")

UP_DOWN: list[models.ValueMapping] = [
    models.ValueMap(
        {
            "0": models.ValueMappingResult(text="Mất liên lạc / down", color="red", index=0),
            "1": models.ValueMappingResult(text="Hoạt động / up", color="green", index=1),
        }
    )
]
LINK_UP_DOWN: list[models.ValueMapping] = [
    models.ValueMap(
        {
            "0": models.ValueMappingResult(text="Mất kết nối / down", color="red", index=0),
            "1": models.ValueMappingResult(text="Kết nối / up", color="green", index=1),
        }
    )
]
ON_OFF: list[models.ValueMapping] = [
    models.ValueMap(
        {
            "0": models.ValueMappingResult(text="Tắt / off", color="red", index=0),
            "1": models.ValueMappingResult(text="Bật / on", color="green", index=1),
        }
    )
]


def colored_cells(*properties: models.DynamicConfigValue) -> list[models.DynamicConfigValue]:
    """Table cell properties: the background coloured by the thresholds, plus ``properties``."""
    return [
        models.DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-background"}),
        *properties,
    ]


def unit(name: str) -> models.DynamicConfigValue:
    return models.DynamicConfigValue(id_val="unit", value=name)


def thresholds_value(config: dashboard.ThresholdsConfig) -> models.DynamicConfigValue:
    return models.DynamicConfigValue(id_val="thresholds", value=config.build())


def value_mappings(mappings: list[models.ValueMapping]) -> models.DynamicConfigValue:
    return models.DynamicConfigValue(id_val="mappings", value=mappings)


def binary_cells(mappings: list[models.ValueMapping]) -> list[models.DynamicConfigValue]:
    """Table cell properties of a 0/1 column: its text from ``mappings``, red below 1, green at 1."""
    return [value_mappings(mappings), *colored_cells(thresholds_value(steps("red", (1, "green"))))]


def link_to(title: str, url: str) -> models.DynamicConfigValue:
    """A data link of a table column (``url`` may use ${__value.raw} and ${__data.fields.NAME})."""
    return models.DynamicConfigValue(id_val="links", value=[{"title": title, "url": url}])


def dashboard_url(uid: str, **variables: str) -> str:
    """The URL of another fleetwatch dashboard with ``variables`` set, keeping the time range."""
    params = "".join(f"&var-{name}={value}" for name, value in variables.items())
    return f"/d/{uid}?${{__url_time_range}}&var-datasource=${{datasource}}{params}"
