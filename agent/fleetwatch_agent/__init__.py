"""fleetwatch agent: collects host reports and pushes them to the collector over gRPC."""

# The distribution's version, as in pyproject.toml (tests/agent/test_footprint.py keeps the two
# equal). Written here rather than read with importlib.metadata, which imports email, zipfile
# and csv: 2 MiB of the steady agent's memory for one string (agent/README.md, "Footprint").
__version__ = "0.1.0"
