"""fleetwatch collector: receives agent reports over gRPC and exposes the fleet as Prometheus metrics."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fleetwatch")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
