"""Version 1 of the fleetwatch wire contract (package fleetwatch.v1)."""
