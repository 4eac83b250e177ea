"""fleetwatch agent: collects host reports and pushes them to the collector over gRPC."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fleetwatch")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
